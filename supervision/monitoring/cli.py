"""``onemap ingest`` (the ingest worker alone) and ``onemap monitor ...`` (the private broker)."""

from __future__ import annotations

import logging
import signal
import threading

import click


def _settings() -> dict:
    from core.config import load_config

    return load_config()


def _db_url(settings: dict) -> str:
    from core.db import check_database, database_url, get_engine, private_cluster
    from supervision.monitoring.ingest import libpq_url

    if not settings["database"]["url"]:
        private_cluster(settings).up()
    check_database(get_engine(settings))
    return libpq_url(database_url(settings))


def _broker(settings: dict):  # noqa: ANN202
    from core.config import resolve_path
    from supervision.monitoring.broker import PrivateBroker

    b = settings["monitoring"]["broker"]
    return PrivateBroker(resolve_path(b["dir"]), b["port"], b["host"])


@click.command("ingest")
def ingest() -> None:
    """Run the MQTT ingest worker until stopped (`onemap serve` starts it too)."""
    from core import realtime_backends
    from supervision.monitoring.ingest import from_settings, run_forever

    settings = _settings()
    logging.basicConfig(level=settings["logging"]["level"], format="%(asctime)s %(levelname)s %(name)s %(message)s")
    db_url = _db_url(settings)
    workers = [from_settings(settings, db_url)]
    realtime_backends.install(settings)   # alarms reach the web workers' SSE streams
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    click.echo(f"ingest worker: {workers[0].host}:{workers[0].port} as {workers[0].client_id}")

    started = [0]

    def make():  # noqa: ANN202 - the first worker, then a new one after a failure (broker files synced again)
        if started[0]:
            workers.append(from_settings(settings, db_url))
        started[0] += 1
        return workers[-1]

    run_forever(make, stop)
    totals: dict[str, int] = {}
    for w in workers:
        for k, v in w.totals.items():
            totals[k] = totals.get(k, 0) + v
    click.echo(f"ingest worker stopped: {totals}")


@click.group("monitor")
def monitor() -> None:
    """Online monitoring: the private MQTT broker."""


@monitor.command("broker-up")
def broker_up() -> None:
    """Start the private broker with a credential for every registered gateway."""
    import psycopg

    settings = _settings()
    broker = _broker(settings)
    with psycopg.connect(_db_url(settings)) as conn:
        broker.set_gateways(conn.execute("SELECT code, enterprise_uscc FROM monitoring_gateways ORDER BY code"))
    broker.reload() if broker.running() else broker.start()
    click.echo(f"broker: 127.0.0.1:{broker.port} ({broker.base}); gateway credentials in {broker.secrets_file}")


@monitor.command("broker-down")
def broker_down() -> None:
    """Stop the private broker."""
    _broker(_settings()).stop()
    click.echo("broker stopped")


@monitor.command("simulate")
@click.option("--rate", default=80.0, type=click.FloatRange(min=1), show_default=True,
              help="readings per second over all sensors (800 demo sensors: each every 10 s)")
@click.option("--scenario", default="normal", type=click.Choice(["normal", "leak"]), show_default=True,
              help="leak: one combustible-gas detector crosses 一级 and 二级 within minutes")
@click.option("--sensor", default=None, help="the leaking detector's code (default: the first by code)")
@click.option("--once", is_flag=True, help="one reading per sensor, then exit")
def simulate(rate: float, scenario: str, sensor: str | None, once: bool) -> None:
    """Publish realistic readings for every registered sensor through the broker, as their gateways would."""
    from supervision.monitoring import simulate as sim

    settings = _settings()
    broker = _broker(settings)
    if not broker.running():
        from supervision.monitoring.broker import BrokerError

        raise BrokerError("the MQTT broker is not running: start `onemap serve` or `onemap monitor broker-up` first",
                          "MQTT 服务未运行：请先运行 onemap serve 或 onemap monitor broker-up")
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    click.echo(f"simulating: {rate:g} readings/s, scenario {scenario} (Ctrl-C stops)" if not once else "one round")
    n = sim.run(_db_url(settings), broker, rate, sim.Scenario(scenario, sensor), stop, once=once)
    click.echo(f"published {n} readings")
