"""nag: cdk-nag AwsSolutions runs on every synthesis; 0 unacknowledged findings, every acknowledgment specific
and reasoned."""

import pytest
from aws_cdk import App, Stack, Validations
from aws_cdk import aws_s3 as s3
from cdk_nag import AwsSolutionsChecks

from stacks.app_builder import build_app


def _acknowledgments(app: App) -> dict[str, str]:
    found = {}
    for construct in app.node.find_all():
        for entry in construct.node.metadata:
            if entry.type == Validations.ACKNOWLEDGED_RULES_METADATA_KEY:
                found.update(entry.data)
    return found


def test_app_synthesizes_with_nag_and_every_acknowledgment_is_specific(tmp_path):
    app = App(outdir=str(tmp_path))
    build_app(app)
    app.synth()  # raises ValidationFailed on any unacknowledged AwsSolutions finding
    acks = {rule: reason for rule, reason in _acknowledgments(app).items() if "AwsSolutions" in rule}
    assert acks, "the app acknowledges its known findings explicitly"
    for rule_id, reason in acks.items():
        assert len(reason) >= 40, f"{rule_id}: reason too thin: {reason!r}"
        if "IAM5" in rule_id or "IAM4" in rule_id:
            assert rule_id.endswith("]"), f"{rule_id} must name the exact finding"


def test_nag_really_fails_on_an_unhardened_bucket(tmp_path):
    app = App(outdir=str(tmp_path))
    stack = Stack(app, "Careless")
    s3.Bucket(stack, "Open")  # no SSL enforcement, no access logs
    Validations.of(app).add_plugins(AwsSolutionsChecks(app))
    with pytest.raises(Exception) as err:
        app.synth()
    assert "ValidationFailed" in str(err.value) or "Validation failed" in str(err.value)
