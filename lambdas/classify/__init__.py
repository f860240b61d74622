"""classify Lambda function (own deployment asset; import as `classify` in AWS)."""
