"""A signed-in request reads its caller — credential, account, roles and grants in force — in one statement, and
what it reads is what the account's own records say (no cache: a change counts from the next request)."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from access.authn.users import get_user
from access.policy.grants import active_grants
from core.db import get_engine
from tests.integration.auth_support import make_app, sign_in, user_id

AUTH_TABLES = re.compile(r"\b(auth_sessions|api_tokens|users|user_roles|grants)\b")
PAGE = "/ogcapi/collections?f=json"


@pytest.fixture
def app(fresh_db: str, demo_artifacts):  # noqa: ANN001, ANN201
    return make_app(fresh_db, demo_artifacts)


def _grant(conn: sa.Connection, user: int, by: int, layer: str, starts: timedelta, ends: timedelta,
           revoked: bool = False) -> None:
    now = datetime.now(UTC)
    conn.execute(sa.text(
        "INSERT INTO grants (user_id, permission, layer, starts_at, expires_at, granted_by, reason, revoked_at) "
        "VALUES (:u, 'layer:export', :l, :s, :e, :b, '测试', CASE WHEN :r THEN now() END)"),
        {"u": user, "l": layer, "s": now + starts, "e": now + ends, "b": by, "r": revoked})


def _auth_statements(app, client, **kwargs) -> tuple[list[str], object]:  # noqa: ANN001
    seen: list[str] = []
    engine = get_engine(app.config["ONEMAP"])

    def before(conn, cursor, statement, *args):  # noqa: ANN001, ANN002
        if AUTH_TABLES.search(statement):
            seen.append(statement)

    sa.event.listen(engine, "before_cursor_execute", before)
    try:
        response = client.get(PAGE, **kwargs)
    finally:
        sa.event.remove(engine, "before_cursor_execute", before)
    return seen, response


@pytest.mark.parametrize("credential", ["session", "token"])
def test_one_statement_reads_the_caller_with_roles_and_grants_in_force(app, fresh_db: str, credential: str) -> None:  # noqa: ANN001
    worker, boss = user_id(fresh_db, "grid_worker"), user_id(fresh_db, "secadmin")
    engine = sa.create_engine(fresh_db)
    with engine.begin() as conn:
        _grant(conn, worker, boss, "enterprises", timedelta(hours=-1), timedelta(hours=2))       # in force
        _grant(conn, worker, boss, "hazard_sources", timedelta(hours=-1), timedelta(hours=3))    # in force
        _grant(conn, worker, boss, "shelters", timedelta(hours=1), timedelta(hours=2))           # not yet
        _grant(conn, worker, boss, "rescue_teams", timedelta(hours=-2), timedelta(hours=-1))     # over
        _grant(conn, worker, boss, "sensors", timedelta(hours=-1), timedelta(hours=2), revoked=True)
    client = app.test_client()
    sign_in(client, "grid_worker")
    headers = {}
    if credential == "token":
        created = client.post("/api/auth/tokens", json={"name": "t", "scopes": ["ogc:read", "api:read"], "days": 1})
        assert created.status_code == 201, created.get_json()
        headers = {"Authorization": f"Bearer {created.get_json()['token']}"}
        client = app.test_client()  # no cookie
    client.get(PAGE, headers=headers)  # the first request may touch the credential's last use
    statements, response = _auth_statements(app, client, headers=headers)
    assert response.status_code == 200
    assert len(statements) == 1, statements
    me = client.get("/api/auth/me", headers=headers).get_json()
    with engine.connect() as conn:
        expected = active_grants(worker, conn)
        user = get_user(conn, worker)
    engine.dispose()
    assert [g.layer for g in expected] == ["enterprises", "hazard_sources"]
    assert [g["layer"] for g in me["grants"]] == [g.layer for g in expected]
    assert {r["name"] for r in me["roles"]} == set(user.roles) and me["district_code"] == user.district_code


@pytest.mark.parametrize("change", [
    "UPDATE users SET active = false WHERE id = :u",
    "DELETE FROM user_roles WHERE user_id = :u",
    "UPDATE grants SET revoked_at = now() WHERE user_id = :u",
])
def test_a_change_to_the_account_counts_from_the_next_request(app, fresh_db: str, change: str) -> None:  # noqa: ANN001
    worker, boss = user_id(fresh_db, "grid_worker"), user_id(fresh_db, "secadmin")
    engine = sa.create_engine(fresh_db)
    with engine.begin() as conn:
        _grant(conn, worker, boss, "enterprises", timedelta(hours=-1), timedelta(hours=2))
    client = app.test_client()
    sign_in(client, "grid_worker")
    before = client.get("/api/auth/me").get_json()
    assert before["grants"] and [r["name"] for r in before["roles"]] == ["grid_worker"]
    with engine.begin() as conn:
        conn.execute(sa.text(change), {"u": worker})
    engine.dispose()
    after = client.get("/api/auth/me")
    if "active" in change:
        assert after.status_code == 401
    elif "user_roles" in change:
        assert after.status_code == 200 and after.get_json()["roles"] == []
    else:
        assert after.status_code == 200 and after.get_json()["grants"] == []
