"""Live events: POST /api/events → the SSE stream, keep-alives, the configuration of the backend, and the Redis
backend across two brokers (as two gunicorn workers would have)."""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator

import pytest

from access.policy.rowscope import LayerAccess
from access.policy.rules import Authz, load_policy
from app.console.events import event_stream
from core import realtime, realtime_backends
from core.config import ConfigError, load_config
from core.identity import Identity
from core.realtime import ScopeTag
from tests.conftest import free_port

CITY = LayerAccess.unrestricted()


def read_chunk(chunks: Iterator[bytes]) -> str:
    chunk = next(chunks)
    return chunk.decode("utf-8") if isinstance(chunk, bytes) else chunk


def test_published_event_reaches_an_open_stream(user_client) -> None:  # noqa: ANN001
    response = user_client.get("/api/events/stream", buffered=False)
    assert response.status_code == 200 and response.mimetype == "text/event-stream"
    assert response.headers["Cache-Control"] == "no-cache"
    chunks = iter(response.response)
    first = read_chunk(chunks)
    assert first.startswith("retry: ") and ": connected" in first
    posted = user_client.post("/api/events", json={"type": "incident.created",
                                                   "data": {"title": "示范事件", "lon": 119.0, "lat": 32.0}})
    assert posted.status_code == 202
    message = read_chunk(chunks)
    assert message.startswith(f"id: {posted.get_json()['id']}\n") and message.endswith("\n\n")
    payload = json.loads(message.split("data: ", 1)[1])
    assert payload["type"] == "incident.created" and payload["data"]["title"] == "示范事件"
    response.close()


def test_a_silent_stream_sends_keep_alive_comments() -> None:
    stream = event_stream(keepalive_s=0.05, access=CITY)
    assert ": connected" in next(stream)
    assert next(stream) == ": keep-alive\n\n"
    stream.close()


def test_stream_unsubscribes_when_the_client_leaves() -> None:
    broker = realtime.broker()
    before = len(broker._subscribers)
    stream = event_stream(keepalive_s=0.05, access=CITY)
    next(stream)
    assert len(broker._subscribers) == before + 1
    stream.close()
    assert len(broker._subscribers) == before


@pytest.mark.parametrize(("body", "name"), [
    ({"type": "Incident Created", "data": {}}, "type"),
    ({"type": "incident.created", "data": [1, 2]}, "data"),
    ({"data": {}}, "type"),
    ([1], "body"),
    ({"type": "incident.created", "data": {}, "scope": {"layer": "incidents", "district_code": "329902"}}, "scope"),
])
def test_publish_rejects_malformed_events(user_client, body: object, name: str) -> None:  # noqa: ANN001
    response = user_client.post("/api/events", json=body)
    assert response.status_code == 400 and response.get_json()["input"] == name


def _district_regulator(district: str) -> LayerAccess:
    identity = Identity(user_id=901, username="district_test", roles=frozenset({"district_regulator"}),
                        district_code=district, method="session")
    return LayerAccess(Authz(load_policy(), identity))


def _messages(stream, count: int) -> list[dict]:  # noqa: ANN001
    out = []
    while len(out) < count:
        chunk = next(stream)
        if chunk.startswith("id: "):
            out.append(json.loads(chunk.split("data: ", 1)[1]))
    return out


def test_a_district_stream_gets_its_own_district_incidents_only() -> None:
    own = event_stream(keepalive_s=5, access=_district_regulator("329902"))
    city = event_stream(keepalive_s=5, access=CITY)
    assert ": connected" in next(own) and ": connected" in next(city)
    realtime.publish("incident.created", {"title": "外区"}, scope=ScopeTag("incidents", "329903", None))
    realtime.publish("incident.updated", {"title": "外区企业"}, scope=ScopeTag("incidents", "329903", "9132" * 4 + "01"))
    realtime.publish("resource.changed", {"kind": "rescue_team"}, scope=ScopeTag("rescue_teams", "329903"))
    realtime.publish("resource.changed", {"kind": "hospital"}, scope=ScopeTag("hospitals", "329903"))  # public
    realtime.publish("incident.created", {"title": "本区"}, scope=ScopeTag("incidents", "329902", None))
    realtime.publish("alarm.raised", {"sensor": "S-1"})  # untagged: everyone
    realtime.publish("incident.created", {"title": "未知图层"}, scope=ScopeTag("no_such_layer", "329902"))
    seen = [(m["type"], m["data"]) for m in _messages(own, 3)]
    assert seen == [("resource.changed", {"kind": "hospital"}), ("incident.created", {"title": "本区"}),
                    ("alarm.raised", {"sensor": "S-1"})]
    assert [m["data"] for m in _messages(city, 7)][:2] == [{"title": "外区"}, {"title": "外区企业"}]
    own.close()
    city.close()


