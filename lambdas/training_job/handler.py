"""Custom-resource provider (CDK Provider framework) for `Custom::SageMakerTrainingJob`.

Handlers `lambdas.training_job.handler.on_event` and `lambdas.training_job.handler.is_complete`.
boto3 only (no Powertools layer).

on_event
    Create  start the training job named by the TrainingJobName property, or adopt an existing
            Completed/InProgress job of that name (same name = same code, data, hyperparameters).
    Update  same name: nothing to start (e.g. only MinValidationAccuracy changed; is_complete
            re-applies the gate to the existing model). New name: start the new job; CloudFormation
            then deletes the old physical resource.
    Delete  stop the job the properties name if it is still running (rollback, stack deletion);
            completed jobs and their artifacts are kept.
    The physical resource id is the job name.

is_complete (polled by the framework's waiter state machine)
    InProgress/Stopping  not complete yet (fails with a clear message shortly before the deploy's
                         wait budget, WAIT_BUDGET_SECONDS, runs out).
    Failed/Stopped       fails the deploy with the job's FailureReason.
    Completed            reads metadata.json + baseline.json from the job's model.tar.gz; fails the
                         deploy if validation.accuracy < MinValidationAccuracy (the evaluation gate);
                         else copies the artifact to <model prefix>/<job name>/model.tar.gz (baseline.json
                         beside it, and to BaselineUri for the drift check) and returns ModelDataUrl,
                         TrainingModelDataUrl, ValidationAccuracy, ModelVersion, TrainingJobName,
                         TrainingJobArn, BaselineUri as attributes.

Environment: WAIT_BUDGET_SECONDS (is_complete; required, the stack sets it).
"""
from __future__ import annotations

import json
import logging
import time
from typing import Any

from scones_contracts.env import Environment

from ..shared import aws_clients
from .jobs import evaluate, start_or_adopt, stop_if_running

logger = logging.getLogger()
logger.setLevel(logging.INFO)



def aws_client(service: str) -> Any:
    # Deploy-time calls, a few per minute: patient adaptive retries over failing the deploy.
    return aws_clients.client(service, retries={"max_attempts": 8, "mode": "adaptive"}, connect_timeout=10,
                              read_timeout=60)


def _log(message: str, **fields: Any) -> None:
    logger.info(json.dumps({"message": message, **fields}, default=str))


def on_event(event: dict, _context: Any = None) -> dict:
    request = event["RequestType"]
    props = event.get("ResourceProperties") or {}
    sagemaker = aws_client("sagemaker")
    if request == "Create":
        name, started = start_or_adopt(sagemaker, props)
        _log("training job started" if started else "existing training job adopted", job=name)
        return {"PhysicalResourceId": name, "Data": {"TrainingJobName": name, "WaitStartedAt": str(int(time.time()))}}
    if request == "Update":
        current = event["PhysicalResourceId"]
        wanted = props.get("TrainingJobName")
        if wanted == current:
            _log("training job unchanged; the gate is re-applied to its model", job=current)
            return {"PhysicalResourceId": current, "Data": {"TrainingJobName": current, "WaitStartedAt": str(int(time.time()))}}
        name, started = start_or_adopt(sagemaker, props)
        _log("retraining: new training job" if started else "retraining: existing training job adopted",
             job=name, previous=current)
        return {"PhysicalResourceId": name, "Data": {"TrainingJobName": name, "WaitStartedAt": str(int(time.time()))}}
    if request == "Delete":
        name = event["PhysicalResourceId"]
        # A Delete carries the resource's own properties, whose job name is the physical id, except
        # after a failed Create: then the physical id is the request id (the Provider framework's
        # default), which names no job (nor one the role may describe), and the job that Create may
        # have started is the one the properties name.
        job = props.get("TrainingJobName") or name
        status = stop_if_running(sagemaker, job)
        _log("training job resource deleted", job=job, physical_id=name, status=status)
        return {"PhysicalResourceId": name}
    raise ValueError(f"unknown RequestType {request!r}")


def is_complete(event: dict, _context: Any = None) -> dict:
    if event["RequestType"] == "Delete":
        return {"IsComplete": True}
    budget = Environment().integer("WAIT_BUDGET_SECONDS", minimum=1)
    name = event["PhysicalResourceId"]
    props = event.get("ResourceProperties") or {}
    result = evaluate(aws_client("sagemaker"), aws_client("s3"), name, props)
    if result is None:
        started = int((event.get("Data") or {}).get("WaitStartedAt") or 0)
        waited = int(time.time()) - started if started else 0
        if started and waited >= budget:
            raise TimeoutError(
                f"SageMaker training job {name} is still running after {waited} s, beyond what one deploy can wait "
                f"({budget} s; CloudFormation waits at most an hour for a custom resource). The rollback stops the "
                f"job. Shorten the training (fewer epochs/steps in training_hyperparameters) or use a larger "
                f"training_instance_type.")
        _log("training job still running", job=name, waited_seconds=waited)
        return {"IsComplete": False}
    _log("model accepted by the evaluation gate", **result.as_data())
    return {"IsComplete": True, "Data": result.as_data()}
