"""What AWS authorizes for each API call the product makes: operation -> IAM action(s) + resource.

Contract
    `requirements(call, peek)` -> the `Requirement`s (action, resource ARN, condition context) AWS
    checks for one boto3 call (`Call`: service, operation, parameters, region, account). Every one
    must be allowed. Sources: the Service Authorization Reference (actions and resource types) and
    each API's "Permissions" section; what is modelled beyond the obvious is said next to it.
    An operation not listed raises `UnmappedOperation` naming it, so a new call the code starts
    making cannot pass unchecked: add its row here, from those references.

    `peek` answers questions a requirement depends on (does the copy source carry tags?) without
    being checked itself.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping
from urllib.parse import unquote, urlparse

SOURCE_VERSION = "?versionId="


@dataclass(frozen=True)
class Call:
    service: str  # botocore's service name: s3, lambda, sagemaker-runtime...
    operation: str  # botocore's operation name: GetObject, Invoke...
    params: Mapping[str, Any]
    region: str
    account: str
    partition: str = "aws"


@dataclass(frozen=True)
class Requirement:
    action: str
    resource: str
    context: Mapping[str, Any] = field(default_factory=dict)
    why: str = ""  # when the action is not the operation's own (e.g. the copy source's read)


class UnmappedOperation(LookupError):
    """No IAM mapping for this operation yet (add one to `scones.local.iam_requests`)."""


class Peek:
    """Looks at state a requirement depends on. The default knows nothing: no tags anywhere."""

    def object_tags(self, bucket: str, key: str, version_id: str | None) -> dict[str, str]:
        return {}

    def state_machine_of_task(self, task_token: str) -> str | None:
        """The ARN of the state machine whose execution issued `task_token` (None: no execution did)."""
        return None


def _arn(call: Call, service: str, resource: str, region: str | None = None, account: str | None = None) -> str:
    region = call.region if region is None else region
    account = call.account if account is None else account
    return f"arn:{call.partition}:{service}:{region}:{account}:{resource}"


def _object_arn(call: Call, bucket: str, key: str) -> str:
    return f"arn:{call.partition}:s3:::{bucket}/{key}"


def _versioned(action: str, version_id: str | None) -> str:
    """S3 authorizes a request naming a version with the action's Version form (GetObjectVersion...)."""
    return action.replace("Object", "ObjectVersion", 1) if version_id else action


def copy_source(value: Any) -> tuple[str, str, str | None]:
    """CopySource as boto3 takes it ({Bucket, Key, VersionId} or "bucket/key[?versionId=v]", URL-encoded
    as AWS requires it) -> (bucket, key, version id)."""
    if isinstance(value, Mapping):
        return value["Bucket"], value["Key"], value.get("VersionId")
    path, _, version = str(value).partition(SOURCE_VERSION)
    bucket, _, key = unquote(path.lstrip("/")).partition("/")
    return bucket, key, version or None


def _s3(call: Call, peek: Peek) -> list[Requirement]:
    p, op = call.params, call.operation
    bucket_arn = f"arn:{call.partition}:s3:::{p.get('Bucket', '')}"
    if op in ("GetObject", "HeadObject"):
        return [Requirement(_versioned("s3:GetObject", p.get("VersionId")), _object_arn(call, p["Bucket"], p["Key"]))]
    if op in ("GetObjectTagging", "PutObjectTagging", "DeleteObject"):
        return [Requirement(_versioned(f"s3:{op}", p.get("VersionId")), _object_arn(call, p["Bucket"], p["Key"]))]
    if op in ("ListObjectsV2", "ListObjects"):
        # s3:prefix is the request's prefix ("" when it names none).
        return [Requirement("s3:ListBucket", bucket_arn, {"s3:prefix": p.get("Prefix", "")})]
    if op == "ListObjectVersions":
        return [Requirement("s3:ListBucketVersions", bucket_arn, {"s3:prefix": p.get("Prefix", "")})]
    if op in ("PutObject", "CopyObject"):
        target = _object_arn(call, p["Bucket"], p["Key"])
        needed = [Requirement("s3:PutObject", target)]
        if any(k in p for k in ("ACL", "GrantRead", "GrantReadACP", "GrantWriteACP", "GrantFullControl")):
            needed.append(Requirement("s3:PutObjectAcl", target, why="the request sets an ACL"))
        if op == "PutObject":
            if p.get("Tagging"):
                needed.append(Requirement("s3:PutObjectTagging", target, why="the request tags the object"))
            return needed
        bucket, key, version = copy_source(p["CopySource"])
        source = _object_arn(call, bucket, key)
        needed.append(Requirement(_versioned("s3:GetObject", version), source, why="CopyObject reads its source"))
        if p.get("TaggingDirective", "COPY") == "REPLACE":
            if p.get("Tagging"):
                needed.append(Requirement("s3:PutObjectTagging", target, why="the copy is tagged as requested"))
        elif peek.object_tags(bucket, key, version):
            # TaggingDirective COPY (the default) copies the source's tags: S3 reads them, then
            # writes them onto the copy, and authorizes both.
            needed.append(Requirement(_versioned("s3:GetObjectTagging", version), source,
                                      why="CopyObject copies the source's tags (TaggingDirective COPY)"))
            needed.append(Requirement("s3:PutObjectTagging", target,
                                      why="CopyObject copies the source's tags (TaggingDirective COPY)"))
        return needed
    raise UnmappedOperation(f"s3:{op}")


