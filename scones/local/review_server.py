"""The local review server: the review console and API on 127.0.0.1, served by the REAL review API function.

API Gateway's part, played locally: each HTTP request is matched against the synthesized HTTP API's
routes (`AWS::ApiGatewayV2::Route`: route key and authorization type), turned into an HTTP API
payload-2.0 event and sent to the review API function through moto's Lambda `invoke` (the one hook in
`lambda_hook` runs the real handler in-process, as API Gateway invokes the function in AWS). The
routes themselves (`/`, `/console/...`, `/api/...`) are the handler's; this module adds nothing to them.

Authorization, as the JWT authorizer does it: a route with authorization type JWT needs
`Authorization: Bearer <token>` (the token: `SCONES_REVIEW_TOKEN`, or one generated per run); without
it API Gateway's 401 `{"message": "Unauthorized"}`, and the function is not called. With it, the event
carries the claims of a local reviewer in the `reviewers` group, in the form the authorizer passes them
(string values; an array claim flattened to "[a b]").

Images: an `<img>` cannot send a bearer header, so the API's `image_url` is, locally, a short-lived URL
signed with a per-server key (`LocalImageSigner`, the stand-in for an S3 presigned GET) that this
server serves at `/local/images` with a content type sniffed from the bytes and a sandboxing CSP.
"""
from __future__ import annotations

import hashlib
import hmac
import os
import secrets
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable
from urllib.parse import parse_qs, quote, urlencode, urlsplit

from scones_contracts.labels import image_content_type
from scones_contracts.review import REVIEWER_GROUP

from .http_api import (INTERNAL_ERROR, NOT_FOUND, UNAUTHORIZED, HttpResult, Route, http_api_event, json_result,
                       lambda_result, match_route)

TOKEN_VARIABLE = "SCONES_REVIEW_TOKEN"
IMAGE_PATH = "/local/images"
LOCAL_REVIEWER = "local-reviewer"
# What API Gateway's JWT authorizer hands the function (claims are strings; arrays flattened to "[a b]").
LOCAL_CLAIMS = {"sub": LOCAL_REVIEWER, "username": LOCAL_REVIEWER, "cognito:groups": f"[{REVIEWER_GROUP}]",
                "token_use": "access", "iss": "local"}
IMAGE_HEADERS = {"X-Content-Type-Options": "nosniff", "Content-Security-Policy": "default-src 'none'; sandbox",
                 "Cache-Control": "private, max-age=60", "Referrer-Policy": "no-referrer"}


def review_token(environ: dict[str, str] | None = None) -> tuple[str, bool]:
    """(token, generated): `SCONES_REVIEW_TOKEN` when set and not blank, else a fresh random one."""
    value = (os.environ if environ is None else environ).get(TOKEN_VARIABLE, "").strip()
    return (value, False) if value else (secrets.token_urlsafe(32), True)


# -- images -------------------------------------------------------------------------------------
class LocalImageSigner:
    """`image_url` for the local API: `/local/images?bucket&key&version_id&expires&signature`, relative to
    the console's origin, valid for `expiry_seconds` (like a presigned GET), signed with a per-server key."""

    def __init__(self, expiry_seconds: int = 300, clock: Callable[[], float] = time.time) -> None:
        self._key = secrets.token_bytes(32)
        self.expiry_seconds = int(expiry_seconds)
        self.clock = clock

    def _signature(self, fields: dict[str, str]) -> str:
        message = "\n".join(f"{name}={fields[name]}" for name in ("bucket", "key", "version_id", "expires"))
        return hmac.new(self._key, message.encode(), hashlib.sha256).hexdigest()

    def __call__(self, image: Any) -> str:
        fields = {"bucket": image.bucket, "key": image.key, "version_id": image.version_id or "",
                  "expires": str(int(self.clock()) + self.expiry_seconds)}
        return f"{IMAGE_PATH}?{urlencode({**fields, 'signature': self._signature(fields)}, quote_via=quote)}"

    def verify(self, query: dict[str, list[str]]) -> tuple[str, str, str | None]:
        """(bucket, key, version_id) of a valid, unexpired URL; PermissionError naming what is wrong."""
        fields = {name: (query.get(name) or [""])[0] for name in ("bucket", "key", "version_id", "expires", "signature")}
        if not hmac.compare_digest(self._signature(fields), fields["signature"]):
            raise PermissionError("image link signature is not valid")
        if not fields["expires"].isdigit() or int(fields["expires"]) < self.clock():
            raise PermissionError("image link has expired; reload the console")
        return fields["bucket"], fields["key"], fields["version_id"] or None


