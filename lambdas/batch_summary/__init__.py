"""batch_summary function: counts the results of one batch-reclassification execution and writes
`summary.json` next to them (asset: this package beside lambdas/shared and scones_contracts;
handler `lambdas.batch_summary.handler.handler`).

    results   find the execution's ResultWriter manifest, stream its result files (boto3 client passed in)
    handler   the step: read, count (scones_contracts.batch), write summary.json, return the summary
"""
