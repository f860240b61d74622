"""endpoint_scaling: the custom-resource provider that lets `endpoint_instance_type` change while
autoscaling is registered (asset: this package beside lambdas/shared; handler
`lambdas.endpoint_scaling.handler.on_event`)."""
