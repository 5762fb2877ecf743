"""Stage-3 configuration checks of the monitoring module: the alarm rules file must load and be sound, and an
external broker needs the ingest worker's account."""

from __future__ import annotations

from typing import Any

from core.manifest import load_document
from supervision.monitoring.rules import check_rule_sets


def check_rules(config: dict[str, Any]) -> list[str]:
    reference = config["monitoring"]["rules"]
    try:
        doc = load_document(reference)
    except (OSError, ImportError, ValueError) as exc:
        return [f"monitoring.rules: {reference} cannot be read ({exc})"]
    return [f"monitoring.rules: {p}" for p in check_rule_sets(doc)]


def check_broker(config: dict[str, Any]) -> list[str]:
    section = config["monitoring"]
    broker = section["broker"]
    if broker["private"] or not section["ingest"]:
        return []  # the private broker makes its own credentials; without ingest no broker is used
    return [f"monitoring.broker.{key}: an external broker (private: false) needs the ingest worker's {key}"
            for key in ("username", "password") if not broker.get(key)]
