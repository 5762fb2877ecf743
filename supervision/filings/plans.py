"""应急预案备案: the completeness check against GB/T 29639-2020 and the 20-working-day filing deadline (a case effect).

The elements and the deadline are data (``plan_elements.yaml``). A filing is refused (400, nothing written) when a
part it must have is absent (a comprehensive plan, at least one on-site plan) or any part lacks an element: the
message names every missing element of every part, so the enterprise corrects it in one go, as the regulator's
一次性告知 would. An element id the standard does not have is refused naming the field and the ids it allows.
The deadline (issue date + 20 working days, with 调休, core/workdays) is recorded with the case: a late filing is
filed all the same, and the lateness stays on record.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from functools import cache
from typing import Any

from core import clock as core_clock
from core.errors import InvalidInput
from core.manifest import resource
from core.yamlload import parse
from supervision.cases import clocks
from supervision.cases.engine import EffectContext

ELEMENTS_FILE = "supervision.filings:plan_elements.yaml"


@cache
def elements() -> dict[str, Any]:
    """GB/T 29639-2020's parts and elements, and the filing deadline (``plan_elements.yaml``)."""
    return parse(resource(ELEMENTS_FILE).read_text(encoding="utf-8"))


def _documents(form: Mapping[str, Any], part: str) -> list[tuple[str, list[Any]]]:
    """(where, element ids) of each document of ``part`` in the form: the comprehensive plan is one list."""
    value = form.get(part)
    if value is None:
        return []
    if part == "comprehensive":
        return [(f"form.{part}", list(value))]
    return [(f"form.{part}[{i}].elements", list(doc.get("elements") or [])) for i, doc in enumerate(value)]


def check(form: Mapping[str, Any]) -> dict[str, Any]:
    """What the plan holds, or :class:`InvalidInput` naming every missing element (and unknown ids)."""
    spec = elements()
    missing: list[dict[str, Any]] = []
    for part, info in spec["parts"].items():
        known = info["elements"]
        docs = _documents(form, part)
        for where, ids in docs:
            unknown = [e for e in ids if e not in known]
            if unknown:
                raise InvalidInput(where, f"element ids of GB/T 29639-2020 {info['label']['en']} "
                                          f"(clause {info['clause']}): {', '.join(known)}", value=unknown[0],
                                   details={"reason": "unknown element", "part": part})
        if len(docs) < info.get("min", 0):
            missing.append({"part": part, "input": f"form.{part}", "document": None, "absent": True,
                            "elements": list(known), "part_label": dict(info["label"])})
            continue
        for i, (where, ids) in enumerate(docs):
            lacking = [e for e in known if e not in ids]
            if lacking:
                title = form["comprehensive" if part == "comprehensive" else part]
                title = None if part == "comprehensive" else title[i].get("title")
                missing.append({"part": part, "input": where, "document": title, "absent": False,
                                "elements": lacking, "part_label": dict(info["label"])})
    if missing:
        def names(m: dict[str, Any], lang: str) -> str:
            sep = "、" if lang == "zh-CN" else ", "
            return sep.join(spec["parts"][m["part"]]["elements"][e][lang] for e in m["elements"])

        en = "; ".join(f"no {m['part_label']['en']} (one at least, with {names(m, 'en')})" if m["absent"] else
                       f"{m['part_label']['en']}{' “' + m['document'] + '”' if m['document'] else ''} lacks "
                       f"{names(m, 'en')}" for m in missing)
        zh = "；".join(f"{m['part_label']['zh-CN']}{'“' + m['document'] + '”' if m['document'] else ''}缺少："
                       f"{names(m, 'zh-CN')}" for m in missing)
        raise InvalidInput(
            missing[0]["input"], f"a plan with every element of GB/T 29639-2020 ({spec['standard']})",
            message_en=f"the emergency plan is incomplete by {spec['standard']}: {en}",
            message_zh=f"应急预案要素不全（{spec['standard']}）：{zh}",
            details={"reason": "incomplete plan", "missing": [
                {"part": m["part"], "input": m["input"], "document": m["document"], "elements": m["elements"],
                 "labels": [spec["parts"][m["part"]]["elements"][e]["zh-CN"] for e in m["elements"]]}
                for m in missing]})
    return {part: len(_documents(form, part)) for part in spec["parts"]}


def filing_due(conn: Any, issued_on: date) -> tuple[date, bool]:
    """The last day to file a plan issued on ``issued_on`` (20 working days after it, 调休 counted), and whether
    that day is provisional (a year whose holiday schedule is not entered yet)."""
    rule = elements()["filing_deadline"]
    return clocks.deadline(conn, issued_on, int(rule["days"]), rule["unit"])


def check_plan(ctx: EffectContext, spec: Any) -> None:
    """The effect ``check_emergency_plan_elements``: refuse an incomplete plan; record the filing deadline."""
    parts = check(ctx.form)
    issued_on = date.fromisoformat(ctx.form["issued_on"])
    today = core_clock.today()
    if issued_on > today:
        raise InvalidInput("form.issued_on", f"the day the plan was issued (not after today, {today})",
                           value=ctx.form["issued_on"], details={"reason": "in the future"})
    due, provisional = filing_due(ctx.conn, issued_on)
    deadline = {"issued_on": issued_on.isoformat(), "due": due.isoformat(), "submitted_on": today.isoformat(),
                "late": today > due, "provisional": provisional}
    ctx.case["data"] = {**ctx.case["data"], "plan_parts": parts, "filing_deadline": deadline}
    ctx.results["filing_deadline"] = deadline


__all__ = ["check", "check_plan", "elements", "filing_due"]
