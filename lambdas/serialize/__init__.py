"""serialize Lambda function (own deployment asset; import as `serialize` in AWS)."""
