"""Every AWS call our code makes, checked against the SYNTHESIZED template's grants for its role.

Why not moto's own IAM enforcement (`moto.core.set_initial_no_auth_action_count`): in moto 5.2
it authorizes only callers signing with an IAM user's or an assumed role's keys, checks a
resource only for S3, SQS, IAM and STS (every other service is checked against Resource "*", so a
least-privilege grant on an ARN is refused), evaluates no conditions but sts:ExternalId (a grant
limited by `s3:prefix` or `cloudwatch:namespace` is refused), and authorizes CopyObject as a
PutObject only (not the source read, nor the tags it copies). And moto's Step Functions
interpreter calls every service integration with fixed keys ("ak"), not as the state machine's
role, so nothing the state machine does could be checked at all. Hence this checker:

    `enforce_iam(assembly, resolver)` patches botocore's `BaseClient._make_api_call` (the one
    path of every boto3 call, Stubber'd or moto'd) while active. Each call is attributed to the
    principal AWS would see (`iam_roles.TemplateRoles.principal_of`, from the call stack): code of
    `lambdas/<fn>/` runs as that function's role, moto's Step Functions interpreter as the
    executing state machine's role; anything else (tests setting up, the local runtime polling)
    is the harness and is not checked. The call's requirements (`iam_requests`) are evaluated
    (`iam_policy`) against that role's statements as the templates declare them (every
    AWS::IAM::Policy attached to the role and its inline policies; intrinsics resolved with the
    local resolver, resources the runtime did not create named as `iam_roles.conventional_resolver`
    names them). A denied call raises the AccessDenied AWS would answer, before it reaches moto or
    the Stubber, and is recorded: `IamEnforcement.denials` (so is a call of an operation with no
    IAM mapping yet, which raises `UnmappedOperation`). S3 answers a missing object with 403
    instead of 404 unless the caller may s3:ListBucket; that is applied too.

    Known gaps, named rather than hidden: resource-based policies (the bucket's SSL-only deny,
    queue and bus policies), SCPs and KMS key policies are not evaluated; managed policies
    attached by ARN cannot be read (a role that has one says so when it is denied); the 404/403
    ListBucket check uses the object key as `s3:prefix`; a request to a bucket that does not exist
    is let through (S3 answers NoSuchBucket before it authorizes).
"""
from __future__ import annotations

import contextlib
import sys
import threading
import uuid
from dataclasses import dataclass, field
from typing import Any, Iterator

from botocore.client import BaseClient
from botocore.exceptions import ClientError

from .cfn import Resolver
from .cloud_assembly import Assembly
from .iam_policy import Decision, evaluate
from .iam_requests import Call, Peek, Requirement, UnmappedOperation, requirements
from .iam_roles import ACCOUNT, REGION, Principal, TemplateRoles

_ACCESS_DENIED_CODES = {"s3": "AccessDenied", "sqs": "AccessDenied"}
_NOT_FOUND = {"NoSuchKey", "404", "NotFound"}


@dataclass
class CheckedCall:
    principal: Principal
    call: Call
    needed: list[Requirement]
    denied: list[Requirement] = field(default_factory=list)

    def describe(self) -> str:
        return (f"{self.principal.kind} {self.principal.name} (role {self.principal.role}) called "
                f"{self.call.service}:{self.call.operation}, which needs " +
                "; ".join(f"{r.action} on {r.resource}" + (f" [{r.why}]" if r.why else "") for r in self.denied))


class _MotoPeek(Peek):
    """Reads object tags through a plain client while checks are suspended (the harness's view)."""

    def __init__(self, enforcement: "IamEnforcement") -> None:
        self.enforcement = enforcement

    def bucket_exists(self, bucket: str) -> bool:
        import boto3

        with self.enforcement.unchecked():
            try:
                boto3.client("s3", region_name=REGION).head_bucket(Bucket=bucket)
            except ClientError:
                return False
        return True

    def object_tags(self, bucket: str, key: str, version_id: str | None) -> dict[str, str]:
        import boto3

        with self.enforcement.unchecked():
            s3 = boto3.client("s3", region_name=REGION)
            try:
                tags = s3.get_object_tagging(Bucket=bucket, Key=key, **({"VersionId": version_id} if version_id else {}))
            except ClientError:
                return {}  # no such object: the call itself will fail as it would anyway
        return {t["Key"]: t["Value"] for t in tags.get("TagSet", [])}

    def state_machine_of_task(self, task_token: str) -> str | None:
        """The state machine of the execution (running or ended) whose callback pool holds the token."""
        from moto.stepfunctions.parser.models import stepfunctions_parser_backends

        for machine in stepfunctions_parser_backends[ACCOUNT][REGION].state_machines:
            for execution in machine.executions:
                worker = getattr(execution, "exec_worker", None)
                if worker is not None and worker.env.callback_pool_manager.get(task_token) is not None:
                    return execution.state_machine_arn
        return None


