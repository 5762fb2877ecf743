"""Stage 3 of ``onemap config check`` (and start-up): the certificate kinds (``kinds.yaml``) and the case types that
issue them agree — a kind's number template is a valid document type, its lines show columns a certificate has, and
every ``issue_permit_certificate`` step of an active case type names a declared kind."""

from __future__ import annotations

from typing import Any

from supervision.cases import registry
from supervision.cases.definitions import CaseTypeError, Effect
from supervision.permits import certificates

COLUMNS = {"enterprise_name", "enterprise_uscc", "scope", "business_mode", "validity"}


def _issuing(effects: tuple[Effect, ...]) -> list[Any]:
    return [e.spec.get("kind") if isinstance(e.spec, dict) else None for e in effects
            if e.kind == "issue_permit_certificate"]


def check_kinds(config: dict[str, Any]) -> list[str]:
    try:
        kinds = certificates.kinds()
    except (ValueError, KeyError, TypeError) as exc:
        return [f"permits: kinds.yaml: {exc}"]
    problems = [f"permits: kinds.yaml: {kid}.lines[{i}].field: {line.get('field')!r} is not one of "
                f"{', '.join(sorted(COLUMNS))}"
                for kid, kind in kinds.items() for i, line in enumerate(kind.get("lines") or ())
                if line.get("field") not in COLUMNS]
    registry.configure(config)
    try:
        types = registry.case_types()
    except CaseTypeError:
        return problems   # (reported by the case engine's own check)
    for ct in types.values():
        for t in ct.transitions:
            problems.extend(f"permits: case type {ct.id}.{t.id}: issue_permit_certificate names unknown kind {k!r} "
                            f"(kinds.yaml: {', '.join(kinds)})" for k in _issuing(t.effects) if k not in kinds)
    return problems


__all__ = ["check_kinds"]
