"""The ``onemap`` command line. Every failure the user can act on prints one line, never a traceback."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
from typing import Any

import click

from access.policy.rules import PolicyError
from core.config import ConfigError, load_config, resolve_path
from core.errors import DomainError
from core.manifest import ManifestError
from layers.registry import RegistryError
from styles import StyleError


def _config() -> dict[str, Any]:
    return load_config()


def _engine(config: dict[str, Any], ensure_private: bool = True):  # noqa: ANN202
    from core.db import check_database, get_engine, private_cluster

    if not config["database"]["url"] and ensure_private:
        private_cluster(config).up()
    engine = get_engine(config)
    check_database(engine)
    return engine


class _ModuleCommands(click.Group):
    """The ``onemap`` group plus every active module's CLI groups (``Manifest.cli_groups``), found when asked for."""

    def _module_groups(self) -> dict[str, click.Command]:
        from core.manifest import load, manifests

        try:
            active = manifests(load_config())
        except (ConfigError, ManifestError):
            return {}  # `onemap config check` reports why
        groups = [load(ref) for m in active for ref in m.cli_groups]
        return {g.name: g for g in groups if g.name}

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *self._module_groups()})

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        return super().get_command(ctx, name) or self._module_groups().get(name)


@click.group(cls=_ModuleCommands)
def cli() -> None:
    """OneMap (安全生产"一张图") administration."""


# -- config -----------------------------------------------------------------------------------------------
@cli.group()
def config() -> None:
    """Configuration."""


@config.command("check")
def config_check() -> None:
    """Validate configuration and layer registry (syntax, schema, references)."""
    settings = _config()
    from layers.registry import default_registry
    from styles import default_styles

    default_styles()  # style files are validated against the registry too
    from access.policy.rules import load_policy

    policy = load_policy()  # roles, layers, modules and processes it names must exist
    click.echo(f"configuration OK; {len(default_registry())} layers; {len(policy.rules)} policy rules; "
               f"database: {'DATABASE_URL' if settings['database']['url'] else 'private cluster'}")


# -- db ---------------------------------------------------------------------------------------------------
@cli.group()
def db() -> None:
    """The database (a private cluster under var/ unless DATABASE_URL is set)."""


@db.command("up")
def db_up() -> None:
    """Start the private cluster (initialising it if needed) and migrate to the latest schema."""
    from layers import migrate

    settings = _config()
    engine = _engine(settings)
    migrate.upgrade(engine)
    click.echo(f"database up at revision {migrate.current(engine)}")


@db.command("down")
def db_down() -> None:
    """Stop the private cluster."""
    from core.db import private_cluster

    settings = _config()
    if settings["database"]["url"]:
        raise click.UsageError("DATABASE_URL is set: OneMap does not manage that server")
    private_cluster(settings).stop()
    click.echo("private cluster stopped")


@db.command("status")
def db_status() -> None:
    """Show where the database is and whether it answers."""
    from core.db import check_database, database_url, get_engine, private_cluster, safe_url

    settings = _config()
    info: dict[str, Any] = {}
    if not settings["database"]["url"]:
        cluster = private_cluster(settings)
        info["private_cluster"] = {"dir": str(cluster.base), "port": cluster.port,
                                   "initialised": cluster.initialised, "running": cluster.running()}
        if not info["private_cluster"]["running"]:
            click.echo(json.dumps(info, indent=2))
            sys.exit(1)
    info["url"] = safe_url(database_url(settings))
    info.update(check_database(get_engine(settings)))
    from layers import migrate

    info["revision"] = migrate.current(get_engine(settings))
    click.echo(json.dumps(info, indent=2))


@db.command("migrate")
@click.argument("revision", default="heads")
def db_migrate(revision: str) -> None:
    """Upgrade the schema (default: every branch to its head)."""
    from layers import migrate

    engine = _engine(_config())
    migrate.upgrade(engine, revision)
    click.echo(f"at revision {migrate.current(engine)}")


@db.command("downgrade")
@click.argument("revision", default="base")
def db_downgrade(revision: str) -> None:
    """Downgrade the schema (default: remove every table)."""
    from layers import migrate

    engine = _engine(_config())
    migrate.downgrade(engine, revision)
    click.echo(f"at revision {migrate.current(engine)}")


