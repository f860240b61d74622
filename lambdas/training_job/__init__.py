"""training_job: the custom-resource provider that runs a SageMaker training job on `cdk deploy`
(asset: this package beside lambdas/shared and scones_contracts; handlers
`lambdas.training_job.handler.on_event` and `lambdas.training_job.handler.is_complete`)."""
