"""classify function: sends the payload PNG to the SageMaker endpoint (asset: this package beside
lambdas/shared and scones_contracts; handler `lambdas.classify.handler.handler`)."""
