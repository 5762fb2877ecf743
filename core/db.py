"""Database access: the URL from configuration (or the private cluster), one engine per URL, health checks."""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine, make_url

from core.config import resolve_path
from core.errors import DomainError
from core.pgcluster import ClusterError, PrivateCluster


class DatabaseUnavailable(DomainError):
    http_status = 503
    code = "database_unavailable"


def private_cluster(config: dict[str, Any]) -> PrivateCluster:
    pc = config["database"]["private_cluster"]
    from core.backup import settings_of
    from core.manifest import collect

    backup = settings_of(config)
    return PrivateCluster(resolve_path(pc["dir"]), pc["port"], pc["name"], setup=tuple(collect(config, "cluster_setup")),
                          archive=backup if backup.archive else None)


def database_url(config: dict[str, Any], superuser: bool = False) -> str:
    """``database.url`` (``DATABASE_URL``) when set, else the private cluster's URL."""
    url = config["database"]["url"]
    if url:
        if url.startswith("postgresql://"):
            url = "postgresql+psycopg://" + url.removeprefix("postgresql://")
        return url
    pc = config["database"]["private_cluster"]
    return _private_cluster_url(str(resolve_path(pc["dir"])), int(pc["port"]), pc["name"], superuser)


@cache
def _private_cluster_url(directory: str, port: int, name: str, superuser: bool) -> str:
    """Once per process: the private cluster's URL is asked for on every request (``get_engine``), and finding
    the cluster's directory can take a subprocess (may the postgres user reach it?) and a file read. A cluster's
    credentials are written once, by ``init``, and never change; a failed look-up (no cluster yet) is not cached."""
    return PrivateCluster(Path(directory), port, name).url(superuser=superuser)


def safe_url(url: str) -> str:
    """The URL with its password hidden, for messages and logs."""
    return make_url(url).render_as_string(hide_password=True)


@cache
def engine_for(url: str) -> Engine:
    return sa.create_engine(url, pool_pre_ping=True, pool_size=5, max_overflow=10,
                            connect_args={"connect_timeout": 5, "application_name": "onemap"})


def get_engine(config: dict[str, Any]) -> Engine:
    try:
        return engine_for(database_url(config))
    except ClusterError as exc:
        raise DatabaseUnavailable(exc.message_en, exc.message_zh) from None


def check_database(engine: Engine) -> dict[str, Any]:
    """Connect and report versions; raise DatabaseUnavailable with a one-line reason."""
    try:
        with engine.connect() as conn:
            pg = conn.execute(sa.text("SHOW server_version")).scalar_one()
            postgis = conn.execute(
                sa.text("SELECT extversion FROM pg_extension WHERE extname = 'postgis'")
            ).scalar_one_or_none()
            pgrouting = conn.execute(
                sa.text("SELECT extversion FROM pg_extension WHERE extname = 'pgrouting'")
            ).scalar_one_or_none()
    except sa.exc.OperationalError as exc:
        reason = str(exc.orig).strip().splitlines()[0] if exc.orig else str(exc)
        raise DatabaseUnavailable(
            f"cannot connect to {safe_url(engine.url.render_as_string(hide_password=False))}: {reason}",
            f"无法连接数据库 {safe_url(engine.url.render_as_string(hide_password=False))}：{reason}",
        ) from None
    if postgis is None:
        raise DatabaseUnavailable(
            f"database {engine.url.database} has no PostGIS: run CREATE EXTENSION postgis (and postgis_raster, "
            "pgrouting, pg_trgm) as a superuser",
            f"数据库 {engine.url.database} 未安装 PostGIS 扩展",
        )
    return {"postgresql": pg, "postgis": postgis, "pgrouting": pgrouting}
