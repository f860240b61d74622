"""The shapes every task state shares, declared once for the upload workflow, its review steps and
the batch machine: a Lambda invocation carrying the execution id, and the retry policies.

Every retry policy uses full jitter, so the retries of many executions failing together (a
throttled endpoint, a Lambda scaling event) spread out instead of arriving in waves. What is
retried is only what another attempt can cure: errors of the services, never our functions' own
errors (a bad image stays bad), except the endpoint's throttling and 5xx answers, which the
classify function raises as its own named errors.
"""
from __future__ import annotations

from aws_cdk import Duration
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_stepfunctions as sfn
from aws_cdk import aws_stepfunctions_tasks as tasks
from constructs import Construct

# Every function gets the execution's id: its logs, metrics and traces carry it as correlation id.
EXECUTION_ID = "$$.Execution.Id"

# Errors of the Lambda service itself (not of our code) that are worth another attempt.
LAMBDA_TRANSIENT_ERRORS = [
    "Lambda.ServiceException",
    "Lambda.AWSLambdaException",
    "Lambda.SdkClientException",
    "Lambda.TooManyRequestsException",
    "Lambda.ClientExecutionTimeoutException",
]
# Raised by the classify function for endpoint throttling and 5xx answers.
ENDPOINT_TRANSIENT_ERRORS = ["EndpointThrottledError", "EndpointUnavailableError"]
# DynamoDB answers worth another attempt (Step Functions prefixes the service's error names).
DYNAMODB_TRANSIENT_ERRORS = ["DynamoDB.ProvisionedThroughputExceededException", "DynamoDB.ThrottlingException",
                             "DynamoDB.RequestLimitExceeded", "DynamoDB.InternalServerErrorException"]


def retry_lambda(step: sfn.TaskStateBase) -> None:
    """A Lambda invocation: the Lambda service's transient errors, 3 more attempts from 1 s, at most 20 s apart."""
    step.add_retry(errors=LAMBDA_TRANSIENT_ERRORS, interval=Duration.seconds(1), backoff_rate=2,
                   max_attempts=3, max_delay=Duration.seconds(20), jitter_strategy=sfn.JitterType.FULL)


def retry_endpoint(step: sfn.TaskStateBase, endpoint_max_attempts: int) -> None:
    """The classify step: endpoint throttling and 5xx answers, up to `endpoint_max_attempts` calls in
    all (the config's knob counts the first call), from 2 s, at most 30 s apart."""
    step.add_retry(errors=ENDPOINT_TRANSIENT_ERRORS, interval=Duration.seconds(2), backoff_rate=2,
                   max_attempts=endpoint_max_attempts - 1, max_delay=Duration.seconds(30),
                   jitter_strategy=sfn.JitterType.FULL)


def retry_dynamodb(step: sfn.TaskStateBase) -> None:
    """A DynamoDB task: throttling and internal errors, 3 more attempts from 1 s."""
    step.add_retry(errors=DYNAMODB_TRANSIENT_ERRORS, interval=Duration.seconds(1), backoff_rate=2,
                   max_attempts=3, jitter_strategy=sfn.JitterType.FULL)


def retry_integration(step: sfn.TaskStateBase) -> None:
    """An S3 or EventBridge service integration: one more attempt after 1 s (States.TaskFailed)."""
    step.add_retry(errors=["States.TaskFailed"], interval=Duration.seconds(1), backoff_rate=2,
                   max_attempts=2, jitter_strategy=sfn.JitterType.FULL)


def lambda_task(scope: Construct, name: str, fn: lambda_.IFunction, payload: dict, result_path: str,
                timeout: Duration = Duration.seconds(60)) -> tasks.LambdaInvoke:
    """Invoke `fn` with `payload` plus the execution id; its answer (payload only) goes to
    `result_path`; the Lambda service's transient errors retried (`retry_lambda`). No Catch: each
    machine decides where a failure goes."""
    step = tasks.LambdaInvoke(
        scope, name,
        lambda_function=fn,
        payload=sfn.TaskInput.from_object({**payload, "execution_id": sfn.JsonPath.string_at(EXECUTION_ID)}),
        payload_response_only=True,
        retry_on_service_exceptions=False,  # retry_lambda's policy instead of CDK's default one
        result_path=result_path,
        task_timeout=sfn.Timeout.duration(timeout),
    )
    retry_lambda(step)
    return step
