"""API Gateway's HTTP API, the part the local review server plays: routes, the payload-2.0 event, the response.

The routes come from the synthesized templates (`AWS::ApiGatewayV2::Route`: route key and authorization
type), so the local server guards exactly the routes the stack guards. `http_api_event` builds the
event API Gateway sends a Lambda integration (payload format version 2.0) and `lambda_result` reads the
function's response by API Gateway's rules. Nothing here knows the review API's routes.
"""
from __future__ import annotations

import base64
import json
import uuid
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any
from urllib.parse import parse_qs, urlsplit

UNAUTHORIZED = {"message": "Unauthorized"}
NOT_FOUND = {"message": "Not Found"}
INTERNAL_ERROR = {"message": "Internal Server Error"}


# -- routes, as the synthesized HTTP API declares them --------------------------------------------
@dataclass(frozen=True)
class Route:
    """One HTTP API route: `route_key` as in the template ("GET /api/reviews", "$default"), and whether
    the JWT authorizer guards it."""
    route_key: str
    authorized: bool

    @property
    def method(self) -> str:
        return "ANY" if self.route_key == "$default" else self.route_key.split(" ", 1)[0]

    @property
    def segments(self) -> list[str] | None:
        if self.route_key == "$default":
            return None
        return [s for s in self.route_key.split(" ", 1)[1].split("/") if s]

    def match(self, method: str, path: str) -> dict[str, str] | None:
        """Path parameters when the route matches (API Gateway's {name} and greedy {name+}), else None."""
        if self.method not in ("ANY", method):
            return None
        segments = self.segments
        if segments is None:
            return {}
        parts = [p for p in path.split("/") if p]
        params: dict[str, str] = {}
        for i, segment in enumerate(segments):
            if segment.startswith("{") and segment.endswith("+}"):
                if i >= len(parts):
                    return None
                params[segment[1:-2]] = "/".join(parts[i:])
                return params
            if i >= len(parts):
                return None
            if segment.startswith("{") and segment.endswith("}"):
                params[segment[1:-1]] = parts[i]
            elif segment != parts[i]:
                return None
        return params if len(parts) == len(segments) else None

    def specificity(self) -> tuple[int, int, int]:
        """API Gateway picks the most specific match: more literal segments, then fewer greedy ones, then a
        named method over ANY; `$default` only when nothing else matches."""
        segments = self.segments
        if segments is None:
            return (-1, 0, 0)
        return (sum(not s.startswith("{") for s in segments), -sum(s.endswith("+}") for s in segments),
                int(self.method != "ANY"))


def routes_from_templates(templates: dict[str, dict[str, Any]]) -> list[Route]:
    """Every `AWS::ApiGatewayV2::Route` of the synthesized stacks."""
    routes = []
    for template in templates.values():
        for resource in template.get("Resources", {}).values():
            if resource["Type"] == "AWS::ApiGatewayV2::Route":
                props = resource["Properties"]
                routes.append(Route(props["RouteKey"], props.get("AuthorizationType", "NONE") != "NONE"))
    if not routes:
        raise ValueError("the synthesized templates declare no HTTP API route (AWS::ApiGatewayV2::Route)")
    return routes


def match_route(routes: list[Route], method: str, path: str) -> tuple[Route, dict[str, str]] | None:
    found = [(route, params) for route in routes if (params := route.match(method, path)) is not None]
    if not found:
        return None
    return max(found, key=lambda pair: pair[0].specificity())


# -- HTTP request -> payload 2.0 event ---------------------------------------------------------------
def http_api_event(method: str, target: str, headers: dict[str, str], body: bytes, route: Route,
                   path_parameters: dict[str, str], claims: dict[str, str] | None, source_ip: str = "127.0.0.1",
                   now: datetime | None = None) -> dict[str, Any]:
    """The event API Gateway (HTTP API, payload format 2.0) sends a Lambda integration for one request.

    `headers`: names lower-cased, repeated headers joined with commas (as API Gateway does); cookies move
    to `cookies`. A body that is not UTF-8 text is base64-encoded with `isBase64Encoded`.
    """
    now = now or datetime.now(timezone.utc)
    split = urlsplit(target)
    headers = {name.lower(): value for name, value in headers.items()}
    cookies = [c.strip() for c in headers.pop("cookie", "").split(";") if c.strip()]
    query = parse_qs(split.query, keep_blank_values=True)
    try:
        text, encoded = body.decode("utf-8"), False
    except UnicodeDecodeError:
        text, encoded = base64.b64encode(body).decode("ascii"), True
    request_context: dict[str, Any] = {
        "accountId": "123456789012", "apiId": "local", "domainName": headers.get("host", "127.0.0.1"),
        "domainPrefix": "local",
        "http": {"method": method, "path": split.path, "protocol": "HTTP/1.1", "sourceIp": source_ip,
                 "userAgent": headers.get("user-agent", "")},
        "requestId": str(uuid.uuid4()), "routeKey": route.route_key, "stage": "$default",
        "time": now.strftime("%d/%b/%Y:%H:%M:%S +0000"), "timeEpoch": int(now.timestamp() * 1000),
    }
    if claims is not None:
        request_context["authorizer"] = {"jwt": {"claims": dict(claims), "scopes": None}}
    event: dict[str, Any] = {
        "version": "2.0", "routeKey": route.route_key, "rawPath": split.path, "rawQueryString": split.query,
        "headers": headers, "requestContext": request_context, "isBase64Encoded": encoded,
    }
    if cookies:
        event["cookies"] = cookies
    if query:
        event["queryStringParameters"] = {name: ",".join(values) for name, values in query.items()}
    if path_parameters:
        event["pathParameters"] = dict(path_parameters)
    if body:
        event["body"] = text
    return event


@dataclass
class HttpResult:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


def json_result(status: int, document: Any, headers: dict[str, str] | None = None) -> HttpResult:
    return HttpResult(status, {"Content-Type": "application/json", **(headers or {})}, json.dumps(document).encode())


def lambda_result(result: Any) -> HttpResult:
    """A payload-2.0 Lambda response -> HTTP (API Gateway's rules: a dict without statusCode, or any other
    JSON value, is a 200 JSON body)."""
    if not isinstance(result, dict) or "statusCode" not in result:
        return json_result(200, result)
    body = result.get("body") or ""
    data = base64.b64decode(body) if result.get("isBase64Encoded") else str(body).encode("utf-8")
    headers = {str(k): str(v) for k, v in (result.get("headers") or {}).items()}
    for name, values in (result.get("multiValueHeaders") or {}).items():
        headers[str(name)] = ",".join(str(v) for v in values)
    return HttpResult(int(result["statusCode"]), headers, data)


