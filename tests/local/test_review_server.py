"""The local review server's own part (API Gateway's): bearer-token auth before the function runs, the
claims it injects, routes from the templates, errors, and the signed image links. The review API
function itself is exercised through this server in tests/local/test_review_api_local.py."""
from __future__ import annotations

import json
from dataclasses import dataclass
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from scones.local.http_api import Route
from scones.local.review_server import LOCAL_CLAIMS, LocalImageSigner, ReviewServer, review_token
from scones_contracts.review import REVIEWER_GROUP

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32
ROUTES = [Route("GET /", False), Route("GET /api/reviews", True), Route("POST /api/reviews/{id}/decision", True)]
HOSTILE_KEY = "incoming/<img src=x onerror=alert(1)>.png"


@dataclass(frozen=True)
class Image:
    bucket: str
    key: str
    version_id: str | None
    content_type: str = "image/png"


class Recorder:
    """Stands in for the function only to observe what API Gateway's part sends it (and answers 200)."""

    def __init__(self, fail: bool = False) -> None:
        self.events: list[dict] = []
        self.fail = fail

    def __call__(self, event: dict) -> dict:
        self.events.append(event)
        if self.fail:
            raise RuntimeError("boom")
        return {"statusCode": 200, "headers": {"Content-Type": "application/json"}, "body": json.dumps({"ok": True})}


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


def make_server(invoke, objects=None, clock=None) -> ReviewServer:
    objects = objects or {}

    def read_image(bucket, key, version_id):
        try:
            return objects[(bucket, key, version_id)]
        except KeyError:
            raise LookupError(f"s3://{bucket}/{key}") from None

    return ReviewServer(routes=ROUTES, invoke=invoke, read_image=read_image, token="s3cret-token",
                        signer=LocalImageSigner(60, clock=clock or Clock()))


def test_token_from_the_environment_or_generated():
    assert review_token({"SCONES_REVIEW_TOKEN": " mine "}) == ("mine", False)
    generated, was_generated = review_token({"SCONES_REVIEW_TOKEN": "  "})
    assert was_generated and len(generated) >= 40 and generated != review_token({})[0]


@pytest.mark.parametrize("authorization", [None, "", "Bearer", "Bearer wrong", "Basic s3cret-token",
                                           "Bearer s3cret-token-and-more"])
def test_guarded_routes_answer_401_without_calling_the_function(authorization):
    recorder = Recorder()
    headers = {} if authorization is None else {"Authorization": authorization}
    result = make_server(recorder).handle("GET", "/api/reviews", headers)
    assert (result.status, result.json()) == (401, {"message": "Unauthorized"})
    assert recorder.events == []


def test_the_function_gets_the_local_reviewer_claims_as_the_jwt_authorizer_passes_them():
    recorder = Recorder()
    result = make_server(recorder).handle("POST", "/api/reviews/abc/decision",
                                          {"authorization": "bearer s3cret-token"}, b'{"label": "bicycle"}')
    assert result.status == 200 and result.json() == {"ok": True}
    event = recorder.events[0]
    assert event["requestContext"]["authorizer"]["jwt"]["claims"] == LOCAL_CLAIMS
    assert LOCAL_CLAIMS["cognito:groups"] == f"[{REVIEWER_GROUP}]"
    assert event["pathParameters"] == {"id": "abc"} and event["routeKey"] == "POST /api/reviews/{id}/decision"
    assert json.loads(event["body"]) == {"label": "bicycle"}


def test_open_routes_carry_no_claims_unknown_routes_404_and_a_failing_function_500():
    recorder = Recorder()
    server = make_server(recorder)
    assert server.handle("GET", "/", {}).status == 200
    assert "authorizer" not in recorder.events[0]["requestContext"]
    assert server.handle("GET", "/admin", {"Authorization": "Bearer s3cret-token"}).json() == {"message": "Not Found"}
    assert server.handle("DELETE", "/api/reviews", {"Authorization": "Bearer s3cret-token"}).status == 404
    assert len(recorder.events) == 1
    logged = []
    failing = make_server(Recorder(fail=True))
    failing.log = logged.append
    result = failing.handle("GET", "/api/reviews", {"Authorization": "Bearer s3cret-token"})
    assert (result.status, result.json()) == (500, {"message": "Internal Server Error"})
    assert "RuntimeError: boom" in logged[0]


def test_image_links_are_signed_short_lived_and_serve_only_image_types():
    clock = Clock()
    objects = {("b", HOSTILE_KEY, "v1"): PNG, ("b", "incoming/page.png", None): b"<html><script>alert(1)</script>"}
    server = make_server(Recorder(), objects, clock)
    url = server.signer(Image("b", HOSTILE_KEY, "v1"))
    assert url.startswith("/local/images?") and "<" not in url and " " not in url
    assert parse_qs(urlsplit(url).query)["key"] == [HOSTILE_KEY]
    image = server.handle("GET", url, {})  # no bearer header: an <img> cannot send one; the signature is the check
    assert image.status == 200 and image.body == PNG and image.headers["Content-Type"] == "image/png"
    assert image.headers["X-Content-Type-Options"] == "nosniff"
    assert image.headers["Content-Security-Policy"] == "default-src 'none'; sandbox"
    html = server.handle("GET", server.signer(Image("b", "incoming/page.png", None, "text/html")), {})
    assert html.status == 200 and html.headers["Content-Type"] == "application/octet-stream"
    assert server.handle("GET", url.replace("v1", "v2"), {}).json() == {"message": "image link signature is not valid"}
    assert server.handle("GET", server.signer(Image("b", "gone.png", None)), {}).status == 404
    assert server.handle("POST", url, {}).status == 405
    clock.now += 61
    assert server.handle("GET", url, {}).json() == {"message": "image link has expired; reload the console"}
    other = make_server(Recorder(), objects, clock)  # another server's key: its links are not valid here
    assert other.handle("GET", server.signer(Image("b", HOSTILE_KEY, "v1")), {}).status == 403


def test_over_http_on_loopback():
    recorder = Recorder()
    with make_server(recorder) as server:
        assert server.url.startswith("http://127.0.0.1:") and server.port > 0
        assert server.console_url() == f"{server.url}/#token=s3cret-token"
        response = httpx.get(f"{server.url}/api/reviews", headers={"Authorization": "Bearer s3cret-token",
                                                                   "Cookie": "a=1"})
        assert response.status_code == 200 and response.json() == {"ok": True}
        assert recorder.events[0]["cookies"] == ["a=1"]
        assert httpx.get(f"{server.url}/api/reviews").status_code == 401
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"{server.url}/", timeout=2)
