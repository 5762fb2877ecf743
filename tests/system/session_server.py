"""The whole app served over HTTP on a writable clone of the demo city, with demo accounts signed in by sessions of
that database (no TOTP step to race for) and the test clock frozen: the browser tests of the business pages."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import sqlalchemy as sa

from tests.conftest import free_port, serving
from tests.integration.emergency_support import scratch_database


@contextmanager
def session_server(pg_cluster: Any, demo_artifacts: Path, tmp_path_factory: pytest.TempPathFactory, name: str, *,
                   users: Iterable[str], now: datetime,
                   prepare: Callable[[sa.Connection], dict[str, Any]] | None = None) -> Iterator[SimpleNamespace]:
    """``prepare(conn)`` picks the test's objects in the clone; its keys become attributes of the answer, beside
    ``url``, ``engine``, ``settings``, ``session`` (user -> (cookie name, cookie, CSRF token)) and ``publish`` (a live
    event on this app's broker, as the app's workers publish it: ``core.realtime.publish`` outside the app's context
    goes to the process's broker, which is whichever app was built last)."""
    from access.authn import sessions
    from app import create_app
    from core import clock
    from core.workdays_store import seed

    with scratch_database(pg_cluster, name) as url:
        engine = sa.create_engine(url)
        with engine.begin() as conn:
            seed(conn, [now.year])
            extra = prepare(conn) if prepare else {}
            logins = {}
            for user in users:
                uid = conn.execute(sa.text("SELECT id FROM users WHERE username = :u"), {"u": user}).scalar_one()
                logins[user] = sessions.create(conn, uid, "full", "127.0.0.1", name)
        var = tmp_path_factory.mktemp(f"{name}-var")
        (var / "data").mkdir()
        (var / "data" / "population.tif").symlink_to(demo_artifacts / "data" / "population.tif")
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        app = create_app({"database": {"url": url}, "paths": {"var": str(var)}, "server": {"public_url": base},
                          "logging": {"level": "WARNING", "format": "json"}})
        cookie_name = app.config["ONEMAP_AUTH"].cookie_name

        def publish(event_type: str, data: dict[str, Any], *, scope: Any = None) -> None:
            from core import realtime

            with app.app_context():
                realtime.publish(event_type, data, scope=scope)

        with clock.freeze(now), serving(app, port):
            yield SimpleNamespace(url=base, engine=engine, settings=app.config["ONEMAP"], publish=publish, **extra,
                                  session={u: (cookie_name, cookie, s.csrf_token) for u, (cookie, s) in logins.items()})
        engine.dispose()
