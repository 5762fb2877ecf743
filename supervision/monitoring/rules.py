"""Alarm rules as data (``rules.yaml``: one rule set per sensor type) and their pure evaluation.

A rule set lists rules of five kinds:

* ``level`` — the value at or beyond a threshold (``direction: high`` or ``low``): the national grades of gas
  detection (可燃气体 一级 25 %LEL / 二级 50 %LEL; 有毒气体 一级 100 % OEL / 二级 200 % OEL) and the high / high-high
  (low / low-low) limits of tank level, temperature and pressure. ``deadband`` keeps an alarm active until the value
  is back by that much (no flapping around the threshold); ``delay_s`` raises it only once the condition has held that
  long (a single spike raises nothing);
* ``rate`` — the value rises (``direction: high``), falls (``low``) or changes (``both``) faster than
  ``max_per_min``, measured over at least ``rate_window_s`` seconds (default 60);
* ``trend`` — a time-to-threshold warning: the least-squares line through the readings of the last
  ``trend_window_s`` seconds (default 600; judged once they span half of it and number ``min_points``) reaches
  ``threshold`` (``direction: high`` rising toward it, ``low`` falling) within ``horizon_min`` minutes — a tank level
  drifting toward high-high, a gas concentration climbing toward 一级. It is raised only while the reading is still
  short of the threshold (beyond it the level alarm speaks) and not back under the line by more than the deadband
  (a spike that is over leaves a steep line behind it). It stays active while the line would come
  within ``deadband`` of the threshold within the horizon (no flapping while the projection hovers around the
  horizon) and clears when the trend stops (flat, or turning away). The state keeps one running least-squares sum
  per tenth of the window, not the readings;
* ``stale`` — no reading for ``after_s`` seconds (found by the sweep, not by a reading);
* ``flat_line`` — the value has stayed within ``tolerance`` for ``window_s`` seconds: a stuck sensor.

A threshold (and a deadband) is a number, the name of a sensor parameter (``alarm_low``, ``alarm_high``, ``range_low``, ``range_high``
from the sensors layer and the device settings, or any key of the device's ``thresholds`` overrides), or
``{param: name, times: factor}``; a rule whose threshold a sensor cannot supply does not apply to that sensor.

Evaluation is pure: ``evaluate(rule, state, ts, value)`` and ``evaluate_stale(rule, state, last_ts, now)`` take the
rule's remembered state (a JSON-able dict) and return the new state and what happened (raise, repeat, clear or
nothing). The caller stores both; nothing here reads a clock or a database.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from core.errors import DomainError

KINDS = ("level", "rate", "trend", "stale", "flat_line")
WARNING_LEVELS = "warning_levels"   # not a rule set: the hazard sources' warning levels (loop.py)


class RuleError(DomainError):
    http_status = 400
    code = "invalid_alarm_rules"


@dataclass(frozen=True)
class Rule:
    id: str
    kind: str
    level: int = 1
    label: str = ""
    direction: str = "high"
    threshold: float | None = None
    deadband: float = 0.0
    delay_s: float = 0.0
    max_per_min: float | None = None
    rate_window_s: float = 60.0
    window_s: float = 3600.0
    tolerance: float = 0.0
    after_s: float = 300.0
    trend_window_s: float = 600.0
    horizon_min: float | None = None
    min_points: int = 5


@dataclass(frozen=True)
class Outcome:
    action: str                 # "raise" | "repeat" | "clear"
    value: float | None = None
    threshold: float | None = None
    message: str = ""


# -- loading ---------------------------------------------------------------------------------------------------
def _threshold(spec: Any, params: Mapping[str, Any]) -> float | None:
    if spec is None or isinstance(spec, int | float):
        return None if spec is None else float(spec)
    if isinstance(spec, str):
        value = params.get(spec)
        return None if value is None else float(value)
    if isinstance(spec, Mapping) and "param" in spec:
        base = params.get(spec["param"])
        return None if base is None else round(float(base) * float(spec.get("times", 1.0)), 6)
    raise RuleError(f"threshold {spec!r}: give a number, a parameter name or {{param: name, times: factor}}")


def check_rule_sets(doc: Any) -> list[str]:
    """Problems of a rule-set document (empty when it is sound)."""
    problems: list[str] = []
    if not isinstance(doc, Mapping) or not doc:
        return ["the alarm rules must map sensor types to rule sets"]
    from supervision.monitoring.loop import check_rules as check_warning_levels

    problems.extend(check_warning_levels(doc))
    for name, rule_set in doc.items():
        if name == WARNING_LEVELS:
            continue
        rules = (rule_set or {}).get("rules") if isinstance(rule_set, Mapping) else None
        if not isinstance(rules, list) or not rules:
            problems.append(f"{name}: a rule set needs a list of rules")
            continue
        seen = set()
        for i, r in enumerate(rules):
            where = f"{name}.rules[{i}]"
            if not isinstance(r, Mapping) or not r.get("id") or r.get("kind") not in KINDS:
                problems.append(f"{where}: needs an id and a kind among {', '.join(KINDS)}")
                continue
            if r["id"] in seen:
                problems.append(f"{where}: rule id {r['id']!r} is used twice")
            seen.add(r["id"])
            if r["kind"] == "level" and (r.get("threshold") is None or r.get("direction", "high") not in ("high", "low")):
                problems.append(f"{where}: a level rule needs a threshold and direction high or low")
            if r["kind"] == "trend" and (r.get("threshold") is None or r.get("direction", "high") not in ("high", "low")
                                         or not isinstance(r.get("horizon_min"), int | float) or r["horizon_min"] <= 0):
                problems.append(f"{where}: a trend rule needs a threshold, direction high or low and horizon_min > 0")
            if r["kind"] == "rate" and (not isinstance(r.get("max_per_min"), int | float)
                                        or r.get("direction", "high") not in ("high", "low", "both")):
                problems.append(f"{where}: a rate rule needs max_per_min and direction high, low or both")
            unknown = set(r) - {f for f in Rule.__dataclass_fields__} - {"threshold"}
            if unknown:
                problems.append(f"{where}: unknown keys {', '.join(sorted(unknown))}")
    return problems


def rules_for(doc: Mapping[str, Any], rule_set: str, params: Mapping[str, Any]) -> list[Rule]:
    """The rules of ``rule_set`` with thresholds resolved for one sensor's parameters (rules it cannot supply a
    threshold for left out)."""
    out = []
    for r in (doc.get(rule_set) or {}).get("rules", ()):
        spec = {k: v for k, v in r.items() if k not in ("threshold", "deadband")}
        threshold = _threshold(r.get("threshold"), params)
        if r["kind"] in ("level", "trend") and threshold is None:
            continue
        deadband = _threshold(r.get("deadband", 0.0), params)
        out.append(Rule(**spec, threshold=threshold, deadband=deadband or 0.0))
    return out


# -- evaluation ------------------------------------------------------------------------------------------------
def _seconds(a: datetime, b: datetime) -> float:
    return (b - a).total_seconds()


def _iso(ts: datetime) -> str:
    return ts.isoformat()


def _at(value: str) -> datetime:
    return datetime.fromisoformat(value)


def evaluate(rule: Rule, state: Mapping[str, Any], ts: datetime, value: float) -> tuple[dict, Outcome | None]:
    """One reading (newer than any the rule has seen) against one rule."""
    if rule.kind == "level":
        return _level(rule, dict(state), ts, value)
    if rule.kind == "rate":
        return _rate(rule, dict(state), ts, value)
    if rule.kind == "trend":
        return _trend(rule, state, ts, value)
    if rule.kind == "flat_line":
        return _flat(rule, dict(state), ts, value)
    if rule.kind == "stale":  # a reading arrived: the data is not stale (any more)
        if state.get("active"):
            return {"active": False}, Outcome("clear", value, None, f"{rule.label or rule.id}: 数据恢复")
        return dict(state), None
    raise RuleError(f"unknown rule kind {rule.kind!r}")


def _beyond(rule: Rule, value: float, margin: float = 0.0) -> bool:
    assert rule.threshold is not None
    if rule.direction == "high":
        return value >= rule.threshold - margin
    return value <= rule.threshold + margin


def _level(rule: Rule, state: dict, ts: datetime, value: float) -> tuple[dict, Outcome | None]:
    label = rule.label or rule.id
    if state.get("active"):
        if _beyond(rule, value, rule.deadband):      # still beyond (or within the deadband): a repeat
            return state, Outcome("repeat", value, rule.threshold, f"{label}: {value:g}")
        return {"active": False}, Outcome("clear", value, rule.threshold, f"{label}: 恢复 {value:g}")
    if not _beyond(rule, value):
        return {"active": False}, None
    pending = state.get("pending_since")
    since = _at(pending) if pending else ts
    if _seconds(since, ts) >= rule.delay_s:
        return {"active": True}, Outcome("raise", value, rule.threshold, f"{label}: {value:g}（阈值 {rule.threshold:g}）")
    return {"active": False, "pending_since": _iso(since)}, None


def _rate(rule: Rule, state: dict, ts: datetime, value: float) -> tuple[dict, Outcome | None]:
    """The change since a reference reading at least ``rate_window_s`` old: over a window, not between consecutive
    readings (a few seconds apart, the sensor's noise alone would look like a fast change)."""
    label = rule.label or rule.id
    ref_ts, ref_value = state.get("ref_ts"), state.get("ref_value")
    active = bool(state.get("active"))
    if ref_ts is None or rule.max_per_min is None:
        return {"active": active, "ref_ts": _iso(ts), "ref_value": value}, None
    dt = _seconds(_at(ref_ts), ts)
    if dt < rule.rate_window_s:
        return dict(state), None
    new = {"active": active, "ref_ts": _iso(ts), "ref_value": value}
    change = (value - ref_value) / dt * 60.0
    fast = {"high": change > rule.max_per_min, "low": -change > rule.max_per_min,
            "both": abs(change) > rule.max_per_min}[rule.direction]
    if fast:
        new["active"] = True
        return new, Outcome("repeat" if active else "raise", value, rule.max_per_min,
                            f"{label}: 变化 {change:+.3g}/min（限值 {rule.max_per_min:g}/min）")
    if active:
        new["active"] = False
        return new, Outcome("clear", value, rule.max_per_min, f"{label}: 变化恢复正常")
    return new, None


def _fit(buckets: list[list[float]], now: float) -> tuple[int, float, float] | None:
    """(points, slope per second, the line's value at ``now``) of the least-squares line through the buckets'
    points (each bucket: start, n, Σu, Σv, Σu², Σuv with u the seconds since its start), times taken from ``now``."""
    n = st = sv = stt = stv = 0.0
    for start, bn, su, bsv, suu, suv in buckets:
        b = start - now                          # t = b + u, small numbers around now
        n += bn
        st += bn * b + su
        sv += bsv
        stt += bn * b * b + 2 * b * su + suu
        stv += b * bsv + suv
    denominator = n * stt - st * st
    if n < 2 or denominator <= 1e-12 * max(1.0, n * stt):
        return None
    slope = (n * stv - st * sv) / denominator
    return int(n), slope, (sv - slope * st) / n   # the intercept at t = 0, i.e. at now


def _trend(rule: Rule, state: Mapping[str, Any], ts: datetime, value: float) -> tuple[dict, Outcome | None]:
    label = rule.label or rule.id
    assert rule.threshold is not None and rule.horizon_min is not None
    now = ts.timestamp()
    width = rule.trend_window_s / 10
    buckets = [list(b) for b in state.get("buckets", ()) if b[0] + width > now - rule.trend_window_s]
    if buckets and now - buckets[-1][0] < width:
        b = buckets[-1]
    else:
        b = [now, 0, 0.0, 0.0, 0.0, 0.0]
        buckets.append(b)
    u = now - b[0]
    b[1] += 1
    b[2] += u
    b[3] += value
    b[4] += u * u
    b[5] += u * value
    active = bool(state.get("active"))
    new = {"active": active, "buckets": buckets}
    fit = _fit(buckets, now)
    if fit is None or fit[0] < rule.min_points or now - buckets[0][0] < rule.trend_window_s / 2:
        return new, None   # too few readings, or too short a stretch, to call it a trend
    _, slope, fitted = fit
    sign = 1.0 if rule.direction == "high" else -1.0
    toward = sign * slope > 0

    def minutes_to(level: float) -> float:
        return max(0.0, (level - fitted) / slope / 60.0) if toward else float("inf")

    eta = minutes_to(rule.threshold)
    if active:
        if toward and minutes_to(rule.threshold - sign * rule.deadband) <= rule.horizon_min:
            return new, Outcome("repeat", value, rule.threshold, _trend_message(label, eta, rule.threshold, slope))
        new["active"] = False
        return new, Outcome("clear", value, rule.threshold, f"{label}: 趋势解除（{slope * 60:+.3g}/min）")
    # a new warning only for a value still short of the threshold (beyond it, the level alarm speaks) and not
    # falling back under the line (a spike that is over leaves a steep line behind it for a while)
    short = value < rule.threshold if sign > 0 else value > rule.threshold
    with_line = sign * (value - fitted) >= -rule.deadband
    if toward and eta <= rule.horizon_min and short and with_line:
        new["active"] = True
        return new, Outcome("raise", value, rule.threshold, _trend_message(label, eta, rule.threshold, slope))
    return new, None


def _trend_message(label: str, eta: float, threshold: float, slope: float) -> str:
    when = "已达到" if eta == 0 else f"约 {eta:.0f} 分钟后达到"
    return f"{label}: 按当前趋势{when} {threshold:g}（{slope * 60:+.3g}/min）"


def _flat(rule: Rule, state: dict, ts: datetime, value: float) -> tuple[dict, Outcome | None]:
    label = rule.label or rule.id
    ref, since = state.get("ref"), state.get("since")
    if ref is None or abs(value - ref) > rule.tolerance:
        new = {"active": False, "ref": value, "since": _iso(ts)}
        return new, (Outcome("clear", value, None, f"{label}: 数值恢复变化") if state.get("active") else None)
    if state.get("active"):
        return dict(state), None
    if _seconds(_at(since), ts) >= rule.window_s:
        return {**state, "active": True}, Outcome("raise", value, None,
                                                  f"{label}: {rule.window_s / 60:g} 分钟内数值不变（{value:g}）")
    return dict(state), None


def evaluate_stale(rule: Rule, state: Mapping[str, Any], last_ts: datetime | None,
                   now: datetime) -> tuple[dict, Outcome | None]:
    """The sweep's question for a ``stale`` rule: has the sensor been silent for ``after_s`` at ``now``?"""
    if rule.kind != "stale":
        return dict(state), None
    silent = last_ts is None or _seconds(last_ts, now) >= rule.after_s
    if silent and not state.get("active"):
        since = "从未上报" if last_ts is None else f"最后数据 {last_ts.isoformat()}"
        return {"active": True}, Outcome("raise", None, rule.after_s, f"{rule.label or rule.id}: {since}")
    if not silent and state.get("active"):
        return {"active": False}, Outcome("clear", None, rule.after_s, f"{rule.label or rule.id}: 数据恢复")
    return dict(state), None


__all__ = ["KINDS", "Outcome", "Rule", "RuleError", "check_rule_sets", "evaluate", "evaluate_stale", "rules_for"]
