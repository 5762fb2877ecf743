"""Live events over Server-Sent Events (``GET /api/events/stream``) and their publish endpoint (``POST /api/events``).

Both sit on :mod:`app.realtime` (in-process or Redis, see ``realtime.backend``). Each message is the default SSE
``message`` event whose data is ``{"id", "type", "data", "ts"}``, so a client needs one listener for every type.
A comment line is sent every ``realtime.keepalive_s`` seconds of silence, because proxies and browsers drop idle
connections. ``Last-Event-ID`` replay is not offered: a reconnecting client re-reads current state from the REST
endpoints (the large screen refreshes its KPIs when it reconnects).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

from flask import Blueprint, Response, current_app, jsonify, request, stream_with_context

from app import realtime
from app.errors import InvalidInput

bp = Blueprint("events", __name__)

EVENT_TYPE = re.compile(r"^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)*$")
MAX_EVENT_BYTES = 64 * 1024
RECONNECT_MS = 3000


def sse_message(event: realtime.Event) -> str:
    payload = json.dumps({"id": event.id, "type": event.type, "data": event.data, "ts": event.ts},
                         ensure_ascii=False, separators=(",", ":"))
    return f"id: {event.id}\ndata: {payload}\n\n"


def event_stream(keepalive_s: float) -> Iterator[str]:
    events = realtime.broker().subscribe(timeout=keepalive_s, announce=True)
    # Registered before the first bytes go out: an event published once the client sees "connected" is not lost.
    next(events)
    yield f"retry: {RECONNECT_MS}\n: connected\n\n"
    try:
        for event in events:
            yield ": keep-alive\n\n" if event is None else sse_message(event)
    finally:
        events.close()  # unsubscribe at once when the client goes away


@bp.get("/api/events/stream")
def stream() -> Response:
    keepalive = float(current_app.config["ONEMAP"].get("realtime", {}).get("keepalive_s", 15))
    response = Response(stream_with_context(event_stream(keepalive)), mimetype="text/event-stream")
    response.headers["Cache-Control"] = "no-cache"
    response.headers["X-Accel-Buffering"] = "no"  # nginx must pass each event on at once
    return response


@bp.post("/api/events")
def publish() -> tuple[Response, int]:
    """Publish ``{"type": "incident.created", "data": {...}}`` to every live client (modules, tests, tools)."""
    if (request.content_length or 0) > MAX_EVENT_BYTES:
        raise InvalidInput("body", f"at most {MAX_EVENT_BYTES} bytes", value=request.content_length)
    body: Any = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise InvalidInput("body", 'a JSON object {"type": "...", "data": {...}}')
    event_type, data = body.get("type"), body.get("data", {})
    if not isinstance(event_type, str) or not EVENT_TYPE.match(event_type) or len(event_type) > 64:
        raise InvalidInput("type", "dotted lower-case name such as incident.created (≤ 64 characters)",
                           value=event_type)
    if not isinstance(data, dict):
        raise InvalidInput("data", "a JSON object", value=type(data).__name__)
    event = realtime.publish(event_type, data)
    return jsonify({"id": event.id, "type": event.type, "ts": event.ts}), 202
