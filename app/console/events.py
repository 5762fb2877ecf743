"""Live events over Server-Sent Events (``GET /api/events/stream``) and their publish endpoint (``POST /api/events``).

Both sit on :mod:`core.realtime` (in-process or Redis, see ``realtime.backend``). Each message is the default SSE
``message`` event whose data is ``{"id", "type", "data", "ts"}``, so a client needs one listener for every type.
A comment line is sent every ``realtime.keepalive_s`` seconds of silence, because proxies and browsers drop idle
connections. ``Last-Event-ID`` replay is not offered: a reconnecting client re-reads current state from the REST
endpoints (the large screen refreshes its KPIs when it reconnects).

Data scope: each stream keeps the caller's access as it was when the stream opened, and an event tagged with a
row (:class:`core.realtime.ScopeTag`, set by server-side publishers such as the emergency module) reaches only the
streams whose scope includes that row — decided from the scope held in memory, no query per event. Untagged events
go to every stream. Clients cannot tag what they publish: ``POST /api/events`` takes ``type`` and ``data`` only and
needs a city-wide scope, since whatever it publishes reaches every district.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from typing import Any

from flask import Blueprint, Response, current_app, jsonify, request, stream_with_context

from access.policy.rowscope import LayerAccess
from core import realtime
from core.errors import InvalidInput

bp = Blueprint("events", __name__)

EVENT_TYPE = re.compile(r"^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)*$")
MAX_EVENT_BYTES = 64 * 1024
RECONNECT_MS = 3000


def sse_message(event: realtime.Event) -> str:
    payload = json.dumps({"id": event.id, "type": event.type, "data": event.data, "ts": event.ts},
                         ensure_ascii=False, separators=(",", ":"))
    return f"id: {event.id}\ndata: {payload}\n\n"


def visible(event: realtime.Event, access: LayerAccess) -> bool:
    """May the subscriber with ``access`` receive ``event``? (Untagged: yes; tagged: if it may read the row.)"""
    tag = event.scope
    if tag is None:
        return True
    return access.admits(tag.layer, district_code=tag.district_code, enterprise_uscc=tag.enterprise_uscc)


def event_stream(keepalive_s: float, *, access: LayerAccess) -> Iterator[str]:
    """The SSE text of one subscriber, filtered by ``access`` (captured when the stream opens)."""
    events = realtime.broker().subscribe(timeout=keepalive_s, announce=True)
    # Registered before the first bytes go out: an event published once the client sees "connected" is not lost.
    next(events)
    yield f"retry: {RECONNECT_MS}\n: connected\n\n"
    last = time.monotonic()
    try:
        for event in events:
            if event is not None and visible(event, access):
                yield sse_message(event)
            elif event is None or time.monotonic() - last >= keepalive_s:
                # a stream that only sees others' events is silent to its client: keep it alive all the same
                yield ": keep-alive\n\n"
            else:
                continue
            last = time.monotonic()
    finally:
        events.close()  # unsubscribe at once when the client goes away


@bp.get("/api/events/stream")
def stream() -> Response:
    keepalive = float(current_app.config["ONEMAP"].get("realtime", {}).get("keepalive_s", 15))
    body = event_stream(keepalive, access=LayerAccess.for_request())
    response = Response(stream_with_context(body), mimetype="text/event-stream")
    response.headers["Cache-Control"] = "no-cache"
    response.headers["X-Accel-Buffering"] = "no"  # nginx must pass each event on at once
    return response


@bp.post("/api/events")
def publish() -> tuple[Response, int]:
    """Publish ``{"type": "incident.created", "data": {...}}`` to every live client (tools, tests).

    The event is untagged, so it reaches every district: only a caller with a city-wide scope on the events module
    may publish (a district-scoped caller would otherwise speak to other districts' screens).
    """
    access = LayerAccess.for_request()
    if not access.module_scope("events", "write").all:
        raise access.refuse("module:events", "write", reason="publishing live events needs a city-wide scope",
                            message_en="publishing live events to every district needs a city-wide data scope",
                            message_zh="向全市推送实时事件需要市级数据权限")
    if (request.content_length or 0) > MAX_EVENT_BYTES:
        raise InvalidInput("body", f"at most {MAX_EVENT_BYTES} bytes", value=request.content_length)
    body: Any = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise InvalidInput("body", 'a JSON object {"type": "...", "data": {...}}')
    unknown = sorted(set(body) - {"type", "data"})
    if unknown:  # in particular no scope tag: tags are set by server-side publishers only
        raise InvalidInput(unknown[0], "type and data only", value=unknown[0], details={"reason": "unknown field"})
    event_type, data = body.get("type"), body.get("data", {})
    if not isinstance(event_type, str) or not EVENT_TYPE.match(event_type) or len(event_type) > 64:
        raise InvalidInput("type", "dotted lower-case name such as incident.created (≤ 64 characters)",
                           value=event_type)
    if not isinstance(data, dict):
        raise InvalidInput("data", "a JSON object", value=type(data).__name__)
    event = realtime.publish(event_type, data)
    return jsonify({"id": event.id, "type": event.type, "ts": event.ts}), 202
