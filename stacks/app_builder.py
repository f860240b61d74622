"""Builds the whole CDK app (used by app.py and by the tests, so both synthesize the same thing)."""
from __future__ import annotations

import json
from dataclasses import dataclass

from aws_cdk import App, Aspects, Environment, Tags, Validations
from cdk_nag import AwsSolutionsChecks

from .config import CDK_JSON, SconesConfig
from .data_stack import DataStack
from .log_groups import apply_function_log_groups
from .model_stack import ModelStack
from .monitoring_stack import MonitoringStack, WorkflowTargets
from .review_stack import ReviewStack
from .workflow_stack import WorkflowStack


@dataclass
class SconesApp:
    app: App
    config: SconesConfig
    data: DataStack
    model: ModelStack
    workflow: WorkflowStack
    review: ReviewStack


def apply_project_context(app: App) -> None:
    """cdk.json's context (feature flags, the "scones" block) for apps not started by the CDK CLI,
    such as the tests and the local runtime, so every synthesis sees the same flags. Values already
    on the app (CLI `-c`, test overrides) win."""
    for key, value in json.loads(CDK_JSON.read_text())["context"].items():
        if app.node.try_get_context(key) is None:
            app.node.set_context(key, value)


def build_app(app: App | None = None, *, env: Environment | None = None, nag: bool = True) -> SconesApp:
    """Create every stack of the product in `app`, with cdk-nag AwsSolutions checks on."""
    app = app or App()
    apply_project_context(app)
    config = SconesConfig.from_context(app)
    prefix = "".join(part.capitalize() for part in config.project_name.split("-"))
    data = DataStack(app, f"{prefix}Data", config=config, env=env,
                     description="Scones Unlimited: data bucket for uploads, training data, models and captured traffic")
    model = ModelStack(app, f"{prefix}Model", config=config, env=env,
                       description="Scones Unlimited: training on deploy, evaluation gate, SageMaker endpoint")
    model.add_stack_dependency(data)
    workflow = WorkflowStack(app, f"{prefix}Workflow", config=config, env=env,
                             endpoint_name=model.endpoint_name, endpoint_arn=model.endpoint_arn,
                             model_version=model.model_version,
                             description="Scones Unlimited: image-routing workflow (Lambdas, state machine, trigger)")
    workflow.add_stack_dependency(data)
    workflow.add_stack_dependency(model)
    review = ReviewStack(app, f"{prefix}Review", config=config, env=env,
                         description="Scones Unlimited: human review (console, review API, reviewer pool)")
    review.add_stack_dependency(data)
    review.add_stack_dependency(workflow)
    monitoring = MonitoringStack(app, f"{prefix}Monitoring", config=config, env=env, workflow=WorkflowTargets.of(workflow),
                                 description="Scones Unlimited: alarms, operations dashboard, scheduled drift check")
    monitoring.add_stack_dependency(workflow)
    Tags.of(app).add("project", config.project_name)
    apply_function_log_groups(app, config)
    if nag:
        Validations.of(app).add_plugins(AwsSolutionsChecks(app))
    return SconesApp(app=app, config=config, data=data, model=model, workflow=workflow, review=review)
