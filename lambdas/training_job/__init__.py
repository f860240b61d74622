"""training_job: custom-resource provider that runs a SageMaker training job on `cdk deploy`
(own deployment asset; import as `training_job` in AWS, handlers `training_job.handler.on_event`
and `training_job.handler.is_complete`)."""
