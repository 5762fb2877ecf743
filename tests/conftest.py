"""Shared fixtures: one throwaway PostGIS cluster per test session, a template database holding the migrated
demo city, and clones of it per test where isolation matters (the pytest-postgresql pattern)."""

from __future__ import annotations

import os
import shutil
import socket
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import psycopg
import pytest
import sqlalchemy as sa

from core.pgcluster import PrivateCluster

TEMPLATE_DB = "onemap_template"
DEMO_SEED = 20261128


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="session")
def pg_cluster() -> Iterator[PrivateCluster]:
    base = Path(tempfile.mkdtemp(prefix="onemap-test-pg-", dir="/var/tmp"))
    base.chmod(0o755)  # the postgres user must reach it when the suite runs as root
    # a throwaway cluster: it trades crash safety for speed (the report header says so)
    cluster = PrivateCluster(base, free_port(), TEMPLATE_DB, durable=False)
    cluster.init()
    cluster.start()
    cluster.ensure_database()
    try:
        yield cluster
    finally:
        cluster.destroy()
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture(scope="session")
def mqtt_broker() -> Iterator[Any]:
    """One private Mosquitto for the test session (supervision/monitoring/broker.py); tests give it their gateways
    with ``set_gateways`` + ``reload``."""
    from supervision.monitoring.broker import PrivateBroker

    broker = PrivateBroker(Path(tempfile.mkdtemp(prefix="onemap-test-mqtt-", dir="/var/tmp")), free_port())
    broker.set_gateways([])
    broker.start()
    try:
        yield broker
    finally:
        broker.destroy()


def admin_conn(cluster: PrivateCluster) -> psycopg.Connection:
    url = sa.engine.make_url(cluster.url(superuser=True))
    return psycopg.connect(host=url.host, port=url.port, user=url.username, password=url.password,
                           dbname="postgres", autocommit=True)


@pytest.fixture(scope="session")
def demo_artifacts(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("var")


@pytest.fixture(scope="session")
def template_url(pg_cluster: PrivateCluster, demo_artifacts: Path) -> str:
    """The migrated template database with the scale-1 demo city and its raster (built once per session)."""
    from data.demo import build_city, load_city, write_population_raster
    from layers import migrate

    url = pg_cluster.url()
    engine = sa.create_engine(url)
    migrate.upgrade(engine)
    city = build_city(scale=1, seed=DEMO_SEED)
    raw = engine.raw_connection()
    try:
        load_city(raw.driver_connection, city)
    finally:
        raw.close()
    from access.demo import seed_demo_users

    with engine.begin() as conn:  # the documented demo accounts, one per role (README "Demo users")
        seed_demo_users(conn)
    from core.config import load_config
    from core.manifest import in_dependency_order, load, manifests

    settings = load_config({"database": {"url": url}, "paths": {"var": str(demo_artifacts)}})
    # a smaller hidden-danger history than `make run` shows: every state and an escalation, in a minute less
    os.environ.setdefault("ONEMAP_DEMO_HIDDEN_DANGERS", "300")
    for manifest in in_dependency_order(manifests(settings)):  # other modules' demo rows, as `onemap demo build`
        if manifest.demo_loader and manifest.name != "access":
            with engine.begin() as conn:
                load(manifest.demo_loader)(conn, settings)
    (demo_artifacts / "data").mkdir(exist_ok=True)
    write_population_raster(city, demo_artifacts / "data" / "population.tif")
    engine.dispose()  # a template must have no open connections
    return url


def clone_database(cluster: PrivateCluster, name: str) -> str:
    with admin_conn(cluster) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{TEMPLATE_DB}" OWNER onemap')
    return cluster.url(dbname=name)


def drop_database(cluster: PrivateCluster, name: str) -> None:
    with admin_conn(cluster) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def demo_db(pg_cluster: PrivateCluster, template_url: str) -> Iterator[str]:
    """A read-only clone of the demo city shared by the whole session. Do not write to it."""
    url = clone_database(pg_cluster, "onemap_demo")
    yield url
    sa.create_engine(url).dispose()


@pytest.fixture
def fresh_db(pg_cluster: PrivateCluster, template_url: str, request: pytest.FixtureRequest) -> Iterator[str]:
    """A private clone of the demo city for one test, dropped afterwards."""
    name = "t_" + "".join(c if c.isalnum() else "_" for c in request.node.name.lower())[:50]
    url = clone_database(pg_cluster, name)
    yield url
    drop_database(pg_cluster, name)


def create_empty_database(cluster: PrivateCluster, name: str) -> str:
    """(Re)create database ``name`` with the extensions and no tables; its URL for the app role."""
    with admin_conn(cluster) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}" OWNER onemap')
    url = sa.engine.make_url(cluster.url(superuser=True)).set(database=name)
    with psycopg.connect(host=url.host, port=url.port, user=url.username, password=url.password,
                         dbname=name, autocommit=True) as conn:
        for ext in ("postgis", "postgis_raster", "pgrouting", "pg_trgm"):
            conn.execute(f"CREATE EXTENSION {ext}")
    return cluster.url(dbname=name)


