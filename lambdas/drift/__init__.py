"""drift function: the scheduled drift check over the endpoint's data capture (asset: this package
beside lambdas/shared and scones_contracts; handler `lambdas.drift.handler.handler`).

    capture     parse SageMaker data-capture JSONL into records and bad records (standard library only)
    statistics  histogram, PSI, total variation distance, the drift thresholds (standard library only)
    report      capture summary + drift against the baseline: the report `scones capture-report` prints
    s3_capture  list the capture objects of a time window in S3 and parse them (boto3 client passed in)
    settings    the function's environment
    handler     the check: read, compare, publish CloudWatch metrics (boto3)

The same core runs locally in `scones capture-report`. Importing the package imports no boto3.
"""
