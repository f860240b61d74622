"""expire_review function: marks a review nobody decided in time (asset: this package beside
lambdas/shared and scones_contracts; handler `lambdas.expire_review.handler.handler`)."""
