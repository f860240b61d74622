"""Deciding reviews locally, as a reviewer does through the review API: the conditional write, then the
task token back to the waiting execution.

`decide(aws, review_id, label, note, reviewer)` is what the cost measurement uses to let its waiting
executions finish (a reviewer agreeing with the model), and what tests use to play a reviewer.
"""
from __future__ import annotations

import json
import time
from datetime import datetime, timezone
from typing import Any

from lambdas.shared.review_store import ReviewStore

from .aws import LocalAws


def decide(aws: LocalAws, review_id: str, label: str, note: str = "", reviewer: str = "local-reviewer") -> dict[str, Any]:
    """Decide one pending review (raises `NotPending` / `ReviewNotFound`); the item as it now is."""
    store = ReviewStore(aws.deployed.review_table, aws.dynamodb)
    decided_at = datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    item = store.decide(review_id, label=label, note=note, reviewer=reviewer, decided_at=decided_at)
    if "task_token" in item:
        aws.sfn.send_task_success(taskToken=item["task_token"], output=json.dumps({
            "review_id": review_id, "label": label, "note": note, "reviewer": reviewer, "decided_at": decided_at,
            "resume": json.loads(item["resume"])}))
    return item


def agree_with_the_model(aws: LocalAws, timeout_s: float = 120) -> int:
    """Decide every waiting review with the model's own label (a processing failure: its first class is
    not known, so it is left waiting); wait until those executions ended. How many were decided."""
    decided = []
    for arn in sorted(aws.pending_executions()):
        item = aws.pending_review(arn)
        if item and item.get("model_label"):
            decide(aws, item["id"], item["model_label"], reviewer="cost-measurement")
            decided.append(arn)
    deadline = time.monotonic() + timeout_s
    for arn in decided:
        while aws.sfn.describe_execution(executionArn=arn)["status"] == "RUNNING":
            if time.monotonic() > deadline:
                raise TimeoutError(f"{arn} still running {timeout_s:.0f} s after its review was decided")
            time.sleep(0.05)
    return len(decided)
