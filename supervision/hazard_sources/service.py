"""GB 18218-2018 assessment of a stored major hazard source, under the caller's row scope (no Flask).

The chemicals and quantities on record (``hazard_source_chemicals``) and the persons within 500 m
(``hazard_sources.exposed_population``) are graded by :func:`supervision.hazard_sources.gb18218.assess`, the same
library the ``hazard-source-grading`` process and the demo city use, and set beside the S, R and grade on record, so
a regulator sees at once whether the record still agrees with the standard.

Data scope: a hazard source outside the caller's read scope of the ``hazard_sources`` layer does not exist for them
(404, the same answer as an unknown code), exactly as on WFS or OGC API Features.
"""

from __future__ import annotations

import math
from typing import Any

from sqlalchemy import text
from sqlalchemy.engine import Connection

from access.policy.rowscope import LayerAccess
from core.errors import Conflict, InvalidInput, NotFound
from supervision.hazard_sources.gb18218 import Assessment, assess

LAYER = "hazard_sources"
# S and R on record are stored as floats computed by the same library: anything beyond rounding is a real difference
TOLERANCE = 1e-6


def chemical_specs(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The library's input for stored inventory rows: by CAS where recorded (the identity the standard lists), else
    by name; quantities in tonnes."""
    specs = []
    for row in rows:
        key = {"cas": row["cas"]} if row["cas"] else {"name": row["chemical_name"]}
        specs.append({**key, "quantity_t": float(row["quantity_t"])})
    return specs


def load_hazard_source(conn: Connection, code: str, *, access: LayerAccess) -> dict[str, Any]:
    """The hazard source row with its chemicals; 404 when unknown or outside the caller's scope."""
    access.require(LAYER)
    where, params = access.where(LAYER, alias="h")
    row = conn.execute(text(
        "SELECT h.code, h.name, h.enterprise_uscc, h.district_code, h.grade, h.s_value, h.r_value, "
        f"h.exposed_population FROM hazard_sources h WHERE h.code = :code AND {where}"),
        {**params, "code": code}).mappings().one_or_none()
    if row is None:
        raise NotFound(f"no hazard source with code {code}", f"不存在编码为 {code} 的重大危险源",
                       details={"code": code})
    chemicals = conn.execute(text(
        "SELECT chemical_name, cas, quantity_t, critical_quantity_t FROM hazard_source_chemicals "
        "WHERE hazard_source_code = :code ORDER BY id"), {"code": code}).mappings().all()
    return {**row, "chemicals": [dict(c) for c in chemicals]}


def assessment(conn: Connection, code: str, *, access: LayerAccess,
               exposed_population: int | None = None) -> dict[str, Any]:
    """The GB 18218 assessment of hazard source ``code`` from its stored inventory, beside the record.

    ``exposed_population`` replaces the persons within 500 m on record (a what-if); the record is not changed.
    A stored inventory the standard cannot grade (none, or a substance it does not list) is a 409 naming the line:
    the record has to be corrected, the request was fine.
    """
    source = load_hazard_source(conn, code, access=access)
    if not source["chemicals"]:
        raise Conflict(f"hazard source {code} has no chemical inventory on record; GB 18218 grading needs one",
                       f"重大危险源 {code} 没有危险化学品储存记录，无法按 GB 18218 分级", details={"code": code})
    population = source["exposed_population"] if exposed_population is None else exposed_population
    try:
        result = assess(chemical_specs(source["chemicals"]), int(population))
    except InvalidInput as err:
        raise Conflict(f"the inventory on record of hazard source {code} cannot be graded: {err.message_en}",
                       f"重大危险源 {code} 的储存记录无法分级：{err.message_zh}",
                       details={"code": code, "record": err.details}) from err
    return {
        "code": source["code"], "name": source["name"], "enterprise_uscc": source["enterprise_uscc"],
        "district_code": source["district_code"],
        "recorded": {"grade": source["grade"], "s_value": source["s_value"], "r_value": source["r_value"],
                     "exposed_population": source["exposed_population"]},
        "what_if": exposed_population is not None,
        "assessment": result.to_dict(),
        "differences": differences(source, result) if exposed_population is None else [],
    }


def differences(source: dict[str, Any], result: Assessment) -> list[dict[str, Any]]:
    """Where the record disagrees with the standard: S, R, grade, and each line's critical quantity Q."""
    out = []
    for key, recorded, computed in (("s_value", source["s_value"], result.s), ("r_value", source["r_value"], result.r)):
        if not math.isclose(recorded, computed, rel_tol=TOLERANCE, abs_tol=TOLERANCE):
            out.append({"field": key, "recorded": recorded, "computed": computed})
    if source["grade"] != result.grade:
        out.append({"field": "grade", "recorded": source["grade"], "computed": result.grade})
    for stored, line in zip(source["chemicals"], result.chemicals, strict=True):
        if not math.isclose(stored["critical_quantity_t"], line.critical_quantity_t, rel_tol=TOLERANCE):
            out.append({"field": f"chemicals[{line.index}].critical_quantity_t", "chemical": stored["chemical_name"],
                        "recorded": stored["critical_quantity_t"], "computed": line.critical_quantity_t})
    return out


__all__ = ["LAYER", "assessment", "chemical_specs", "differences", "load_hazard_source"]
