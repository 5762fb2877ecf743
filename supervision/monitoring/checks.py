"""Stage-3 configuration check of the monitoring module: the alarm rules file must load and be sound."""

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
