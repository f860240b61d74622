"""The review stack (stacks/review_stack.py): snapshot; the JWT authorizer on every /api route and only
the console shell without it; the reviewers group check; throttling and access logs; the review API's
least privilege (send task success, its table, the prefixes it needs)."""
from __future__ import annotations

import json

import pytest

from scones_contracts.review import REVIEWER_GROUP, STATUS_INDEX
from tests.conftest import mask_asset_hashes
from tests.stacks.template_helpers import cdk_template, flatten_join, iam_statements, template_of

API_ROUTES = {"GET /api/reviews", "POST /api/reviews/{id}/decision"}
CONSOLE_ROUTES = {"GET /", "GET /console/{file}"}


@pytest.fixture(scope="module")
def raw(assembly):
    return template_of(assembly, "Review")[1]


@pytest.fixture(scope="module")
def template(assembly):
    return cdk_template(assembly, "Review")


def of_type(raw: dict, kind: str) -> dict[str, dict]:
    return {k: r["Properties"] for k, r in raw["Resources"].items() if r["Type"] == kind}


def test_snapshot(raw, snapshot):
    assert mask_asset_hashes(raw) == snapshot


def test_every_api_route_needs_a_cognito_jwt_and_only_the_console_shell_does_not(raw):
    routes = {p["RouteKey"]: p for p in of_type(raw, "AWS::ApiGatewayV2::Route").values()}
    assert set(routes) == API_ROUTES | CONSOLE_ROUTES
    (authorizer_id, authorizer), = of_type(raw, "AWS::ApiGatewayV2::Authorizer").items()
    for key in API_ROUTES:
        assert routes[key]["AuthorizationType"] == "JWT" and routes[key]["AuthorizerId"] == {"Ref": authorizer_id}, key
    for key in CONSOLE_ROUTES:
        assert routes[key]["AuthorizationType"] == "NONE" and "AuthorizerId" not in routes[key], key
    pool, = of_type(raw, "AWS::Cognito::UserPool")
    client, = of_type(raw, "AWS::Cognito::UserPoolClient")
    assert authorizer["AuthorizerType"] == "JWT"
    assert authorizer["IdentitySource"] == ["$request.header.Authorization"]
    assert authorizer["JwtConfiguration"]["Audience"] == [{"Ref": client}]
    assert flatten_join(authorizer["JwtConfiguration"]["Issuer"]) == \
        f"https://cognito-idp.<Ref:AWS::Region>.amazonaws.com/<Ref:{pool}>"


def test_one_function_behind_every_route_with_payload_format_2(raw):
    integrations = of_type(raw, "AWS::ApiGatewayV2::Integration")
    (integration_id, integration), = integrations.items()
    assert integration["PayloadFormatVersion"] == "2.0" and integration["IntegrationType"] == "AWS_PROXY"
    function, = (k for k, p in of_type(raw, "AWS::Lambda::Function").items()
                 if p["Handler"] == "lambdas.review_api.handler.handler")
    assert integration["IntegrationUri"] == {"Fn::GetAtt": [function, "Arn"]}
    targets = {flatten_join(p["Target"]) for p in of_type(raw, "AWS::ApiGatewayV2::Route").values()}
    assert targets == {f"integrations/<Ref:{integration_id}>"}


def test_only_members_of_the_reviewers_group_may_review(raw):
    pool, = of_type(raw, "AWS::Cognito::UserPool")
    group, = of_type(raw, "AWS::Cognito::UserPoolGroup").values()
    assert group["GroupName"] == REVIEWER_GROUP and group["UserPoolId"] == {"Ref": pool}
    env, = (p["Environment"]["Variables"] for p in of_type(raw, "AWS::Lambda::Function").values()
            if p["Handler"] == "lambdas.review_api.handler.handler")
    assert env["REVIEWER_GROUP"] == REVIEWER_GROUP  # the handler refuses anyone outside it (403)


