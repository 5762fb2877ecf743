"""重大危险源备案: the GB 18218 check on submission, and the filing recorded on the hazard source (case effects).

The check grades the form's chemicals with the hazard-source module's library (``supervision.hazard_sources.gb18218``,
the same ``assess`` the assessment API, the records module and the demo city use): S = Σ q/Q decides whether the
unit is a major hazard source at all, R = α·Σ β·q/Q its grade (GB 18218-2018 Table 6: 一级 R ≥ 100, 二级 50–100,
三级 10–50, 四级 < 10). The declared grade must be the grade the data gives — a lower one would under-report the
hazard, a higher one is not what the data supports. Either refusal is a 400 naming ``form.declared_grade`` (or
``form.chemicals`` when S < 1) with the numbers; it is raised inside the transaction that opens or moves the case,
so nothing of the submission is written (no case, no case number, no idempotency key).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import text

from core import clock as core_clock
from core.errors import Conflict, InvalidInput
from supervision.cases import clocks
from supervision.cases.engine import EffectContext
from supervision.filings import status
from supervision.hazard_sources.gb18218 import assess
from supervision.permits.certificates import valid_to

GRADE_ZH = {1: "一级", 2: "二级", 3: "三级", 4: "四级"}
FILING_YEARS = 3   # the safety assessment (and with it the filing) is repeated at least every three years


def _assessed(form: Mapping[str, Any]) -> Any:
    try:
        return assess(list(form.get("chemicals") or []), form.get("exposed_population"))
    except InvalidInput as exc:   # the library names its own inputs (chemicals[1].cas): they are the form's fields
        name = exc.input_name if exc.input_name.startswith("form.") else f"form.{exc.input_name}"
        raise InvalidInput(name, exc.allowed, exc.message_en.replace(exc.input_name, name),
                           exc.message_zh.replace(exc.input_name, name),
                           details={k: v for k, v in exc.details.items() if k not in ("input", "allowed")}) from None


def check(form: Mapping[str, Any]) -> dict[str, Any]:
    """The GB 18218 result of a filing's form, or :class:`InvalidInput` when it does not support the declared grade."""
    result = _assessed(form)
    numbers = {"s_value": round(result.s, 4), "r_value": round(result.r, 4), "alpha": result.alpha,
               "grade_computed": result.grade, "grade_declared": form.get("declared_grade")}
    if not result.is_major or result.grade is None:
        raise InvalidInput(
            "form.chemicals", "an inventory with S = Σ q/Q ≥ 1 (GB 18218-2018, 4.2)", value=numbers["s_value"],
            message_en=f"by GB 18218-2018 these quantities are not a major hazard source: S = Σ q/Q = "
                       f"{result.s:.4g} < 1, so there is nothing to file (declared grade {form.get('declared_grade')})",
            message_zh=f"按 GB 18218-2018，申报的储存量不构成重大危险源：S = Σq/Q = {result.s:.4g} < 1，无需备案"
                       f"（申报等级 {GRADE_ZH.get(form.get('declared_grade'), form.get('declared_grade'))}）",
            details={"reason": "not a major hazard source", **numbers})
    declared = form.get("declared_grade")
    if declared != result.grade:
        raise InvalidInput(
            "form.declared_grade", f"{result.grade} (the grade GB 18218-2018 gives these quantities)", value=declared,
            message_en=f"the declared grade {declared} is not supported by the data: R = α·Σ β·q/Q = "
                       f"{result.alpha:g} × {sum(x.weighted_ratio for x in result.chemicals):.4g} = {result.r:.4g} "
                       f"gives grade {result.grade} ({result.grade_label_zh}), S = {result.s:.4g}",
            message_zh=f"申报等级{GRADE_ZH.get(declared, declared)}与数据不符：R = α·Σβ·q/Q = {result.alpha:g} × "
                       f"{sum(x.weighted_ratio for x in result.chemicals):.4g} = {result.r:.4g}，"
                       f"按 GB 18218-2018 表6 应为{result.grade_label_zh}（S = {result.s:.4g}）",
            details={"reason": "declared grade not supported", **numbers})
    return {**numbers, "chemicals": [{"name": x.name_zh, "cas": x.cas, "quantity_t": x.quantity_t,
                                      "critical_quantity_t": x.critical_quantity_t, "beta": x.beta,
                                      "q_over_q": round(x.ratio, 4)} for x in result.chemicals]}


# -- case effects -----------------------------------------------------------------------------------------------
def check_grading(ctx: EffectContext, spec: Any) -> None:
    """The effect ``check_hazard_source_grading``: refuse the move unless the data gives the declared grade (and
    the hazard source is on record: a deactivated one, 已核销, is not filed)."""
    record = ctx.conn.execute(text("SELECT status FROM hazard_sources WHERE code = :c"),
                              {"c": ctx.case.get("anchor_id")}).scalar()
    if record == "deactivated":
        raise Conflict(f"hazard source {ctx.case['anchor_id']} is deactivated (已核销): it is not filed",
                       f"重大危险源 {ctx.case['anchor_id']} 已核销，不予备案", code="hazard_source_deactivated",
                       details={"anchor.id": ctx.case["anchor_id"]})
    graded = check(ctx.form)
    ctx.case["data"] = {**ctx.case["data"], "grading": graded}
    ctx.results["grading"] = {k: graded[k] for k in ("s_value", "r_value", "grade_computed")}


def record_filing(ctx: EffectContext, spec: Any) -> None:
    """The effect ``record_hazard_source_filing``: the filing's number and validity in the case's data, its re-filing
    clock counted from them, and the hazard source's filing status on its layer row."""
    today = core_clock.today()
    number = (ctx.case["data"].get("documents") or {}).get("filing")
    filing = {"number": number, "filed_on": today.isoformat(),
              "valid_to": valid_to(today, FILING_YEARS).isoformat()}
    ctx.case["data"] = {**ctx.case["data"], "filing": filing}
    ctx.results["filing"] = filing
    if "refiling" in ctx.case_type.clocks:   # (its date comes from the data just written)
        ctx.results.setdefault("clocks", []).append(
            clocks.recount(ctx.conn, ctx.case_type, ctx.case["id"], "refiling", ctx.names()))
    status.refresh(ctx.conn, ctx.case["anchor_id"], current=ctx.case)


def refresh_filing(ctx: EffectContext, spec: Any) -> None:
    """The effect ``refresh_hazard_source_filing`` (the re-filing clock's warning and breach): the status written
    again, and ``data.superseded_by`` set when a later filing of the hazard source is the current one (the notices
    that follow are for the current filing only)."""
    found = status.refresh(ctx.conn, ctx.case["anchor_id"])
    if found is None:
        return
    ctx.results["filing_status"] = found["status"]
    latest = (found["filing"] or {}).get("case")
    if latest and latest["id"] != ctx.case["id"]:
        ctx.case["data"] = {**ctx.case["data"], "superseded_by": latest["code"]}


__all__ = ["check", "check_grading", "record_filing", "refresh_filing"]
