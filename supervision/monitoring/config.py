"""The ``monitoring:`` configuration section (declared by supervision/monitoring/manifest.py)."""

from __future__ import annotations

from core.config import ConfigSection, section_object

_PORT = {"type": "integer", "minimum": 1, "maximum": 65535}

SCHEMA = section_object({
    "ingest": {"type": "boolean"},
    "broker": section_object({
        "host": {"type": "string", "minLength": 1},
        "port": _PORT,
        "private": {"type": "boolean"},
        "dir": {"type": "string", "minLength": 1},
        "username": {"type": ["string", "null"]},
        "password": {"type": ["string", "null"]},
    }),
    "client_id": {"type": "string", "pattern": "^[A-Za-z0-9_.-]{1,64}$"},
    "batch_max": {"type": "integer", "minimum": 1, "maximum": 100000},
    "batch_interval_ms": {"type": "integer", "minimum": 1, "maximum": 60000},
    "retention_days": {"type": "integer", "minimum": 1, "maximum": 3650},
    "partitions_ahead_days": {"type": "integer", "minimum": 1, "maximum": 30},
    "stale_sweep_s": {"type": "number", "minimum": 1, "maximum": 3600},
    "rules": {"type": "string", "pattern": "^[A-Za-z_][\\w.]*:.+\\.ya?ml$"},
    "video": section_object({
        "sample": {"type": "boolean"},
        # camera code -> HLS playlist URL (a deployment's media server): overrides the layer's stream_url
        "streams": {"type": "object", "additionalProperties": {"type": "string", "minLength": 1, "maxLength": 2000}},
    }),
    "simulate": section_object({
        "enabled": {"type": "boolean"},
        "rate": {"type": "number", "minimum": 1, "maximum": 100000},
        "scenario": {"enum": ["normal", "leak"]},
    }),
})


def _flag(value: str) -> bool:
    return value.lower() in ("1", "true", "yes", "on")


SECTION = ConfigSection("monitoring", SCHEMA, defaults="supervision.monitoring:defaults.yaml",
                        env={"ONEMAP_MQTT_PORT": (("broker", "port"), int),
                             "ONEMAP_MQTT_DIR": (("broker", "dir"), str),
                             "ONEMAP_MQTT_CLIENT_ID": (("client_id",), str),
                             "ONEMAP_MQTT_INGEST": (("ingest",), _flag),
                             "ONEMAP_MQTT_SIMULATE": (("simulate", "enabled"), _flag)})
