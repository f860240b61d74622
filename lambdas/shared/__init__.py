"""Code the product Lambdas share; bundled into every function asset beside `scones_contracts`.

    observability  Powertools Logger/Metrics/Tracer configured by the POWERTOOLS_* variables the
                   stack sets, and the one handler decorator of the workflow functions
    aws_clients    boto3 clients created once per configuration; `install` and `reset_clients`
                   are the public seams for tests and the local runtime
    payloads       the `{bucket, key, etag, version_id}` envelope as a Powertools parser model,
                   and `parse_payload` (a typed model or the function's own error, naming every problem)

Each module imports only what it needs: the drift check and the training-job provider run on
boto3 alone (no Powertools layer) and use `aws_clients` only.
"""
