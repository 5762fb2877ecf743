"""Administration under 三权分立: security administrators manage accounts, roles and temporary grants; system
administrators and auditors cannot; nobody combines two of the three; nobody administers themselves."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from access.policy.grants import active_grants
from tests.integration.auth_support import LOGIN, audit_rows, make_app, rows, sign_in, user_id

USERS = "/api/security/users"
NEW_USER = {"username": "zhang.wei", "display_name": "张伟", "password": "Initial-Pass-2026!",
            "roles": ["district_regulator"], "district_code": "329903"}


@pytest.fixture
def app(fresh_db: str, demo_artifacts):  # noqa: ANN001, ANN201
    return make_app(fresh_db, demo_artifacts)


@pytest.fixture
def secadmin(app):  # noqa: ANN001, ANN201
    client = app.test_client()
    sign_in(client, "secadmin")
    return client


def test_security_admin_creates_an_account_that_must_change_its_password(app, secadmin, fresh_db: str) -> None:  # noqa: ANN001
    created = secadmin.post(USERS, json=NEW_USER)
    assert created.status_code == 201, created.get_json()
    assert created.get_json()["roles"] == ["district_regulator"] and created.get_json()["district_code"] == "329903"
    first = app.test_client().post(LOGIN, json={"username": "Zhang.Wei", "password": NEW_USER["password"]})
    # district_regulator needs TOTP: enrolment first, then the forced password change.
    assert first.status_code == 403 and first.get_json()["code"] == "totp_enrolment_required"
    assert [r.object_id for r in audit_rows(fresh_db, "user.create")] == [str(created.get_json()["id"])]
    page = secadmin.get("/security/users").get_data(as_text=True)
    assert "zhang.wei" in page and "区县监管人员" in page


@pytest.mark.parametrize(("change", "code"), [
    ({"roles": ["system_admin", "auditor"]}, "separation_of_duties"),
    ({"roles": ["enterprise_user"], "enterprise_uscc": "91329999MA00000000"}, "invalid_input"),
    ({"roles": ["enterprise_user"]}, "invalid_input"),
    ({"roles": ["district_regulator"], "district_code": None}, "invalid_input"),
    ({"roles": ["district_regulator"], "district_code": "110101"}, "invalid_input"),
    ({"roles": ["superuser"]}, "invalid_input"),
    ({"password": "password"}, "invalid_input"),
    ({"username": "Has Spaces"}, "invalid_input"),
])
def test_account_creation_rules(secadmin, change: dict, code: str) -> None:  # noqa: ANN001
    response = secadmin.post(USERS, json={**NEW_USER, **change})
    assert response.get_json()["code"] == code, response.get_json()


def test_separation_of_duties_holds_for_role_changes_grants_and_the_database(secadmin, fresh_db: str) -> None:  # noqa: ANN001
    auditor = user_id(fresh_db, "auditor")
    refused = secadmin.put(f"{USERS}/{auditor}/roles", json={"roles": ["auditor", "security_admin"]})
    assert refused.status_code == 409 and refused.get_json()["code"] == "separation_of_duties"
    grant = secadmin.post("/api/security/grants", json={
        "user_id": auditor, "role": "system_admin", "reason": "值班", "expires_at":
        (datetime.now(UTC) + timedelta(hours=2)).isoformat()})
    assert grant.status_code == 409
    engine = sa.create_engine(fresh_db)  # even a direct INSERT by the app role is refused
    with pytest.raises(sa.exc.IntegrityError), engine.begin() as conn:
        conn.execute(sa.text("INSERT INTO user_roles (user_id, role) VALUES (:u, 'system_admin')"), {"u": auditor})
    engine.dispose()
    own = secadmin.put(f"{USERS}/{user_id(fresh_db, 'secadmin')}/roles", json={"roles": ["security_admin", "dispatcher"]})
    assert own.status_code == 403 and own.get_json()["code"] == "self_administration"


@pytest.mark.parametrize("who", ["admin", "auditor", "dispatcher"])
def test_only_security_administrators_manage_accounts(app, who: str) -> None:  # noqa: ANN001
    client = app.test_client()
    sign_in(client, who)
    assert client.get(USERS).status_code == 403
    assert client.post(USERS, json=NEW_USER).status_code == 403
    assert client.get("/security/grants").status_code == 403


def test_temporary_grants_are_active_until_they_expire_or_are_revoked(app, secadmin, fresh_db: str) -> None:  # noqa: ANN001
    worker = user_id(fresh_db, "grid_worker")
    expires = datetime.now(UTC) + timedelta(hours=4)
    created = secadmin.post("/api/security/grants", json={
        "user_id": worker, "permission": "layer:export", "layer": "enterprises", "district_code": "329902",
        "reason": "汛期专项检查", "expires_at": expires.isoformat()})
    assert created.status_code == 201, created.get_json()
    engine = sa.create_engine(fresh_db)
    with engine.connect() as conn:
        grants = active_grants(worker, conn)
        assert [(g.permission, g.layer, g.district_code, g.reason) for g in grants] == [
            ("layer:export", "enterprises", "329902", "汛期专项检查")]
        assert grants[0].granted_by == user_id(fresh_db, "secadmin")
        assert active_grants(worker, conn, at=expires + timedelta(seconds=1)) == []
    worker_client = app.test_client()
    sign_in(worker_client, "grid_worker")
    assert [g["layer"] for g in worker_client.get("/api/auth/me").get_json()["grants"]] == ["enterprises"]
    assert secadmin.delete(f"/api/security/grants/{created.get_json()['id']}").status_code == 200
    with engine.connect() as conn:
        assert active_grants(worker, conn) == []
    engine.dispose()
    no_expiry = secadmin.post("/api/security/grants", json={"user_id": worker, "role": "dispatcher", "reason": "x"})
    assert no_expiry.status_code == 400
    too_long = secadmin.post("/api/security/grants", json={
        "user_id": worker, "role": "dispatcher", "reason": "x",
        "expires_at": (datetime.now(UTC) + timedelta(days=91)).isoformat()})
    assert too_long.status_code == 400
    assert [r.action for r in audit_rows(fresh_db) if r.action.startswith("grant.")] == ["grant.create", "grant.revoke"]


def test_disabling_an_account_ends_its_sessions_and_tokens_at_once(app, secadmin, fresh_db: str) -> None:  # noqa: ANN001
    worker = app.test_client()
    sign_in(worker, "grid_worker")
    token = worker.post("/api/auth/tokens", json={"name": "x", "scopes": ["ogc:read"]}).get_json()["token"]
    page = secadmin.get(f"/security/users/{user_id(fresh_db, 'grid_worker')}").get_data(as_text=True)
    assert "网格员" in page
    disabled = secadmin.post(f"/security/users/{user_id(fresh_db, 'grid_worker')}",
                             data={"action": "profile", "display_name": "网格员（演示）", "district_code": "329902",
                                   "csrf_token": secadmin.environ_base["HTTP_X_CSRF_TOKEN"]})
    assert disabled.status_code == 200 and "已保存" in disabled.get_data(as_text=True)
    assert worker.get("/api/auth/me").status_code == 401
    assert app.test_client().get("/ogcapi/collections?f=json",
                                 headers={"Authorization": f"Bearer {token}"}).status_code == 401
    assert rows(fresh_db, "SELECT count(*) FROM auth_sessions WHERE user_id = :u",
                u=user_id(fresh_db, "grid_worker"))[0][0] == 0


def test_user_client_fixture_is_the_signed_in_demo_dispatcher(user_client) -> None:  # noqa: ANN001
    me = user_client.get("/api/auth/me").get_json()
    assert me["username"] == "dispatcher" and me["method"] == "session" and me["district_code"] is None


def test_system_administrators_read_the_configuration_and_only_they_do(app, fresh_db: str) -> None:  # noqa: ANN001
    admin = app.test_client()
    sign_in(admin, "admin")
    page = admin.get("/admin/config")
    assert page.status_code == 200
    text = page.get_data(as_text=True)
    password = sa.engine.make_url(fresh_db).password
    assert "retention_days: 180" in text and password not in text
    for who in ("secadmin", "auditor"):
        other = app.test_client()
        sign_in(other, who)
        assert other.get("/admin/config").status_code == 403
