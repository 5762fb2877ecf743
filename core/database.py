"""Per-request database connection on ``flask.g`` (the flaskr pattern), closed at teardown."""

from __future__ import annotations

import logging

from flask import Flask, current_app, g
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import OperationalError

from core.db import get_engine

log = logging.getLogger(__name__)


def engine() -> Engine:
    return get_engine(current_app.config["ONEMAP"])


def get_db() -> Connection:
    if "db" not in g:
        g.db = engine().connect()
    return g.db


def close_db(_exc: BaseException | None = None) -> None:
    conn = g.pop("db", None)
    if conn is not None:
        try:
            conn.close()  # rolls back what the request left open
        except OperationalError:
            # the server went away under the request (restart, fail-over): nothing was committed, the request's
            # answer (a 503) is already made, and the pool drops the dead connection — not a 500 at teardown
            log.warning("the request's database connection was lost; discarded")


def init_app(app: Flask) -> None:
    app.teardown_appcontext(close_db)
