"""Sign-in: password policy and argon2id hashes, lock-out, identical answers for unknown users, forced password
change, the page flow with its login-CSRF cookie. Each test gets its own clone of the demo city (fresh_db)."""

from __future__ import annotations

import re

import pytest

from access.demo import DEMO_PASSWORD
from tests.integration.auth_support import LOGIN, audit_rows, code, make_app, rows, sign_in

NO_RATE_LIMIT = {"login": {"burst": 1000}}  # these tests sign in more often than a person; 429 is tested elsewhere


@pytest.fixture
def app(fresh_db: str, demo_artifacts):  # noqa: ANN001, ANN201
    return make_app(fresh_db, demo_artifacts, rate_limits=NO_RATE_LIMIT)


def test_dispatcher_signs_in_with_password_and_totp_and_me_describes_the_caller(app, fresh_db: str) -> None:  # noqa: ANN001
    client = app.test_client()
    first = client.post(LOGIN, json={"username": "dispatcher", "password": DEMO_PASSWORD})
    assert first.status_code == 401 and first.get_json()["code"] == "totp_required"
    assert client.get("/api/auth/me").status_code == 401  # a half-done sign-in opens nothing
    step_cookie = client.get_cookie("onemap_session").value
    done = client.post("/api/auth/totp", json={"code": code("dispatcher")},
                       headers={"X-CSRF-Token": first.get_json()["csrf_token"]})
    assert done.status_code == 200, done.get_json()
    assert client.get_cookie("onemap_session").value != step_cookie  # a new id after the privilege change
    me = client.get("/api/auth/me").get_json()
    assert me["username"] == "dispatcher" and [r["name"] for r in me["roles"]] == ["dispatcher"]
    assert me["district_code"] is None and me["method"] == "session" and me["totp_enrolled"] is True
    assert "hazard_sources" in me["permissions"]["layer"]
    assert [r.outcome for r in audit_rows(fresh_db, "auth.login")] == ["success"]


def test_district_and_enterprise_users_carry_their_data_scope(app, fresh_db: str) -> None:  # noqa: ANN001
    regulator = app.test_client()
    sign_in(regulator, "district_reg")
    assert regulator.get("/api/auth/me").get_json()["district_code"] == "329902"
    enterprise = app.test_client()
    sign_in(enterprise, "enterprise")  # no TOTP for enterprise users
    uscc = enterprise.get("/api/auth/me").get_json()["enterprise_uscc"]
    assert rows(fresh_db, "SELECT name FROM enterprises WHERE uscc = :u", u=uscc)


def test_unknown_user_and_wrong_password_get_the_same_answer(app, fresh_db: str) -> None:  # noqa: ANN001
    client = app.test_client()
    wrong = client.post(LOGIN, json={"username": "dispatcher", "password": "Not-The-Password-1"})
    unknown = client.post(LOGIN, json={"username": "nobody-here", "password": "Not-The-Password-1"})
    assert wrong.status_code == unknown.status_code == 401
    assert wrong.get_json() == unknown.get_json()
    reasons = [r.details["reason"] for r in audit_rows(fresh_db, "auth.login")]
    assert reasons == ["wrong_password", "unknown_user"]


def test_account_locks_after_five_failures_and_tells_when_to_retry(app, fresh_db: str) -> None:  # noqa: ANN001
    client = app.test_client()
    statuses = [client.post(LOGIN, json={"username": "grid_worker", "password": f"Wrong-password-{i}"}).status_code
                for i in range(5)]
    assert statuses == [401, 401, 401, 401, 429]
    locked = client.post(LOGIN, json={"username": "grid_worker", "password": DEMO_PASSWORD})
    assert locked.status_code == 429 and int(locked.headers["Retry-After"]) > 0
    # An unknown name locks exactly the same way: the answer never reveals whether the account exists.
    ghost = [client.post(LOGIN, json={"username": "ghost", "password": f"Wrong-password-{i}"}).status_code
             for i in range(6)]
    assert ghost == [401, 401, 401, 401, 429, 429]
    rows(fresh_db, "UPDATE login_failures SET locked_until = now() - interval '1 second' WHERE key = 'grid_worker'")
    assert client.post(LOGIN, json={"username": "grid_worker", "password": DEMO_PASSWORD}).status_code == 200


def test_one_address_is_locked_after_failures_across_accounts(fresh_db: str, demo_artifacts) -> None:  # noqa: ANN001
    client = make_app(fresh_db, demo_artifacts, lockout={"ip_max_failures": 3}).test_client()
    statuses = [client.post(LOGIN, json={"username": name, "password": "Wrong-password-1"}).status_code
                for name in ("grid_worker", "enterprise", "intermediary")]
    assert statuses == [401, 401, 429]
    response = client.post(LOGIN, json={"username": "auditor", "password": DEMO_PASSWORD})
    assert response.status_code == 429


