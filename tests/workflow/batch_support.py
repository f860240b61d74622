"""What the batch tests share: an endpoint that answers by image colour, images, and running a batch."""
from __future__ import annotations

import io
import json
import time
from typing import Any

import boto3
from botocore.awsrequest import AWSResponse
from botocore.response import StreamingBody
from PIL import Image

from scones.local.aws import LocalAws

# Colour of the uploaded image -> what the endpoint answers (the payload PNG keeps the colour).
CONFIDENT = (220, 30, 30)  # [0.99, 0.01]: routed as a bicycle
UNSURE = (30, 220, 30)  # [0.62, 0.38]: below 0.93, review
REFUSED = (30, 30, 220)  # the model container answers 400: ModelRejectedInputError, not retried


def png(colour: tuple[int, int, int], size: int = 24) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (size, size), colour).save(buffer, "PNG")
    return buffer.getvalue()


class ColourEndpoint:
    """A sagemaker-runtime client whose InvokeEndpoint answers from the image's colour.

    Unlike a Stubber's queue of answers, this holds whatever order a Distributed Map's concurrent
    child executions call it in. A refused image gets the ModelError AWS returns for a container's
    4xx (OriginalStatusCode 400), which the classify function does not retry."""

    def __init__(self) -> None:
        self.client = boto3.client("sagemaker-runtime", region_name="us-east-1")
        self.client.meta.events.register("before-call.sagemaker-runtime.InvokeEndpoint", self._answer)
        self.calls = 0

    def _answer(self, params: dict[str, Any], **_: Any):
        self.calls += 1
        pixels = list(Image.open(io.BytesIO(params["body"])).convert("RGB").get_flattened_data())
        red, green, blue = (sum(channel) / len(pixels) for channel in zip(*pixels))
        if blue > max(red, green):
            return AWSResponse("https://local", 424, {}, None), {
                "Error": {"Code": "ModelError", "Message": "the model refused the image"},
                "OriginalStatusCode": 400, "ResponseMetadata": {"HTTPStatusCode": 424}}
        body = json.dumps([0.99, 0.01] if red > green else [0.62, 0.38]).encode()
        return AWSResponse("https://local", 200, {}, None), {
            "Body": StreamingBody(io.BytesIO(body), len(body)), "ContentType": "application/json",
            "InvokedProductionVariant": "AllTraffic", "ResponseMetadata": {"HTTPStatusCode": 200}}


def put(aws: LocalAws, key: str, body: bytes) -> None:
    aws.s3.put_object(Bucket=aws.deployed.bucket, Key=key, Body=body)


def run_batch(aws: LocalAws, prefix: str, publish: bool = False, name: str = "batch-test",
              request: dict | None = None, timeout: float = 180) -> dict[str, Any]:
    """Start the synthesized batch machine, wait for its end; the description plus its history."""
    arn = aws.sfn.start_execution(
        stateMachineArn=aws.deployed.batch_state_machine_arn, name=name,
        input=json.dumps(request if request is not None else {"prefix": prefix, "publish_routing_events": publish}),
    )["executionArn"]
    deadline = time.monotonic() + timeout
    while (description := aws.sfn.describe_execution(executionArn=arn))["status"] == "RUNNING":
        assert time.monotonic() < deadline, f"batch still running after {timeout} s"
        time.sleep(0.05)
    description["history"] = aws.sfn.get_execution_history(executionArn=arn, maxResults=1000)["events"]
    return description


def drain(aws: LocalAws, url: str) -> list[dict]:
    bodies = []
    while batch := aws.sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", []):
        for message in batch:
            bodies.append(json.loads(message["Body"]))
            aws.sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
    return bodies
