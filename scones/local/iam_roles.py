"""The synthesized templates' IAM roles: their statements as AWS reads them, and who runs as which.

Contract
    `TemplateRoles(assembly, resolver)`: every role of every template with the statements of the
    AWS::IAM::Policy resources attached to it and its inline policies, intrinsics resolved
    (`statements(role)`); which role each Lambda handler and each state machine runs as; and
    `principal_of(frame)`, the principal AWS would see for a call made from that stack frame: code
    of `lambdas/<fn>/` runs as that function's role (the entry point on the stack, or
    `running_as()`, decides between functions sharing a package), moto's Step Functions interpreter
    as the executing state machine's role; anything else is the harness (None).
    `revoke(role, action)` takes a grant away, for negative controls.

    `conventional_resolver(assembly)` names every resource as the local runtime names it (its
    explicit name property, else its logical id; ARNs in each service's format) and knows every
    stack's exports and mappings, so statements resolve without deploying anything.
"""
from __future__ import annotations

import contextlib
import threading
from dataclasses import dataclass
from types import FrameType
from typing import Any, Iterator

from .cfn import Resolver, UnresolvableError
from .cloud_assembly import Assembly
from .iam_policy import Statement

ACCOUNT = "123456789012"
REGION = "us-east-1"


class AttributionError(RuntimeError):
    """A call's principal could not be determined (named with what was found on the stack)."""


@dataclass(frozen=True)
class Principal:
    kind: str  # "function" or "state machine"
    name: str  # the function's handler, or the state machine's name
    role: str  # logical id of the IAM role it runs as


def _name(props: dict[str, Any], key: str, logical_id: str, resolver: Resolver) -> str:
    try:
        return str(resolver.resolve(props[key])) if key in props else logical_id
    except UnresolvableError:
        return logical_id


def conventional_resolver(assembly: Assembly, account: str = ACCOUNT, region: str = REGION) -> Resolver:
    """Every resource of every template named as the local runtime names it: its explicit name
    property, else its logical id; ARNs in each service's format. Plus every stack's exports."""
    resolver = Resolver(account, region)
    a, r = account, region
    for template in assembly.templates.values():
        resolver.register_mappings(template.get("Mappings", {}))
        for logical_id, resource in template.get("Resources", {}).items():
            kind, props = resource["Type"], resource.get("Properties", {})
            if kind == "AWS::S3::Bucket":
                name = _name(props, "BucketName", logical_id.lower(), resolver)
                resolver.register(logical_id, name, Arn=f"arn:aws:s3:::{name}")
            elif kind == "AWS::SQS::Queue":
                name = _name(props, "QueueName", logical_id, resolver)
                url = f"https://sqs.{r}.amazonaws.com/{a}/{name}"
                resolver.register(logical_id, url, Arn=f"arn:aws:sqs:{r}:{a}:{name}", QueueName=name, QueueUrl=url)
            elif kind == "AWS::Events::EventBus":
                name = _name(props, "Name", logical_id, resolver)
                resolver.register(logical_id, name, Name=name, Arn=f"arn:aws:events:{r}:{a}:event-bus/{name}")
            elif kind == "AWS::DynamoDB::Table":
                name = _name(props, "TableName", logical_id, resolver)
                resolver.register(logical_id, name, Arn=f"arn:aws:dynamodb:{r}:{a}:table/{name}")
            elif kind == "AWS::Lambda::Function":
                name = _name(props, "FunctionName", logical_id, resolver)
                resolver.register(logical_id, name, Arn=f"arn:aws:lambda:{r}:{a}:function:{name}")
            elif kind == "AWS::Logs::LogGroup":
                name = _name(props, "LogGroupName", logical_id, resolver)
                resolver.register(logical_id, name, Arn=f"arn:aws:logs:{r}:{a}:log-group:{name}:*")
            elif kind == "AWS::StepFunctions::StateMachine":
                name = _name(props, "StateMachineName", logical_id, resolver)
                arn = f"arn:aws:states:{r}:{a}:stateMachine:{name}"
                resolver.register(logical_id, arn, Arn=arn, Name=name)
            elif kind == "AWS::IAM::Role":
                name = _name(props, "RoleName", logical_id, resolver)
                resolver.register(logical_id, name, Arn=f"arn:aws:iam::{a}:role/{name}", RoleId=logical_id)
            elif kind == "AWS::SNS::Topic":
                name = _name(props, "TopicName", logical_id, resolver)
                arn = f"arn:aws:sns:{r}:{a}:{name}"
                resolver.register(logical_id, arn, TopicArn=arn, TopicName=name)
            elif kind == "AWS::CloudWatch::Alarm":
                name = _name(props, "AlarmName", logical_id, resolver)
                resolver.register(logical_id, name, Arn=f"arn:aws:cloudwatch:{r}:{a}:alarm:{name}")
            elif kind in ("AWS::SageMaker::Endpoint", "AWS::SageMaker::Model", "AWS::SageMaker::EndpointConfig"):
                short = kind.rsplit("::", 1)[1]
                key = {"Endpoint": "EndpointName", "Model": "ModelName", "EndpointConfig": "EndpointConfigName"}[short]
                name = _name(props, key, logical_id, resolver)
                kebab = {"Endpoint": "endpoint", "Model": "model", "EndpointConfig": "endpoint-config"}[short]
                resolver.register(logical_id, f"arn:aws:sagemaker:{r}:{a}:{kebab}/{name.lower()}", **{key: name})
            elif kind == "AWS::KMS::Key":
                resolver.register(logical_id, logical_id, Arn=f"arn:aws:kms:{r}:{a}:key/{logical_id}")
            else:
                resolver.register(logical_id, logical_id)
        for output in template.get("Outputs", {}).values():
            if "Export" in output:
                resolver.register_export(resolver.resolve(output["Export"]["Name"]), output["Value"])
    return resolver


