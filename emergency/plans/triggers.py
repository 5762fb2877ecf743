"""Response-level triggers (启动条件) of a plan, evaluated against an incident's facts. Pure: no database.

Every trigger reads one fact and means ``fact ≥ min`` (at least): "≥ 30 deaths → Ⅰ" is ``{"fact": "deaths",
"min": 30}`` on level 1. A ``chemical_quantity_t`` trigger also names the chemical (CAS) whose quantity counts.
A level matches when any of its triggers matches; the suggestion is the most severe matching level (Ⅰ = 1 is the
most severe). A fact the incident does not have (no impact run yet: no evacuees) matches no trigger.

The demo plans' thresholds follow 《生产安全事故报告和调查处理条例》 第三条 (特别重大 ≥ 30 deaths or ≥ 100
serious injuries; 重大 ≥ 10 / ≥ 50; 较大 ≥ 3 / ≥ 10) and the 国家安全生产事故灾难应急预案 style of 紧急转移安置
numbers; a plan states its own thresholds, the code knows none.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

#: fact → (zh-CN label, unit)
FACTS: dict[str, tuple[str, str]] = {
    "deaths": ("死亡人数", "人"),
    "injuries": ("受伤人数", "人"),
    "evacuees": ("需疏散人数", "人"),
    "alarm_level": ("监测报警级别", "级"),
    "chemical_quantity_t": ("涉及危险化学品数量", "吨"),
}
FACTS_EN: dict[str, tuple[str, str]] = {
    "deaths": ("deaths", ""), "injuries": ("injuries", ""), "evacuees": ("evacuees", ""),
    "alarm_level": ("alarm level", ""), "chemical_quantity_t": ("tonnes of", " t"),
}
LEVEL_NUMERALS = {1: "Ⅰ", 2: "Ⅱ", 3: "Ⅲ", 4: "Ⅳ"}


@dataclass(frozen=True)
class Facts:
    """What is known of an incident. ``None``: not known (matches no trigger). ``chemicals``: CAS → tonnes."""

    deaths: int | None = None
    injuries: int | None = None
    evacuees: float | None = None
    alarm_level: int | None = None
    chemicals: Mapping[str, float] = field(default_factory=dict)

    def value(self, trigger: Mapping[str, Any]) -> float | None:
        if trigger["fact"] == "chemical_quantity_t":
            return self.chemicals.get(trigger["chemical"])
        return getattr(self, trigger["fact"])

    def as_dict(self) -> dict[str, Any]:
        return {"deaths": self.deaths, "injuries": self.injuries, "evacuees": self.evacuees,
                "alarm_level": self.alarm_level, "chemicals": dict(self.chemicals)}


def describe(trigger: Mapping[str, Any], level: int) -> str:
    """The trigger as the plan text says it, e.g. "死亡人数 ≥ 30 人 → Ⅰ级"."""
    label, unit = FACTS[trigger["fact"]]
    what = f"{label}（{trigger['chemical']}）" if trigger.get("chemical") else label
    return f"{what} ≥ {trigger['min']:g} {unit} → {LEVEL_NUMERALS[level]}级"


def describe_en(trigger: Mapping[str, Any], level: int) -> str:
    """The trigger in English, e.g. "deaths ≥ 30 → level I"."""
    label, unit = FACTS_EN[trigger["fact"]]
    what = f"{label} {trigger['chemical']}" if trigger.get("chemical") else label
    return f"{what} ≥ {trigger['min']:g}{unit} → level {('I', 'II', 'III', 'IV')[level - 1]}"


def matches(trigger: Mapping[str, Any], facts: Facts) -> bool:
    value = facts.value(trigger)
    return value is not None and value >= trigger["min"]


def suggest(levels: Sequence[Mapping[str, Any]], facts: Facts) -> dict[str, Any] | None:
    """The most severe level whose any trigger matches, with that trigger and the fact's value; None if none does.

    Within the level the first matching trigger (in the plan's order) is named.
    """
    for level in sorted(levels, key=lambda lv: lv["level"]):
        for trigger in level.get("triggers", []):
            if matches(trigger, facts):
                return {"level": level["level"], "trigger": dict(trigger), "value": facts.value(trigger),
                        "text": describe(trigger, level["level"]), "text_en": describe_en(trigger, level["level"])}
    return None


__all__ = ["FACTS", "LEVEL_NUMERALS", "Facts", "describe", "describe_en", "matches", "suggest"]
