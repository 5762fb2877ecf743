"""``onemap audit ...`` and ``onemap user ...``: the audit chain and account break-glass from the command line.

The command line acts as ``cli:<OS user>`` in the audit log. ``onemap user create`` is how the first security
administrator of a real deployment comes to exist (the demo city seeds its own, see access/demo.py).
"""

from __future__ import annotations

import getpass
import sys
from pathlib import Path
from typing import Any

import click

from access.audit import AuditEvent


def _engine() -> tuple[dict[str, Any], Any]:
    from core.config import load_config
    from core.db import check_database, get_engine, private_cluster

    config = load_config()
    if not config["database"]["url"]:
        private_cluster(config).up()
    engine = get_engine(config)
    check_database(engine)
    return config, engine


def _record(conn: Any, action: str, outcome: str = "success", **fields: Any) -> None:
    from access import audit

    audit.record(AuditEvent(action, outcome, username=f"cli:{getpass.getuser()}"[:64], ip="local",
                            user_agent="onemap-cli", **fields), conn=conn)


# -- audit ----------------------------------------------------------------------------------------------------------
@click.group("audit")
def audit_group() -> None:
    """The append-only, hash-chained audit log."""


@audit_group.command("verify")
@click.option("--archive", "archives", multiple=True, type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="also verify an archive file written by `onemap audit purge`")
def audit_verify(archives: tuple[Path, ...]) -> None:
    """Walk the hash chain; print the first broken row and exit 1 if there is one."""
    from access.audit.chain import verify_archive, verify_chain

    failed = False
    for path in archives:
        report = verify_archive(path)
        click.echo(f"{path.name}: {report.summary()}")
        failed |= not report.ok
    _, engine = _engine()
    with engine.begin() as conn:
        report = verify_chain(conn)
        _record(conn, "audit.verify", "success" if report.ok else "failed", object_type="audit_log",
                object_id=report.broken_id, details={"rows": report.rows})
    click.echo(report.summary())
    if failed or not report.ok:
        sys.exit(1)


@audit_group.command("head")
def audit_head() -> None:
    """Print the id and hash of the newest row: copy it somewhere the database cannot reach (a notarised
    record, another system's log) and any later rewrite of the chain up to it becomes detectable."""
    from sqlalchemy import text

    _, engine = _engine()
    with engine.connect() as conn:
        row = conn.execute(text("SELECT id, ts, hash FROM audit.audit_log ORDER BY id DESC LIMIT 1")).first()
    click.echo("empty audit log" if row is None else f"{row.id} {row.ts.isoformat()} {row.hash}")


@audit_group.command("purge")
@click.option("--retention-days", type=click.IntRange(min=180), default=None,
              help="default: auth.audit.retention_days (at least 180)")
def audit_purge(retention_days: int | None) -> None:
    """Archive rows older than the retention period to a JSON-lines file, then delete them, leaving an anchor."""
    from access.audit.chain import purge
    from core.config import resolve_path

    config, engine = _engine()
    days = retention_days or config["auth"]["audit"]["retention_days"]
    with engine.begin() as conn:
        result = purge(conn, days, resolve_path(config["auth"]["audit"]["archive_dir"]))
        if result.rows:
            _record(conn, "audit.purge", object_type="audit_log", object_id=result.through_id,
                    details={"rows": result.rows, "archive": result.archive.name if result.archive else None,
                             "retention_days": days})
    if result.rows:
        click.echo(f"archived and purged {result.rows} rows (through id {result.through_id}) to {result.archive}")
    else:
        click.echo(f"nothing older than {days} days")


@audit_group.command("harden-sql")
def audit_harden_sql() -> None:
    """Print the SQL a DBA runs as a superuser so the app role can no longer alter or drop the audit log."""
    from access.audit.schema import print_sql
    from core.pgcluster import APP_ROLE

    click.echo(print_sql(APP_ROLE))


# -- user -----------------------------------------------------------------------------------------------------------
@click.group("user")
def user_group() -> None:
    """Accounts (break-glass; day-to-day administration is the security administrator's /security pages)."""


