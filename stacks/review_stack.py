"""The review stack: the review console and API a person uses to decide the reviews the workflow waits on.

    HTTP API (payload 2.0, $default stage: throttling, JSON access logs)
      GET /api/reviews, POST /api/reviews/{id}/decision   Cognito JWT authorizer (the console client)
      GET /, GET /console/{file}                            no authorizer: the page shell, no data (a
                                                            browser navigation cannot send a token)
      -> the review API function (lambdas/review_api; one handler, Powertools' HTTP resolver)
    Cognito: the reviewer pool, its `reviewers` group, hosted login, the console's app client
    (reviewer_pool.py).

The table, the bucket and the state machine belong to other stacks and are referred to by their
deterministic names (no export ties the stacks). The function may: read and conditionally update
review items (GetItem, UpdateItem on the table, Query on its status index), send the task token back
(SendTaskSuccess on the image-routing state machine), read uploads (GetObject under the incoming
prefix: the labelled-example copy and the presigned image URLs it signs) and write labelled
examples (PutObject under the labels prefix). Nothing else.
"""
from __future__ import annotations

import jsii
from aws_cdk import ArnFormat, CfnOutput, Duration, RemovalPolicy, Stack
from aws_cdk import aws_apigateway as apigw_v1
from aws_cdk import aws_apigatewayv2 as apigw
from aws_cdk import aws_apigatewayv2_authorizers as authorizers
from aws_cdk import aws_apigatewayv2_integrations as integrations
from aws_cdk import aws_iam as iam
from aws_cdk import aws_logs as logs
from constructs import Construct

from scones_contracts.review import REVIEWER_GROUP, STATUS_INDEX

from .config import SconesConfig
from .data_stack import data_bucket_name, data_object_arn_finding
from .functions import log_retention, powertools_layer, product_function, service_name
from .nag import acknowledge
from .review_table import review_table_arn, review_table_name
from .reviewer_pool import ReviewerPool
from .state_machine import state_machine_name

API_ROUTES = (("GET", "/api/reviews"), ("POST", "/api/reviews/{id}/decision"))
CONSOLE_ROUTES = (("GET", "/"), ("GET", "/console/{file}"))


@jsii.implements(apigw.IAccessLogSettings)
class JsonAccessLogs:
    """Access logs of the $default stage: one JSON line per request, to `destination`."""

    def __init__(self, destination: apigw.IAccessLogDestination) -> None:
        self._destination = destination

    @property
    def destination(self) -> apigw.IAccessLogDestination:
        return self._destination

    @property
    def format(self) -> apigw_v1.AccessLogFormat:
        return apigw_v1.AccessLogFormat.custom(
            '{"requestId":"$context.requestId","ip":"$context.identity.sourceIp","time":"$context.requestTime",'
            '"method":"$context.httpMethod","route":"$context.routeKey","status":"$context.status",'
            '"length":"$context.responseLength","latencyMs":"$context.responseLatency",'
            '"user":"$context.authorizer.claims.username","authorizerError":"$context.authorizer.error",'
            '"integrationError":"$context.integrationErrorMessage"}')