def test_hash_is_upgraded_at_sign_in_when_the_argon2_parameters_change(fresh_db: str, demo_artifacts) -> None:  # noqa: ANN001
    before = rows(fresh_db, "SELECT password_hash FROM users WHERE username = 'grid_worker'")[0][0]
    assert before.startswith("$argon2id$") and ",t=3," in before
    client = make_app(fresh_db, demo_artifacts, rate_limits=NO_RATE_LIMIT,
                      password={"argon2": {"time_cost": 2, "memory_cost_kib": 16384, "parallelism": 2}}).test_client()
    sign_in(client, "grid_worker")
    after = rows(fresh_db, "SELECT password_hash FROM users WHERE username = 'grid_worker'")[0][0]
    assert re.match(r"^\$argon2id\$v=19\$m=16384,t=2,p=2\$", after)


def test_expired_password_must_be_changed_and_history_is_enforced(app, fresh_db: str) -> None:  # noqa: ANN001
    rows(fresh_db, "UPDATE users SET password_changed_at = now() - interval '91 days' WHERE username = 'grid_worker'")
    client = app.test_client()
    step = client.post(LOGIN, json={"username": "grid_worker", "password": DEMO_PASSWORD})
    assert step.status_code == 403 and step.get_json()["code"] == "password_change_required"
    assert client.get("/api/auth/me").status_code == 401
    headers = {"X-CSRF-Token": step.get_json()["csrf_token"]}

    def change(new: str):  # noqa: ANN202
        return client.post("/api/auth/password", json={"current_password": DEMO_PASSWORD, "new_password": new},
                           headers=headers)

    wrong_current = client.post("/api/auth/password", headers=headers,
                                json={"current_password": "Not-My-Password-1", "new_password": "Another-Strong-Pass-7"})
    assert wrong_current.status_code == 401 and wrong_current.get_json()["code"] == "invalid_credentials"
    assert change("short1A!").get_json()["reason"] == "length"
    assert change("alllowercaseletters").get_json()["reason"] == "complexity"
    assert change("Grid_Worker-2026-x").get_json()["reason"] == "contains_username"
    assert change(DEMO_PASSWORD).get_json()["reason"] == "reused"
    done = change("Another-Strong-Pass-7")
    assert done.status_code == 200, done.get_json()
    assert client.get("/api/auth/me").get_json()["username"] == "grid_worker"
    assert len(rows(fresh_db, "SELECT 1 FROM password_history h JOIN users u ON u.id = h.user_id "
                              "WHERE u.username = 'grid_worker'")) == 2


def test_sign_in_page_with_totp_step_and_login_csrf(app) -> None:  # noqa: ANN001
    client = app.test_client()
    page = client.get("/auth/login?next=/auth/me")
    assert page.status_code == 200 and "登录" in page.get_data(as_text=True)
    token = re.search(r'name="login_csrf" value="([^"]+)"', page.get_data(as_text=True)).group(1)
    forged = app.test_client().post("/auth/login", data={"username": "dispatcher", "password": DEMO_PASSWORD,
                                                         "login_csrf": token})
    assert forged.status_code == 403  # the field alone, without the cookie set by our page, is refused
    step = client.post("/auth/login", data={"username": "dispatcher", "password": DEMO_PASSWORD,
                                            "login_csrf": token, "next": "/auth/me"})
    assert step.status_code == 303 and step.headers["Location"].startswith("/auth/totp")
    totp_page = client.get(step.headers["Location"]).get_data(as_text=True)
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', totp_page).group(1)
    done = client.post("/auth/totp", data={"code": code("dispatcher"), "csrf_token": csrf, "next": "/auth/me"})
    assert done.status_code == 303 and done.headers["Location"] == "/auth/me"
    assert "调度员（演示）" in client.get("/auth/me").get_data(as_text=True)


def test_sign_in_never_redirects_off_site(app) -> None:  # noqa: ANN001
    for target in ("//evil.example/", "https://evil.example/", "/\\evil.example"):
        client = app.test_client()
        page = client.get("/auth/login").get_data(as_text=True)
        token = re.search(r'name="login_csrf" value="([^"]+)"', page).group(1)
        done = client.post("/auth/login", data={"username": "grid_worker", "password": DEMO_PASSWORD,
                                                "login_csrf": token, "next": target})
        assert done.status_code == 303 and done.headers["Location"] == "/", target
