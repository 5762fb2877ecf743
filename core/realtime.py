"""One publish API for live events (incidents, alarms, dispatch) fanned out to every subscriber.

Business modules call :func:`publish`; the console and the large screen receive the events over Server-Sent
Events. ``realtime.backend`` selects the broker behind the same two functions (``core.realtime_backends.install``, called when
the app or a worker process starts): ``postgres`` (the default) carries events between processes over the database's
LISTEN/NOTIFY (core/realtime_pg.py), so the ingest worker's alarms and the background worker's deadline events
reach every web worker; ``redis`` does the same over Redis pub/sub (core/realtime_redis.py); ``memory`` is an
in-process fan-out, for a single process that publishes and serves alone.
"""

from __future__ import annotations

import itertools
import os
import queue
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

MAX_QUEUE = 1000  # a subscriber that falls this far behind loses the oldest events, never blocks publishers


@dataclass(frozen=True)
class ScopeTag:
    """Which row an event is about, for the per-subscriber scope filter (never sent to clients)."""

    layer: str
    district_code: str | None = None
    enterprise_uscc: str | None = None

    def as_json(self) -> dict[str, str | None]:
        return {"layer": self.layer, "district_code": self.district_code, "enterprise_uscc": self.enterprise_uscc}

    @classmethod
    def from_json(cls, doc: Any) -> ScopeTag:
        """The tag from its JSON form (ValueError when malformed: the event must then not be delivered)."""
        if not isinstance(doc, dict) or not isinstance(doc.get("layer"), str):
            raise ValueError("a scope tag needs a layer")
        values = [doc.get("district_code"), doc.get("enterprise_uscc")]
        if any(v is not None and not isinstance(v, str) for v in values):
            raise ValueError("district_code and enterprise_uscc are text or null")
        return cls(doc["layer"], values[0], values[1])


@dataclass(frozen=True)
class Event:
    id: int
    type: str
    data: dict[str, Any]
    ts: float = field(default_factory=time.time)
    scope: ScopeTag | None = None


class Broker:
    """In-process fan-out: each subscriber gets its own bounded queue."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._subscribers: set[queue.Queue[Event]] = set()
        self._ids = itertools.count(1)

    def publish(self, event_type: str, data: dict[str, Any], *, scope: ScopeTag | None = None) -> Event:
        event = Event(next(self._ids), event_type, dict(data), scope=scope)
        self.deliver(event)
        return event

    def deliver(self, event: Event) -> None:
        """Hand an already-numbered event to this process's subscribers (a cross-worker backend calls this)."""
        with self._lock:
            subscribers = list(self._subscribers)
        for q in subscribers:
            try:
                q.put_nowait(event)
            except queue.Full:
                try:
                    q.get_nowait()
                    q.put_nowait(event)
                except (queue.Empty, queue.Full):
                    pass

    def subscribe(self, timeout: float = 15.0, *, announce: bool = False) -> Iterator[Event | None]:
        """Yield events as they come; ``None`` after ``timeout`` seconds of silence (time for a keep-alive).

        ``announce``: yield ``None`` once as soon as the subscription is registered, so that a caller can tell its
        client "connected" knowing that nothing published from then on is missed.
        """
        q: queue.Queue[Event] = queue.Queue(MAX_QUEUE)
        with self._lock:
            self._subscribers.add(q)
        try:
            if announce:
                yield None
            while True:
                try:
                    yield q.get(timeout=timeout)
                except queue.Empty:
                    yield None
        finally:
            with self._lock:
                self._subscribers.discard(q)


class ListeningBroker(Broker):
    """A broker whose events come back from a shared channel (Redis, PostgreSQL): each process that has a subscriber
    runs one listener thread (:meth:`_listen`, set ``_ready`` once listening) handing what it hears to
    :meth:`deliver`. Started on the first subscription in a process, not when the app is built: gunicorn may build
    the app before it forks, and a thread does not survive a fork."""

    READY_TIMEOUT_S = 5.0
    LISTENER_NAME = "onemap-events"

    def __init__(self) -> None:
        super().__init__()
        self._listener: threading.Thread | None = None
        self._listener_pid: int | None = None
        self._ready = threading.Event()
        self._stop = threading.Event()
        self._kick = threading.Event()  # a subscriber is waiting: retry the lost connection now, not after the backoff
        self._start_lock = threading.Lock()

    def subscribe(self, timeout: float = 15.0, *, announce: bool = False) -> Iterator[Event | None]:
        self._ensure_listener()
        yield from super().subscribe(timeout, announce=announce)

    def _ensure_listener(self) -> None:
        with self._start_lock:
            running = self._listener is not None and self._listener.is_alive() and self._listener_pid == os.getpid()
            if not running:
                self._ready.clear()
                self._listener = threading.Thread(target=self._listen, name=self.LISTENER_NAME, daemon=True)
                self._listener_pid = os.getpid()
                self._listener.start()
        if not self._ready.is_set():
            # a client that connects and then publishes (a test, a module) must not race the subscription — also
            # when the listener lost its server and is waiting out a backoff: it tries again at once
            if running:
                self._kick.set()
            self._ready.wait(self.READY_TIMEOUT_S)

    def _backoff(self, seconds: float) -> None:
        """Wait before the next connection attempt: ``seconds``, or less if stopped or a subscriber arrives."""
        self._kick.clear()
        deadline = time.monotonic() + seconds
        while not self._stop.is_set() and not self._kick.is_set() and time.monotonic() < deadline:
            self._kick.wait(min(0.2, max(0.0, deadline - time.monotonic())))

    def listening(self) -> bool:
        return self._ready.is_set()

    def _listen(self) -> None:
        raise NotImplementedError


def decode_event(doc: Any) -> Event:
    """An event from its JSON form on a shared channel (ValueError, KeyError, TypeError or AttributeError when
    malformed; a scope tag that cannot be read makes it malformed: never delivered untagged)."""
    tag = doc.get("scope")
    return Event(int(doc["id"]), str(doc["type"]), dict(doc.get("data") or {}), float(doc["ts"]),
                 scope=None if tag is None else ScopeTag.from_json(tag))


_broker = Broker()


APP_KEY = "onemap.realtime"   # Flask app.extensions: the broker of that app's database


def broker() -> Broker:
    """The broker of the current app (inside a request or app context), else the process's. A process normally
    serves one app; the test suite builds many, each on its own database, and an app's events must stay on its own
    database's channel whichever app was built last."""
    from flask import current_app, has_app_context

    if has_app_context():
        own = current_app.extensions.get(APP_KEY)
        if own is not None:
            return own
    return _broker


def use_broker(new: Broker) -> Broker:
    """Install the process-wide broker (e.g. the Redis backend, core.realtime_redis); returns the old one."""
    global _broker
    old, _broker = _broker, new
    return old


def publish(event_type: str, data: dict[str, Any], *, scope: ScopeTag | None = None) -> Event:
    """Publish a live event, e.g. ``publish("incident.created", {"id": 12, ...}, scope=ScopeTag("incidents",
    "329902"))``; with ``scope`` only subscribers who may read that row receive it."""
    return broker().publish(event_type, data, scope=scope)

