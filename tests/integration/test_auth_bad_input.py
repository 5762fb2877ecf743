"""Oversized, garbled and forged credentials get a 4xx (never a 5xx) and leave an audit record; floods get 429."""

from __future__ import annotations

import base64
import secrets

import pytest

from access.demo import DEMO_PASSWORD
from tests.integration.auth_support import LOGIN, audit_rows, make_app

COLLECTIONS = "/ogcapi/collections?f=json"
ME = "/api/auth/me"


@pytest.fixture
def app(fresh_db: str, demo_artifacts):  # noqa: ANN001, ANN201
    return make_app(fresh_db, demo_artifacts, rate_limits={"login": {"burst": 1000}})


@pytest.fixture(scope="module")
def shared_db(pg_cluster, template_url: str):  # noqa: ANN001, ANN201
    """One clone for the parametrised probes below: each looks only at the audit record it caused."""
    from tests.conftest import clone_database, drop_database

    yield clone_database(pg_cluster, "t_auth_bad_input_shared")
    drop_database(pg_cluster, "t_auth_bad_input_shared")


@pytest.fixture(scope="module")
def shared_app(shared_db: str, demo_artifacts):  # noqa: ANN001, ANN201
    return make_app(shared_db, demo_artifacts, rate_limits={"login": {"burst": 1000}})


def _new_audit(url: str, before: int) -> list:
    return audit_rows(url)[before:]


def test_a_100_kb_password_is_refused_before_hashing(app, fresh_db: str) -> None:  # noqa: ANN001
    huge = "Aa1!" * 25_000
    response = app.test_client().post(LOGIN, json={"username": "dispatcher", "password": huge})
    assert response.status_code == 400
    record = audit_rows(fresh_db, "auth.login")[-1]
    assert record.outcome == "failed" and record.details["reason"] == "oversized_input"
    form = app.test_client().post("/auth/login", data={"username": "dispatcher", "password": huge})
    assert 400 <= form.status_code < 500


@pytest.mark.parametrize("body", [
    b'{"username": "dispatcher", "password": "\xff\xfe\xfa"}',   # not UTF-8
    b'{"username": "dispatcher", "password": ',                  # truncated JSON
    b'["dispatcher", "secret"]',                                 # not an object
    b'{"username": 42, "password": "x"}',                        # wrong types
    b'{"username": "dispatcher", "password": "a\\u0000b"}',      # NUL inside
    b'{"username": "' + b"\xe4\xb8\xad" * 5000 + b'", "password": "x"}',  # a 15 kB user name
])
def test_garbled_sign_in_bodies_are_4xx_and_audited(shared_app, shared_db: str, body: bytes) -> None:  # noqa: ANN001
    before = len(audit_rows(shared_db))
    response = shared_app.test_client().post(LOGIN, data=body, content_type="application/json")
    assert 400 <= response.status_code < 500, response.get_data(as_text=True)
    assert any(r.action == "auth.login" and r.outcome == "failed" for r in _new_audit(shared_db, before))


def test_non_utf8_form_fields_are_a_failed_sign_in_not_an_error(app, fresh_db: str) -> None:  # noqa: ANN001
    client = app.test_client()
    client.get("/auth/login")
    token = client.get_cookie("onemap_login_csrf", path="/auth/login").value
    body = b"username=dispatcher&password=%FF%FE%00&login_csrf=" + token.encode()
    response = client.post("/auth/login", data=body, content_type="application/x-www-form-urlencoded")
    assert response.status_code == 401
    assert audit_rows(fresh_db, "auth.login")[-1].details["reason"] == "wrong_password"


@pytest.mark.parametrize(("header", "reason"), [
    ("Basic !!!not-base64!!!", "malformed_basic"),
    ("Basic " + base64.b64encode(b"\xff\xfe:\xfa").decode(), "malformed_basic"),
    ("Basic " + base64.b64encode(b"no-colon-here").decode(), "malformed_basic"),
    ("Basic", "malformed_basic"),
    ("Bearer", "malformed"),
    ("Bearer om_" + secrets.token_urlsafe(32), "unknown"),                       # forged, well-formed
    ("Bearer om_" + "é" * 43, "malformed"),                                     # garbled
    ("Basic " + base64.b64encode(b"qgis:om_" + b"A" * 43).decode(), "unknown"),
    ("Negotiate YIIFyzCCBcegAwIBAqEDAgEB", "unsupported_scheme"),
    ("Bearer " + "x" * 10_000, "oversized_header"),
])
def test_bad_authorization_headers_get_401_and_an_audit_record(shared_app, shared_db: str, header: str,
                                                               reason: str) -> None:  # noqa: ANN001
    response = shared_app.test_client().get(COLLECTIONS, headers={"Authorization": header})
    assert response.status_code == 401
    assert "WWW-Authenticate" in response.headers
    record = audit_rows(shared_db, "auth.token")[-1]
    assert record.outcome == "failed" and record.details["reason"] == reason


@pytest.mark.parametrize(("cookie", "reason"), [
    (secrets.token_urlsafe(32), "unknown"),       # forged: well-formed, never issued
    ("%%%<script>", "malformed"),
    ("中文会话", "malformed"),
    ("A" * 4000, "malformed"),
])
def test_forged_or_garbled_session_cookies_are_anonymous_and_audited(shared_app, shared_db: str, cookie: str,
                                                                     reason: str) -> None:  # noqa: ANN001
    client = shared_app.test_client()
    client.set_cookie("onemap_session", cookie)
    response = client.get(ME)
    assert response.status_code == 401
    assert "onemap_session=;" in response.headers.get("Set-Cookie", "")
    assert audit_rows(shared_db, "auth.session")[-1].details["reason"] == reason
    # A write with a forged cookie is not a CSRF question: there is no session to ride on.
    write = client.post("/api/auth/tokens", json={"name": "x", "scopes": ["ogc:read"]})
    assert write.status_code == 401


def test_sign_in_is_rate_limited_per_address(fresh_db: str, demo_artifacts) -> None:  # noqa: ANN001
    app = make_app(fresh_db, demo_artifacts,
                   rate_limits={"login": {"requests": 1, "per_seconds": 3600, "burst": 2}})
    client = app.test_client()
    statuses = [client.post(LOGIN, json={"username": "grid_worker", "password": "Wrong-password-1"}).status_code
                for _ in range(3)]
    assert statuses == [401, 401, 429]
    limited = client.post(LOGIN, json={"username": "grid_worker", "password": DEMO_PASSWORD})
    assert limited.status_code == 429 and 0 < int(limited.headers["Retry-After"]) <= 3600
    assert limited.get_json()["code"] == "rate_limited"
    assert [r.details["rule"] for r in audit_rows(fresh_db, "http.rate_limited")] == ["login"]
    # Reads are not sign-in attempts: the rule covers POST only.
    assert client.get("/auth/login").status_code == 200


def test_expensive_endpoints_are_rate_limited_per_user(fresh_db: str, demo_artifacts) -> None:  # noqa: ANN001
    from tests.integration.auth_support import sign_in

    app = make_app(fresh_db, demo_artifacts, rate_limits={"exports": {"requests": 1, "per_seconds": 3600,
                                                                      "burst": 1}})
    auditor = app.test_client()
    sign_in(auditor, "auditor")
    assert auditor.get("/api/audit").status_code == 200
    assert auditor.get("/api/audit").status_code == 429
