"""API tokens for tests that talk to the live server as a desktop GIS client would (HTTP Basic / Bearer)."""

from __future__ import annotations

import requests


def _session_client(dispatcher_session: tuple[str, str]) -> requests.Session:
    from core.config import load_config

    cookie, csrf = dispatcher_session
    client = requests.Session()
    client.trust_env = False  # loopback: no proxy
    client.cookies.set(load_config(environ={})["auth"]["session"]["cookie_name"], cookie)
    client.headers["X-CSRF-Token"] = csrf
    return client


def mint_token(base: str, dispatcher_session: tuple[str, str], name: str) -> tuple[str, int]:
    """An ``ogc:read`` API token of the signed-in demo dispatcher, made as a user makes one for QGIS."""
    with _session_client(dispatcher_session) as client:
        resp = client.post(f"{base}/api/auth/tokens", json={"name": name, "scopes": ["ogc:read"], "days": 1},
                           timeout=60)
    assert resp.status_code == 201, resp.text[:500]
    return resp.json()["token"], resp.json()["id"]


def revoke_token(base: str, dispatcher_session: tuple[str, str], token_id: int) -> None:
    with _session_client(dispatcher_session) as client:
        resp = client.delete(f"{base}/api/auth/tokens/{token_id}", timeout=60)
    assert resp.status_code == 200, resp.text[:500]
