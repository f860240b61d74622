"""`scones batch`: batch reclassification of an S3 prefix (in AWS) or a folder (locally).

    client  start the batch state machine, wait, read its summary and per-object results (boto3 clients passed in)
    local   the local run: upload a folder under the backlog prefix, one result per file
    cli     the command
"""
