"""The console's routes and settings: the page shell, its static files, its sign-in config, and the
security headers every one of them carries. Served through a real Powertools HTTP API router, with
events built as API Gateway (payload 2.0) builds them."""
from __future__ import annotations

import json
from html.parser import HTMLParser

import pytest
from aws_lambda_powertools.event_handler import APIGatewayHttpResolver

from lambdas.review_api.console import (ConsoleConfigurationError, ConsoleSettings, STATIC_FILES,
                                        register_console_routes)
from scones.local.http_api import Route, http_api_event

COGNITO = {"CONSOLE_AUTH_DOMAIN": "https://scones-reviewers.auth.eu-west-1.amazoncognito.com",
           "CONSOLE_CLIENT_ID": "4tq1example2client3id", "CONSOLE_IMAGE_ORIGIN": "https://b.s3.eu-west-1.amazonaws.com"}


def serve(settings: ConsoleSettings, path: str) -> dict:
    app = APIGatewayHttpResolver()
    register_console_routes(app, settings)
    route = Route("GET /" if path == "/" else "GET /console/{file}", authorized=False)
    params = {} if path == "/" else {"file": path.rsplit("/", 1)[1]}
    return app.resolve(http_api_event("GET", path, {"host": "127.0.0.1"}, b"", route, params, None), None)


class PageScan(HTMLParser):
    """What the page would execute or style inline (nothing, under the CSP) and what it loads."""

    def __init__(self) -> None:
        super().__init__()
        self.inline_scripts, self.handlers, self.style_attributes, self.loads = 0, [], [], []

    def handle_starttag(self, tag, attrs):
        attributes = dict(attrs)
        self.handlers += [name for name in attributes if name.startswith("on")]
        self.style_attributes += ["style"] if "style" in attributes else []
        if tag == "script":
            if "src" in attributes:
                self.loads.append(attributes["src"])
            else:
                self.inline_scripts += 1
        if tag == "link":
            self.loads.append(attributes.get("href"))
        if tag == "img" and "src" in attributes:
            self.loads.append(attributes["src"])


def test_settings_from_the_environment_the_stack_sets():
    local = ConsoleSettings.from_env({"CONSOLE_AUTH_DOMAIN": "", "CONSOLE_CLIENT_ID": ""})
    assert local.mode == "local" and local.client_config() == {"mode": "local"}
    cognito = ConsoleSettings.from_env(COGNITO)
    assert cognito.client_config() == {"mode": "cognito", "auth_domain": COGNITO["CONSOLE_AUTH_DOMAIN"],
                                       "client_id": COGNITO["CONSOLE_CLIENT_ID"], "scopes": ["openid", "email"]}
    assert cognito.image_origins == ("https://b.s3.eu-west-1.amazonaws.com",)


@pytest.mark.parametrize("environ, message", [
    ({"CONSOLE_AUTH_DOMAIN": COGNITO["CONSOLE_AUTH_DOMAIN"]}, "CONSOLE_CLIENT_ID is empty but its partner is set"),
    ({"CONSOLE_CLIENT_ID": "abc"}, "CONSOLE_AUTH_DOMAIN is empty but its partner is set"),
    ({**COGNITO, "CONSOLE_AUTH_DOMAIN": "http://plain.example.com"}, "CONSOLE_AUTH_DOMAIN must be an https origin"),
    ({**COGNITO, "CONSOLE_IMAGE_ORIGIN": "https://x.com; script-src *"}, "CONSOLE_IMAGE_ORIGIN must be an https origin"),
    ({**COGNITO, "CONSOLE_CLIENT_ID": "id with spaces"}, "CONSOLE_CLIENT_ID must be a Cognito app client id"),
])
def test_bad_settings_name_the_variable(environ, message):
    with pytest.raises(ConsoleConfigurationError, match=message):
        ConsoleSettings.from_env(environ)


def test_the_page_is_a_shell_without_inline_code_and_every_response_is_locked_down():
    settings = ConsoleSettings.from_env(COGNITO)
    page = serve(settings, "/")
    assert page["statusCode"] == 200 and page["headers"]["Content-Type"] == "text/html; charset=utf-8"
    scan = PageScan()
    scan.feed(page["body"])
    assert scan.inline_scripts == 0 and scan.handlers == [] and scan.style_attributes == []
    assert sorted(scan.loads) == ["console/console.css", "console/console.js", "console/favicon.svg"]
    for path in ("/", "/console/console.js", "/console/console.css", "/console/config.json", "/console/nope.js"):
        headers = serve(settings, path)["headers"]
        csp = dict(part.split(" ", 1) for part in headers["Content-Security-Policy"].split("; "))
        assert csp["default-src"] == "'none'" and csp["script-src"] == "'self'" and csp["style-src"] == "'self'"
        assert csp["img-src"] == "'self' https://b.s3.eu-west-1.amazonaws.com"
        assert csp["connect-src"] == "'self' https://scones-reviewers.auth.eu-west-1.amazoncognito.com"
        assert csp["frame-ancestors"] == "'none'" and csp["base-uri"] == "'none'" and csp["form-action"] == "'none'"
        assert csp["require-trusted-types-for"] == "'script'" and csp["trusted-types"] == "'none'"
        assert headers["X-Content-Type-Options"] == "nosniff" and headers["Referrer-Policy"] == "no-referrer"
        assert headers["Cache-Control"] == "no-store"


def test_local_mode_allows_only_its_own_origin():
    headers = serve(ConsoleSettings(), "/")["headers"]
    assert "img-src 'self';" in headers["Content-Security-Policy"]
    assert "connect-src 'self';" in headers["Content-Security-Policy"]


def test_static_files_config_and_unknown_files():
    settings = ConsoleSettings.from_env(COGNITO)
    for name, content_type in STATIC_FILES.items():
        response = serve(settings, f"/console/{name}")
        assert response["statusCode"] == 200 and response["headers"]["Content-Type"] == content_type
        assert len(response["body"]) > 300
    config = serve(settings, "/console/config.json")
    assert config["statusCode"] == 200 and json.loads(config["body"])["mode"] == "cognito"
    for name in ("index.html", "__init__.py", "..%2F__init__.py", "console.js.map"):
        missing = serve(settings, f"/console/{name}")
        assert missing["statusCode"] == 404, name
        assert "no such console file" in json.loads(missing["body"])["message"]


def test_the_script_never_feeds_data_to_an_html_sink():
    """Belt and braces to the CSP's Trusted Types: the script has no HTML-parsing sink at all."""
    from lambdas.review_api.console import HERE

    script = (HERE / "console.js").read_text()
    for sink in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval(", "new Function",
                 "setTimeout(\"", "srcdoc"):
        assert sink not in script, sink
    assert script.count("textContent") >= 8
