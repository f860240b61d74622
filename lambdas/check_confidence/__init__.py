"""check_confidence function: decides whether a classification is confident enough to route
automatically (asset: this package beside lambdas/shared and scones_contracts; handler
`lambdas.check_confidence.handler.handler`)."""
