"""`LocalAws`: the resources of the synthesized templates, created in moto.

Created from the templates: the data bucket (with its EventBridge notification setting), the SQS
queues, the event buses, the DynamoDB tables (keys, global secondary indexes, TTL), the Lambda functions (handler,
environment, memory, timeout; the review API's too), the state machines (the upload workflow and the batch
reclassification: their synthesized definitions, tokens resolved) and the upload rule (its event
pattern and input transformer). moto's EventBridge cannot target Step Functions, so the rule's
target is replaced by a local queue; `dispatch_uploads()` drains it, applies the rule's own input
transformer and starts one execution per delivery under a fresh name, as the rule's target does in
AWS. A redelivered event starts a second execution there as here; the state machine's first step
(the delivery claim) ends it as `duplicate`. The reviewer pool and the HTTP API are not created
(see NOT_LOCAL).
"""
from __future__ import annotations

import json
import re
import uuid
from datetime import datetime
from dataclasses import dataclass, field
from typing import Any, Iterable

import boto3

from scones_contracts.batch import BATCH_MACHINE_SUFFIX
from scones_contracts.events import ROUTING_EVENT_SOURCE
from scones_contracts.review import STATUS_INDEX, STATUS_PENDING, WAITING_REASONS, review_id

from lambdas.shared.review_store import from_item

from .cfn import Resolver
from .cloud_assembly import Assembly
from .lambda_hook import apply_function_environments

ACCOUNT = "123456789012"
REGION = "us-east-1"
LOCAL_TRIGGER_QUEUE = "local-upload-rule-target"


@dataclass
class Deployed:
    bucket: str = ""
    state_machine_arn: str = ""  # the upload workflow's
    batch_state_machine_arn: str = ""
    review_table: str = ""
    routing_bus: str = ""
    routing_capture_queue_url: str = ""
    trigger_queue_url: str = ""
    input_transformer: dict[str, Any] = field(default_factory=dict)
    functions: dict[str, str] = field(default_factory=dict)  # logical id -> function name
    queues: dict[str, str] = field(default_factory=dict)  # logical id -> url
    tables: dict[str, str] = field(default_factory=dict)  # logical id -> table name


# The stacks whose resources run per uploaded image and per review. The model stack's endpoint is
# played by the local model server; monitoring (alarms, dashboard) has nothing to run locally.
LOCAL_STACKS = ("Data", "Workflow", "Review")
# Resources of those stacks with no local counterpart: the reviewer pool (the local review server
# checks its own bearer token) and the HTTP API (the local review server plays it, from the
# templates' routes: scones.local.http_api). Values built from them resolve to "".
NOT_LOCAL = ("AWS::Cognito::", "AWS::ApiGatewayV2::")


