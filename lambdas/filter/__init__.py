"""filter Lambda function (own deployment asset; import as `filter` in AWS)."""