@db.command("revision")
@click.option("-m", "--message", required=True, help="what the revision does (its docstring and file name)")
@click.option("--head", default=None, help="the revision to build on (default: the head of the layer tables)")
def db_revision(message: str, head: str | None) -> None:
    """Write a migration for what the layer files changed (autogenerated against the migrated database).

    It goes to ONEMAP_MIGRATIONS_DIR when set (a deployment's own layers), else to the packaged revisions."""
    from layers import migrate

    engine = _engine(_config())
    try:
        path = migrate.autogenerate(engine, message, head=head)
    except migrate.RevisionProblem as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"wrote {path}")


# -- demo -------------------------------------------------------------------------------------------------
@cli.group()
def demo() -> None:
    """The synthetic demo city 示范市."""


@demo.command("build")
@click.option("--scale", default=1, show_default=True, type=click.IntRange(1, 100), help="multiply point layers")
@click.option("--seed", default=20261128, show_default=True, type=int)
@click.option("--if-missing", is_flag=True, help="do nothing when a demo city of this scale and seed is loaded")
def demo_build(scale: int, seed: int, if_missing: bool) -> None:
    """Generate the demo city and load it (COPY), plus the population raster."""
    from data.demo import build_city, load_city, write_population_raster
    from layers import migrate

    settings = _config()
    engine = _engine(settings)
    migrate.upgrade(engine)
    marker = resolve_path(settings["paths"]["var"]) / "demo.json"
    stamp = {"scale": scale, "seed": seed, "revision": migrate.current(engine)}
    if if_missing and marker.exists() and json.loads(marker.read_text()) == stamp and _has_data(engine):
        click.echo(f"demo city already loaded (scale {scale}, seed {seed})")
        return
    if _has_data(engine):
        engine = _empty_again(settings, engine)
    t0 = time.perf_counter()
    city = build_city(scale=scale, seed=seed)
    t1 = time.perf_counter()
    raw = engine.raw_connection()
    try:
        counts = load_city(raw.driver_connection, city)
    finally:
        raw.close()
    t2 = time.perf_counter()
    raster = resolve_path(settings["paths"]["var"]) / "data" / "population.tif"
    raster.parent.mkdir(parents=True, exist_ok=True)
    write_population_raster(city, raster)
    from core.manifest import in_dependency_order, load, manifests

    lines = []
    for manifest in in_dependency_order(manifests(settings)):  # each module's demo rows (access: an account per role)
        if manifest.demo_loader:
            with engine.begin() as conn:
                lines.append(load(manifest.demo_loader)(conn, settings))
    marker.write_text(json.dumps(stamp))
    click.echo(f"demo city built: generate {t1 - t0:.1f}s, load {t2 - t1:.1f}s, raster {time.perf_counter() - t2:.1f}s")
    for table, n in counts.items():
        click.echo(f"  {table:<24} {n:>8}")
    for line in lines:
        click.echo(line)


def _empty_again(settings: dict[str, Any], engine):  # noqa: ANN001, ANN202
    """A demo city is loaded already (another scale, seed or schema revision): the new one starts from an empty
    database. The modules' demo rows cannot be reloaded in place (a case's history and the audit log are
    append-only). The private cluster's database is dropped and created again; another database is the
    operator's to empty."""
    from core.db import private_cluster, safe_url
    from layers import migrate

    if settings["database"]["url"]:
        raise click.ClickException(
            f"{safe_url(settings['database']['url'])} holds a demo city already (another scale, seed or schema "
            "revision): `onemap demo build` loads into an empty database; drop and create it again, or point "
            "DATABASE_URL at a new one (`--if-missing` keeps a city of the same build)")
    click.echo("a demo city of another build is loaded: the private cluster's database is created again")
    engine.dispose()
    private_cluster(settings).recreate_database()
    engine = _engine(settings)
    migrate.upgrade(engine)
    return engine


def _has_data(engine) -> bool:  # noqa: ANN001
    from sqlalchemy import text

    with engine.connect() as conn:
        return bool(conn.execute(text("SELECT EXISTS (SELECT 1 FROM enterprises)")).scalar_one())


# -- OGC services -----------------------------------------------------------------------------------------
@cli.group("mapserver")
def mapserver_group() -> None:
    """The OGC service configurations (MapServer, pygeoapi, MapProxy) generated from the layer registry."""