@user_group.command("create")
@click.argument("username")
@click.option("--display-name", required=True)
@click.option("--role", "roles", multiple=True, required=True)
@click.option("--district", default=None, help="district code (district_regulator, grid_worker)")
@click.option("--enterprise", default=None, help="USCC (enterprise_user)")
@click.option("--password-stdin", is_flag=True, help="read the initial password from standard input")
def user_create(username: str, display_name: str, roles: tuple[str, ...], district: str | None,
                enterprise: str | None, password_stdin: bool) -> None:
    """Create an account; its first sign-in must change the password (and enrol TOTP where required)."""
    from access.authn.passwords import PasswordPolicy
    from access.authn.users import create_user

    password = sys.stdin.readline().rstrip("\n") if password_stdin else click.prompt(
        "initial password", hide_input=True, confirmation_prompt=True)
    config, engine = _engine()
    with engine.begin() as conn:
        user_id = create_user(conn, PasswordPolicy.from_config(config["auth"]), username=username,
                              display_name=display_name, password=password, roles=roles, actor_id=None,
                              district_code=district, enterprise_uscc=enterprise)
        _record(conn, "user.create", object_type="user", object_id=user_id, details={"roles": sorted(roles)})
    click.echo(f"user {username} created (id {user_id})")


@user_group.command("unlock")
@click.argument("username")
def user_unlock(username: str) -> None:
    """Lift a sign-in lock-out of USERNAME."""
    from access.authn.throttle import unlock_account
    from access.authn.users import normalise_username

    _, engine = _engine()
    with engine.begin() as conn:
        found = unlock_account(conn, normalise_username(username))
        _record(conn, "user.unlock", object_type="user", object_id=username[:64])
    click.echo(f"{username}: {'unlocked' if found else 'was not locked'}")


@user_group.command("reset-totp")
@click.argument("username")
def user_reset_totp(username: str) -> None:
    """Lost phone: USERNAME enrols a new authenticator at the next sign-in."""
    from access.authn.users import find_user, reset_totp
    from core.errors import NotFound

    _, engine = _engine()
    with engine.begin() as conn:
        user = find_user(conn, username)
        if user is None:
            raise NotFound(f"user {username} not found", f"用户 {username} 不存在")
        reset_totp(conn, user.id)
        _record(conn, "user.totp_reset", object_type="user", object_id=user.id)
    click.echo(f"{username}: TOTP reset")


@user_group.command("purge-sessions")
def user_purge_sessions() -> None:
    """Delete expired sessions, spent rate-limit and lock-out counters, and temporary grants expired or revoked
    longer ago than auth.purge.grant_retention_days (never the audit log). Safe to run from cron at any time."""
    from access.authn.purge import purge_expired, record
    from access.settings import AuthSettings

    config, engine = _engine()
    with engine.begin() as conn:
        counts = purge_expired(conn, AuthSettings.from_config(config))
        record(conn, counts, "cli", username=f"cli:{getpass.getuser()}"[:64], ip="local", user_agent="onemap-cli")
    click.echo("purged: " + ", ".join(f"{n} {table}" for table, n in counts.items()))


@user_group.command("rotate-totp-key")
@click.option("--new-key/--no-new-key", default=True,
              help="add a new key first in the key file (default); --no-new-key only re-encrypts under the newest "
                   "key there is (after putting a new key first in auth.totp.key_env yourself)")
@click.option("--drop-old", is_flag=True, help="afterwards remove the old keys from the key file")
def user_rotate_totp_key(new_key: bool, drop_old: bool) -> None:
    """Re-encrypt every stored TOTP secret under the newest key (and encrypt any stored in clear)."""
    from access.authn.totp import reseal_all
    from access.authn.totp_keys import TotpKeys, fingerprint

    config, engine = _engine()
    keys = TotpKeys.from_config(config)
    if keys.from_env and (new_key or drop_old):
        raise click.UsageError(f"the keys come from ${keys.env_var}: put the new key first there and run "
                               "with --no-new-key (and remove old keys there yourself)")
    added = keys.add_key() if new_key else None
    with engine.begin() as conn:
        counts = reseal_all(conn, keys)
        newest = fingerprint(keys.keys()[0]) if keys.keys() else None
        _record(conn, "user.totp_key_rotate", object_type="totp_key", object_id=newest,
                details={**counts, "new_key": added is not None, "source": keys.describe()})
    dropped = keys.drop_old_keys() if drop_old else 0
    click.echo(f"TOTP secrets under key {newest} ({keys.describe()}): {counts['reencrypted']} re-encrypted, "
               f"{counts['encrypted_clear']} encrypted from clear" + (f"; {dropped} old key(s) removed" if drop_old
                                                                       else ""))
