"""The PostgreSQL live-event backend: events of one process reach the subscribers of every other, tagged events keep
their tag, large payloads travel through the table, a lost database neither fails a publisher nor ends the
listener, and the app and the workers install it by default."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator

import psycopg
import pytest

from core import realtime
from core.realtime import ScopeTag
from core.realtime_pg import MAX_NOTIFY_BYTES, PostgresBroker, libpq_url


@pytest.fixture
def brokers(fresh_db: str) -> Iterator[tuple[PostgresBroker, PostgresBroker]]:
    a, b = PostgresBroker(fresh_db, "test:events"), PostgresBroker(fresh_db, "test:events")
    yield a, b
    a.close()
    b.close()


def _next(stream: Iterator[realtime.Event | None]) -> realtime.Event:
    event = next(stream)
    assert event is not None, "no event within the subscription's timeout"
    return event


def test_events_fan_out_across_brokers_in_order_with_their_tags(brokers) -> None:  # noqa: ANN001
    a, b = brokers
    on_a, on_b = a.subscribe(timeout=5, announce=True), b.subscribe(timeout=5, announce=True)
    assert next(on_a) is None and next(on_b) is None
    tag = ScopeTag("sensors", "329902", "91329902MA1XXXXX0X")
    first = a.publish("monitoring.alarm", {"sensor_code": "S-1", "level": 2}, scope=tag)
    second = b.publish("incident.created", {"title": "跨进程"})
    assert second.id > first.id   # one sequence for every process
    for stream in (on_a, on_b):
        got = [_next(stream), _next(stream)]
        assert [(e.id, e.type, e.data, e.scope) for e in got] == [
            (first.id, "monitoring.alarm", {"sensor_code": "S-1", "level": 2}, tag),
            (second.id, "incident.created", {"title": "跨进程"}, None)]
    # a notification whose tag cannot be read is dropped, never delivered untagged (to everyone)
    with psycopg.connect(libpq_url(a.url), autocommit=True) as conn:
        conn.execute("SELECT pg_notify('test:events', %s)",
                     (json.dumps({"id": 0, "type": "x", "data": {}, "ts": 0.0, "scope": {"layer": 7}}),))
    third = a.publish("monitoring.sensor_status", {"sensor_code": "S-1", "status": "alarm"})
    assert _next(on_b).id == third.id
    on_a.close()
    on_b.close()


def test_an_event_too_large_for_a_notification_travels_through_the_table(brokers) -> None:  # noqa: ANN001
    a, b = brokers
    on_b = b.subscribe(timeout=5, announce=True)
    next(on_b)
    big = {"text": "监测" * MAX_NOTIFY_BYTES}
    sent = a.publish("incident.updated", big, scope=ScopeTag("incidents", "329902"))
    got = _next(on_b)
    assert (got.id, got.data, got.scope) == (sent.id, big, ScopeTag("incidents", "329902"))
    on_b.close()


def test_a_publisher_without_its_database_delivers_locally_and_does_not_fail(fresh_db: str) -> None:
    broker = PostgresBroker(fresh_db, "test:events")
    local = realtime.Broker.subscribe(broker, timeout=1, announce=True)   # this process's queue, no listener
    next(local)
    with psycopg.connect(libpq_url(fresh_db), autocommit=True) as conn:
        conn.execute("DROP SEQUENCE realtime_event_seq CASCADE")   # the database refuses every send from now on
    event = broker.publish("incident.created", {"title": "本地"})
    assert _next(local).data == {"title": "本地"} and event.type == "incident.created"
    local.close()
    broker.close()


def test_the_listener_comes_back_after_losing_its_connection(brokers) -> None:  # noqa: ANN001
    a, b = brokers
    on_b = b.subscribe(timeout=5, announce=True)
    next(on_b)
    with psycopg.connect(libpq_url(a.url), autocommit=True) as conn:
        killed = conn.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                              "WHERE application_name = 'onemap-events-listener' AND datname = current_database()"
                              ).fetchall()
    assert killed == [(True,)]
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:   # the listener reconnects (0.5 s backoff) and listens again
        time.sleep(0.1)
        if b.listening():
            with psycopg.connect(libpq_url(a.url)) as conn:
                back = conn.execute("SELECT count(*) FROM pg_stat_activity WHERE application_name = "
                                    "'onemap-events-listener' AND datname = current_database()").fetchone()[0]
            if back == 1:
                break
    else:
        pytest.fail("the listener did not reconnect")
    sent = a.publish("incident.created", {"title": "重连后"})
    assert _next(on_b).id == sent.id
    on_b.close()


def test_an_event_from_another_process_reaches_the_app_s_stream(fresh_db: str, app_factory) -> None:  # noqa: ANN001
    """The ingest and background workers are other processes: what they publish reaches the web app's streams."""
    app_factory(fresh_db)
    broker = realtime.broker()
    assert isinstance(broker, PostgresBroker)   # the default
    stream = broker.subscribe(timeout=10, announce=True)
    next(stream)
    code = ("from core import realtime, realtime_backends; from core.config import load_config; "
            f"realtime_backends.install(load_config({{'database': {{'url': {fresh_db!r}}}}}, environ={{}})); "
            "print(realtime.publish('monitoring.alarm', {'sensor_code': 'S-9'}).id)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    got = _next(stream)
    assert (got.id, got.type, got.data) == (int(out.stdout.strip()), "monitoring.alarm", {"sensor_code": "S-9"})
    stream.close()
