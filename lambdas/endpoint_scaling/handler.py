"""Custom-resource provider (CDK Provider framework, on_event only) for `Custom::EndpointScaling`.

Handler `lambdas.endpoint_scaling.handler.on_event`; boto3 only (no Powertools layer).

Properties: the `ScalingSpec` (EndpointName, VariantName, InstanceType, MinCapacity, MaxCapacity,
PolicyName, TargetValue, ScaleInCooldown, ScaleOutCooldown) and Phase:

    release  Update: `scaling.before_endpoint_update` (deregisters the variant when the endpoint's
             instance type is about to change; registers it again when it is not)
    restore  Update: `scaling.register` (after the endpoint update)
    either   Create, Delete: nothing (the stack's ScalableTarget/ScalingPolicy own the registration)

The physical resource id is `<resource id>/<phase>`. A property CloudFormation delivers malformed
fails the deploy naming it.
"""
from __future__ import annotations

import json
import logging
from typing import Any

from ..shared import aws_clients
from .scaling import ScalingSpec, SpecError, before_endpoint_update, register

PHASES = ("release", "restore")

logger = logging.getLogger()
logger.setLevel(logging.INFO)


def aws_client(service: str) -> Any:
    # Deploy-time calls, a handful per deploy: patient retries over failing the deploy.
    return aws_clients.client(service, retries={"max_attempts": 8, "mode": "adaptive"}, connect_timeout=10,
                              read_timeout=60)


def on_event(event: dict, _context: Any = None) -> dict:
    request = event["RequestType"]
    props = event.get("ResourceProperties") or {}
    phase = props.get("Phase")
    if phase not in PHASES:
        raise SpecError(f"Custom::EndpointScaling property Phase = {phase!r}: allowed {PHASES}")
    spec = ScalingSpec.from_properties(props)
    physical_id = f"{spec.resource_id}/{phase}"
    if request == "Update":
        if phase == "release":
            outcome = before_endpoint_update(aws_client("application-autoscaling"), aws_client("sagemaker"), spec)
        else:
            register(aws_client("application-autoscaling"), spec)
            outcome = "registered"
        old = (event.get("OldResourceProperties") or {}).get("InstanceType")
        logger.info(json.dumps({"message": f"endpoint scaling {phase}: {outcome}", "resource_id": spec.resource_id,
                                "instance_type": spec.instance_type, "previous_instance_type": old}))
    elif request not in ("Create", "Delete"):
        raise ValueError(f"unknown RequestType {request!r}")
    return {"PhysicalResourceId": physical_id}
