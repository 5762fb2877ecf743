"""Helpers shared by the emergency test modules (not a test module itself)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import sqlalchemy as sa

#: A point in 临江区 (CGCS2000/WGS-84) and the same point as a GCJ-02 map picker reports it (~540 m away).
KNOWN_WGS = (119.0, 32.0)
KNOWN_GCJ = (119.00524656306419, 31.997979957218703)


def make_app(demo_artifacts: Path, url: str) -> Any:
    """The app on ``url``, configured as the ``app_factory`` fixture does (usable from module-scoped fixtures)."""
    from app import create_app

    return create_app({"database": {"url": url}, "paths": {"var": str(demo_artifacts)},
                       "logging": {"level": "WARNING", "format": "json"}})


@contextmanager
def scratch_database(pg_cluster: Any, name: str) -> Iterator[str]:
    """A writable clone of the demo city shared by one test module (tests in it must not depend on each other's
    writes), dropped afterwards."""
    from tests.conftest import clone_database, drop_database

    url = clone_database(pg_cluster, name)
    try:
        yield url
    finally:
        sa.create_engine(url).dispose()
        drop_database(pg_cluster, name)


def writer_client(app_factory: Any, url: str, username: str = "dispatcher") -> Any:
    """A test client on the writable database ``url``, acting as the demo ``username`` when authentication is
    installed (an API token for that user, created in that database); a plain client otherwise."""
    app = app_factory(url)
    client = app.test_client()
    try:
        from access.authn import tokens
        from access.models import TOKEN_SCOPES
        from access.settings import settings_of
    except ImportError:  # authentication not installed: every request is let through
        return client
    engine = sa.create_engine(url)
    try:
        with engine.begin() as conn:
            user_id = conn.execute(sa.text("SELECT id FROM users WHERE username = :u"), {"u": username}).scalar()
            if user_id is None:
                return client
            token, _ = tokens.create(conn, settings_of(app.config), user_id, "emergency tests",
                                     list(TOKEN_SCOPES))
    finally:
        engine.dispose()
    client.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {token}"
    return client


def scalar(url_or_engine: Any, sql: str, **params: Any) -> Any:
    engine = sa.create_engine(url_or_engine) if isinstance(url_or_engine, str) else url_or_engine
    try:
        with engine.connect() as conn:
            return conn.execute(sa.text(sql), params).scalar()
    finally:
        if isinstance(url_or_engine, str):
            engine.dispose()


def sibling(client: Any) -> Any:
    """Another client of the same app acting as the same user (for concurrent requests)."""
    other = client.application.test_client()
    other.environ_base.update(client.environ_base)
    return other