def test_the_stage_is_throttled_and_access_logged(raw, assembly):
    stage, = of_type(raw, "AWS::ApiGatewayV2::Stage").values()
    assert stage["StageName"] == "$default" and stage["AutoDeploy"] is True
    reviewers = assembly.config.reviewers
    assert stage["DefaultRouteSettings"] == {"ThrottlingRateLimit": reviewers.api_rate_limit,
                                             "ThrottlingBurstLimit": reviewers.api_burst_limit}
    log_group = stage["AccessLogSettings"]["DestinationArn"]["Fn::GetAtt"][0]
    assert raw["Resources"][log_group]["Properties"]["RetentionInDays"] == assembly.config.logs.retention_days
    fields = json.loads(stage["AccessLogSettings"]["Format"])
    assert {"requestId", "ip", "route", "status", "user", "authorizerError"} <= set(fields)


def test_the_review_api_may_resume_executions_read_its_table_and_touch_only_two_prefixes(raw, assembly):
    config = assembly.config
    statements = [s for lid, s in iam_statements(raw) if lid.startswith("ReviewApiFunctionRole")]
    granted = {}
    for s in statements:
        for action in (s["Action"] if isinstance(s["Action"], list) else [s["Action"]]):
            granted.setdefault(action, set()).add(flatten_join(s["Resource"]) if s["Resource"] != "*" else "*")
    account = "<Ref:AWS::Partition>:{}:<Ref:AWS::Region>:<Ref:AWS::AccountId>"
    table = f"arn:{account.format('dynamodb')}:table/{config.resource_name('reviews')}"
    bucket = "arn:<Ref:AWS::Partition>:s3:::scones-data-<Ref:AWS::AccountId>-<Ref:AWS::Region>"
    log_group = next(iter(granted["logs:PutLogEvents"]))
    assert granted == {
        "states:SendTaskSuccess": {f"arn:{account.format('states')}:stateMachine:{config.resource_name('image-routing')}"},
        "dynamodb:GetItem": {table}, "dynamodb:UpdateItem": {table},
        "dynamodb:Query": {f"{table}/index/{STATUS_INDEX}"},
        "s3:GetObject": {f"{bucket}/incoming/*"}, "s3:GetObjectVersion": {f"{bucket}/incoming/*"},
        "s3:PutObject": {f"{bucket}/{config.bucket.labels_prefix}*"},
        "logs:CreateLogStream": {log_group}, "logs:PutLogEvents": {log_group},
        "xray:PutTraceSegments": {"*"}, "xray:PutTelemetryRecords": {"*"},
    }
    roles = [r for r in raw["Resources"].values() if r["Type"] == "AWS::IAM::Role"
             and "lambda.amazonaws.com" in json.dumps(r)]
    assert roles and all("ManagedPolicyArns" not in r["Properties"] for r in roles)


def test_the_api_function_is_configured_from_the_config(raw, assembly):
    config = assembly.config
    props, = (p for p in of_type(raw, "AWS::Lambda::Function").values()
              if p["Handler"] == "lambdas.review_api.handler.handler")
    env = {k: flatten_join(v) if isinstance(v, dict) else v for k, v in props["Environment"]["Variables"].items()}
    assert env["REVIEW_TABLE_NAME"] == config.resource_name("reviews")
    assert env["LABELS_PREFIX"] == config.bucket.labels_prefix
    assert env["IMAGE_URL_EXPIRY_SECONDS"] == str(config.review.image_url_expiry_seconds)
    assert env["REVIEW_LIST_LIMIT"] == str(config.review.list_limit)
    assert env["CONSOLE_AUTH_DOMAIN"].startswith("https://<Ref:ReviewersPoolLoginDomain")
    assert env["CONSOLE_AUTH_DOMAIN"].endswith(".auth.<Ref:AWS::Region>.amazoncognito.com")
    assert env["CONSOLE_IMAGE_ORIGIN"] == \
        "https://scones-data-<Ref:AWS::AccountId>-<Ref:AWS::Region>.s3.<Ref:AWS::Region>.<Ref:AWS::URLSuffix>"
    assert props["MemorySize"] == config.functions.review_memory_mb and props["TracingConfig"] == {"Mode": "Active"}
    assert set(raw["Outputs"]) >= {"ConsoleUrl", "ReviewerUserPoolId"}
