"""Response-level triggers, worked by hand at every boundary of every level (emergency/plans/triggers.py).

The table below is a city plan of the 危险化学品事故专项应急预案 kind: Ⅰ ≥ 30 deaths / ≥ 100 injuries / ≥ 100 000
evacuees; Ⅱ ≥ 10 / ≥ 50 / ≥ 10 000; Ⅲ ≥ 3 / ≥ 10 / ≥ 1 000 / ≥ 5 t chlorine; Ⅳ ≥ 1 / ≥ 1 / ≥ 100 / alarm 二级.
Each fact is walked on both sides of each threshold (one below → the next lower level or none; at it → the level).
"""

from __future__ import annotations

from datetime import date

import pytest

from emergency.plans.service import review_due, review_status
from emergency.plans.triggers import Facts, describe, describe_en, suggest

CHLORINE = "7782-50-5"


def _t(fact: str, minimum: float, chemical: str | None = None) -> dict:
    return {"fact": fact, "min": minimum, **({"chemical": chemical} if chemical else {})}


LEVELS = [  # deliberately not in level order: the evaluation must not depend on it
    {"level": 3, "triggers": [_t("deaths", 3), _t("injuries", 10), _t("evacuees", 1000),
                              _t("chemical_quantity_t", 5, CHLORINE)]},
    {"level": 1, "triggers": [_t("deaths", 30), _t("injuries", 100), _t("evacuees", 100000)]},
    {"level": 4, "triggers": [_t("deaths", 1), _t("injuries", 1), _t("evacuees", 100), _t("alarm_level", 2)]},
    {"level": 2, "triggers": [_t("deaths", 10), _t("injuries", 50), _t("evacuees", 10000)]},
]

# fact → [(value, expected level or None)], written down from the table above
BOUNDARIES = {
    "deaths": [(0, None), (1, 4), (2, 4), (3, 3), (9, 3), (10, 2), (29, 2), (30, 1), (31, 1)],
    "injuries": [(0, None), (1, 4), (9, 4), (10, 3), (49, 3), (50, 2), (99, 2), (100, 1)],
    "evacuees": [(99.9, None), (100, 4), (999.9, 4), (1000, 3), (9999.9, 3), (10000, 2), (99999.9, 2),
                 (100000, 1)],
    "alarm_level": [(1, None), (2, 4)],
}


@pytest.mark.parametrize(("fact", "value", "level"),
                         [(f, v, lv) for f, cases in BOUNDARIES.items() for v, lv in cases])
def test_each_boundary_of_each_level(fact: str, value: float, level: int | None) -> None:
    found = suggest(LEVELS, Facts(**{fact: value}))
    if level is None:
        assert found is None
        return
    assert found["level"] == level
    assert found["trigger"]["fact"] == fact and found["value"] == value
    assert value >= found["trigger"]["min"]


@pytest.mark.parametrize(("tonnes", "level"), [(4.99, None), (5.0, 3), (50.0, 3)])
def test_chemical_quantity_counts_only_the_named_chemical(tonnes: float, level: int | None) -> None:
    assert (suggest(LEVELS, Facts(chemicals={CHLORINE: tonnes})) or {}).get("level") == level
    assert suggest(LEVELS, Facts(chemicals={"7664-41-7": tonnes})) is None  # ammonia: no trigger names it


def test_the_most_severe_matching_level_wins_across_facts() -> None:
    found = suggest(LEVELS, Facts(deaths=3, injuries=50, evacuees=120, alarm_level=2))
    assert (found["level"], found["trigger"]["fact"]) == (2, "injuries")
    assert found["text"] == "受伤人数 ≥ 50 人 → Ⅱ级" and found["text_en"] == "injuries ≥ 50 → level II"


def test_unknown_facts_match_nothing() -> None:
    assert suggest(LEVELS, Facts()) is None
    assert suggest(LEVELS, Facts(deaths=None, evacuees=None, alarm_level=None)) is None


def test_trigger_text() -> None:
    assert describe(_t("deaths", 30), 1) == "死亡人数 ≥ 30 人 → Ⅰ级"
    assert describe(_t("chemical_quantity_t", 5, CHLORINE), 3) == f"涉及危险化学品数量（{CHLORINE}） ≥ 5 吨 → Ⅲ级"
    assert describe_en(_t("chemical_quantity_t", 0.5, CHLORINE), 4) == f"tonnes of {CHLORINE} ≥ 0.5 t → level IV"


@pytest.mark.parametrize(("approved", "due"), [(date(2026, 3, 1), date(2029, 3, 1)),
                                                (date(2024, 2, 29), date(2027, 2, 28)),
                                                (date(2025, 12, 31), date(2028, 12, 31))])
def test_review_every_three_years(approved: date, due: date) -> None:
    assert review_due(approved) == due


@pytest.mark.parametrize(("due", "status"), [(date(2026, 12, 7), "overdue"), (date(2026, 12, 8), "due_soon"),
                                              (date(2027, 3, 8), "due_soon"), (date(2027, 3, 9), "ok")])
def test_review_status(due: date, status: str) -> None:
    assert review_status(due, today=date(2026, 12, 8)) == status
