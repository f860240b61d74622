"""API Gateway's part of the local review server: route matching, the payload-2.0 event (read back with
Powertools' own event class), and the Lambda response rules."""
from __future__ import annotations

import base64
import json

import pytest
from aws_lambda_powertools.utilities.data_classes import APIGatewayProxyEventV2

from scones.local.http_api import Route, http_api_event, lambda_result, match_route, routes_from_templates

ROUTES = [Route("GET /", False), Route("GET /console/{file}", False), Route("GET /api/reviews", True),
          Route("POST /api/reviews/{id}/decision", True), Route("ANY /api/{proxy+}", True)]


@pytest.mark.parametrize("method, path, expected, params", [
    ("GET", "/", "GET /", {}),
    ("GET", "/console/console.js", "GET /console/{file}", {"file": "console.js"}),
    ("GET", "/api/reviews", "GET /api/reviews", {}),
    ("POST", "/api/reviews/abc/decision", "POST /api/reviews/{id}/decision", {"id": "abc"}),
    ("GET", "/api/reviews/abc/decision", "ANY /api/{proxy+}", {"proxy": "reviews/abc/decision"}),
    ("DELETE", "/api/reviews", "ANY /api/{proxy+}", {"proxy": "reviews"}),
    ("GET", "/console/a/b", None, None),
    ("POST", "/", None, None),
    ("GET", "/nothing", None, None),
])
def test_the_most_specific_route_wins(method, path, expected, params):
    found = match_route(ROUTES, method, path)
    if expected is None:
        assert found is None
    else:
        assert (found[0].route_key, found[1]) == (expected, params)


def test_default_route_only_when_nothing_else_matches():
    routes = [Route("$default", False), Route("GET /api/reviews", True)]
    assert match_route(routes, "GET", "/api/reviews")[0].route_key == "GET /api/reviews"
    assert match_route(routes, "PUT", "/x/y")[0].route_key == "$default"


def test_routes_come_from_the_templates():
    template = {"Resources": {
        "R1": {"Type": "AWS::ApiGatewayV2::Route", "Properties": {"RouteKey": "GET /", "AuthorizationType": "NONE"}},
        "R2": {"Type": "AWS::ApiGatewayV2::Route", "Properties": {"RouteKey": "GET /api/reviews", "AuthorizationType": "JWT"}},
        "Q": {"Type": "AWS::SQS::Queue", "Properties": {}}}}
    assert sorted(routes_from_templates({"S": template}), key=lambda r: r.route_key) == [
        Route("GET /", False), Route("GET /api/reviews", True)]
    with pytest.raises(ValueError, match="no HTTP API route"):
        routes_from_templates({"S": {"Resources": {}}})


def test_the_event_is_what_powertools_reads_from_api_gateway():
    body = json.dumps({"label": "bicycle", "note": "ünïcode"}).encode()
    event = http_api_event("POST", "/api/reviews/r%201/decision?x=1&x=2&y=",
                           {"Host": "127.0.0.1:8765", "Content-Type": "application/json", "Cookie": "a=1; b=2",
                            "User-Agent": "test"},
                           body, Route("POST /api/reviews/{id}/decision", True), {"id": "r 1"},
                           {"sub": "s", "cognito:groups": "[reviewers]"})
    parsed = APIGatewayProxyEventV2(event)
    assert parsed.http_method == "POST" and parsed.path == "/api/reviews/r%201/decision"
    assert parsed.raw_query_string == "x=1&x=2&y="
    assert parsed.query_string_parameters == {"x": "1,2", "y": ""}
    assert parsed.headers["content-type"] == "application/json" and "cookie" not in parsed.headers
    assert parsed.cookies == ["a=1", "b=2"]
    assert parsed.path_parameters == {"id": "r 1"} and parsed.route_key == "POST /api/reviews/{id}/decision"
    assert json.loads(parsed.body) == {"label": "bicycle", "note": "ünïcode"} and not parsed.is_base64_encoded
    assert parsed.request_context.authorizer.jwt_claim == {"sub": "s", "cognito:groups": "[reviewers]"}
    assert parsed.request_context.http.source_ip == "127.0.0.1" and parsed.request_context.stage == "$default"


def test_binary_bodies_are_base64_and_unauthorized_routes_carry_no_authorizer():
    event = http_api_event("PUT", "/x", {}, b"\xff\x00\x01", Route("$default", False), {}, None)
    assert event["isBase64Encoded"] and base64.b64decode(event["body"]) == b"\xff\x00\x01"
    assert "authorizer" not in event["requestContext"]


def test_lambda_responses_follow_api_gateway_rules():
    html = lambda_result({"statusCode": 201, "headers": {"Content-Type": "text/html"}, "body": "<p>é</p>"})
    assert (html.status, html.headers["Content-Type"], html.body) == (201, "text/html", "<p>é</p>".encode())
    binary = lambda_result({"statusCode": 200, "body": base64.b64encode(b"\x89PNG").decode(), "isBase64Encoded": True})
    assert binary.body == b"\x89PNG"
    bare = lambda_result({"reviews": []})
    assert bare.status == 200 and bare.json() == {"reviews": []} and bare.headers["Content-Type"] == "application/json"