class ReviewStack(Stack):
    def __init__(self, scope: Construct, construct_id: str, *, config: SconesConfig, **kwargs) -> None:
        super().__init__(scope, construct_id, **kwargs)
        self.config = config
        bucket = data_bucket_name(self, config)
        self.api = apigw.HttpApi(self, "ReviewApi", api_name=config.resource_name("review-api"),
                                 description="Human review: the console and its API", create_default_stage=False)
        self.console_url = f"{self.api.api_endpoint}/"
        self.reviewers = ReviewerPool(self, "Reviewers", config=config, console_url=self.console_url)
        self.function = self._create_function(bucket)
        self._grant(bucket)
        self.stage = self._create_stage()
        self._create_routes()
        CfnOutput(self, "ConsoleUrl", value=self.console_url, description="The review console")
        CfnOutput(self, "ReviewerUserPoolId", value=self.reviewers.pool.user_pool_id,
                  description="scones reviewers add --user-pool-id (found by name when omitted)")

    def _create_function(self, bucket: str):
        c = self.config
        domain = self.reviewers.domain.base_url()
        return product_function(
            self, "ReviewApiFunction", config=c, package="review_api",
            role_description="Least-privilege role of the review API function",
            memory_mb=c.functions.review_memory_mb, timeout=Duration.seconds(15),
            layers=[powertools_layer(self, c, "Powertools layer of the review API")],
            environment={
                "POWERTOOLS_SERVICE_NAME": service_name(c, "review_api"),
                "POWERTOOLS_METRICS_NAMESPACE": c.monitoring.metrics_namespace,
                "LOG_LEVEL": "INFO",
                "REVIEW_TABLE_NAME": review_table_name(c),
                "REVIEWER_GROUP": REVIEWER_GROUP,
                "LABELS_PREFIX": c.bucket.labels_prefix,
                "IMAGE_URL_EXPIRY_SECONDS": str(c.review.image_url_expiry_seconds),
                "REVIEW_LIST_LIMIT": str(c.review.list_limit),
                "CONSOLE_AUTH_DOMAIN": domain,
                "CONSOLE_CLIENT_ID": self.reviewers.console_client.user_pool_client_id,
                "CONSOLE_IMAGE_ORIGIN": f"https://{bucket}.s3.{self.region}.{self.url_suffix}",
            },
        )

    def _grant(self, bucket: str) -> None:
        c, role = self.config, self.function.role
        table = review_table_arn(self, c)
        index = f"{table}/index/{STATUS_INDEX}"
        objects = lambda prefix: self.format_arn(service="s3", region="", account="",  # noqa: E731
                                                 resource=bucket, resource_name=f"{prefix}*")
        machine = self.format_arn(service="states", resource="stateMachine", resource_name=state_machine_name(c),
                                  arn_format=ArnFormat.COLON_RESOURCE_NAME)
        for actions, resources in (
                (["dynamodb:GetItem", "dynamodb:UpdateItem"], [table]),
                (["dynamodb:Query"], [index]),
                (["states:SendTaskSuccess"], [machine]),
                (["s3:GetObject", "s3:GetObjectVersion"], [objects(c.bucket.incoming_prefix)]),
                (["s3:PutObject"], [objects(c.bucket.labels_prefix)])):
            self.function.add_to_role_policy(iam.PolicyStatement(actions=actions, resources=resources))
        acknowledge(role, "IAM5",
                    "The review API reads uploads (under the incoming prefix: the labelled example's copy and the "
                    "console's presigned image URLs) and writes labelled examples (under the labels prefix); the "
                    "wildcards are those two prefixes of the data bucket only.",
                    [data_object_arn_finding(c, f"{p}*") for p in (c.bucket.incoming_prefix, c.bucket.labels_prefix)])

    def _create_stage(self) -> apigw.HttpStage:
        c = self.config
        log_group = logs.LogGroup(self, "ReviewApiAccessLogs", retention=log_retention(c),
                                  removal_policy=RemovalPolicy.DESTROY)
        return apigw.HttpStage(
            self, "DefaultStage", http_api=self.api, stage_name="$default", auto_deploy=True,
            throttle=apigw.ThrottleSettings(rate_limit=c.reviewers.api_rate_limit,
                                            burst_limit=c.reviewers.api_burst_limit),
            access_log_settings=JsonAccessLogs(apigw.LogGroupLogDestination(log_group)),
        )

    def _create_routes(self) -> None:
        integration = integrations.HttpLambdaIntegration(
            "ReviewApiIntegration", self.function, payload_format_version=apigw.PayloadFormatVersion.VERSION_2_0)
        authorizer = authorizers.HttpUserPoolAuthorizer(
            "ReviewersAuthorizer", self.reviewers.pool, user_pool_clients=[self.reviewers.console_client],
            authorizer_name="reviewers-jwt")
        for method, path in API_ROUTES:
            self.api.add_routes(path=path, methods=[apigw.HttpMethod(method)], integration=integration,
                                authorizer=authorizer)
        for method, path in CONSOLE_ROUTES:
            routes = self.api.add_routes(path=path, methods=[apigw.HttpMethod(method)], integration=integration)
            for route in routes:
                acknowledge(route, "APIG4",
                            "The console page shell (HTML/JS/CSS, no review data): a browser navigation cannot send "
                            "a bearer token, so it is served without the authorizer; the page then signs in with "
                            "Cognito and every /api route requires the JWT authorizer and the reviewers group.")