class TemplateRoles:
    """The templates' IAM roles, their statements (resolved), and who runs as which role."""

    def __init__(self, assembly: Assembly, resolver: Resolver | None = None) -> None:
        self.templates = assembly.templates
        self.resolver = conventional_resolver(assembly)
        if resolver is not None:  # what the local runtime actually created wins
            self.resolver.refs.update(resolver.refs)
            self.resolver.attributes.update(resolver.attributes)
        self.policies: dict[str, list[tuple[str, dict]]] = {}  # role -> [(policy id, document)]
        self.managed: dict[str, list[Any]] = {}  # role -> managed policy ARNs (not readable here)
        self.functions: dict[str, list[tuple[str, str]]] = {}  # handler -> [(function id, role id)]
        self.state_machines: dict[str, str] = {}  # state machine name -> role id
        self._revoked: list[tuple[str, str]] = []  # (role, action) taken away (negative controls)
        self._acting = threading.local()
        self._cache: dict[str, list[Statement]] = {}
        for template in assembly.templates.values():
            self._read(template.get("Resources", {}))

    def _role_of(self, value: Any) -> str:
        if isinstance(value, dict) and "Fn::GetAtt" in value:
            return value["Fn::GetAtt"][0]
        if isinstance(value, dict) and "Ref" in value:
            return value["Ref"]
        raise AttributionError(f"cannot tell the role from {value!r}")

    def _read(self, resources: dict[str, Any]) -> None:
        for logical_id, resource in resources.items():
            kind, props = resource["Type"], resource.get("Properties", {})
            if kind == "AWS::IAM::Role":
                self.managed[logical_id] = props.get("ManagedPolicyArns", [])
                for policy in props.get("Policies", []):
                    self.policies.setdefault(logical_id, []).append((f"{logical_id}/{policy.get('PolicyName')}",
                                                                     policy["PolicyDocument"]))
            elif kind in ("AWS::IAM::Policy", "AWS::IAM::ManagedPolicy"):
                for role in props.get("Roles", []):
                    self.policies.setdefault(self._role_of(role), []).append((logical_id, props["PolicyDocument"]))
            elif kind == "AWS::Lambda::Function" and isinstance(props.get("Handler"), str):
                self.functions.setdefault(props["Handler"], []).append((logical_id, self._role_of(props["Role"])))
            elif kind == "AWS::StepFunctions::StateMachine":
                name = _name(props, "StateMachineName", logical_id, self.resolver)
                self.state_machines[name] = self._role_of(props["RoleArn"])

    # -- statements ---------------------------------------------------------------------------
    def statements(self, role: str) -> list[Statement]:
        """The role's statements as AWS would read them (minus what a negative control revoked)."""
        if role not in self._cache:
            found = []
            for source, document in self.policies.get(role, []):
                for raw in document["Statement"]:
                    resolved = self.resolver.resolve(raw)
                    actions = resolved.get("Action", resolved.get("NotAction"))
                    if "Action" in resolved and any(r == role for r, _ in self._revoked):
                        kept = [a for a in ([actions] if isinstance(actions, str) else actions)
                                if (role, a.lower()) not in self._revoked]
                        if not kept:
                            continue
                        resolved = {**resolved, "Action": kept}
                    found.append(Statement.from_json(resolved, source))
            self._cache[role] = found
        return self._cache[role]

    def revoke(self, role: str, action: str) -> None:
        """Take `action` out of every statement of `role`, as if the template had not granted it."""
        self._revoked.append((role, action.lower()))
        self._cache.pop(role, None)

    def role_of_function(self, handler: str) -> str:
        return self.functions[handler][0][1]

    # -- who is calling -----------------------------------------------------------------------
    def principal_of(self, frame: FrameType | None) -> Principal | None:
        """The principal of the call made from `frame`: the innermost product code on the stack."""
        while frame is not None:
            module = frame.f_globals.get("__name__", "")
            if module.startswith("lambdas.") and not module.startswith("lambdas.shared"):
                return self._function(module.split(".")[1], frame)
            if module.startswith("moto.stepfunctions.parser"):
                return self._state_machine(frame)
            frame = frame.f_back
        return None

    def _function(self, package: str, frame: FrameType | None) -> Principal:
        candidates = {h: fns for h, fns in self.functions.items() if h.startswith(f"lambdas.{package}.")}
        if not candidates:
            raise AttributionError(f"code of lambdas/{package}/ made an AWS call, but no function of the "
                                   "templates has its handler there")
        roles = {role for fns in candidates.values() for _, role in fns}
        if len(roles) == 1:
            handler = sorted(candidates)[0] if len(candidates) == 1 else f"lambdas.{package}.*"
            return Principal("function", handler, roles.pop())
        declared = getattr(self._acting, "handler", None)
        if declared in candidates:  # a test calling inner code directly says which function runs it
            return Principal("function", declared, candidates[declared][0][1])
        entries = {h.rsplit(".", 1)[1]: h for h in candidates}  # the handler entry point on the stack decides
        while frame is not None:
            if frame.f_globals.get("__name__", "").startswith(f"lambdas.{package}.") and frame.f_code.co_name in entries:
                handler = entries[frame.f_code.co_name]
                return Principal("function", handler, candidates[handler][0][1])
            frame = frame.f_back
        raise AttributionError(f"lambdas/{package}/ is the code of {sorted(candidates)} with different roles, and "
                               "none of their entry points is on the stack (say which with running_as())")

    @contextlib.contextmanager
    def running_as(self, handler: str) -> Iterator[None]:
        """Attribute calls of code shared by several functions to `handler`'s, when no entry point
        on the stack tells (a test calling that code directly)."""
        if handler not in self.functions:
            raise AttributionError(f"no function of the templates has handler {handler!r}")
        previous = getattr(self._acting, "handler", None)
        self._acting.handler = handler
        try:
            yield
        finally:
            self._acting.handler = previous

    def _state_machine(self, frame: FrameType | None) -> Principal:
        while frame is not None:
            env = frame.f_locals.get("env") if frame.f_globals.get("__name__", "").startswith("moto.") else None
            context = getattr(getattr(getattr(env, "states", None), "context_object", None), "context_object_data", None)
            if isinstance(context, dict) and "StateMachine" in context:
                name = context["StateMachine"]["Name"]
                if name not in self.state_machines:
                    raise AttributionError(f"state machine {name!r} is not in the templates")
                return Principal("state machine", name, self.state_machines[name])
            frame = frame.f_back
        raise AttributionError("moto's Step Functions interpreter made an AWS call outside any execution")