def test_a_stream_that_only_sees_others_events_is_kept_alive() -> None:
    stream = event_stream(keepalive_s=0.2, access=_district_regulator("329902"))
    next(stream)
    time.sleep(0.25)
    realtime.publish("incident.created", {"title": "外区"}, scope=ScopeTag("incidents", "329903"))
    assert next(stream) == ": keep-alive\n\n"
    stream.close()


def test_realtime_configuration_is_validated() -> None:
    assert load_config(environ={})["realtime"]["backend"] == "postgres"   # across processes, with no extra service
    assert load_config({"realtime": {"backend": "memory"}}, environ={})["realtime"]["backend"] == "memory"
    with pytest.raises(ConfigError, match="redis_url"):
        load_config({"realtime": {"backend": "redis"}}, environ={})
    with pytest.raises(ConfigError, match="backend"):
        load_config({"realtime": {"backend": "kafka"}}, environ={})
    conf = load_config(environ={"ONEMAP_REALTIME_BACKEND": "redis", "ONEMAP_REDIS_URL": "redis://127.0.0.1:6379/0"})
    assert conf["realtime"]["backend"] == "redis" and conf["realtime"]["redis_url"].startswith("redis://")


@pytest.fixture
def redis_url(tmp_path) -> Iterator[str]:  # noqa: ANN001
    # `make test` installs both (redis extra, redis-server via scripts/install-system.sh --test): never skipped
    server = shutil.which("redis-server")
    assert server is not None, "redis-server is missing: run scripts/install-system.sh --test"
    port = free_port()
    proc = subprocess.Popen([server, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
                             "--dir", str(tmp_path)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(100):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.1).close()
                break
            except OSError:
                time.sleep(0.05)
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_redis_backend_fans_out_across_workers(redis_url: str) -> None:
    from core.realtime_redis import RedisBroker

    worker_a, worker_b = RedisBroker(redis_url, "test:events"), RedisBroker(redis_url, "test:events")
    on_a = worker_a.subscribe(timeout=5, announce=True)
    on_b = worker_b.subscribe(timeout=5, announce=True)
    assert next(on_a) is None and next(on_b) is None  # both subscribed
    first = worker_a.publish("alarm.raised", {"sensor": "S-1"})
    tag = ScopeTag("incidents", "329902", None)
    second = worker_b.publish("incident.created", {"title": "跨进程"}, scope=tag)
    assert second.id > first.id  # one counter for all workers
    for stream in (on_a, on_b):
        got = [next(stream), next(stream)]
        assert [(e.id, e.type, e.data, e.scope) for e in got] == [
            (first.id, "alarm.raised", {"sensor": "S-1"}, None),
            (second.id, "incident.created", {"title": "跨进程"}, tag)]  # the scope tag travels with the event
    # a message whose tag cannot be read is dropped, never delivered as an untagged (everyone's) event
    worker_a._connection().publish("test:events", json.dumps({"id": 0, "type": "incident.created", "data": {},
                                                              "ts": 0.0, "scope": {"layer": 7}}))
    third = worker_a.publish("alarm.cleared", {"sensor": "S-1"})
    assert next(on_b).id == third.id
    on_a.close()
    on_b.close()
    worker_a.close()
    worker_b.close()


def test_app_built_with_redis_backend_installs_it(redis_url: str, demo_db: str, demo_artifacts) -> None:  # noqa: ANN001
    from app import create_app
    from core.realtime_redis import RedisBroker

    previous = realtime.broker()
    redis_broker = None
    try:
        app = create_app({"database": {"url": demo_db}, "paths": {"var": str(demo_artifacts)},
                          "realtime": {"backend": "redis", "redis_url": redis_url}})
        redis_broker = realtime.broker()
        assert isinstance(redis_broker, RedisBroker) and app.extensions[realtime.APP_KEY] is redis_broker
        other = create_app({"database": {"url": demo_db}, "paths": {"var": str(demo_artifacts)},
                            "realtime": {"backend": "memory"}})
        assert type(realtime.broker()) is realtime.Broker
        with app.app_context():   # each app keeps its own, whichever was built last
            assert realtime.broker() is redis_broker
        with other.app_context():
            assert type(realtime.broker()) is realtime.Broker
    finally:
        realtime.use_broker(previous)
        if redis_broker is not None:
            redis_broker.close()
            realtime_backends.forget(redis_broker)
