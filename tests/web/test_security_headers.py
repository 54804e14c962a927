"""Browser security headers on every answer (UI pages, API answers, errors), and API docs that
load nothing from another host."""

from __future__ import annotations

import re

import httpx
import pytest
from fastapi.testclient import TestClient

from control_tower.auth.roles import Role
from tests.helpers import Staff
from tests.web.test_ui import sign_in


def policy(header: str) -> dict[str, str]:
    directives = (d.strip().split(None, 1) for d in header.split(";") if d.strip())
    return {d[0]: (d[1] if len(d) > 1 else "") for d in directives}


def assert_secured(response: httpx.Response, *, docs: bool = False) -> None:
    headers = response.headers
    assert headers["x-content-type-options"] == "nosniff"
    assert headers["x-frame-options"] == "DENY"
    assert headers["referrer-policy"] == "same-origin"
    csp = policy(headers["content-security-policy"])
    assert csp["default-src"] == "'self'"
    assert csp["frame-ancestors"] == "'none'"
    assert csp["base-uri"] == "'none'"
    assert csp["form-action"] == "'self'"
    assert "script-src" not in csp  # scripts: 'self' only, never inline
    if not docs:
        assert "style-src" not in csp


@pytest.mark.parametrize(
    ("path", "status"),
    [
        ("/ui/", 303),
        ("/ui/login", 200),
        ("/ui/static/ct.css", 200),
        ("/ui/no-such-page", 404),
        ("/events", 401),
        ("/healthz", 200),
        ("/openapi.json", 200),
        ("/no-such-route", 404),
    ],
)
def test_every_answer_carries_the_security_headers(
    client: TestClient, path: str, status: int
) -> None:
    response = client.get(path, follow_redirects=False)
    assert response.status_code == status
    assert_secured(response)


def test_signed_in_pages_carry_them_too(client: TestClient, staff: Staff) -> None:
    sign_in(client, staff.tokens[Role.maintainer].token)
    for path in ("/ui/", "/ui/systems/backend", "/ui/events", "/ui/dlq"):
        response = client.get(path)
        assert response.status_code == 200
        assert_secured(response)
    # A page's header may not be set twice by a layer below.
    assert len(client.get("/ui/").headers.get_list("x-frame-options")) == 1


REFERENCE = re.compile(r'(?:src|href|spec-url|data-openapi-url)="([^"]*)"')


@pytest.mark.parametrize("path", ["/docs", "/redoc"])
def test_api_docs_load_nothing_from_another_host(client: TestClient, path: str) -> None:
    page = client.get(path)
    assert page.status_code == 200
    assert_secured(page, docs=True)
    assert "//" not in page.text.replace("<!doctype html>", "")
    assert not re.search(r"<script(?![^>]*\bsrc=)", page.text), "an inline script"
    references = REFERENCE.findall(page.text)
    assert "/openapi.json" in references
    for url in references:
        assert url.startswith("/"), url
        assert client.get(url).status_code == 200, url
    scripts = [u for u in references if u.endswith(".js")]
    assert scripts
    for url in scripts:
        assert (
            client.get(url)
            .headers["content-type"]
            .startswith(("text/javascript", "application/javascript"))
        )


def test_swagger_ui_is_started_from_a_file_without_the_validator(client: TestClient) -> None:
    start = client.get("/docs/assets/swagger-init.js")
    assert start.status_code == 200
    assert "validatorUrl: null" in start.text
    assert "://" not in start.text