# -- the server ---------------------------------------------------------------------------------
class ReviewServer:
    """API Gateway's role for the review API on 127.0.0.1:`port` (0: a free port).

    `invoke(event) -> response`: calls the review API function (the runtime passes moto's Lambda invoke).
    `read_image(bucket, key, version_id) -> bytes`: the uploaded object (the runtime passes an S3 read).
    """

    def __init__(self, *, routes: list[Route], invoke: Callable[[dict[str, Any]], Any],
                 read_image: Callable[[str, str, str | None], bytes], token: str, signer: LocalImageSigner,
                 host: str = "127.0.0.1", port: int = 0, log: Callable[[str], None] | None = None) -> None:
        if not token:
            raise ValueError("the review server needs a non-empty token")
        self.routes = routes
        self.invoke = invoke
        self.read_image = read_image
        self.token = token
        self.signer = signer
        self.host, self.port = host, port
        self.log = log or (lambda message: print(message, file=sys.stderr, flush=True))
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- what one request gets (also the in-process entry point of tests) -------------------------
    def handle(self, method: str, target: str, headers: dict[str, str], body: bytes = b"",
               source_ip: str = "127.0.0.1") -> HttpResult:
        path = urlsplit(target).path
        if path == IMAGE_PATH:
            return self._image(method, target)
        matched = match_route(self.routes, method, path)
        if matched is None:
            return json_result(404, NOT_FOUND)
        route, params = matched
        claims = None
        if route.authorized:
            if not self._authorized(headers):
                return json_result(401, UNAUTHORIZED, {"WWW-Authenticate": "Bearer"})
            claims = LOCAL_CLAIMS
        event = http_api_event(method, target, headers, body, route, params, claims, source_ip)
        try:
            return lambda_result(self.invoke(event))
        except Exception as exc:  # API Gateway answers 500 when the integration fails
            self.log(f"review API function failed for {method} {path}: {type(exc).__name__}: {exc}")
            return json_result(500, INTERNAL_ERROR)

    def _authorized(self, headers: dict[str, str]) -> bool:
        value = next((v for k, v in headers.items() if k.lower() == "authorization"), "")
        scheme, _, presented = value.partition(" ")
        return scheme.lower() == "bearer" and hmac.compare_digest(presented.strip().encode(), self.token.encode())

    def _image(self, method: str, target: str) -> HttpResult:
        if method not in ("GET", "HEAD"):
            return json_result(405, {"message": "Method Not Allowed"}, {"Allow": "GET, HEAD"})
        try:
            bucket, key, version_id = self.signer.verify(parse_qs(urlsplit(target).query, keep_blank_values=True))
        except PermissionError as refused:
            return json_result(403, {"message": str(refused)})
        try:
            data = self.read_image(bucket, key, version_id)
        except LookupError as missing:
            return json_result(404, {"message": f"image not found: {missing}"})
        return HttpResult(200, {"Content-Type": image_content_type(data), **IMAGE_HEADERS},
                          b"" if method == "HEAD" else data)

    # -- serving --------------------------------------------------------------------------------
    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def console_url(self) -> str:
        """The address to open: the console with the token in the fragment (never sent to the server)."""
        return f"{self.url}/#token={quote(self.token, safe='')}"

    def start(self) -> "ReviewServer":
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            server_version = "scones-review"
            sys_version = ""

            def _serve(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                headers: dict[str, str] = {}
                for name, value in self.headers.items():  # repeated headers joined, as API Gateway does
                    headers[name] = f"{headers[name]},{value}" if name in headers else value
                result = server.handle(self.command, self.path, headers, body, self.client_address[0])
                self.send_response(result.status)
                for name, value in result.headers.items():
                    if name.lower() != "content-length":
                        self.send_header(name, value)
                self.send_header("Content-Length", str(len(result.body)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(result.body)

            do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = do_OPTIONS = _serve

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base class's name
                return  # requests are not logged to the terminal, which shows the run's JSON lines

        self._httpd = ThreadingHTTPServer((self.host, self.port), Handler)
        self._httpd.daemon_threads = True
        self.port = self._httpd.server_address[1]
        self._thread = threading.Thread(target=self._httpd.serve_forever, name="scones-review-server", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> "ReviewServer":
        return self.start()

    def __exit__(self, *exc_info: Any) -> None:
        self.stop()
