"""A reviewer, locally: requests to the REAL review API function, as API Gateway sends them.

`call_review_api` builds the payload-2.0 event of one request (`scones.local.http_api`, with the JWT
authorizer's claims of a member of the reviewers group) and invokes the review API function from the
synthesized template through moto's Lambda (so `lambda_hook` runs the real handler, as in AWS).
`decide` and `pending_reviews` are the two calls a reviewer makes; the tests and the cost measurement
(`agree_with_the_model`) use them.
"""
from __future__ import annotations

import json
import time
from typing import Any

from scones_contracts.review import REVIEWER_GROUP

from .aws import LocalAws
from .http_api import HttpResult, http_api_event, lambda_result, match_route, routes_from_templates

REVIEW_API_HANDLER = "lambdas.review_api.handler.handler"


def reviewer_claims(name: str = "local-reviewer", groups: tuple[str, ...] = (REVIEWER_GROUP,)) -> dict[str, str]:
    """Claims as the HTTP API's JWT authorizer passes them on (an array claim flattened to "[a b]")."""
    return {"sub": name, "username": name, "cognito:groups": f"[{' '.join(groups)}]"}


def review_api_function(aws: LocalAws) -> str:
    found = [name for logical_id, (_stack, resource) in aws.assembly.resources("AWS::Lambda::Function").items()
             if resource["Properties"].get("Handler") == REVIEW_API_HANDLER
             for name in [aws.deployed.functions[logical_id]]]
    if len(found) != 1:
        raise LookupError(f"expected one review API function ({REVIEW_API_HANDLER}), found {found}")
    return found[0]


def call_review_api(aws: LocalAws, method: str, path: str, body: Any = None,
                    claims: dict[str, str] | None = None) -> HttpResult:
    """One request to the review API function, past the authorizer with `claims` (default: a reviewer)."""
    matched = match_route(routes_from_templates(aws.assembly.templates), method, path)
    if matched is None:
        raise LookupError(f"no HTTP API route for {method} {path}")
    route, params = matched
    data = b"" if body is None else json.dumps(body).encode()
    event = http_api_event(
        method, path, {"content-type": "application/json", "host": "127.0.0.1"}, data, route, params,
        claims if claims is not None else reviewer_claims())
    response = aws.lambda_.invoke(FunctionName=review_api_function(aws), Payload=json.dumps(event).encode())
    result = json.loads(response["Payload"].read() or b"null")
    if response.get("FunctionError"):
        raise RuntimeError(f"the review API failed: {result}")
    return lambda_result(result)


def decide(aws: LocalAws, review_id: str, label: str, note: str = "", reviewer: str = "local-reviewer") -> HttpResult:
    """POST /api/reviews/{id}/decision as `reviewer`."""
    return call_review_api(aws, "POST", f"/api/reviews/{review_id}/decision", {"label": label, "note": note},
                           reviewer_claims(reviewer))


def pending_reviews(aws: LocalAws, reviewer: str = "local-reviewer") -> dict[str, Any]:
    """GET /api/reviews as `reviewer`."""
    result = call_review_api(aws, "GET", "/api/reviews", claims=reviewer_claims(reviewer))
    if result.status != 200:
        raise RuntimeError(f"GET /api/reviews answered {result.status}: {result.body[:300]!r}")
    return result.json()


def agree_with_the_model(aws: LocalAws, timeout_s: float = 120) -> int:
    """Decide every waiting review with the model's own label through the review API (a processing
    failure has no model label: it is left waiting); wait until those executions ended. How many."""
    decided = []
    for arn in sorted(aws.pending_executions()):
        item = aws.pending_review(arn)
        if item and item.get("model_label"):
            result = decide(aws, item["id"], item["model_label"], reviewer="cost-measurement")
            if result.status != 200:
                raise RuntimeError(f"deciding {item['id']} answered {result.status}: {result.body[:300]!r}")
            decided.append(arn)
    deadline = time.monotonic() + timeout_s
    for arn in decided:
        while aws.sfn.describe_execution(executionArn=arn)["status"] == "RUNNING":
            if time.monotonic() > deadline:
                raise TimeoutError(f"{arn} still running {timeout_s:.0f} s after its review was decided")
            time.sleep(0.05)
    return len(decided)
