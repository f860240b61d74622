"""open_review function: the workflow's intake of a human review (asset: this package beside
lambdas/shared and scones_contracts; handler `lambdas.open_review.handler.handler`)."""
