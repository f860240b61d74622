"""The review API: one function behind the HTTP API (payload format 2.0), routed by Powertools'
APIGatewayHttpResolver.

    GET  /api/reviews                      pending reviews, oldest first (reviews.py)
    POST /api/reviews/{id}/decision        {"label": "bicycle"|"motorcycle"|"reject", "note": "..."}
    GET  /  and  GET /console/{file}       the console page (console/; no data, no authorizer)

Handler `lambdas.review_api.handler.handler`. Every /api route sits behind the HTTP API's Cognito JWT
authorizer (401 before this function runs); here the caller must belong to REVIEWER_GROUP (403) and
claims must be present at all (401). Answers are JSON; refusals are `{"error": "...", ...}` with 400
(naming the allowed labels), 404, 409 or 503 (errors.py). The same handler serves the local review
server (scones run --review-port), which installs its own image URL signer (images.py).

Settings: settings.py. Metrics (dimension set [service, ReviewReason], one record per decision):
ReviewsDecided, ReviewDecisionSeconds, ReviewerAgreedWithModel (low-confidence items labelled
bicycle/motorcycle), AuditModelCorrect (audit items), LabelledExamplesWritten.
"""
from __future__ import annotations

import json
import os
from datetime import datetime, timezone
from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response, content_types
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.metrics import MetricUnit
from botocore.exceptions import BotoCoreError, ClientError

from scones_contracts import metrics as names

from ..shared import aws_clients
from ..shared.observability import Observability
from ..shared.review_store import ReviewStore
from .console import ConsoleSettings, register_console_routes
from .errors import BadRequest, NotFound, ReviewApiError
from .examples import LabelledExamples
from .identity import Reviewer, reviewer_from_claims
from .images import S3Presigner, installed_signer
from .reviews import ResumeFailed, ResumeRefused, ReviewService, decision_metrics, parse_decision
from .settings import Settings

observability = Observability()
logger, metrics, tracer = observability.logger, observability.metrics, observability.tracer

UNITS = {names.REVIEW_DECISION_SECONDS: MetricUnit.Seconds}
REFUSED = ("TaskTimedOut", "InvalidToken", "TaskDoesNotExist")


class StepFunctionsResumer:
    """SendTaskSuccess; a token the execution no longer waits for is `ResumeRefused`."""

    def __init__(self, client: Any) -> None:
        self.client = client

    def resume(self, task_token: str, output: dict[str, Any]) -> None:
        try:
            self.client.send_task_success(taskToken=task_token, output=json.dumps(output))
        except ClientError as error:
            code = error.response.get("Error", {}).get("Code", "")
            if code in REFUSED:
                raise ResumeRefused(code) from None
            raise ResumeFailed(code or str(error)) from None
        except BotoCoreError as error:
            raise ResumeFailed(str(error)) from None


def service(settings: Settings) -> ReviewService:
    # Regional virtual-host URLs: the console's CSP admits images from https://<bucket>.s3.<region>.amazonaws.com.
    sign = installed_signer() or S3Presigner(
        aws_clients.client("s3", signature_version="s3v4",
                           s3={"addressing_style": "virtual", "us_east_1_regional_endpoint": "regional"}),
        settings.image_url_expiry_seconds)
    return ReviewService(store=ReviewStore(settings.table_name, aws_clients.client("dynamodb")),
                         resumer=StepFunctionsResumer(aws_clients.client("stepfunctions")),
                         examples=LabelledExamples(aws_clients.client("s3"), settings.labels_prefix),
                         sign=sign, now=lambda: datetime.now(timezone.utc), list_limit=settings.list_limit)


def build_app() -> APIGatewayHttpResolver:
    """The router with every route. One per invocation: the resolver keeps the current request on itself,
    and the local review server may run requests side by side in one process."""
    app = APIGatewayHttpResolver()
    register_console_routes(app, ConsoleSettings.from_env(os.environ))

    def current_reviewer(settings: Settings) -> Reviewer:
        authorizer = app.current_event.request_context.authorizer
        claims = authorizer.jwt_claim if authorizer else None
        reviewer = reviewer_from_claims(claims, settings.reviewer_group)
        logger.append_keys(reviewer=reviewer.name)
        return reviewer

    @app.get("/api/reviews")
    def list_reviews() -> dict[str, Any]:
        settings = Settings.from_env()
        current_reviewer(settings)
        return service(settings).pending()

    @app.post("/api/reviews/<review_id>/decision")
    def decide(review_id: str) -> dict[str, Any]:
        settings = Settings.from_env()
        reviewer = current_reviewer(settings)
        try:
            body = json.loads(app.current_event.decoded_body or "null")
        except (ValueError, TypeError):
            raise BadRequest("the body is not JSON") from None
        decision = parse_decision(body)
        logger.append_keys(review_id=review_id)
        answer, item = service(settings).decide(review_id, decision, reviewer)
        metrics.add_dimension(name=names.REVIEW_REASON_DIMENSION, value=item["reason"])
        for name, value in decision_metrics(item, decision.label, answer["decided_at"]).items():
            metrics.add_metric(name=name, unit=UNITS.get(name, MetricUnit.Count), value=value)
        metrics.add_metric(name=names.LABELLED_EXAMPLES, unit=MetricUnit.Count,
                           value=int(bool(answer["labelled_example"])))
        logger.info("review decided", extra={"label": decision.label, "reason": item["reason"],
                                             "model_label": item.get("model_label"), "resumed": answer["resumed"],
                                             "labelled_example": answer["labelled_example"],
                                             "example_skipped": item.get("example_skipped")})
        return answer

    @app.exception_handler(ReviewApiError)
    def refuse(error: ReviewApiError) -> Response:
        logger.info("request refused", extra={"status": error.status, "error": error.message})
        return Response(status_code=error.status, content_type=content_types.APPLICATION_JSON,
                        body=json.dumps(error.body()))

    @app.not_found
    def not_found(_error: Exception) -> Response:
        return refuse(NotFound(f"no route {app.current_event.http_method} {app.current_event.path}"))

    return app


@observability.handler(correlation_id_path=correlation_paths.API_GATEWAY_HTTP)
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return build_app().resolve(event, context)
