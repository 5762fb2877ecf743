"""TOTP: a code is accepted once, enrolment with an inline QR code, recovery codes work once, guessing locks."""

from __future__ import annotations

import re

import pyotp
import pytest

from access.demo import DEMO_PASSWORD
from tests.integration.auth_support import LOGIN, audit_rows, code, make_app, rows, user_id


@pytest.fixture
def app(fresh_db: str, demo_artifacts):  # noqa: ANN001, ANN201
    return make_app(fresh_db, demo_artifacts, rate_limits={"login": {"burst": 1000}})


def test_a_used_totp_code_is_refused_the_second_time(app, fresh_db: str) -> None:  # noqa: ANN001
    used = code("dispatcher")
    first = app.test_client().post(LOGIN, json={"username": "dispatcher", "password": DEMO_PASSWORD, "totp": used})
    assert first.status_code == 200
    replay = app.test_client().post(LOGIN, json={"username": "dispatcher", "password": DEMO_PASSWORD, "totp": used})
    assert replay.status_code == 401 and replay.get_json()["code"] == "invalid_totp"
    failures = audit_rows(fresh_db, "auth.totp")
    assert [(r.outcome, r.details["reason"]) for r in failures] == [("failed", "wrong_or_reused_code")]
    # The next time-step's code is still good: only reuse is refused, not the account.
    later = app.test_client().post(LOGIN, json={"username": "dispatcher", "password": DEMO_PASSWORD,
                                                "totp": code("dispatcher", +1)})
    assert later.status_code == 200


def test_enrolment_shows_an_inline_qr_code_and_returns_recovery_codes(app, fresh_db: str) -> None:  # noqa: ANN001
    rows(fresh_db, "UPDATE users SET totp_secret = NULL WHERE username = 'city_reg'")
    client = app.test_client()
    step = client.post(LOGIN, json={"username": "city_reg", "password": DEMO_PASSWORD})
    assert step.status_code == 403 and step.get_json()["code"] == "totp_enrolment_required"
    headers = {"X-CSRF-Token": step.get_json()["csrf_token"]}
    assert client.get("/api/auth/me").status_code == 401

    page = client.get("/auth/enrol").get_data(as_text=True)
    assert "<svg" in page and "<img" not in page and "src=" not in page  # no external service sees the secret
    enrolment = client.get("/api/auth/totp/enrol").get_json()
    assert enrolment["secret"] in page  # the same pending secret until it is confirmed
    assert enrolment["otpauth_uri"].startswith("otpauth://totp/") and "<svg" in enrolment["qr_svg"]

    wrong = client.post("/api/auth/totp/enrol", json={"code": "000000"}, headers=headers)
    assert wrong.status_code == 401
    done = client.post("/api/auth/totp/enrol", json={"code": pyotp.TOTP(enrolment["secret"]).now()}, headers=headers)
    assert done.status_code == 200, done.get_json()
    codes = done.get_json()["recovery_codes"]
    assert len(codes) == 10 and len(set(codes)) == 10
    me = client.get("/api/auth/me").get_json()
    assert me["totp_enrolled"] is True and me["recovery_codes_left"] == 10
    stored = rows(fresh_db, "SELECT code_hash FROM recovery_codes WHERE user_id = :u", u=user_id(fresh_db, "city_reg"))
    assert all(c.replace("-", "") not in {r.code_hash for r in stored} for c in codes)  # only hashes are kept


def test_a_recovery_code_works_exactly_once(app, fresh_db: str) -> None:  # noqa: ANN001
    import sqlalchemy as sa

    from access.authn.totp import new_recovery_codes

    engine = sa.create_engine(fresh_db)
    with engine.begin() as conn:
        recovery = new_recovery_codes(conn, user_id(fresh_db, "auditor"), 3)[0]
    engine.dispose()
    body = {"username": "auditor", "password": DEMO_PASSWORD, "recovery_code": recovery.lower()}
    assert app.test_client().post(LOGIN, json=body).status_code == 200
    again = app.test_client().post(LOGIN, json=body)
    assert again.status_code == 401 and again.get_json()["code"] == "invalid_totp"
    used = audit_rows(fresh_db, "auth.recovery_code_used")
    assert len(used) == 1 and used[0].details["left"] == 2


def test_guessing_totp_codes_locks_the_account(app) -> None:  # noqa: ANN001
    client = app.test_client()
    step = client.post(LOGIN, json={"username": "secadmin", "password": DEMO_PASSWORD})
    headers = {"X-CSRF-Token": step.get_json()["csrf_token"]}
    right = code("secadmin")
    valid_now = {code("secadmin", offset) for offset in (-1, 0, 1)}  # the server accepts ±1 step of drift
    guesses = [f"{n:06d}" for n in range(100000, 100010) if f"{n:06d}" not in valid_now][:5]
    statuses = [client.post("/api/auth/totp", json={"code": g}, headers=headers).status_code for g in guesses]
    assert statuses == [401, 401, 401, 401, 429]
    assert client.post("/api/auth/totp", json={"code": right}, headers=headers).status_code == 429


def test_totp_page_accepts_a_code_from_the_form(app) -> None:  # noqa: ANN001
    client = app.test_client()
    login = client.get("/auth/login").get_data(as_text=True)
    token = re.search(r'name="login_csrf" value="([^"]+)"', login).group(1)
    client.post("/auth/login", data={"username": "auditor", "password": DEMO_PASSWORD, "login_csrf": token})
    page = client.get("/auth/totp").get_data(as_text=True)
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    wrong = client.post("/auth/totp", data={"code": "12345x", "csrf_token": csrf})
    assert wrong.status_code == 401 and "动态口令或恢复码错误" in wrong.get_data(as_text=True)
    done = client.post("/auth/totp", data={"code": code("auditor"), "csrf_token": csrf})
    assert done.status_code == 303
