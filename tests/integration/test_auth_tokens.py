"""API tokens for desktop GIS and machines: Bearer and HTTP Basic (what QGIS sends) on the OGC endpoints,
revocation and expiry answered with 401, shown once and stored as a hash only."""

from __future__ import annotations

import hashlib

import pytest

from tests.integration.auth_support import audit_rows, basic, make_app, rows, sign_in

COLLECTIONS = "/ogcapi/collections?f=json"
WMS_CAPABILITIES = "/ows?SERVICE=WMS&REQUEST=GetCapabilities"


@pytest.fixture
def app(fresh_db: str, demo_artifacts):  # noqa: ANN001, ANN201
    return make_app(fresh_db, demo_artifacts)


def _token(app, scopes: list[str], username: str = "dispatcher") -> dict:  # noqa: ANN001
    client = app.test_client()
    sign_in(client, username)
    created = client.post("/api/auth/tokens", json={"name": "QGIS 办公电脑", "scopes": scopes, "days": 30})
    assert created.status_code == 201, created.get_json()
    return created.get_json()


def test_basic_auth_with_a_token_opens_ogc_api_and_wms(app, fresh_db: str) -> None:  # noqa: ANN001
    token = _token(app, ["ogc:read"])["token"]
    machine = app.test_client()  # no cookie: a desktop GIS client
    anonymous = {c["id"] for c in machine.get(COLLECTIONS).get_json()["collections"]}
    collections = machine.get(COLLECTIONS, headers=basic(token))
    assert collections.status_code == 200
    ids = {c["id"] for c in collections.get_json()["collections"]}
    assert "hazard_sources" in ids and ids > anonymous  # the dispatcher sees more than the public
    wms = machine.get(WMS_CAPABILITIES, headers=basic(token, user="anything"))
    assert wms.status_code == 200 and b"WMS_Capabilities" in wms.data and b"hazard_sources" in wms.data
    bearer = machine.get(COLLECTIONS, headers={"Authorization": f"Bearer {token}"})
    assert bearer.status_code == 200
    last_used = rows(fresh_db, "SELECT last_used_at, last_used_ip FROM api_tokens")[0]
    assert last_used.last_used_at is not None and last_used.last_used_ip == "127.0.0.1"


def test_a_token_is_shown_once_and_stored_only_as_its_hash(app, fresh_db: str) -> None:  # noqa: ANN001
    created = _token(app, ["ogc:read", "api:read"])
    stored = rows(fresh_db, "SELECT token_hash, prefix, scopes FROM api_tokens")[0]
    assert stored.token_hash == hashlib.sha256(created["token"].encode()).hexdigest()
    assert created["token"].startswith(stored.prefix) and sorted(stored.scopes) == ["api:read", "ogc:read"]
    client = app.test_client()
    sign_in(client, "dispatcher", offset_steps=1)
    listed = client.get("/api/auth/tokens").get_json()
    assert len(listed) == 1 and "token" not in listed[0] and "token_hash" not in listed[0]
    assert created["token"] not in client.get("/auth/tokens").get_data(as_text=True)


def test_revoked_and_expired_tokens_are_refused_with_401(app, fresh_db: str) -> None:  # noqa: ANN001
    client = app.test_client()
    sign_in(client, "dispatcher")
    tokens = [client.post("/api/auth/tokens", json={"name": f"t{i}", "scopes": ["ogc:read"]}).get_json()
              for i in range(2)]
    machine = app.test_client()
    assert machine.get(COLLECTIONS, headers=basic(tokens[0]["token"])).status_code == 200
    assert client.delete(f"/api/auth/tokens/{tokens[0]['id']}").status_code == 200
    revoked = machine.get(COLLECTIONS, headers=basic(tokens[0]["token"]))
    assert revoked.status_code == 401 and revoked.headers["WWW-Authenticate"].startswith("Basic")
    assert machine.get(WMS_CAPABILITIES, headers={"Authorization": f"Bearer {tokens[0]['token']}"}).status_code == 401
    rows(fresh_db, "UPDATE api_tokens SET expires_at = now() - interval '1 second' WHERE id = :i", i=tokens[1]["id"])
    assert machine.get(COLLECTIONS, headers=basic(tokens[1]["token"])).status_code == 401
    reasons = [r.details["reason"] for r in audit_rows(fresh_db, "auth.token")]
    assert reasons == ["revoked", "revoked", "expired"]


def test_tokens_of_a_disabled_account_stop_working(app, fresh_db: str) -> None:  # noqa: ANN001
    token = _token(app, ["ogc:read"], username="grid_worker")["token"]
    rows(fresh_db, "UPDATE users SET active = false WHERE username = 'grid_worker'")
    assert app.test_client().get(COLLECTIONS, headers=basic(token)).status_code == 401


def test_token_creation_is_validated(app) -> None:  # noqa: ANN001
    client = app.test_client()
    sign_in(client, "grid_worker")
    for bad in ({"name": "x", "scopes": ["admin:all"]}, {"name": "x", "scopes": []},
                {"name": "", "scopes": ["ogc:read"]}, {"name": "x", "scopes": ["ogc:read"], "days": 10000},
                {"name": "x", "scopes": "ogc:read"}):
        assert client.post("/api/auth/tokens", json=bad).status_code == 400, bad
    token = client.post("/api/auth/tokens", json={"name": "x", "scopes": ["ogc:read"]}).get_json()["token"]
    # A token cannot mint tokens: managing credentials needs a signed-in person.
    minted = app.test_client().post("/api/auth/tokens", json={"name": "y", "scopes": ["ogc:read"]},
                                    headers={"Authorization": f"Bearer {token}"})
    assert minted.status_code == 403
