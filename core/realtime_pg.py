"""Live events across processes through PostgreSQL ``LISTEN``/``NOTIFY`` (``realtime.backend: postgres``).

The web workers serve the SSE streams, but events are also published by processes that serve no client: the MQTT
ingest worker (alarms), the background worker (case deadlines). The in-process fan-out reaches none of them, and a
deployment should not need Redis for this, since every OneMap process already talks to the one database.

``publish`` numbers the event from the ``realtime_event_seq`` sequence (ids unique across processes) and sends it
with ``pg_notify`` on its own autocommit connection; every process that has an SSE subscriber runs one listener
thread (``LISTEN``) that hands each notification to its subscribers, filtered by the scope tag that travels with the
event (a notification whose tag cannot be read is dropped, never delivered untagged). A payload too large for a
notification (PostgreSQL's limit is 8000 bytes) is stored in ``realtime_event_bodies`` and the notification carries
only its id. The publishing process hears its own events through PostgreSQL, like the others, so every process
delivers them in the same order.

A publisher never fails the business operation that published: the event is sent after that operation committed,
so when the database cannot be reached the event is logged and delivered to this process's own subscribers only.
The listener reconnects with backoff after a database restart; events sent while it was away are not replayed
(clients re-read current state on reconnect, see app/console/events.py).
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from typing import Any

import psycopg
from psycopg import sql

from core.realtime import Event, ListeningBroker, ScopeTag, decode_event

log = logging.getLogger(__name__)
MAX_NOTIFY_BYTES = 7900  # PostgreSQL refuses a NOTIFY payload of 8000 bytes or more
BODY_RETENTION = "10 minutes"  # how long a stored large body stays readable by listeners

_SEND = sql.SQL(
    "SELECT s.id, pg_notify({channel}, jsonb_set(CAST(%(doc)s AS jsonb), '{{id}}', to_jsonb(s.id))::text) "
    "FROM (SELECT nextval('realtime_event_seq') AS id) s")
_SEND_BODY = sql.SQL(
    "WITH s AS (SELECT nextval('realtime_event_seq') AS id), "
    "b AS (INSERT INTO realtime_event_bodies (id, body) SELECT s.id, CAST(%(doc)s AS jsonb) FROM s RETURNING id) "
    "SELECT b.id, pg_notify({channel}, json_build_object('id', b.id, 'stored', true)::text) FROM b")
_PRUNE = f"DELETE FROM realtime_event_bodies WHERE created_at < now() - interval '{BODY_RETENTION}'"


def libpq_url(url: str) -> str:
    """An SQLAlchemy URL (``postgresql+psycopg://``) as libpq takes it."""
    return "postgresql://" + url.split("://", 1)[1] if url.startswith("postgresql+") else url


class PostgresBroker(ListeningBroker):
    LISTENER_NAME = "onemap-pg-events"

    def __init__(self, url: str, channel: str) -> None:
        super().__init__()
        self.url = libpq_url(url)
        self.channel = channel
        self._conn: psycopg.Connection | None = None
        self._conn_pid: int | None = None
        self._send_lock = threading.Lock()
        self._listen_conn: psycopg.Connection | None = None
        self._body_conn: psycopg.Connection | None = None

    # -- publishing ------------------------------------------------------------------------------------------------
    def _connection(self) -> psycopg.Connection:
        if self._conn is None or self._conn.closed or self._conn_pid != os.getpid():
            self._conn = psycopg.connect(self.url, autocommit=True, connect_timeout=5,
                                         application_name="onemap-events")
            self._conn_pid = os.getpid()
        return self._conn

    def publish(self, event_type: str, data: dict[str, Any], *, scope: ScopeTag | None = None) -> Event:
        ts = time.time()
        doc = json.dumps({"id": 0, "type": event_type, "data": data, "ts": ts,
                          "scope": None if scope is None else scope.as_json()}, ensure_ascii=False, default=str)
        large = len(doc.encode()) > MAX_NOTIFY_BYTES
        statement = (_SEND_BODY if large else _SEND).format(channel=sql.Literal(self.channel))
        with self._send_lock:
            for attempt in (1, 2):
                try:
                    conn = self._connection()
                    if large:
                        conn.execute(_PRUNE)
                    event_id = conn.execute(statement, {"doc": doc}).fetchone()[0]
                    return Event(int(event_id), event_type, json.loads(doc)["data"], ts, scope=scope)
                except psycopg.Error as exc:
                    self._drop_connection()
                    if attempt == 2 or not isinstance(exc, psycopg.OperationalError):
                        log.warning("live event %s not sent through the database (%s): delivered in this process "
                                    "only", event_type, exc.__class__.__name__)
                        break
        return super().publish(event_type, data, scope=scope)

    def _drop_connection(self) -> None:
        if self._conn is not None:
            try:
                self._conn.close()
            except psycopg.Error:
                pass
        self._conn = None

    # -- listening -------------------------------------------------------------------------------------------------
    def close(self) -> None:
        """Stop this process's listener and close the connections (when the backend is replaced, and in tests)."""
        self._stop.set()
        self._drop_connection()

    def _listen(self) -> None:
        backoff, lost_since = 0.5, None
        while not self._stop.is_set():
            try:
                with psycopg.connect(self.url, autocommit=True, connect_timeout=5,
                                     application_name="onemap-events-listener") as conn:
                    self._listen_conn = conn
                    conn.execute(sql.SQL("LISTEN {}").format(sql.Identifier(self.channel)))
                    self._ready.set()
                    if lost_since is not None:
                        log.warning("live-event listener is back after %.0f s (events sent meanwhile are not "
                                    "replayed)", time.monotonic() - lost_since)
                    backoff, lost_since = 0.5, None
                    while not self._stop.is_set():
                        for note in conn.notifies(timeout=1.0):
                            self._handle(note.payload)
            except psycopg.Error as exc:
                self._ready.clear()
                if self._stop.is_set():
                    return
                # once per outage (and every few minutes while it lasts), not once per retry
                first = lost_since is None
                lost_since = time.monotonic() if first else lost_since
                loud = first or backoff >= 10.0 and int(time.monotonic() - lost_since) % 300 < 10
                log.log(logging.WARNING if loud else logging.DEBUG,
                        "live-event listener lost the database (%s); retrying every %.1f s or less",
                        exc.__class__.__name__, backoff)
                self._backoff(backoff)
                backoff = min(backoff * 2, 10.0)
            finally:
                self._listen_conn = None

    def _stored_body(self, event_id: int) -> dict[str, Any] | None:
        # not on the listening connection: it is busy waiting for notifications (the listener thread's own one)
        for attempt in (1, 2):
            try:
                if self._body_conn is None or self._body_conn.closed:
                    self._body_conn = psycopg.connect(self.url, autocommit=True, connect_timeout=5,
                                                      application_name="onemap-events-bodies")
                row = self._body_conn.execute("SELECT body FROM realtime_event_bodies WHERE id = %s",
                                              (event_id,)).fetchone()
                return None if row is None else row[0]
            except psycopg.OperationalError:
                self._body_conn = None
                if attempt == 2:
                    raise
        return None

    def _handle(self, payload: str) -> None:
        try:
            doc = json.loads(payload)
            if doc.get("stored"):
                body = self._stored_body(int(doc["id"]))
                if body is None:
                    log.warning("live event %s: its stored body is gone", doc["id"])
                    return
                doc = {**body, "id": doc["id"]}
            event = decode_event(doc)
        except (ValueError, KeyError, TypeError, AttributeError):
            log.warning("ignoring a malformed live event on channel %s", self.channel)
            return
        self.deliver(event)


__all__ = ["PostgresBroker", "libpq_url"]
