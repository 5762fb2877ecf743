"""The MQTT topic and payload of sensor readings (what an enterprise gateway publishes).

Topic::

    onemap/v1/<enterprise USCC>/<gateway code>/readings

The broker lets a gateway's credential publish only under its own enterprise and gateway (ACL), and the ingest
worker stores a reading only for a sensor registered to that gateway. Publish with QoS 1.

Payload: UTF-8 JSON, one reading or a batch::

    {"device": "HS3201000001-GA01", "ts": "2026-12-07T08:00:00.250+08:00", "value": 12.5, "unit": "%LEL",
     "quality": 0}
    {"readings": [{...}, {...}]}

* ``device`` — the sensor's code (监测点编码 of the ``sensors`` layer: hazard-source code, type tag, number);
* ``ts`` — when it was measured, ISO 8601 with a UTC offset (a time without one is refused, never guessed);
* ``value`` — a finite number in ``unit``;
* ``unit`` — must equal the sensor's registered unit (``%LEL``, ``ppm``, ``m``, ``°C``, ``MPa``): a reading in
  another unit is rejected, never converted;
* ``quality`` — optional, 0 good (default), 1 uncertain, 2 bad (stored; rules ignore readings of quality 2).

At most :data:`MAX_READINGS` readings per message. A malformed message (not JSON, missing or mistyped fields, a
time without offset, a topic of another shape) is counted and logged, acknowledged, and stores nothing: one bad
reading rejects its whole message, so a gateway never has half a message stored.
"""

from __future__ import annotations

import json
import math
from datetime import datetime

from supervision.monitoring.broker import TOPIC_ROOT
from supervision.monitoring.storage import Reading

MAX_READINGS = 1000
SUBSCRIPTION = f"{TOPIC_ROOT}/+/+/readings"


class PayloadError(ValueError):
    """Why a message was refused (logged and counted as malformed)."""


def parse_topic(topic: str) -> tuple[str, str]:
    """``(enterprise, gateway)`` of a readings topic."""
    parts = topic.split("/")
    root = TOPIC_ROOT.split("/")
    if len(parts) != len(root) + 3 or parts[:len(root)] != root or parts[-1] != "readings" \
            or not parts[-3] or not parts[-2]:
        raise PayloadError(f"topic {topic!r} is not {TOPIC_ROOT}/<enterprise>/<gateway>/readings")
    return parts[-3], parts[-2]


def _reading(gateway: str, item: object, i: int) -> Reading:
    if not isinstance(item, dict):
        raise PayloadError(f"reading {i}: not an object")
    device, ts, value, unit = item.get("device"), item.get("ts"), item.get("value"), item.get("unit")
    quality = item.get("quality", 0)
    if not isinstance(device, str) or not 1 <= len(device) <= 24 or not device.isprintable():
        raise PayloadError(f"reading {i}: device must be a sensor code of 1 to 24 printable characters")
    if not isinstance(value, int | float) or isinstance(value, bool) or not math.isfinite(value):
        raise PayloadError(f"reading {i}: value must be a finite number")
    if not isinstance(unit, str) or not 1 <= len(unit) <= 10 or not unit.isprintable():
        raise PayloadError(f"reading {i}: unit is required (at most 10 printable characters)")
    if not isinstance(quality, int) or isinstance(quality, bool) or quality not in (0, 1, 2):
        raise PayloadError(f"reading {i}: quality must be 0, 1 or 2")
    if not isinstance(ts, str):
        raise PayloadError(f"reading {i}: ts must be an ISO 8601 time")
    try:
        at = datetime.fromisoformat(ts)
    except ValueError:
        raise PayloadError(f"reading {i}: ts {ts[:40]!r} is not an ISO 8601 time") from None
    if at.tzinfo is None:
        raise PayloadError(f"reading {i}: ts {ts[:40]!r} has no UTC offset")
    return Reading(gateway, device, at, float(value), quality, unit)


def parse(topic: str, payload: bytes) -> tuple[str, str, list[Reading]]:
    """``(enterprise, gateway, readings)`` of one message, or :class:`PayloadError`."""
    enterprise, gateway = parse_topic(topic)
    try:
        doc = json.loads(payload.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise PayloadError(f"payload is not UTF-8 JSON ({exc.__class__.__name__})") from None
    items = doc.get("readings") if isinstance(doc, dict) and "readings" in doc else [doc]
    if not isinstance(items, list) or not items:
        raise PayloadError("readings must be a non-empty list")
    if len(items) > MAX_READINGS:
        raise PayloadError(f"{len(items)} readings in one message (at most {MAX_READINGS})")
    return enterprise, gateway, [_reading(gateway, item, i) for i, item in enumerate(items)]


def encode(readings: list[dict]) -> bytes:
    """A payload for ``readings`` (dicts with device, ts (datetime), value, unit, quality)."""
    return json.dumps({"readings": [{**r, "ts": r["ts"].isoformat()} for r in readings]},
                      ensure_ascii=False).encode()


__all__ = ["MAX_READINGS", "SUBSCRIPTION", "PayloadError", "encode", "parse", "parse_topic"]
