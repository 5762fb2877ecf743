"""Cross-worker live events: the :class:`core.realtime.Broker` interface over Redis pub/sub.

With several gunicorn workers an in-process fan-out only reaches the SSE clients of the worker that published.
Here ``publish`` numbers the event with a Redis counter (ids stay unique across workers) and PUBLISHes it; every
worker runs one listener thread that hands each message to its own subscribers. The publishing worker hears its
own events through Redis too, so every worker delivers them in the same order. An event's scope tag travels with it
(``"scope"``), so every worker filters it for its own subscribers; a message whose tag cannot be read is dropped,
never delivered untagged.

The listener starts on the first subscription in a process, not when the app is built: gunicorn may build the
app before it forks, and a thread does not survive a fork.
"""

from __future__ import annotations

import json
import logging
import os
import threading
from collections.abc import Iterator
from typing import Any

from core.realtime import Broker, Event, ScopeTag

log = logging.getLogger(__name__)
READY_TIMEOUT_S = 5.0


class RedisBroker(Broker):
    def __init__(self, url: str, channel: str) -> None:
        super().__init__()
        import redis  # optional dependency: only a deployment that selects this backend needs it

        self._redis_module = redis
        self._url = url
        self._channel = channel
        self._client: Any = None
        self._client_pid: int | None = None
        self._listener: threading.Thread | None = None
        self._listener_pid: int | None = None
        self._ready = threading.Event()
        self._stop = threading.Event()
        self._pubsub: Any = None
        self._start_lock = threading.Lock()

    def _connection(self) -> Any:
        if self._client is None or self._client_pid != os.getpid():
            self._client = self._redis_module.Redis.from_url(self._url)
            self._client_pid = os.getpid()
        return self._client

    def publish(self, event_type: str, data: dict[str, Any], *, scope: ScopeTag | None = None) -> Event:
        client = self._connection()
        event = Event(int(client.incr(f"{self._channel}:seq")), event_type, dict(data), scope=scope)
        client.publish(self._channel, json.dumps(
            {"id": event.id, "type": event.type, "data": event.data, "ts": event.ts,
             "scope": None if scope is None else scope.as_json()}, ensure_ascii=False))
        return event

    def subscribe(self, timeout: float = 15.0, *, announce: bool = False) -> Iterator[Event | None]:
        self._ensure_listener()
        yield from super().subscribe(timeout, announce=announce)

    def _ensure_listener(self) -> None:
        with self._start_lock:
            if self._listener is not None and self._listener.is_alive() and self._listener_pid == os.getpid():
                return
            self._ready.clear()
            self._listener = threading.Thread(target=self._listen, name="onemap-redis-events", daemon=True)
            self._listener_pid = os.getpid()
            self._listener.start()
        # An SSE client that connects and then publishes (a test, a module) must not race the SUBSCRIBE.
        self._ready.wait(READY_TIMEOUT_S)

    def close(self) -> None:
        """Stop this process's listener (when the backend is replaced, and in tests)."""
        self._stop.set()
        if self._pubsub is not None:
            try:
                self._pubsub.close()
            except Exception:  # noqa: BLE001 - closing a dead connection may fail; the thread still ends
                pass

    def _listen(self) -> None:
        backoff = 0.5
        while not self._stop.is_set():
            try:
                pubsub = self._pubsub = self._redis_module.Redis.from_url(self._url).pubsub()
                pubsub.subscribe(self._channel)
                for message in pubsub.listen():
                    if message["type"] == "subscribe":
                        self._ready.set()
                        backoff = 0.5
                    elif message["type"] == "message":
                        self._handle(message["data"])
            except Exception:  # noqa: BLE001 - Redis restarts must not end live events for good
                if self._stop.is_set():
                    return
                log.warning("redis event listener lost its connection; retrying in %.1f s", backoff)
                self._stop.wait(backoff)
                backoff = min(backoff * 2, 10.0)

    def _handle(self, raw: bytes | str) -> None:
        try:
            doc = json.loads(raw)
            tag = doc.get("scope")
            event = Event(int(doc["id"]), str(doc["type"]), dict(doc.get("data") or {}), float(doc["ts"]),
                          scope=None if tag is None else ScopeTag.from_json(tag))
        except (ValueError, KeyError, TypeError, AttributeError):
            log.warning("ignoring a malformed event on the redis channel")
            return
        self.deliver(event)