def _function_arn(call: Call, name: str, qualifier: str | None) -> str:
    arn = name if name.startswith("arn:") else _arn(call, "lambda", f"function:{name}")
    return f"{arn}:{qualifier}" if qualifier else arn


def _queue_arn(call: Call, url: str) -> str:
    account, name = urlparse(url).path.strip("/").split("/")[-2:]
    return _arn(call, "sqs", name, account=account)


def _bus_arn(call: Call, bus: str | None) -> str:
    bus = bus or "default"
    return bus if bus.startswith("arn:") else _arn(call, "events", f"event-bus/{bus}")


def _table_arn(call: Call, table: str) -> str:
    return table if table.startswith("arn:") else _arn(call, "dynamodb", f"table/{table}")


def _sagemaker_arn(call: Call, kind: str, name: str) -> str:
    # SageMaker lower-cases resource names in its ARNs.
    return _arn(call, "sagemaker", f"{kind}/{name.lower()}")


_DYNAMODB_ITEM_OPERATIONS = ("GetItem", "PutItem", "UpdateItem", "DeleteItem", "Query", "Scan")


def _dynamodb(call: Call) -> list[Requirement]:
    """Item operations on a table; a Query or Scan of an index is authorized on the index's ARN."""
    p = call.params
    resource = _table_arn(call, p["TableName"])
    if call.operation in ("Query", "Scan") and p.get("IndexName"):
        resource = f"{resource}/index/{p['IndexName']}"
    return [Requirement(f"dynamodb:{call.operation}", resource)]


_TASK_CALLBACKS = ("SendTaskSuccess", "SendTaskFailure", "SendTaskHeartbeat")


def _task_callback(call: Call, peek: Peek) -> list[Requirement]:
    """SendTask*: authorized on the state machine whose execution issued the token (the Service
    Authorization Reference lists stateMachine and activity resources; the token names its execution).
    A token no execution issued is refused as InvalidToken before any resource is known: no requirement."""
    machine = peek.state_machine_of_task(call.params["taskToken"])
    return [Requirement(f"states:{call.operation}", machine)] if machine else []


