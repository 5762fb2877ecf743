"""Alarm rules of the monitoring module: every kind, each national level, deadband and delay, on a test clock."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import yaml

from core import clock
from core.manifest import resource
from supervision.monitoring.rules import Rule, check_rule_sets, evaluate, evaluate_stale, rules_for

T0 = datetime(2026, 12, 7, 8, 0, tzinfo=UTC)
DOC = yaml.safe_load(resource("supervision.monitoring:rules.yaml").read_text(encoding="utf-8"))


def run(rule: Rule, series: list[tuple[float, float]], state: dict | None = None) -> tuple[dict, list[str]]:
    """Feed (seconds after T0, value) readings through one rule: the final state and the actions taken."""
    state, actions = dict(state or {}), []
    for seconds, value in series:
        state, outcome = evaluate(rule, state, T0 + timedelta(seconds=seconds), value)
        actions.append(outcome.action if outcome else "-")
    return state, actions


def by_id(rule_set: str, params: dict) -> dict[str, Rule]:
    return {r.id: r for r in rules_for(DOC, rule_set, params)}


def test_the_shipped_rule_sets_are_sound() -> None:
    assert check_rule_sets(DOC) == []
    assert set(DOC) - {"warning_levels"} == {"combustible_gas", "toxic_gas", "tank_level", "temperature", "pressure"}


@pytest.mark.parametrize(("doc", "problem"), [
    ({"x": {"rules": [{"id": "a", "kind": "level"}]}}, "needs a threshold"),
    ({"x": {"rules": [{"id": "a", "kind": "bogus"}]}}, "kind among"),
    ({"x": {"rules": [{"id": "a", "kind": "rate", "max_per_min": 1}, {"id": "a", "kind": "stale"}]}}, "used twice"),
    ({"x": {"rules": [{"id": "a", "kind": "rate", "max_per_min": 1, "direction": "up"}]}}, "high, low or both"),
    ({"x": {"rules": [{"id": "a", "kind": "stale", "afterr_s": 3}]}}, "unknown keys afterr_s"),
    ({"x": {}}, "needs a list of rules"),
])
def test_bad_rule_sets_are_named(doc: dict, problem: str) -> None:
    assert any(problem in p for p in check_rule_sets(doc))


def test_combustible_gas_levels_25_and_50_percent_lel() -> None:
    rules = by_id("combustible_gas", {})
    assert (rules["gas_level_1"].threshold, rules["gas_level_2"].threshold) == (25.0, 50.0)
    series = [(0, 10), (10, 24.9), (20, 25), (30, 49), (40, 50), (50, 60)]
    assert run(rules["gas_level_1"], series)[1] == ["-", "-", "raise", "repeat", "repeat", "repeat"]
    assert run(rules["gas_level_2"], series)[1] == ["-", "-", "-", "-", "raise", "repeat"]


def test_toxic_gas_levels_follow_the_oel_of_the_gas() -> None:
    rules = by_id("toxic_gas", {"oel": 7.0})  # H2S
    assert (rules["gas_level_1"].threshold, rules["gas_level_2"].threshold) == (7.0, 14.0)
    assert run(rules["gas_level_2"], [(0, 13.9), (5, 14.0)])[1] == ["-", "raise"]
    assert "gas_level_1" not in by_id("toxic_gas", {})  # no OEL known: no level rule rather than a wrong one


def test_tank_high_high_low_and_deadband() -> None:
    rules = by_id("tank_level", {"alarm_low": 1.0, "alarm_high": 8.5, "range_high": 10.0})
    assert (rules["high"].threshold, rules["high_high"].threshold, rules["low"].threshold) == (8.5, 9.5, 1.0)
    high = Rule(**{**rules["high"].__dict__, "delay_s": 0})
    # around the threshold: stays active inside the deadband (8.45..8.5), clears only below it
    assert run(high, [(0, 8.6), (1, 8.46), (2, 8.5), (3, 8.44), (4, 8.49), (5, 8.5)])[1] == \
        ["raise", "repeat", "repeat", "clear", "-", "raise"]
    low = Rule(**{**rules["low"].__dict__, "delay_s": 0})
    assert run(low, [(0, 2.0), (1, 1.0), (2, 1.04), (3, 1.06)])[1] == ["-", "raise", "repeat", "clear"]


def test_delay_raises_only_once_the_condition_has_held() -> None:
    rule = by_id("temperature", {"alarm_high": 40.0})["high"]
    assert rule.delay_s == 10
    # a spike that falls back before the delay raises nothing; a sustained excess raises after 10 s
    assert run(rule, [(0, 41), (5, 39), (6, 41), (12, 41), (16, 42), (20, 42)])[1] == \
        ["-", "-", "-", "-", "raise", "repeat"]
    state, _ = run(rule, [(0, 41)])
    assert state == {"active": False, "pending_since": T0.isoformat()}  # what survives a restart


def test_rate_of_change_over_a_window() -> None:
    rule = by_id("combustible_gas", {})["gas_rise"]  # rising faster than 20 %LEL per minute
    assert (rule.direction, rule.rate_window_s) == ("high", 60)
    # 0 → 30 within the window is not judged until the window is full; then 30 %LEL/min raises; slower clears
    assert run(rule, [(0, 0), (30, 30), (60, 30), (90, 0), (120, 55), (180, 60)])[1] == \
        ["-", "-", "raise", "-", "repeat", "clear"]
    # noise a few seconds apart (±0.8 %LEL every 4 s would be 24 %LEL/min between neighbours) raises nothing
    assert set(run(rule, [(4 * i, 1.0 + 0.8 * (-1) ** i) for i in range(60)])[1]) == {"-"}
    # a fall is not a rise; a rule for both ways sees it
    assert set(run(rule, [(0, 60), (60, 0)])[1]) == {"-"}
    both = Rule(**{**rule.__dict__, "direction": "both"})
    assert run(both, [(0, 60), (60, 0)])[1] == ["-", "raise"]


def test_flat_line_finds_a_stuck_sensor() -> None:
    rule = Rule(id="flat", kind="flat_line", window_s=600, tolerance=0.01)
    assert run(rule, [(0, 5.0), (300, 5.005), (599, 5.0), (600, 5.01), (900, 5.0), (1000, 5.5)])[1] == \
        ["-", "-", "-", "raise", "-", "clear"]


def test_stale_data_on_the_test_clock() -> None:
    rule = by_id("pressure", {"alarm_high": 1.0})["stale"]
    last = T0
    state: dict = {}
    with clock.freeze(T0):
        with clock.travel(timedelta(seconds=299)):
            state, outcome = evaluate_stale(rule, state, last, clock.now())
            assert outcome is None
        with clock.travel(timedelta(seconds=300)):
            state, outcome = evaluate_stale(rule, state, last, clock.now())
            assert outcome is not None and outcome.action == "raise"
            state, outcome = evaluate_stale(rule, state, last, clock.now())
            assert outcome is None  # one active alarm, not one per sweep
        with clock.travel(timedelta(seconds=400)):
            state, outcome = evaluate(rule, state, clock.now(), 0.5)  # a reading arrives
            assert outcome is not None and outcome.action == "clear"
    assert evaluate_stale(rule, {}, None, T0)[1].action == "raise"  # never reported at all


def test_the_simulated_leak_crosses_both_levels_and_normal_readings_raise_nothing() -> None:
    from supervision.monitoring.simulate import Scenario, SimSensor, value

    gas = SimSensor("HS1-GA01", "combustible_gas", "%LEL", 25.0, 50.0, 0.0, 100.0, "GW", "E")
    tank = SimSensor("HS1-LV01", "tank_level", "m", 1.0, 8.5, 0.0, 10.0, "GW", "E")
    temp = SimSensor("HS1-TE01", "temperature", "°C", -10.0, 40.0, -40.0, 80.0, "GW", "E")
    leak = Scenario("leak", "HS1-GA01", leak_after_s=30, leak_ramp_s=180)
    levels = {r.id: r for r in rules_for(DOC, "combustible_gas", {})}
    state1: dict = {}
    state2: dict = {}
    raised = []
    for second in range(0, 400, 5):
        at = T0 + timedelta(seconds=second)
        v = value(gas, at, second, leak)
        for rule, state in ((levels["gas_level_1"], state1), (levels["gas_level_2"], state2)):
            new, outcome = evaluate(rule, state, at, v)
            state.clear()
            state.update(new)
            if outcome and outcome.action == "raise":
                raised.append((rule.id, second))
    assert [r for r, _ in raised] == ["gas_level_1", "gas_level_2"] and raised[0][1] < raised[1][1] <= 400
    # without the leak, and for the other kinds, a day of readings stays inside every level rule
    for sensor, params in ((gas, {}), (tank, {"alarm_low": 1.0, "alarm_high": 8.5, "range_high": 10.0}),
                           (temp, {"alarm_high": 40.0})):
        rules = [r for r in rules_for(DOC, sensor.rule_set, params) if r.kind == "level"]
        for minute in range(0, 24 * 60, 7):
            at = T0 + timedelta(minutes=minute)
            v = value(sensor, at, minute * 60.0)
            assert all(evaluate(r, {}, at, v)[1] is None for r in rules), (sensor.code, minute, v)


# -- trend: time to threshold ------------------------------------------------------------------------------------
def tank_trend() -> Rule:
    return by_id("tank_level", {"alarm_low": 1.0, "alarm_high": 8.5, "range_high": 10.0})["trend_high_high"]


def ramp(start_s: int, end_s: int, v0: float, per_min: float, every_s: int = 10,
         noise: float = 0.0) -> list[tuple[float, float]]:
    return [(s, round(v0 + per_min * (s - start_s) / 60 + noise * (-1) ** (s // every_s), 4))
            for s in range(start_s, end_s, every_s)]


def first(actions: list[str], action: str) -> int | None:
    return actions.index(action) if action in actions else None


def test_trend_warns_before_a_drifting_tank_level_reaches_high_high() -> None:
    rule = tank_trend()
    assert (rule.threshold, rule.horizon_min, rule.trend_window_s, rule.deadband) == (9.5, 30, 600, 0.05)
    # 8.0 m rising 0.03 m/min (with ±1 cm of noise): 50 min from 9.5 m at the start, 30 min when it reaches 8.6 m
    series = ramp(0, 1800, 8.0, 0.03, noise=0.01)
    state, actions = run(rule, series)
    raised = first(actions, "raise")
    assert raised is not None and actions.count("raise") == 1
    at_s, level = series[raised]
    assert 8.55 <= level <= 8.7 and at_s >= 300            # about 30 min ahead, and only once the window has data
    assert set(actions[raised + 1:]) == {"repeat"}          # one active warning, repeats update it
    assert state["active"] and len(state["buckets"]) <= 11  # the state keeps sums, not the readings


def test_trend_waits_for_the_window_to_fill() -> None:
    rule = tank_trend()
    # a steep rise, but only four minutes of it (less than half the ten-minute window): not yet a trend
    assert set(run(rule, ramp(0, 240, 9.0, 0.2))[1]) == {"-"}


@pytest.mark.parametrize(("per_min", "noise"), [(0.0, 0.0), (0.0, 0.02), (-0.03, 0.01), (0.001, 0.0)])
def test_no_trend_warning_when_flat_falling_or_too_slow(per_min: float, noise: float) -> None:
    # flat (even noisy and close to the threshold), falling, or rising so slowly that 9.5 m is hours away
    assert set(run(tank_trend(), ramp(0, 3600, 9.2, per_min, noise=noise))[1]) == {"-"}


def test_a_trend_warning_clears_when_the_trend_stops() -> None:
    rule = tank_trend()
    rising = ramp(0, 1500, 8.0, 0.03)
    state, actions = run(rule, rising)
    assert state["active"] and "raise" in actions
    level = rising[-1][1]
    # the filling stops: the level stays where it is; the line flattens as the window forgets the rise
    state, after = run(rule, [(s, level) for s in range(1500, 2700, 10)], state)
    cleared = first(after, "clear")
    assert cleared is not None and not state["active"] and after.count("clear") == 1
    assert set(after[cleared + 1:]) == {"-"}
    # and the level did not move: no level alarm would have cleared anything, the trend alone did
    assert level < rule.threshold


def test_trend_deadband_keeps_the_warning_while_the_projection_hovers_at_the_horizon() -> None:
    import math
    import random

    rule = tank_trend()
    with_band, without = rule, Rule(**{**rule.__dict__, "deadband": 0.0})
    # a level that closes in on 9.5 m ever more slowly (1.5 m away, e^(-t/35 min)) with ±1 cm of noise: its
    # projection stays around 30 min ahead for an hour, now inside the horizon, now just outside
    rnd = random.Random(7)
    series = [(s, round(9.5 - 1.5 * math.exp(-s / (35 * 60)) + rnd.uniform(-0.01, 0.01), 4))
              for s in range(0, 3600, 10)]
    actions_with = run(with_band, series)[1]
    actions_without = run(without, series)[1]
    assert actions_with.count("raise") == 1 and "clear" not in actions_with      # one warning, held
    assert actions_without.count("raise") > 5 and actions_without.count("clear") > 5   # what the deadband saves


def test_trend_toward_a_low_threshold_and_of_the_gases() -> None:
    low = Rule(id="low_trend", kind="trend", direction="low", threshold=1.0, horizon_min=30, trend_window_s=600)
    assert first(run(low, ramp(0, 1800, 2.0, -0.03))[1], "raise") is not None
    assert set(run(low, ramp(0, 1800, 2.0, 0.03))[1]) == {"-"}
    gas = by_id("combustible_gas", {})["gas_trend"]
    toxic = by_id("toxic_gas", {"oel": 7.0})["gas_trend"]
    assert (gas.threshold, gas.horizon_min, toxic.threshold, toxic.deadband) == (25.0, 10, 7.0, 0.7)
    # a climbing concentration: the trend warns while it is still well below 一级
    series = ramp(0, 900, 2.0, 1.0, every_s=5)
    actions = run(gas, series)[1]
    raised = first(actions, "raise")
    assert raised is not None and series[raised][1] < 25.0
    assert "gas_trend" not in by_id("toxic_gas", {})   # no OEL: no threshold, no trend rule


def test_a_trend_rule_needs_a_threshold_and_a_horizon() -> None:
    assert any("horizon_min > 0" in p for p in check_rule_sets({"x": {"rules": [
        {"id": "t", "kind": "trend", "threshold": 1.0}]}}))
    assert any("horizon_min > 0" in p for p in check_rule_sets({"x": {"rules": [
        {"id": "t", "kind": "trend", "threshold": 1.0, "horizon_min": 0}]}}))
    assert check_rule_sets({"x": {"rules": [{"id": "t", "kind": "trend", "threshold": "alarm_high",
                                             "horizon_min": 5, "deadband": {"param": "alarm_high", "times": 0.01}}]}}) == []


def test_the_simulated_city_raises_no_trend_warning_and_the_leak_is_foreseen() -> None:
    from supervision.monitoring.simulate import Scenario, SimSensor, value

    tank = SimSensor("HS1-LV01", "tank_level", "m", 1.0, 8.5, 0.0, 10.0, "GW", "E")
    rule = tank_trend()
    state: dict = {}
    for second in range(0, 4 * 3600, 10):   # four hours of the slow drift
        at = T0 + timedelta(seconds=second)
        state, outcome = evaluate(rule, state, at, value(tank, at, second))
        assert outcome is None, (second, outcome)
    gas = SimSensor("HS1-GA01", "combustible_gas", "%LEL", 25.0, 50.0, 0.0, 100.0, "GW", "E")
    leak = Scenario("leak", "HS1-GA01", leak_after_s=30, leak_ramp_s=600)
    trend, level = by_id("combustible_gas", {})["gas_trend"], by_id("combustible_gas", {})["gas_level_1"]
    ts_state: dict = {}
    lv_state: dict = {}
    seen = {}
    for second in range(0, 900, 5):
        at = T0 + timedelta(seconds=second)
        v = value(gas, at, second, leak)
        ts_state, o1 = evaluate(trend, ts_state, at, v)
        lv_state, o2 = evaluate(level, lv_state, at, v)
        for rid, o in (("trend", o1), ("level", o2)):
            if o and o.action == "raise":
                seen.setdefault(rid, second)
    assert seen["trend"] < seen["level"]   # the warning comes before the 一级 alarm


def test_a_spike_that_is_over_raises_no_trend_warning() -> None:
    gas = by_id("combustible_gas", {})["gas_trend"]
    # quiet for four minutes, a jump beyond 一级 (the level alarm's business), then back to quiet: the line through
    # the window still slopes up steeply, but the reading is back under it
    series = [(s, 1.0) for s in range(0, 240, 10)] + [(240, 60.0), (241, 61.0), (242, 1.0), (250, 1.0)]
    assert set(run(gas, series)[1]) == {"-"}
