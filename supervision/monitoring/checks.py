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
    problems = []
    if section["simulate"]["enabled"] and not broker["private"]:
        problems.append("monitoring.simulate.enabled: the simulator publishes through the private broker (the demo "
                        "gateways' credentials are its own); an external broker has real gateways")
    if broker["private"] or not section["ingest"]:
        return problems  # the private broker makes its own credentials; without ingest no broker is used
    return problems + [f"monitoring.broker.{key}: an external broker (private: false) needs the ingest worker's {key}"
                       for key in ("username", "password") if not broker.get(key)]
