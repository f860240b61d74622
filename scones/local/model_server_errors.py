"""Error responses in the shapes AWS and TorchServe give them, so clients see locally what they see deployed.

SageMaker Runtime API (rest-json: header `x-amzn-ErrorType`, JSON body with the message and the
modeled fields), which botocore turns into the exceptions it raises in AWS:

    situation                                HTTP  error code            body / botocore fields
    ---------------------------------------  ----  --------------------  --------------------------------------
    the container answered non-2xx           424   ModelError            OriginalStatusCode = its status,
      (the toolkit refused or failed the                                 OriginalMessage = its body, Message =
      request; an injected "model-error")                                'Received client error (400) from
                                                                         primary with message "<body>". See ...',
                                                                         LogStreamArn
    body over 6 MB (InvokeEndpoint limit)     413   (none: code "413")    message
    model not loaded / "unavailable" fault    503   ServiceUnavailable    message
    unknown endpoint name                     400   ValidationError       "Endpoint X of account N not found."
    injected "throttle" fault                 400   ThrottlingException   message (botocore retries it)

TorchServe's front end (the container contract, /invocations) answers its own failures (no worker,
oversized body, a worker that failed the whole batch) with `{"code", "type", "message"}`; answers
that come from the toolkit are passed through unchanged (scones/local/model_server_host.py).
"""
from __future__ import annotations

import json
from dataclasses import dataclass

from starlette.responses import JSONResponse, Response

#: What SageMaker calls a single-container endpoint's container in ModelError messages.
CONTAINER_NAME = "primary"


@dataclass(frozen=True)
class EndpointIdentity:
    """The names AWS puts into error messages and ARNs."""
    endpoint_name: str
    variant: str
    account_id: str
    region: str

    def log_stream_arn(self) -> str:
        return (f"arn:aws:logs:{self.region}:{self.account_id}:log-group:/aws/sagemaker/Endpoints/"
                f"{self.endpoint_name}:log-stream:{self.variant}/local")


def aws_error(code: str | None, status: int, request_id: str, body: dict) -> JSONResponse:
    """A rest-json error: `code` goes into x-amzn-ErrorType (None: no code, as AWS's front end's 413)."""
    headers = {"x-amzn-RequestId": request_id}
    if code:
        headers["x-amzn-ErrorType"] = code
    return JSONResponse(body, status_code=status, headers=headers)


def model_error(endpoint: EndpointIdentity, request_id: str, status: int, container_body: str) -> JSONResponse:
    """ModelError (424): the container answered `status` with `container_body`."""
    side = "client" if status < 500 else "server"
    message = (f'Received {side} error ({status}) from {CONTAINER_NAME} with message "{container_body}". '
               f"See https://{endpoint.region}.console.aws.amazon.com/cloudwatch/home?region={endpoint.region}"
               f"#logEventViewer:group=/aws/sagemaker/Endpoints/{endpoint.endpoint_name} in account "
               f"{endpoint.account_id} for more information.")
    return aws_error("ModelError", 424, request_id, {
        "Message": message, "OriginalStatusCode": status, "OriginalMessage": container_body,
        "LogStreamArn": endpoint.log_stream_arn()})


def payload_too_large(request_id: str, limit: int) -> JSONResponse:
    # AWS's front end answers an oversized payload with a bare 413 (botocore's error code "413").
    return aws_error(None, 413, request_id, {"message": f"HTTP content length exceeded {limit} bytes."})


def endpoint_not_found(endpoint: EndpointIdentity, request_id: str, name: str) -> JSONResponse:
    return aws_error("ValidationError", 400, request_id, {
        "message": f"Endpoint {name} of account {endpoint.account_id} not found."})


def throttling(request_id: str, why: str) -> JSONResponse:
    return aws_error("ThrottlingException", 400, request_id, {"message": f"Rate exceeded ({why})"})


def service_unavailable(request_id: str, message: str) -> JSONResponse:
    return aws_error("ServiceUnavailable", 503, request_id, {"message": message})


def frontend_error_body(status: int, error_type: str, message: str) -> str:
    """The JSON TorchServe's front end answers its own failures with."""
    return json.dumps({"code": status, "type": error_type, "message": message})


def frontend_error(status: int, error_type: str, message: str) -> Response:
    return Response(frontend_error_body(status, error_type, message), status_code=status,
                    media_type="application/json")
