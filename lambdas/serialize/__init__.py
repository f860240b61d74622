"""serialize function: validates an upload and renders its payload PNG (asset: this package beside
lambdas/shared, scones_contracts and scones_imaging; handler `lambdas.serialize.handler.handler`)."""
