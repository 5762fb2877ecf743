"""Cross-worker live events: the :class:`core.realtime.Broker` interface over Redis pub/sub.

With several gunicorn workers an in-process fan-out only reaches the SSE clients of the worker that published.
Here ``publish`` numbers the event with a Redis counter (ids stay unique across workers) and PUBLISHes it; every
worker runs one listener thread that hands each message to its own subscribers. The publishing worker hears its
own events through Redis too, so every worker delivers them in the same order. An event's scope tag travels with it
(``"scope"``), so every worker filters it for its own subscribers; a message whose tag cannot be read is dropped,
never delivered untagged.

The listener starts on the first subscription in a process (:class:`core.realtime.ListeningBroker`).
"""

from __future__ import annotations

import json
import logging
import os
from typing import Any

from core.realtime import Event, ListeningBroker, ScopeTag, decode_event

log = logging.getLogger(__name__)


class RedisBroker(ListeningBroker):
    LISTENER_NAME = "onemap-redis-events"

    def __init__(self, url: str, channel: str) -> None:
        super().__init__()
        import redis  # optional dependency: only a deployment that selects this backend needs it

        self._redis_module = redis
        self._url = url
        self._channel = channel
        self._client: Any = None
        self._client_pid: int | None = None
        self._pubsub: Any = None

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
                self._backoff(backoff)
                backoff = min(backoff * 2, 10.0)

    def _handle(self, raw: bytes | str) -> None:
        try:
            event = decode_event(json.loads(raw))
        except (ValueError, KeyError, TypeError, AttributeError):
            log.warning("ignoring a malformed event on the redis channel")
            return
        self.deliver(event)
