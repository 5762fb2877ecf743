"""Stage 3 of ``onemap config check`` (and start-up): every active case-type file loads and checks out."""

from __future__ import annotations

from typing import Any

from supervision.cases import registry
from supervision.cases.definitions import CaseTypeError


def check_case_types(config: dict[str, Any]) -> list[str]:
    registry.configure(config)
    try:
        registry.case_types()
    except CaseTypeError as exc:
        return [f"case types: {p}" for p in exc.problems]
    return []