def _other(call: Call, peek: Peek) -> list[Requirement]:
    p, key = call.params, (call.service, call.operation)
    if key == ("lambda", "Invoke"):
        return [Requirement("lambda:InvokeFunction", _function_arn(call, p["FunctionName"], p.get("Qualifier")))]
    if call.service == "sqs" and call.operation in ("SendMessage", "ReceiveMessage", "DeleteMessage"):
        return [Requirement(f"sqs:{call.operation}", _queue_arn(call, p["QueueUrl"]))]
    if key == ("events", "PutEvents"):
        return [Requirement("events:PutEvents", _bus_arn(call, entry.get("EventBusName")),
                            {"events:source": entry.get("Source"), "events:detail-type": entry.get("DetailType")})
                for entry in p["Entries"]]
    if call.service == "dynamodb" and call.operation in _DYNAMODB_ITEM_OPERATIONS:
        return _dynamodb(call)
    if call.service == "stepfunctions" and call.operation in _TASK_CALLBACKS:
        return _task_callback(call, peek)
    if key == ("sagemaker-runtime", "InvokeEndpoint"):
        return [Requirement("sagemaker:InvokeEndpoint", _sagemaker_arn(call, "endpoint", p["EndpointName"]))]
    if call.service == "sagemaker" and call.operation in ("DescribeTrainingJob", "StopTrainingJob"):
        return [Requirement(f"sagemaker:{call.operation}",
                            _sagemaker_arn(call, "training-job", p["TrainingJobName"]))]
    if key == ("sagemaker", "CreateTrainingJob"):
        job = _sagemaker_arn(call, "training-job", p["TrainingJobName"])
        needed = [Requirement("sagemaker:CreateTrainingJob", job),
                  Requirement("iam:PassRole", p["RoleArn"], {"iam:PassedToService": "sagemaker.amazonaws.com"},
                              why="the job runs as this role")]
        if p.get("Tags"):
            needed.append(Requirement("sagemaker:AddTags", job, why="the job is tagged on creation"))
        return needed
    if key == ("cloudwatch", "PutMetricData"):
        return [Requirement("cloudwatch:PutMetricData", "*", {"cloudwatch:namespace": p.get("Namespace")})]
    if key == ("cloudwatch", "DescribeAlarms"):
        names = p.get("AlarmNames") or []
        return [Requirement("cloudwatch:DescribeAlarms", _arn(call, "cloudwatch", f"alarm:{n}")) for n in names] or \
            [Requirement("cloudwatch:DescribeAlarms", "*")]
    if call.service == "sagemaker" and call.operation in ("DescribeEndpoint", "DescribeEndpointConfig"):
        kind, name = (("endpoint", p["EndpointName"]) if call.operation == "DescribeEndpoint"
                      else ("endpoint-config", p["EndpointConfigName"]))
        return [Requirement(f"sagemaker:{call.operation}", _sagemaker_arn(call, kind, name))]
    if call.service == "application-autoscaling":
        return _application_autoscaling(call)
    raise UnmappedOperation(f"{call.service}:{call.operation}")


_AUTOSCALING_OPERATIONS = ("DescribeScalableTargets", "RegisterScalableTarget", "DeregisterScalableTarget",
                           "DescribeScalingPolicies", "PutScalingPolicy", "DeleteScalingPolicy")


def _application_autoscaling(call: Call) -> list[Requirement]:
    """Application Auto Scaling (Service Authorization Reference). Registering a SageMaker variant also needs the caller's sagemaker:DescribeEndpoint and
    UpdateEndpointWeightsAndCapacities on the endpoint, and a target-tracking policy the caller's
    CloudWatch alarm rights on the TargetTracking-<resource id>-... alarms the service creates/deletes
    (Application Auto Scaling user guide, "Identity and access management", SageMaker)."""
    p = call.params
    if call.operation not in _AUTOSCALING_OPERATIONS:
        raise UnmappedOperation(f"{call.service}:{call.operation}")
    # Register/Deregister/PutScalingPolicy/DeleteScalingPolicy act on the scalable target, whose ARN ends in
    # an id the service generates (scalable-target/<id>); Describe* take '*'.
    target = "*" if call.operation.startswith("Describe") else \
        _arn(call, "application-autoscaling", "scalable-target/0123456789abcdef0123456789abcdef")
    needed = [Requirement(f"application-autoscaling:{call.operation}", target)]
    resource_id = p.get("ResourceId") or ""
    sagemaker = p.get("ServiceNamespace") == "sagemaker" and resource_id.startswith("endpoint/")
    if sagemaker and call.operation == "RegisterScalableTarget":
        endpoint = _sagemaker_arn(call, "endpoint", resource_id.split("/")[1])
        needed += [Requirement(a, endpoint, why="Application Auto Scaling checks the caller may scale the endpoint")
                   for a in ("sagemaker:DescribeEndpoint", "sagemaker:UpdateEndpointWeightsAndCapacities")]
    alarm = _arn(call, "cloudwatch", f"alarm:TargetTracking-{resource_id}-AlarmHigh-00000000")
    if sagemaker and call.operation == "PutScalingPolicy" and p.get("PolicyType") == "TargetTrackingScaling":
        needed += [Requirement(a, alarm, why="the service creates the target-tracking alarms as the caller")
                   for a in ("cloudwatch:PutMetricAlarm", "cloudwatch:DescribeAlarms")]
    if sagemaker and call.operation == "DeleteScalingPolicy":
        needed.append(Requirement("cloudwatch:DeleteAlarms", alarm, why="the policy's alarms go with it"))
    return needed


def requirements(call: Call, peek: Peek | None = None) -> list[Requirement]:
    """Everything AWS authorizes for `call` (see the module docstring)."""
    if call.service == "s3":
        return _s3(call, peek or Peek())
    return _other(call, peek or Peek())

