"""The review console: a static page (index.html, console.js, console.css; no dependency, no build step)
served by the review API function itself, so the same handler serves it in AWS and locally.

`register_console_routes(app, settings)` adds to the function's Powertools router:

    GET /                     the page (a shell without data: a browser navigation cannot send a token)
    GET /console/{file}       console.js, console.css, favicon.svg, and config.json (how the page signs in)

These routes are not behind the JWT authorizer and return no review data; every `/api/*` route is.
`config.json` is `{"mode": "local"}` or `{"mode": "cognito", "auth_domain", "client_id", "scopes"}`:
in AWS the page signs in through Cognito's hosted UI (authorization code + PKCE) and sends the access
token; locally it takes the token from the URL fragment `#token=...` that `scones run --review-port`
prints.

Every response carries a strict Content-Security-Policy: scripts and styles only from the page's own
origin (no inline code), images from the origin and the bucket's presigned-URL origin, API calls to
the origin and the Cognito domain, no framing, and Trusted Types required, so an HTML sink cannot be
fed a string at all: review data (object keys come from uploads) reaches the page as text only.

Standard library only (the console needs nothing else, and the module stays importable anywhere).
"""
from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

HERE = Path(__file__).resolve().parent
# The page's own files: name -> content type. Nothing else in this folder is served.
STATIC_FILES = {"console.js": "text/javascript; charset=utf-8", "console.css": "text/css; charset=utf-8",
                "favicon.svg": "image/svg+xml"}
PAGE = "index.html"
CONFIG_FILE = "config.json"
SCOPES = ("openid", "email")
AUTH_DOMAIN_VARIABLE = "CONSOLE_AUTH_DOMAIN"
CLIENT_ID_VARIABLE = "CONSOLE_CLIENT_ID"
IMAGE_ORIGIN_VARIABLE = "CONSOLE_IMAGE_ORIGIN"
_ORIGIN = re.compile(r"^https://[A-Za-z0-9.-]+(:[0-9]{1,5})?$")
_CLIENT_ID = re.compile(r"^[A-Za-z0-9_+-]{1,128}$")


class ConsoleConfigurationError(ValueError):
    """A console setting (from the function's environment) is malformed; the message names it."""


@dataclass(frozen=True)
class ConsoleSettings:
    """How the page signs in and where its images come from.

    mode          "cognito" (hosted login) or "local" (token from the URL fragment)
    auth_domain   https://<prefix>.auth.<region>.amazoncognito.com (cognito mode)
    client_id     the console's Cognito app client id (cognito mode)
    image_origins origins the presigned image URLs point at (https://<bucket>.s3.<region>.amazonaws.com)
    """
    mode: str = "local"
    auth_domain: str = ""
    client_id: str = ""
    image_origins: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.mode not in ("cognito", "local"):
            raise ConsoleConfigurationError(f"console mode must be 'cognito' or 'local', got {self.mode!r}")
        if self.mode == "cognito":
            if not _ORIGIN.match(self.auth_domain):
                raise ConsoleConfigurationError(f"{AUTH_DOMAIN_VARIABLE} must be an https origin such as "
                                                f"https://<prefix>.auth.<region>.amazoncognito.com, got {self.auth_domain!r}")
            if not _CLIENT_ID.match(self.client_id):
                raise ConsoleConfigurationError(f"{CLIENT_ID_VARIABLE} must be a Cognito app client id, got {self.client_id!r}")
        for origin in self.image_origins:
            if not _ORIGIN.match(origin):
                raise ConsoleConfigurationError(f"{IMAGE_ORIGIN_VARIABLE} must be an https origin, got {origin!r}")

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> "ConsoleSettings":
        """Cognito mode when the stack set both the hosted-UI domain and the client id; local mode when
        both are empty (the local runtime); one without the other is a configuration error."""
        env = os.environ if environ is None else environ
        domain = env.get(AUTH_DOMAIN_VARIABLE, "").strip().rstrip("/")
        client_id = env.get(CLIENT_ID_VARIABLE, "").strip()
        origin = env.get(IMAGE_ORIGIN_VARIABLE, "").strip().rstrip("/")
        if bool(domain) != bool(client_id):
            missing = CLIENT_ID_VARIABLE if domain else AUTH_DOMAIN_VARIABLE
            raise ConsoleConfigurationError(f"{missing} is empty but its partner is set: the console needs both "
                                            "the Cognito hosted-UI domain and the app client id, or neither (local)")
        return cls(mode="cognito" if domain else "local", auth_domain=domain, client_id=client_id,
                   image_origins=(origin,) if origin else ())

    def client_config(self) -> dict[str, Any]:
        """What the page reads from console/config.json."""
        if self.mode == "local":
            return {"mode": "local"}
        return {"mode": "cognito", "auth_domain": self.auth_domain, "client_id": self.client_id,
                "scopes": list(SCOPES)}

    def content_security_policy(self) -> str:
        sources = lambda *extra: " ".join(("'self'", *extra))  # noqa: E731 - a local shorthand
        connect = (self.auth_domain,) if self.mode == "cognito" else ()
        return "; ".join((
            "default-src 'none'", f"script-src {sources()}", f"style-src {sources()}",
            f"img-src {sources(*self.image_origins)}", f"connect-src {sources(*connect)}",
            "base-uri 'none'", "form-action 'none'", "frame-ancestors 'none'",
            "require-trusted-types-for 'script'", "trusted-types 'none'",
        ))

    def security_headers(self) -> dict[str, str]:
        return {
            "Content-Security-Policy": self.content_security_policy(),
            "X-Content-Type-Options": "nosniff",
            "X-Frame-Options": "DENY",
            "Referrer-Policy": "no-referrer",
            "Cross-Origin-Opener-Policy": "same-origin",
            "Cross-Origin-Resource-Policy": "same-origin",
            "Permissions-Policy": "camera=(), microphone=(), geolocation=()",
            "Strict-Transport-Security": "max-age=31536000; includeSubDomains",
            "Cache-Control": "no-store",
        }


def read_static(name: str) -> str:
    """A file of the page (index.html or one of STATIC_FILES); KeyError for anything else."""
    if name != PAGE and name not in STATIC_FILES:
        raise KeyError(name)
    return (HERE / name).read_text(encoding="utf-8")


def register_console_routes(app: Any, settings: ConsoleSettings) -> None:
    """Add `GET /` and `GET /console/<file>` to `app` (a Powertools APIGatewayHttpResolver)."""
    from aws_lambda_powertools.event_handler import Response

    headers = settings.security_headers()

    @app.get("/")
    def console_page() -> Response:
        return Response(200, "text/html; charset=utf-8", read_static(PAGE), headers)

    @app.get("/console/<file>")
    def console_file(file: str) -> Response:
        if file == CONFIG_FILE:
            return Response(200, "application/json", json.dumps(settings.client_config()), headers)
        if file in STATIC_FILES:
            return Response(200, STATIC_FILES[file], read_static(file), headers)
        return Response(404, "application/json",
                        json.dumps({"message": "no such console file; the console serves "
                                    f"{', '.join([*STATIC_FILES, CONFIG_FILE])}"}), headers)
