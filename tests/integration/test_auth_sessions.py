"""Server-side sessions: idle and absolute timeouts (stored timestamps are moved, not the clock), server-side
logout, CSRF on cookie-authenticated writes, cookie attributes."""

from __future__ import annotations

import re

import pytest

from tests.integration.auth_support import audit_rows, make_app, rows, sign_in

ME = "/api/auth/me"


@pytest.fixture
def app(fresh_db: str, demo_artifacts):  # noqa: ANN001, ANN201
    return make_app(fresh_db, demo_artifacts)


@pytest.mark.parametrize(("shift", "reason"), [
    ("last_seen_at = now() - interval '31 minutes'", "idle_timeout"),
    ("created_at = now() - interval '8 hours 1 minute', last_seen_at = now()", "absolute_timeout"),
])
def test_sessions_expire_when_idle_or_too_old(app, fresh_db: str, shift: str, reason: str) -> None:  # noqa: ANN001
    client = app.test_client()
    sign_in(client, "grid_worker")
    assert client.get(ME).status_code == 200
    rows(fresh_db, f"UPDATE auth_sessions SET {shift}")
    expired = client.get(ME)
    assert expired.status_code == 401
    assert "onemap_session=;" in expired.headers.get("Set-Cookie", "")  # the browser is told to forget it
    assert rows(fresh_db, "SELECT count(*) FROM auth_sessions")[0][0] == 0
    assert [r.details["reason"] for r in audit_rows(fresh_db, "auth.session")] == [reason]


def test_a_session_just_inside_the_idle_limit_is_kept(app, fresh_db: str) -> None:  # noqa: ANN001
    client = app.test_client()
    sign_in(client, "grid_worker")
    rows(fresh_db, "UPDATE auth_sessions SET last_seen_at = now() - interval '29 minutes'")
    assert client.get(ME).status_code == 200
    # ... and using it moves the idle deadline.
    assert rows(fresh_db, "SELECT now() - last_seen_at < interval '1 minute' FROM auth_sessions")[0][0] is True


def test_logout_ends_the_session_on_the_server(app, fresh_db: str) -> None:  # noqa: ANN001
    client = app.test_client()
    sign_in(client, "enterprise")
    stolen = client.get_cookie("onemap_session").value
    assert client.post("/api/auth/logout").status_code == 200
    thief = app.test_client()
    thief.set_cookie("onemap_session", stolen)
    assert thief.get(ME).status_code == 401
    assert rows(fresh_db, "SELECT count(*) FROM auth_sessions")[0][0] == 0
    assert [r.outcome for r in audit_rows(fresh_db, "auth.logout")] == ["success"]


def test_cookie_authenticated_writes_need_the_csrf_token(app, fresh_db: str) -> None:  # noqa: ANN001
    client = app.test_client()
    sign_in(client, "grid_worker")
    good = client.environ_base.pop("HTTP_X_CSRF_TOKEN")
    body = {"name": "qgis", "scopes": ["ogc:read"]}
    missing = client.post("/api/auth/tokens", json=body)
    assert missing.status_code == 403 and missing.get_json()["code"] == "csrf_failed"
    wrong = client.post("/api/auth/tokens", json=body, headers={"X-CSRF-Token": good[:-2] + "xx"})
    assert wrong.status_code == 403
    assert rows(fresh_db, "SELECT count(*) FROM api_tokens")[0][0] == 0  # nothing was written
    assert client.post("/api/auth/tokens", json=body, headers={"X-CSRF-Token": good}).status_code == 201
    # Forms carry it as a field: the page embeds it, the middleware reads it without eating the body.
    page = client.get("/auth/tokens").get_data(as_text=True)
    field = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    assert client.post("/auth/tokens", data={"name": "form", "scopes": "ogc:read"}).status_code == 403
    created = client.post("/auth/tokens", data={"name": "form", "scopes": "ogc:read", "csrf_token": field})
    assert created.status_code == 200 and "om_" in created.get_data(as_text=True)
    denied = [r.details["reason"] for r in audit_rows(fresh_db, "auth.csrf")]
    assert denied == ["missing", "mismatch", "missing"]


def test_token_requests_are_exempt_from_csrf_even_with_a_cookie(app) -> None:  # noqa: ANN001
    client = app.test_client()
    sign_in(client, "grid_worker")
    token = client.post("/api/auth/tokens", json={"name": "script", "scopes": ["api:read", "api:write"]}).get_json()
    del client.environ_base["HTTP_X_CSRF_TOKEN"]
    # The browser's cookie rides along, but the request authenticates by its Authorization header.
    answer = client.post("/api/auth/logout", headers={"Authorization": f"Bearer {token['token']}"})
    assert answer.status_code == 200
    assert client.get(ME, headers={"Authorization": f"Bearer {token['token']}"}).get_json()["method"] == "token"
    assert client.get(ME).get_json()["method"] == "session"  # a token request never touches the cookie's session


def test_session_cookie_attributes(fresh_db: str, demo_artifacts) -> None:  # noqa: ANN001
    cookie = sign_in(make_app(fresh_db, demo_artifacts).test_client(), "grid_worker").headers["Set-Cookie"]
    assert re.match(r"onemap_session=[A-Za-z0-9_-]{43};", cookie)  # a random id, nothing else
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Secure" not in cookie
    assert "Max-Age" not in cookie and "Expires" not in cookie  # a browser-session cookie; the server times out
    from app import create_app

    behind_https = create_app({"database": {"url": fresh_db}, "paths": {"var": str(demo_artifacts)},
                               "server": {"public_url": "https://onemap.example.gov.cn"},
                               "logging": {"level": "WARNING", "format": "json"}})
    assert "Secure" in sign_in(behind_https.test_client(), "grid_worker").headers["Set-Cookie"]
