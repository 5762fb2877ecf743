"""Warning levels (红/橙/黄/蓝) of a hazard source from its sensors' active alarms: every combination the rules
(rules.yaml ``warning_levels``) name, and the checks of that section."""

from __future__ import annotations

import copy

import pytest
import yaml

from core.manifest import resource
from supervision.monitoring.loop import ActiveAlarm, check_rules, level_of
from supervision.monitoring.rules import check_rule_sets

RULES = yaml.safe_load(resource("supervision.monitoring:rules.yaml").read_text(encoding="utf-8"))
LEVELS = RULES["warning_levels"]


def gas(sensor: str, level: int, kind: str = "level", rule_set: str = "combustible_gas") -> ActiveAlarm:
    return ActiveAlarm(sensor, rule_set, kind, level)


def tank(sensor: str, level: int, kind: str = "level") -> ActiveAlarm:
    return ActiveAlarm(sensor, "tank_level", kind, level)


@pytest.mark.parametrize(("alarms", "level"), [
    ([], None),
    ([gas("GA01", 2)], "red"),                                     # a level-2 combustible gas alarm
    ([gas("GA01", 2, rule_set="toxic_gas")], "red"),               # a level-2 toxic gas alarm
    ([tank("LV01", 2), ActiveAlarm("TE01", "temperature", "level", 2)], "red"),   # level-2 on two sensors
    ([tank("LV01", 2)], "orange"),                                 # one level-2 process alarm
    ([tank("LV01", 2), tank("LV01", 1)], "orange"),                # (its level 1 with it: still one sensor)
    ([gas("GA01", 1), gas("GA02", 1)], "orange"),                  # level-1 on two sensors
    ([tank("LV01", 1), gas("GA01", 1, kind="rate")], "orange"),    # (a rate alarm is a level-1 alarm too)
    ([gas("GA01", 1)], "yellow"),
    ([gas("GA01", 1, kind="rate")], "yellow"),                     # rate of change
    ([gas("GA01", 1), gas("GA01", 1, kind="rate")], "yellow"),     # two alarms, one sensor
    ([tank("LV01", 1, kind="stale")], "blue"),                     # only device faults
    ([tank("LV01", 1, kind="stale"), gas("GA01", 1, kind="flat_line")], "blue"),
    ([tank("LV01", 1, kind="stale"), gas("GA01", 1)], "yellow"),   # a fault beside a real alarm: the alarm counts
    ([tank("LV01", 1, kind="stale"), tank("LV02", 1, kind="flat_line"), gas("GA01", 2)], "red"),
])
def test_each_combination(alarms: list[ActiveAlarm], level: str | None) -> None:
    assert level_of(alarms, LEVELS) == level


@pytest.mark.parametrize(("change", "problem"), [
    (lambda w: w.update(purple={"any": [{"alarm_level": 1}]}), "warning_levels.purple: unknown level"),
    (lambda w: w["red"].update(any=[]), "warning_levels.red.any: a list of conditions"),
    (lambda w: w["red"]["any"].append({"alarm_level": 3}), "warning_levels.red.any[2].alarm_level: 1 or 2"),
    (lambda w: w["orange"]["any"].append({"alarm_level": 1, "sensors": 0}), "warning_levels.orange.any[2].sensors"),
    (lambda w: w["red"]["any"].append({"alarm_level": 2, "rule_sets": ["plasma"]}),
     "warning_levels.red.any[2].rule_sets: a list of the rule sets of this file"),
    (lambda w: w["blue"]["any"].append({"only_faults": True, "alarm_level": 1}), "only_faults stands alone"),
    (lambda w: w["yellow"]["any"].append({"alarm_level": 1, "colour": "x"}), "unknown keys colour"),
])
def test_a_bad_section_names_its_field(change, problem: str) -> None:  # noqa: ANN001
    doc = copy.deepcopy(RULES)
    change(doc["warning_levels"])
    problems = check_rule_sets(doc)
    assert any(problem in p for p in problems), problems


def test_the_packaged_rules_are_sound_and_a_file_without_levels_too() -> None:
    assert check_rule_sets(RULES) == []
    assert check_rules({k: v for k, v in RULES.items() if k != "warning_levels"}) == []
