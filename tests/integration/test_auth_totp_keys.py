"""TOTP secrets at rest: only Fernet tokens in the users table, sign-in unchanged, key rotation from the command
line, a lost or wrong key answered with a clear 503, and migration a002 encrypting what was stored in clear."""

from __future__ import annotations

import stat
import time
from pathlib import Path

import pyotp
import pytest
import sqlalchemy as sa
from click.testing import CliRunner
from cryptography.fernet import Fernet

from access.demo import DEMO_PASSWORD
from core.config import ConfigError, load_config
from tests.integration.auth_support import LOGIN, SECRETS, audit_rows, code, make_app, rows, user_id

NO_RATE_LIMIT = {"login": {"burst": 1000}}


def stored(url: str, username: str) -> tuple[str | None, str | None]:
    row = rows(url, "SELECT totp_secret, totp_pending_secret FROM users WHERE username = :u", u=username)[0]
    return row.totp_secret, row.totp_pending_secret


def next_code(secret: str) -> str:
    """The code of the next 30 s step: the current one may just have been used (each step is accepted once)."""
    return pyotp.TOTP(secret).generate_otp(int(time.time() // 30) + 1)


def key_file(var: Path) -> Path:
    return var / "secrets" / "totp.key"


@pytest.fixture
def var(tmp_path: Path, demo_artifacts: Path) -> Path:
    """A var directory of its own (so a key file of its own), sharing the demo raster."""
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "population.tif").symlink_to(demo_artifacts / "data" / "population.tif")
    return tmp_path


@pytest.fixture
def app(fresh_db: str, var: Path):  # noqa: ANN201
    return make_app(fresh_db, var, rate_limits=NO_RATE_LIMIT)


def test_enrolment_stores_only_ciphertext_and_sign_in_still_works(app, fresh_db: str, var: Path) -> None:  # noqa: ANN001
    rows(fresh_db, "UPDATE users SET totp_secret = NULL WHERE username = 'city_reg'")
    assert not key_file(var).exists()
    client = app.test_client()
    step = client.post(LOGIN, json={"username": "city_reg", "password": DEMO_PASSWORD})
    headers = {"X-CSRF-Token": step.get_json()["csrf_token"]}
    secret = client.get("/api/auth/totp/enrol").get_json()["secret"]
    pending = stored(fresh_db, "city_reg")[1]
    assert pending.startswith("gAAAAA") and secret not in pending
    # The key file appeared with the first secret to encrypt, readable by the service account only.
    assert stat.S_IMODE(key_file(var).stat().st_mode) == 0o600
    assert stat.S_IMODE(key_file(var).parent.stat().st_mode) == 0o700

    done = client.post("/api/auth/totp/enrol", json={"code": pyotp.TOTP(secret).now()}, headers=headers)
    assert done.status_code == 200, done.get_json()
    active, pending = stored(fresh_db, "city_reg")
    assert pending is None and active.startswith("gAAAAA") and secret not in active
    assert Fernet(key_file(var).read_bytes().split()[0]).decrypt(active.encode()).decode() == secret
    dump = rows(fresh_db, "SELECT u::text AS row FROM users u WHERE username = 'city_reg'")[0].row
    assert secret not in dump

    again = app.test_client().post(LOGIN, json={"username": "city_reg", "password": DEMO_PASSWORD,
                                                "totp": next_code(secret)})
    assert again.status_code == 200, again.get_json()


def test_a_secret_stored_in_clear_is_encrypted_at_the_next_sign_in(app, fresh_db: str) -> None:  # noqa: ANN001
    assert stored(fresh_db, "dispatcher")[0] == SECRETS["dispatcher"]  # as the demo seeder wrote it
    body = {"username": "dispatcher", "password": DEMO_PASSWORD, "totp": code("dispatcher")}
    assert app.test_client().post(LOGIN, json=body).status_code == 200
    active = stored(fresh_db, "dispatcher")[0]
    assert active.startswith("gAAAAA") and SECRETS["dispatcher"] not in active
    assert [r.outcome for r in audit_rows(fresh_db, "auth.totp_secret_sealed")] == ["success"]
    body["totp"] = code("dispatcher", +1)
    assert app.test_client().post(LOGIN, json=body).status_code == 200


def test_a_wrong_key_is_a_clear_503_and_recovery_codes_still_work(app, fresh_db: str, var: Path,
                                                                  tmp_path_factory: pytest.TempPathFactory) -> None:  # noqa: ANN001
    body = {"username": "auditor", "password": DEMO_PASSWORD, "totp": code("auditor")}
    assert app.test_client().post(LOGIN, json=body).status_code == 200  # now stored encrypted
    other = tmp_path_factory.mktemp("other-key") / "totp.key"
    other.write_bytes(Fernet.generate_key() + b"\n")
    other.chmod(0o600)
    wrong = make_app(fresh_db, var, rate_limits=NO_RATE_LIMIT, totp={"key_file": str(other)})

    body["totp"] = code("auditor", +1)
    answer = wrong.test_client().post(LOGIN, json=body)
    assert answer.status_code == 503
    assert answer.mimetype == "application/problem+json"
    assert answer.get_json()["code"] == "totp_key_unavailable" and "密钥" in answer.get_json()["detail"]
    assert audit_rows(fresh_db, "auth.totp")[-1].details["reason"] == "totp_key_error"
    assert rows(fresh_db, "SELECT count(*) FROM login_failures WHERE key = 'auditor'")[0][0] == 0  # not the user's fault

    import re

    page_client = wrong.test_client()
    login = page_client.get("/auth/login").get_data(as_text=True)
    token = re.search(r'name="login_csrf" value="([^"]+)"', login).group(1)
    page_client.post("/auth/login", data={"username": "auditor", "password": DEMO_PASSWORD, "login_csrf": token})
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page_client.get("/auth/totp").get_data(as_text=True))[1]
    page = page_client.post("/auth/totp", data={"code": code("auditor", +1), "csrf_token": csrf})
    assert page.status_code == 503 and "TOTP 加密密钥与已存储的密钥不匹配" in page.get_data(as_text=True)

    from access.authn.totp import new_recovery_codes

    engine = sa.create_engine(fresh_db)
    with engine.begin() as conn:
        recovery = new_recovery_codes(conn, user_id(fresh_db, "auditor"), 1)[0]
    engine.dispose()
    rescued = wrong.test_client().post(LOGIN, json={"username": "auditor", "password": DEMO_PASSWORD,
                                                    "recovery_code": recovery})
    assert rescued.status_code == 200


