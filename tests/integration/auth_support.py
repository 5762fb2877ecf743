"""Helpers for the authentication tests: an app per test database, real sign-ins of the demo users, audit rows."""

from __future__ import annotations

import base64
import time
from pathlib import Path
from typing import Any

import pyotp
import sqlalchemy as sa

from access.demo import DEMO_PASSWORD, DEMO_USERS

SECRETS = {u.username: u.totp_secret for u in DEMO_USERS}
LOGIN = "/api/auth/login"


def make_app(url: str, var: Path, **auth: Any):  # noqa: ANN201
    from app import create_app

    return create_app({"database": {"url": url}, "paths": {"var": str(var)},
                       "logging": {"level": "WARNING", "format": "json"}, "auth": auth})


def code(username: str, offset_steps: int = 0) -> str:
    """The TOTP code of a demo user, ``offset_steps`` 30 s steps from now (the server accepts ±1)."""
    return pyotp.TOTP(SECRETS[username]).generate_otp(int(time.time() // 30) + offset_steps)


def sign_in(client: Any, username: str, password: str = DEMO_PASSWORD, offset_steps: int = 0) -> Any:
    """Password (+ TOTP when the demo user has a secret) through the JSON API; arms the client's CSRF header."""
    body: dict[str, Any] = {"username": username, "password": password}
    if SECRETS.get(username):
        body["totp"] = code(username, offset_steps)
    response = client.post(LOGIN, json=body)
    assert response.status_code == 200, response.get_json()
    client.environ_base["HTTP_X_CSRF_TOKEN"] = response.get_json()["csrf_token"]
    return response


def basic(token: str, user: str = "qgis") -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{token}".encode()).decode()}


def rows(url: str, sql: str, **params: Any) -> list[Any]:
    engine = sa.create_engine(url)
    try:
        with engine.begin() as conn:
            result = conn.execute(sa.text(sql), params)
            return list(result) if result.returns_rows else []
    finally:
        engine.dispose()


def audit_rows(url: str, action: str | None = None) -> list[Any]:
    where = "WHERE action = :a" if action else ""
    return rows(url, f"SELECT * FROM audit.audit_log {where} ORDER BY id", a=action)


def superuser_url(cluster: Any, url: str) -> str:
    """The same database, as the cluster's superuser."""
    return cluster.url(superuser=True, dbname=sa.engine.make_url(url).database)


def user_id(url: str, username: str) -> int:
    return rows(url, "SELECT id FROM users WHERE username = :u", u=username)[0].id