class LocalAws:
    """Create the stacks' resources in an active moto mock (`mock_aws`), from the templates."""

    def __init__(self, assembly: Assembly, region: str = REGION, stacks: tuple[str, ...] = LOCAL_STACKS) -> None:
        self.assembly = assembly.only(stacks)
        self.region = region
        self.resolver = Resolver(ACCOUNT, region)
        self.deployed = Deployed()
        session = boto3.session.Session(region_name=region)
        self.s3 = session.client("s3")
        self.sqs = session.client("sqs")
        self.events = session.client("events")
        self.sfn = session.client("stepfunctions")
        self.lambda_ = session.client("lambda")
        self.dynamodb = session.client("dynamodb")
        self.iam = session.client("iam")

    # -- deploy ---------------------------------------------------------------------------------
    def deploy(self) -> Deployed:
        for template in self.assembly.templates.values():
            for logical_id, resource in template.get("Resources", {}).items():
                if resource["Type"].startswith(NOT_LOCAL):
                    self.resolver.register_absent(logical_id)
        self._create_buckets()
        self._create_queues()
        self._create_event_buses()
        self._create_tables()
        self._create_functions()
        self._create_state_machines()
        self._create_upload_rule()
        self._create_routing_capture()
        return self.deployed

    def _props(self, resource: dict[str, Any]) -> dict[str, Any]:
        return resource.get("Properties", {})

    def _create_buckets(self) -> None:
        for logical_id, (_stack, res) in self.assembly.resources("AWS::S3::Bucket").items():
            props = self._props(res)
            if "BucketName" not in props:
                continue  # the access-log bucket has no role in the workflow
            name = self.resolver.resolve(props["BucketName"])
            self.s3.create_bucket(Bucket=name)
            if props.get("VersioningConfiguration", {}).get("Status") == "Enabled":
                self.s3.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": "Enabled"})
            self.resolver.register(logical_id, name, Arn=f"arn:aws:s3:::{name}")
            self.deployed.bucket = name
        for _logical_id, (_stack, res) in self.assembly.resources("Custom::S3BucketNotifications").items():
            props = self._props(res)
            config = self.resolver.resolve(props["NotificationConfiguration"])
            self.s3.put_bucket_notification_configuration(
                Bucket=self.resolver.resolve(props["BucketName"]), NotificationConfiguration=config)

    def _create_queues(self) -> None:
        queues = self.assembly.resources("AWS::SQS::Queue")
        # Dead-letter queues first: a redrive policy refers to them.
        ordered = sorted(queues.items(), key=lambda item: "RedrivePolicy" in self._props(item[1][1]))
        for logical_id, (_stack, res) in ordered:
            props = self._props(res)
            attributes = {}
            if "RedrivePolicy" in props:
                attributes["RedrivePolicy"] = json.dumps(self.resolver.resolve(props["RedrivePolicy"]))
            if "VisibilityTimeout" in props:
                attributes["VisibilityTimeout"] = str(props["VisibilityTimeout"])
            name = props.get("QueueName") or logical_id
            url = self.sqs.create_queue(QueueName=name, Attributes=attributes)["QueueUrl"]
            arn = f"arn:aws:sqs:{self.region}:{ACCOUNT}:{name}"
            self.resolver.register(logical_id, url, Arn=arn, QueueName=name, QueueUrl=url)
            self.deployed.queues[logical_id] = url

    def _create_event_buses(self) -> None:
        for logical_id, (_stack, res) in self.assembly.resources("AWS::Events::EventBus").items():
            name = self.resolver.resolve(self._props(res)["Name"])
            arn = self.events.create_event_bus(Name=name)["EventBusArn"]
            self.resolver.register(logical_id, name, Arn=arn, Name=name)
            self.deployed.routing_bus = name

    def _create_tables(self) -> None:
        for logical_id, (_stack, res) in self.assembly.resources("AWS::DynamoDB::Table").items():
            props = self._props(res)
            name = self.resolver.resolve(props.get("TableName", logical_id))
            indexes = [{k: v for k, v in index.items() if k in ("IndexName", "KeySchema", "Projection")}
                       for index in props.get("GlobalSecondaryIndexes", [])]
            arn = self.dynamodb.create_table(
                TableName=name, KeySchema=props["KeySchema"], AttributeDefinitions=props["AttributeDefinitions"],
                BillingMode=props.get("BillingMode", "PROVISIONED"),
                **({"GlobalSecondaryIndexes": indexes} if indexes else {}),
                **({} if props.get("BillingMode") == "PAY_PER_REQUEST" else {"ProvisionedThroughput": {
                    k: int(v) for k, v in props["ProvisionedThroughput"].items()}}),
            )["TableDescription"]["TableArn"]
            ttl = props.get("TimeToLiveSpecification")
            if ttl and ttl.get("Enabled"):
                self.dynamodb.update_time_to_live(TableName=name, TimeToLiveSpecification={
                    "AttributeName": ttl["AttributeName"], "Enabled": True})
            self.resolver.register(logical_id, name, Arn=arn)
            self.deployed.tables[logical_id] = name
            if any(index["IndexName"] == STATUS_INDEX for index in indexes):  # the review table's index
                self.deployed.review_table = name

    def _create_functions(self) -> None:
        role_arn = self.iam.create_role(
            RoleName="local-lambda-role",
            AssumeRolePolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": [{
                "Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}]}),
        )["Role"]["Arn"]
        environments = {}
        for logical_id, (_stack, res) in self.assembly.resources("AWS::Lambda::Function").items():
            props = self._props(res)
            if not str(props.get("Handler", "")).startswith("lambdas."):
                continue  # CDK's own helper functions (e.g. bucket notifications) are not part of the workflow
            variables = self.resolver.resolve(props.get("Environment", {}).get("Variables", {}))
            name = props.get("FunctionName") or logical_id
            arn = self.lambda_.create_function(
                FunctionName=name, Runtime=props["Runtime"], Role=role_arn, Handler=props["Handler"],
                Code={"ZipFile": _empty_zip()}, MemorySize=props.get("MemorySize", 128),
                Timeout=props.get("Timeout", 3), Environment={"Variables": variables},
            )["FunctionArn"]
            self.resolver.register(logical_id, name, Arn=arn)
            self.deployed.functions[logical_id] = name
            environments[name] = variables
        apply_function_environments(environments)

    def _create_state_machines(self) -> None:
        for logical_id, (_stack, res) in self.assembly.resources("AWS::StepFunctions::StateMachine").items():
            props = self._props(res)
            definition = self.resolver.resolve(props["DefinitionString"])
            name = self.resolver.resolve(props.get("StateMachineName", logical_id))
            arn = self.sfn.create_state_machine(
                name=name, definition=definition, roleArn=f"arn:aws:iam::{ACCOUNT}:role/local-states-role",
                type=props.get("StateMachineType", "STANDARD"),
            )["stateMachineArn"]
            self.resolver.register(logical_id, arn, Name=name, Arn=arn)
            if name == self.assembly.config.resource_name(BATCH_MACHINE_SUFFIX):
                self.deployed.batch_state_machine_arn = arn
            else:
                self.deployed.state_machine_arn = arn

    def _create_upload_rule(self) -> None:
        """The upload rule with its synthesized pattern; its Step Functions target becomes a local queue."""
        url = self.sqs.create_queue(QueueName=LOCAL_TRIGGER_QUEUE)["QueueUrl"]
        self.deployed.trigger_queue_url = url
        for _logical_id, (_stack, res) in self.assembly.resources("AWS::Events::Rule").items():
            props = self._props(res)
            targets = props.get("Targets", [])
            if not any(":states:" in json.dumps(self.resolver.resolve(t["Arn"])) for t in targets):
                continue
            pattern = self.resolver.resolve(props["EventPattern"])
            self.events.put_rule(Name="local-image-uploaded", EventPattern=json.dumps(pattern), State="ENABLED")
            self.events.put_targets(Rule="local-image-uploaded", Targets=[{
                "Id": "local-dispatch", "Arn": f"arn:aws:sqs:{self.region}:{ACCOUNT}:{LOCAL_TRIGGER_QUEUE}"}])
            self.deployed.input_transformer = self.resolver.resolve(targets[0]["InputTransformer"])

    def _create_routing_capture(self) -> None:
        """A queue subscribed to every routing event on the bus, so runs and tests can read them."""
        url = self.sqs.create_queue(QueueName="local-routing-events")["QueueUrl"]
        self.deployed.routing_capture_queue_url = url
        self.events.put_rule(Name="local-routing-capture", EventBusName=self.deployed.routing_bus,
                             EventPattern=json.dumps({"source": [ROUTING_EVENT_SOURCE]}), State="ENABLED")
        self.events.put_targets(Rule="local-routing-capture", EventBusName=self.deployed.routing_bus, Targets=[{
            "Id": "capture", "Arn": f"arn:aws:sqs:{self.region}:{ACCOUNT}:local-routing-events"}])

    # -- run ------------------------------------------------------------------------------------
    def pending_review(self, execution_arn: str) -> dict[str, Any] | None:
        """The review item `execution_arn` waits for (pending, with a task token), without the token."""
        for reason in WAITING_REASONS:
            found = self.dynamodb.get_item(TableName=self.deployed.review_table, ConsistentRead=True,
                                           Key={"id": {"S": review_id(execution_arn, reason)}}).get("Item")
            if found and found["status"]["S"] == STATUS_PENDING and "task_token" in found:
                return from_item({k: v for k, v in found.items() if k != "task_token"})
        return None

    def pending_executions(self) -> set[str]:
        """Execution ARNs that wait for a reviewer (pending items of a waiting reason; one index query)."""
        found: set[str] = set()
        query = {"TableName": self.deployed.review_table, "IndexName": STATUS_INDEX,
                 "KeyConditionExpression": "#s = :p", "ExpressionAttributeNames": {"#s": "status"},
                 "ExpressionAttributeValues": {":p": {"S": STATUS_PENDING}}}
        start = None
        while True:
            page = self.dynamodb.query(**query, **({"ExclusiveStartKey": start} if start else {}))
            found.update(item["execution_id"]["S"] for item in page.get("Items", [])
                         if item["reason"]["S"] in WAITING_REASONS)
            start = page.get("LastEvaluatedKey")
            if not start:
                return found

    def waiting_executions(self, execution_arns: Iterable[str]) -> set[str]:
        """Those of `execution_arns` that wait for a reviewer: the review item of a waiting reason is
        pending. The runtime asks at every poll, so this reads moto's table by key (two lookups per
        execution, no API call, as the runtime reads executions); the status-index query through the
        API serialized every pending item each time, and a run's cost grew with the reviews left open."""
        from moto.dynamodb.models import dynamodb_backends
        from moto.dynamodb.models.dynamo_type import DynamoType

        table = dynamodb_backends[ACCOUNT][self.region].get_table(self.deployed.review_table)
        found: set[str] = set()
        for arn in execution_arns:
            for reason in WAITING_REASONS:
                item = table.get_item(DynamoType({"S": review_id(arn, reason)}))
                if item is not None and item.attrs["status"].value == STATUS_PENDING:
                    found.add(arn)
                    break
        return found

    def execution_input(self, event: dict[str, Any]) -> dict[str, Any]:
        """Apply the upload rule's synthesized input transformer to an S3 'Object Created' event."""
        detail = event.get("detail", {}).get("object", {})
        if "etag" not in detail and "eTag" in detail:  # moto spells the field 'eTag'; AWS sends 'etag'
            detail["etag"] = detail["eTag"]
        return apply_input_transformer(self.deployed.input_transformer, event)

    def start_execution(self, execution_input: dict[str, Any]) -> str:
        """Start one execution for one delivery of an upload event, named as AWS names it (a fresh UUID)."""
        return self.sfn.start_execution(stateMachineArn=self.deployed.state_machine_arn, name=str(uuid.uuid4()),
                                        input=json.dumps(execution_input))["executionArn"]

    def dispatch_uploads(self, max_messages: int = 10, wait_seconds: int = 0,
                         deliveries: int = 1) -> list[tuple[dict[str, Any], str]]:
        """Drain the upload rule's local target queue; start `deliveries` executions per event (more
        than one plays EventBridge's at-least-once delivery)."""
        started = []
        messages = self.sqs.receive_message(QueueUrl=self.deployed.trigger_queue_url,
                                            MaxNumberOfMessages=max_messages, WaitTimeSeconds=wait_seconds).get("Messages", [])
        for message in messages:
            execution_input = self.execution_input(json.loads(message["Body"]))
            for _ in range(max(1, deliveries)):
                started.append((execution_input, self.start_execution(execution_input)))
            self.sqs.delete_message(QueueUrl=self.deployed.trigger_queue_url, ReceiptHandle=message["ReceiptHandle"])
        return started

    # -- observing executions (the harness's view) -------------------------------------------------
    # Read from moto's Step Functions backend, not through the API: each DescribeExecution or
    # GetExecutionHistory answer goes through moto's generic response serializer, history events
    # carry every state's input and output (the image), and the runtime polls every execution in
    # flight; through the API that bookkeeping cost more CPU than routing the images. The answers
    # are the same dictionaries the API would return (timestamps as datetimes, as boto3 parses them).
    def _sfn_backend(self) -> Any:
        from moto.stepfunctions.responses import get_backend

        return get_backend(ACCOUNT, self.region)

    def execution_description(self, execution_arn: str) -> dict[str, Any]:
        """DescribeExecution's answer for one execution (`status` as a plain string)."""
        description = dict(self._sfn_backend().describe_execution(execution_arn).to_describe_output())
        description["status"] = getattr(description["status"], "value", description["status"])
        return description

    def execution_events(self, execution_arn: str) -> list[dict[str, Any]]:
        """GetExecutionHistory's events for one execution, oldest first (moto keeps ISO timestamps)."""
        events = []
        for event in self._sfn_backend().get_execution_history(execution_arn)["events"]:
            event = dict(event)
            if isinstance(event.get("timestamp"), str):
                event["timestamp"] = datetime.fromisoformat(event["timestamp"])
            events.append(event)
        return events

    def routing_events(self) -> list[dict[str, Any]]:
        """Drain the routing events captured from the bus since the last call."""
        events = []
        while True:
            found = self.sqs.receive_message(QueueUrl=self.deployed.routing_capture_queue_url,
                                             MaxNumberOfMessages=10).get("Messages", [])
            if not found:
                return events
            for message in found:
                events.append(json.loads(message["Body"]))
                self.sqs.delete_message(QueueUrl=self.deployed.routing_capture_queue_url,
                                        ReceiptHandle=message["ReceiptHandle"])


def apply_input_transformer(transformer: dict[str, Any], event: dict[str, Any]) -> dict[str, Any]:
    """EventBridge's InputTransformer for the form CDK writes: `<name>` placeholders of JSON values."""
    values = {}
    for name, path in transformer.get("InputPathsMap", {}).items():
        value: Any = event
        for part in path.removeprefix("$.").split("."):
            value = value.get(part) if isinstance(value, dict) else None
        values[name] = value

    def substitute(match: re.Match) -> str:
        name = match.group(1)
        if name not in values:
            raise ValueError(f"input template refers to <{name}>, which the InputPathsMap does not define")
        return json.dumps(values[name])

    return json.loads(re.sub(r"<([A-Za-z0-9_.-]+)>", substitute, transformer["InputTemplate"]))


def _empty_zip() -> bytes:
    import io
    import zipfile

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("README", "code runs in-process through scones.local.lambda_hook")
    return buffer.getvalue()
