"""Demo accounts of the synthetic city: one per role, with a documented password and, where the role needs a second
factor, a documented TOTP secret (add it to any authenticator app). README.md lists them ("Demo users").

Never use these on a real deployment: the password and the secrets are public.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import text
from sqlalchemy.engine import Connection

from access.authn import passwords
from access.authn.passwords import PasswordPolicy

DEMO_PASSWORD = "OneMap-Demo-2026!"
DEMO_DISTRICT = "329902"
DEMO_ORGANISATION = "示范市安全评价中心（合成）"
DEPARTMENTS = ("应急指挥中心", "安全生产监督管理科", "信息中心", "审计室", "329902 区应急管理局")


@dataclass(frozen=True)
class DemoUser:
    username: str
    display_name: str
    role: str
    totp_secret: str | None = None   # base32; None: the role needs no second factor
    department: str | None = None
    district_code: str | None = None
    enterprise: bool = False         # bound to the first demo enterprise of DEMO_DISTRICT (by USCC)
    organisation: bool = False       # bound to DEMO_ORGANISATION


DEMO_USERS: tuple[DemoUser, ...] = (
    DemoUser("admin", "系统管理员（演示）", "system_admin", "ONEMAPDEMOSYSADMINAAAAAAAAAAAAAA", "信息中心"),
    DemoUser("secadmin", "安全管理员（演示）", "security_admin", "ONEMAPDEMOSECADMINAAAAAAAAAAAAAA", "信息中心"),
    DemoUser("auditor", "安全审计员（演示）", "auditor", "ONEMAPDEMOAUDITORAAAAAAAAAAAAAAA", "审计室"),
    DemoUser("city_reg", "市级监管员（演示）", "city_regulator", "ONEMAPDEMOCITYREGAAAAAAAAAAAAAAA", "安全生产监督管理科"),
    DemoUser("district_reg", "区县监管员（演示）", "district_regulator", "ONEMAPDEMODISTREGAAAAAAAAAAAAAAA",
             "329902 区应急管理局", district_code=DEMO_DISTRICT),
    DemoUser("dispatcher", "调度员（演示）", "dispatcher", "ONEMAPDEMODISPATCHERAAAAAAAAAAAA", "应急指挥中心"),
    DemoUser("grid_worker", "网格员（演示）", "grid_worker", district_code=DEMO_DISTRICT),
    DemoUser("enterprise", "企业安全员（演示）", "enterprise_user", enterprise=True),
    DemoUser("intermediary", "评价机构人员（演示）", "intermediary_user", organisation=True),
)


def demo_enterprise_uscc(conn: Connection) -> str | None:
    return conn.execute(text("SELECT uscc FROM enterprises WHERE district_code = :d ORDER BY uscc LIMIT 1"),
                        {"d": DEMO_DISTRICT}).scalar()


def _ids(conn: Connection) -> tuple[dict[str, int], int]:
    for name in DEPARTMENTS:
        conn.execute(text("INSERT INTO departments (name, district_code) VALUES (:n, :d) ON CONFLICT (name) DO NOTHING"),
                     {"n": name, "d": DEMO_DISTRICT if name.startswith(DEMO_DISTRICT) else None})
    departments = dict(conn.execute(text("SELECT name, id FROM departments")).all())
    conn.execute(text("INSERT INTO organisations (name, kind) VALUES (:n, 'safety_assessment') "
                      "ON CONFLICT (name) DO NOTHING"), {"n": DEMO_ORGANISATION})
    organisation = conn.execute(text("SELECT id FROM organisations WHERE name = :n"),
                                {"n": DEMO_ORGANISATION}).scalar_one()
    return departments, organisation


def seed_demo_users(conn: Connection, policy: PasswordPolicy | None = None) -> dict[str, int]:
    """Create or reset the demo accounts (idempotent: a rebuilt demo city gets the documented state back).

    Returns username → user id. Needs the demo city loaded (the enterprise user is bound to a real enterprise).
    """
    policy = policy or PasswordPolicy()
    departments, organisation = _ids(conn)
    uscc = demo_enterprise_uscc(conn)
    if uscc is None:
        raise RuntimeError(f"no demo enterprise in district {DEMO_DISTRICT}: load the demo city first")
    hashed = passwords.hash_password(policy, DEMO_PASSWORD)
    ids: dict[str, int] = {}
    for demo in DEMO_USERS:
        values = {"display_name": demo.display_name, "department_id": departments.get(demo.department or ""),
                  "district_code": demo.district_code, "enterprise_uscc": uscc if demo.enterprise else None,
                  "organisation_id": organisation if demo.organisation else None, "password_hash": hashed,
                  "totp_secret": demo.totp_secret, "username": demo.username}
        user_id = conn.execute(text(
            "INSERT INTO users (username, display_name, department_id, district_code, enterprise_uscc, "
            "organisation_id, password_hash, totp_secret) VALUES (:username, :display_name, :department_id, "
            ":district_code, :enterprise_uscc, :organisation_id, :password_hash, :totp_secret) "
            "ON CONFLICT (username) DO UPDATE SET display_name = EXCLUDED.display_name, "
            "department_id = EXCLUDED.department_id, district_code = EXCLUDED.district_code, "
            "enterprise_uscc = EXCLUDED.enterprise_uscc, organisation_id = EXCLUDED.organisation_id, "
            "password_hash = EXCLUDED.password_hash, password_changed_at = now(), must_change_password = false, "
            "totp_secret = EXCLUDED.totp_secret, totp_pending_secret = NULL, totp_last_step = NULL, active = true "
            "RETURNING id"), values).scalar_one()
        conn.execute(text("DELETE FROM user_roles WHERE user_id = :id"), {"id": user_id})
        conn.execute(text("INSERT INTO user_roles (user_id, role) VALUES (:id, :r)"), {"id": user_id, "r": demo.role})
        conn.execute(text("DELETE FROM password_history WHERE user_id = :id"), {"id": user_id})
        conn.execute(text("INSERT INTO password_history (user_id, password_hash) VALUES (:id, :h)"),
                     {"id": user_id, "h": hashed})
        conn.execute(text("DELETE FROM login_failures WHERE scope = 'account' AND key = :u"), {"u": demo.username})
        ids[demo.username] = user_id
    return ids


def load_demo(conn: Connection, settings: dict) -> str:
    """The module's part of ``onemap demo build``: one account per role; returns the line the CLI prints."""
    from access.authn.totp import reseal_all
    from access.authn.totp_keys import TotpKeys

    seeded = seed_demo_users(conn, PasswordPolicy.from_config(settings["auth"]))
    reseal_all(conn, TotpKeys.from_config(settings))  # the seeder writes the public secrets in clear
    uscc = demo_enterprise_uscc(conn)
    return f"demo users: {', '.join(seeded)} (password {DEMO_PASSWORD}; enterprise bound to {uscc})"