@pytest.fixture
def empty_db(pg_cluster: PrivateCluster, request: pytest.FixtureRequest) -> Iterator[str]:
    """An empty database with the extensions but no tables."""
    name = "e_" + "".join(c if c.isalnum() else "_" for c in request.node.name.lower())[:50]
    yield create_empty_database(pg_cluster, name)
    drop_database(pg_cluster, name)


@pytest.fixture
def app_factory(demo_artifacts: Path):  # noqa: ANN201
    from app import create_app

    def make(url: str):  # noqa: ANN202
        return create_app({"database": {"url": url}, "paths": {"var": str(demo_artifacts)},
                           "logging": {"level": "WARNING", "format": "json"}})

    return make


@pytest.fixture
def demo_app(app_factory, demo_db: str):  # noqa: ANN001, ANN201
    return app_factory(demo_db)


@pytest.fixture(autouse=True)
def _isolated_environment(monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory) -> None:
    """A developer's own DATABASE_URL or config file must never leak into the tests (nor GDAL's WMS cache, which
    defaults to ./gdalwmscache, into the checkout)."""
    for var in ("DATABASE_URL", "ONEMAP_CONFIG", "PORT", "ONEMAP_PG_PORT", "ONEMAP_VAR", "ONEMAP_LAYERS_DIR",
                "ONEMAP_STYLES_DIR", "ONEMAP_MIGRATIONS_DIR", "ONEMAP_MQTT_PORT", "ONEMAP_MQTT_DIR",
                "ONEMAP_MQTT_CLIENT_ID", "ONEMAP_MQTT_INGEST", "ONEMAP_MQTT_SIMULATE"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("GDAL_DEFAULT_WMS_CACHE_PATH", str(tmp_path_factory.getbasetemp() / "gdalwmscache"))


def pytest_report_header() -> list[str]:
    from core.pgcluster import NON_DURABLE_SETTINGS

    off = ", ".join(f"{name}={value}" for name, value in NON_DURABLE_SETTINGS.items())
    return [f"onemap tests: uid={os.geteuid()}",
            f"onemap tests: the throwaway PostgreSQL cluster is NOT durable ({off}); `make run` and the Docker image run durable"]


_FILE_SECONDS: dict[str, float] = {}


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    """Time per test file (setup, call and teardown of its tests), for the summary below."""
    path = report.nodeid.split("::", 1)[0]
    _FILE_SECONDS[path] = _FILE_SECONDS.get(path, 0.0) + report.duration


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """The 25 most expensive test files (a file's tests often cost little each and much together, which the
    slowest-tests list does not show): where to look when the suite grows past its time budget."""
    if len(_FILE_SECONDS) < 2:
        return
    total = sum(_FILE_SECONDS.values())
    terminalreporter.write_sep("=", "slowest 25 test files (setup + call + teardown)")
    for path, seconds in sorted(_FILE_SECONDS.items(), key=lambda kv: -kv[1])[:25]:
        terminalreporter.write_line(f"{seconds:8.1f}s {seconds / total:6.1%}  {path}")
    terminalreporter.write_line(f"{total:8.1f}s in {len(_FILE_SECONDS)} files")


# Business-module tests share one signed-in session for the whole run and fire requests faster than a person:
# their apps keep that session alive and lift the per-user rate limits (both are tested in test_auth_*.py).
def lifted_rate_limits(burst: int, keep: tuple[str, ...] = ()) -> dict[str, dict[str, int]]:
    """Every rate-limit rule of the packaged configuration with ``burst`` tokens, except those in ``keep``: a rule
    added to auth.rate_limits (a new public endpoint's) is lifted for the walks without being named here."""
    from core.config import load_config

    return {name: {"burst": burst} for name in load_config(environ={})["auth"]["rate_limits"] if name not in keep}


SHARED_SESSION_AUTH = {"session": {"idle_minutes": 1440}, "rate_limits": lifted_rate_limits(100000, keep=("login",))}


@pytest.fixture(scope="module")
def app_factory_module(demo_artifacts: Path, demo_db: str):  # noqa: ANN201
    """One demo-city app per test module (building the OGC mounts once)."""
    from app import create_app

    return create_app({"database": {"url": demo_db}, "paths": {"var": str(demo_artifacts)},
                       "logging": {"level": "WARNING", "format": "json"}, "auth": SHARED_SESSION_AUTH})


@contextmanager
def serving(app: Any, port: int) -> Iterator[None]:
    """``app`` served by werkzeug (threaded) on 127.0.0.1:``port`` for the duration of the block."""
    import threading

    from werkzeug.serving import make_server

    server = make_server("127.0.0.1", port, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield
    finally:
        server.shutdown()
        thread.join(timeout=10)


@pytest.fixture(scope="module")
def live_server(demo_db: str, demo_artifacts: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The whole OneMap WSGI app on a free 127.0.0.1 port, for HTTP clients (OWSLib, GDAL, a browser).

    It gets its own var directory (capabilities documents carry its URL) that shares the demo raster.
    Yields the base URL, e.g. ``http://127.0.0.1:41234``.
    """
    from app import create_app

    var = tmp_path_factory.mktemp("live-var")
    (var / "data").mkdir()
    (var / "data" / "population.tif").symlink_to(demo_artifacts / "data" / "population.tif")
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    app = create_app({"database": {"url": demo_db}, "paths": {"var": str(var)},
                      "server": {"public_url": base}, "logging": {"level": "WARNING", "format": "json"}})
    with serving(app, port):
        yield base


@pytest.fixture(scope="session")
def dispatcher_session(demo_db: str, demo_artifacts: Path) -> tuple[str, str]:
    """The demo dispatcher signed in for real — password + TOTP through ``POST /api/auth/login`` — once per test
    session (a TOTP code is accepted once per 30 s step, so every module signing in anew would be refused).
    Returns (session cookie value, CSRF token)."""
    import pyotp

    from access.demo import DEMO_PASSWORD, DEMO_USERS
    from app import create_app

    app = create_app({"database": {"url": demo_db}, "paths": {"var": str(demo_artifacts)},
                      "logging": {"level": "WARNING", "format": "json"}, "auth": SHARED_SESSION_AUTH})
    secret = next(u.totp_secret for u in DEMO_USERS if u.username == "dispatcher")
    client = app.test_client()
    response = client.post("/api/auth/login", json={"username": "dispatcher", "password": DEMO_PASSWORD,
                                                    "totp": pyotp.TOTP(secret).now()})
    assert response.status_code == 200, response.get_json()
    cookie = client.get_cookie(app.config["ONEMAP_AUTH"].cookie_name)
    assert cookie is not None
    return cookie.value, response.get_json()["csrf_token"]


@pytest.fixture(scope="module")
def user_client(app_factory_module, dispatcher_session: tuple[str, str]):  # noqa: ANN001, ANN201
    """A test client signed in as the demo city-level dispatcher (``dispatcher``, role dispatcher, no district).

    It carries the session cookie of :func:`dispatcher_session` and sends the session's CSRF token as
    ``X-CSRF-Token`` on every request, as the console's fetch wrapper does, so POST/PUT/PATCH/DELETE work.
    """
    cookie, csrf = dispatcher_session
    client = app_factory_module.test_client()
    client.set_cookie(app_factory_module.config["ONEMAP_AUTH"].cookie_name, cookie)
    client.environ_base["HTTP_X_CSRF_TOKEN"] = csrf
    return client


@pytest.fixture(scope="module")
def live_token(live_server: str, dispatcher_session: tuple[str, str], request: pytest.FixtureRequest) -> Iterator[str]:
    """An ``ogc:read`` API token of the demo dispatcher for clients of :func:`live_server` (revoked afterwards)."""
    from tests.tokens import mint_token, revoke_token

    value, token_id = mint_token(live_server, dispatcher_session, request.module.__name__)
    yield value
    revoke_token(live_server, dispatcher_session, token_id)  # demo_db is shared by the whole session


@pytest.fixture(scope="module")
def db(demo_db: str) -> Iterator[sa.Engine]:
    """An engine on the shared read-only demo city, for tests that compare a service with PostGIS."""
    engine = sa.create_engine(demo_db)
    yield engine
    engine.dispose()