@mapserver_group.command("build")
def mapserver_build() -> None:
    """Regenerate every OGC service configuration from the registry and styles."""
    from mapserver.build import ensure_built

    written = ensure_built(_config(), force=True)
    for name, path in written.items():
        click.echo(f"  {name:<28} {path}")


# -- serve ------------------------------------------------------------------------------------------------
def _port_free(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


@cli.command("serve")
@click.option("--host", default=None, help="default: server.host (HOST)")
@click.option("--port", default=None, type=int, help="default: server.port (PORT)")
@click.option("--workers", default=None, type=int)
def serve(host: str | None, port: int | None, workers: int | None) -> None:
    """Serve OneMap with gunicorn."""
    settings = _config()
    host = host or settings["server"]["host"]
    port = port or settings["server"]["port"]
    if not _port_free(host, port):
        raise DomainError(f"port {port} on {host} is already in use: stop the other program or set PORT",
                          f"端口 {port} 已被占用：请停止占用该端口的程序或设置 PORT")
    engine = _engine(settings)
    from layers import migrate

    if not migrate.is_current(engine):
        raise DomainError("the database schema is behind this version of OneMap: run `onemap db migrate`",
                          "数据库结构版本落后：请运行 onemap db migrate")
    from app.server import run_gunicorn
    from mapserver.build import ensure_built

    ensure_built(settings)  # once, here: workers then find the generated files up to date and never race
    # gunicorn forks its workers from this process: a pooled connection left open here would be shared by all of
    # them (one socket, two conversations: "prepared statement already exists", answers read by the wrong worker)
    engine.dispose()

    click.echo(f"OneMap serving on http://{host}:{port}")
    # the modules' background loops (case timers, ...) run in a process of their own beside the server: a thread
    # in gunicorn's master would hand its open database connections to every forked worker
    background = _start_background(settings)
    try:
        run_gunicorn(host, port, workers or settings["server"]["workers"], settings["server"]["threads"])
    finally:
        if background is not None:
            background.terminate()
            background.wait(timeout=10)


def _start_background(settings: dict[str, Any]) -> subprocess.Popen | None:
    from core.manifest import collect

    if not collect(settings, "background"):
        return None
    return subprocess.Popen([sys.executable, "-c", "from app.cli import main; main(['worker'])"])


@cli.command("worker")
@click.option("--once", is_flag=True, help="run one round (fire the timers due now) and exit")
def worker(once: bool) -> None:
    """Run the modules' background work (case deadline timers) until stopped; `onemap serve` starts it too."""
    import signal
    import threading

    from core import realtime_backends
    from core.manifest import collect, load

    settings = _config()
    _engine(settings)
    realtime_backends.install(settings)   # the loops' events (deadlines, alarms) must reach the web workers' streams
    loops = collect(settings, "background")
    stop = threading.Event()
    if once:
        stop.set()  # every loop does one round, then sees the stop
    else:
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda *_: stop.set())
    threads = [threading.Thread(target=load(ref), args=(settings, stop), name=ref, daemon=True) for ref in loops]
    for t in threads:
        t.start()
    click.echo(f"worker running: {', '.join(loops) or 'nothing to run'}" + (" (one round)" if once else ""))
    for t in threads:
        t.join()




# Validation errors that carry one line per problem, and how the CLI introduces them.
_PROBLEM_LIST_LABELS = {
    ConfigError: "invalid configuration",
    StyleError: "invalid styles",
    PolicyError: "invalid authorisation policy",
    RegistryError: "invalid layer registry",
    ManifestError: "invalid module manifests",
}
_PROBLEM_LIST_ERRORS = tuple(_PROBLEM_LIST_LABELS)


def main(argv: list[str] | None = None) -> None:
    try:
        cli.main(args=argv, prog_name="onemap", standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("aborted", err=True)
        sys.exit(1)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except _PROBLEM_LIST_ERRORS as exc:
        label = next(text for kind, text in _PROBLEM_LIST_LABELS.items() if isinstance(exc, kind))
        click.echo(f"error: {label}:", err=True)
        for p in exc.problems:
            click.echo(f"  {p}", err=True)
        sys.exit(2)
    except DomainError as exc:
        click.echo(f"error: {exc.message_en}", err=True)
        sys.exit(2)
