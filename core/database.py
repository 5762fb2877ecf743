"""Per-request database connection on ``flask.g`` (the flaskr pattern), closed at teardown."""

from __future__ import annotations

from flask import Flask, current_app, g
from sqlalchemy.engine import Connection, Engine

from core.db import get_engine


def engine() -> Engine:
    return get_engine(current_app.config["ONEMAP"])


def get_db() -> Connection:
    if "db" not in g:
        g.db = engine().connect()
    return g.db


def close_db(_exc: BaseException | None = None) -> None:
    conn = g.pop("db", None)
    if conn is not None:
        conn.close()


def init_app(app: Flask) -> None:
    app.teardown_appcontext(close_db)