class IamEnforcement:
    """While active (`enforce_iam`), every attributed boto3 call is checked; see the module docstring."""

    def __init__(self, roles: TemplateRoles) -> None:
        self.roles = roles
        self.checked: list[CheckedCall] = []
        self.denials: list[CheckedCall] = []
        self._lock = threading.Lock()
        self._local = threading.local()
        self._peek = _MotoPeek(self)

    @contextlib.contextmanager
    def unchecked(self) -> Iterator[None]:
        previous = getattr(self._local, "suspended", False)
        self._local.suspended = True
        try:
            yield
        finally:
            self._local.suspended = previous

    def take_denials(self) -> list[CheckedCall]:
        """The denials so far (a test that expects them takes them; the rest fail the test)."""
        with self._lock:
            taken, self.denials = self.denials, []
        return taken

    def _allowed(self, principal: Principal, needed: Requirement) -> bool:
        statements = self.roles.statements(principal.role)
        return evaluate(statements, needed.action, needed.resource, needed.context) is Decision.ALLOW

    def _deny(self, checked: CheckedCall, operation: str) -> ClientError:
        with self._lock:
            self.denials.append(checked)
        first = checked.denied[0]
        code = _ACCESS_DENIED_CODES.get(checked.call.service, "AccessDeniedException")
        managed = self.roles.managed.get(checked.principal.role)
        message = (f"User: arn:aws:sts::{ACCOUNT}:assumed-role/{checked.principal.role}/local is not authorized to "
                   f"perform: {first.action} on resource: {first.resource} because no identity-based policy allows "
                   f"the {first.action} action" + (f" (managed policies {managed} were not evaluated)" if managed else ""))
        return ClientError({"Error": {"Code": code, "Message": message},
                            "ResponseMetadata": {"HTTPStatusCode": 403, "RequestId": str(uuid.uuid4()),
                                                 "HTTPHeaders": {}}}, operation)

    def call(self, original, client: BaseClient, operation: str, params: dict[str, Any]) -> Any:
        if getattr(self._local, "suspended", False):
            return original(client, operation, params)
        principal = self.roles.principal_of(sys._getframe(2))
        if principal is None:
            return original(client, operation, params)
        call = Call(client.meta.service_model.service_name, operation, dict(params), client.meta.region_name, ACCOUNT)
        try:
            checked = CheckedCall(principal, call, requirements(call, self._peek))
        except UnmappedOperation as exc:  # unchecked is not allowed: fail the test that made the call
            unknown = Requirement(f"{exc} (no IAM mapping: add it to scones.local.iam_requests)", "?")
            with self._lock:
                self.denials.append(CheckedCall(principal, call, [unknown], [unknown]))
            raise
        checked.denied = [r for r in checked.needed if not self._allowed(principal, r)]
        with self._lock:
            self.checked.append(checked)
        if checked.denied and call.service == "s3" and "Bucket" in params \
                and not self._peek.bucket_exists(params["Bucket"]):
            checked.denied = []  # S3 answers NoSuchBucket before it authorizes anything
        if checked.denied:
            raise self._deny(checked, operation)
        try:
            return original(client, operation, params)
        except ClientError as exc:
            if call.service == "s3" and operation in ("GetObject", "HeadObject") \
                    and str(exc.response.get("Error", {}).get("Code")) in _NOT_FOUND:
                listing = Requirement("s3:ListBucket", f"arn:aws:s3:::{params['Bucket']}", {"s3:prefix": params["Key"]},
                                      why="without s3:ListBucket S3 answers a missing object with 403, not 404")
                if not self._allowed(principal, listing):
                    raise self._deny(CheckedCall(principal, call, [listing], [listing]), operation) from None
            raise


@contextlib.contextmanager
def enforce_iam(assembly: Assembly, resolver: Resolver | None = None,
                roles: TemplateRoles | None = None) -> Iterator[IamEnforcement]:
    """Check every attributed boto3 call against the templates' roles while active."""
    enforcement = IamEnforcement(roles or TemplateRoles(assembly, resolver))
    original = BaseClient._make_api_call

    def make_api_call(client: BaseClient, operation: str, params: dict[str, Any]) -> Any:
        return enforcement.call(original, client, operation, params)

    BaseClient._make_api_call = make_api_call
    try:
        yield enforcement
    finally:
        BaseClient._make_api_call = original