def test_a_key_file_others_can_read_fails_the_configuration_check(var: Path) -> None:
    path = key_file(var)
    path.parent.mkdir(mode=0o700)
    path.write_bytes(Fernet.generate_key() + b"\n")
    path.chmod(0o644)
    with pytest.raises(ConfigError, match="chmod 600"):
        load_config({"paths": {"var": str(var)}}, environ={})
    path.chmod(0o600)
    path.write_text("not-a-key\n")
    with pytest.raises(ConfigError, match="not a Fernet key"):
        load_config({"paths": {"var": str(var)}}, environ={})
    path.write_bytes(Fernet.generate_key() + b"\n")
    assert load_config({"paths": {"var": str(var)}}, environ={})["auth"]["totp"]["key_file"] is None


def _cli(monkeypatch: pytest.MonkeyPatch, url: str, var: Path, *args: str):  # noqa: ANN202
    from app.cli import cli

    monkeypatch.setenv("DATABASE_URL", url)
    monkeypatch.setenv("ONEMAP_VAR", str(var))
    result = CliRunner().invoke(cli, list(args), catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result


def test_rotating_the_key_reencrypts_every_secret(app, fresh_db: str, var: Path,  # noqa: ANN001
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    body = {"username": "secadmin", "password": DEMO_PASSWORD, "totp": code("secadmin")}
    assert app.test_client().post(LOGIN, json=body).status_code == 200
    before = stored(fresh_db, "secadmin")[0]
    old = key_file(var).read_bytes().split()

    first = _cli(monkeypatch, fresh_db, var, "user", "rotate-totp-key")
    keys = key_file(var).read_bytes().split()
    assert len(keys) == 2 and keys[1:] == old and stat.S_IMODE(key_file(var).stat().st_mode) == 0o600
    after = stored(fresh_db, "secadmin")[0]
    assert after != before and Fernet(keys[0]).decrypt(after.encode()).decode() == SECRETS["secadmin"]
    # The other demo users were still in clear (seeded, never signed in): they are encrypted too.
    clear = [u for u, s in SECRETS.items() if s and not stored(fresh_db, u)[0].startswith("gAAAAA")]
    assert clear == []
    assert "1 re-encrypted, 5 encrypted from clear" in first.output
    record = audit_rows(fresh_db, "user.totp_key_rotate")[-1]
    assert record.details["reencrypted"] == 1 and record.username.startswith("cli:")

    # The running application picks up the new key file: sign-in works; after dropping the old key, too.
    body["totp"] = code("secadmin", +1)
    assert app.test_client().post(LOGIN, json=body).status_code == 200
    _cli(monkeypatch, fresh_db, var, "user", "rotate-totp-key", "--no-new-key", "--drop-old")
    assert key_file(var).read_bytes().split() == keys[:1]
    rows(fresh_db, "UPDATE users SET totp_last_step = NULL WHERE username = 'secadmin'")
    assert app.test_client().post(LOGIN, json=body).status_code == 200


def test_keys_from_the_environment_win_over_the_file(fresh_db: str, var: Path, tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    new, old = Fernet.generate_key(), Fernet.generate_key()
    monkeypatch.setenv("ONEMAP_TEST_TOTP_KEYS", f"{new.decode()},{old.decode()}")
    rows(fresh_db, "UPDATE users SET totp_secret = :s WHERE username = 'district_reg'",
         s=Fernet(old).encrypt(SECRETS["district_reg"].encode()).decode())
    app = make_app(fresh_db, var, rate_limits=NO_RATE_LIMIT, totp={"key_env": "ONEMAP_TEST_TOTP_KEYS"})
    body = {"username": "district_reg", "password": DEMO_PASSWORD, "totp": code("district_reg")}
    assert app.test_client().post(LOGIN, json=body).status_code == 200  # the old key still decrypts
    assert not key_file(var).exists()

    from app.cli import cli

    config = tmp_path / "onemap.yaml"
    config.write_text("auth: {totp: {key_env: ONEMAP_TEST_TOTP_KEYS}}\n")
    monkeypatch.setenv("ONEMAP_CONFIG", str(config))
    refused = CliRunner().invoke(cli, ["user", "rotate-totp-key"], env={"DATABASE_URL": fresh_db,
                                                                        "ONEMAP_VAR": str(var)})
    assert refused.exit_code == 2 and "ONEMAP_TEST_TOTP_KEYS" in refused.output  # the operator owns the variable
    _cli(monkeypatch, fresh_db, var, "user", "rotate-totp-key", "--no-new-key")
    assert Fernet(new).decrypt(stored(fresh_db, "district_reg")[0].encode()).decode() == SECRETS["district_reg"]
    assert not key_file(var).exists()


def test_migration_a002_encrypts_secrets_stored_in_clear(fresh_db: str, tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    from layers import migrate

    path = tmp_path / "keys" / "totp.key"
    monkeypatch.setenv("ONEMAP_TOTP_KEY_FILE", str(path))
    engine = sa.create_engine(fresh_db)
    try:
        migrate.upgrade(engine)  # already at head: nothing to do, no key needed
        assert not path.exists()
        migrate.downgrade(engine, "a001")
        with engine.connect() as conn:
            width = conn.execute(sa.text("SELECT character_maximum_length FROM information_schema.columns "
                                         "WHERE table_name = 'users' AND column_name = 'totp_secret'")).scalar()
        assert width == 64
        assert stored(fresh_db, "admin")[0] == SECRETS["admin"]
        migrate.upgrade(engine)
        assert migrate.is_current(engine)  # a002 and every later auth revision (a003: ogc:execute) applied
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        keys = Fernet(path.read_bytes().split()[0])
        for username, secret in SECRETS.items():
            value = stored(fresh_db, username)[0]
            if secret is None:
                assert value is None
            else:
                assert value.startswith("gAAAAA") and keys.decrypt(value.encode()).decode() == secret
        migrate.downgrade(engine, "a001")  # and back: decrypted with the same key
        assert stored(fresh_db, "admin")[0] == SECRETS["admin"]
        migrate.upgrade(engine)
        assert migrate.pending_changes(engine) == []
    finally:
        engine.dispose()
