"""Plans for an incident: which apply, the suggested response level, activation into tasks, task progress.

Which plans apply (``GET /incidents/<id>/plans``): the city's plans always, the plans of the incident's district,
and the plans of the incident's enterprise — each only if the caller may read it, its scope lists the incident's
kind, and its chemicals (if it names any) include one the incident involves (when the incident's chemicals are not
known, such a plan is listed with ``chemical_confirmed: false``).

The incident's facts: deaths and injuries as last reported; evacuees = the persons in the affected area of the
latest impact run (when the caller may read population figures); the alarm level = the highest active monitoring
alarm of the incident enterprise's sensors (二级 = 2 is the more severe); the chemicals and tonnes held by the
enterprise's active hazard sources (plus the chemical of the latest impact run).

Activation (``POST .../plans/<plan>/activate``) is allowed once per incident and plan: a repeat is 409
``plan_already_activated`` naming the activation (change the level by activating another plan or editing the
incident's response level). It copies the chosen level's actions of the plan's current version into the incident
as tasks (due = activation time + time limit), records ``plan_activated`` on the timeline, raises the incident's
response level when the chosen one is more severe, and returns the plan's linked resources that the caller may
read, as bodies for ``POST /incidents/<id>/dispatch``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import timedelta
from typing import Any

from sqlalchemy import text
from sqlalchemy.engine import Connection

from access.policy.rowscope import LayerAccess
from core import clock
from core.errors import Conflict, InvalidInput, NotFound
from emergency.history import record_change, unit_of_work
from emergency.impact import schemas as impact_schemas
from emergency.impact import service as impact
from emergency.incidents import schemas as s
from emergency.incidents.service import fetch_incident, lock_incident
from emergency.lifecycles import INCIDENT_ACTIVE, INCIDENT_LIFECYCLE
from emergency.models import resource_layers
from emergency.plans import service as plans
from emergency.plans.triggers import LEVEL_NUMERALS, Facts, describe, suggest
from layers.registry import default_registry

ACTIVATE_KEYS = ("level", "reason")
TASK_KEYS = ("done",)


def _chemicals(conn: Connection, uscc: str | None) -> dict[str, float]:
    if not uscc:
        return {}
    rows = conn.execute(text(
        "SELECT c.cas, sum(c.quantity_t) AS tonnes FROM hazard_source_chemicals c JOIN hazard_sources h ON "
        "h.code = c.hazard_source_code WHERE h.enterprise_uscc = :u AND h.status = 'active' AND c.cas IS NOT NULL "
        "GROUP BY c.cas"), {"u": uscc}).all()
    return {r.cas: float(r.tonnes) for r in rows}


def _alarm_level(conn: Connection, uscc: str | None) -> int | None:
    if not uscc or conn.execute(text("SELECT to_regclass('public.monitoring_alarms')")).scalar() is None:
        return None  # no monitoring module installed: the fact is unknown
    return conn.execute(text(
        "SELECT max(a.level) FROM monitoring_alarms a JOIN sensors s ON s.code = a.sensor_code JOIN hazard_sources h "
        "ON h.code = s.hazard_source_code WHERE h.enterprise_uscc = :u AND a.state = 'active'"), {"u": uscc}).scalar()


def facts_of(conn: Connection, incident: Mapping[str, Any], *, access: LayerAccess) -> tuple[Facts, set[str]]:
    """The incident's facts and the CAS numbers of the chemicals it involves."""
    held = _chemicals(conn, incident["enterprise_uscc"])
    involved = set(held)
    runs = impact.list_runs(conn, incident["id"], access=access)
    evacuees = runs[-1]["persons"] if runs else None
    if runs:
        latest = impact.get_run(conn, incident["id"], runs[-1]["run"], access=access)
        if latest.get("chemical"):
            involved.add(latest["chemical"]["cas"])
    facts = Facts(deaths=incident["deaths"], injuries=incident["injuries"], evacuees=evacuees,
                  alarm_level=_alarm_level(conn, incident["enterprise_uscc"]), chemicals=held)
    return facts, involved


def _candidates(conn: Connection, incident: Mapping[str, Any], access: LayerAccess) -> list[Mapping[str, Any]]:
    where, params = plans.read_sql(access.module_scope(plans.MODULE, "read"))
    return conn.execute(text(
        f"SELECT p.*, v.body FROM emergency_plans p JOIN emergency_plan_versions v ON v.plan_id = p.id AND "
        f"v.version = p.version WHERE {where} AND (p.owner_level = 'city' OR (p.owner_level = 'district' AND "
        f"p.district_code = :d) OR (p.owner_level = 'enterprise' AND p.enterprise_uscc = :u)) ORDER BY "
        f"CASE p.owner_level WHEN 'city' THEN 1 WHEN 'district' THEN 2 ELSE 3 END, p.id"),
        {**params, "d": incident["district_code"], "u": incident["enterprise_uscc"] or ""}).mappings().all()


def applies(body: Mapping[str, Any], kind: str, involved: set[str]) -> tuple[bool, bool]:
    """(does the plan's scope cover the incident, is the chemical confirmed)."""
    if kind not in body["scope"]["incident_kinds"]:
        return False, False
    named = set(body["scope"].get("chemicals") or [])
    if not named:
        return True, True
    if not involved:
        return True, False
    return bool(named & involved), True


def _activation(row: Mapping[str, Any]) -> dict[str, Any]:
    return {"id": row["id"], "plan_id": row["plan_id"], "plan_version": row["plan_version"], "level": row["level"],
            "level_label": s.LEVEL_LABELS[row["level"]], "suggested_level": row["suggested_level"],
            "trigger": row["trigger"], "reason": row["reason"], "actor": row["actor"],
            "activated_at": row["activated_at"].isoformat()}


def _activations(conn: Connection, incident_id: int) -> dict[int, dict[str, Any]]:
    rows = conn.execute(text("SELECT * FROM plan_activations WHERE incident_id = :i ORDER BY id"),
                        {"i": incident_id}).mappings()
    return {r["plan_id"]: _activation(r) for r in rows}


def _levels(body: Mapping[str, Any]) -> list[dict[str, Any]]:
    return [{"level": lv["level"], "label": s.LEVEL_LABELS[lv["level"]], "actions": len(lv["actions"]),
             "triggers": [describe(t, lv["level"]) for t in lv["triggers"]]}
            for lv in sorted(body["levels"], key=lambda lv: lv["level"])]


def matching_plans(conn: Connection, incident_id: int, *, access: LayerAccess) -> dict[str, Any]:
    incident = fetch_incident(conn, incident_id, access=access)
    facts, involved = facts_of(conn, incident, access=access)
    done = _activations(conn, incident_id)
    out = []
    for row in _candidates(conn, incident, access):
        body = row["body"]
        covered, confirmed = applies(body, incident["kind"], involved)
        if not covered:
            continue
        suggestion = suggest(body["levels"], facts)
        if suggestion is not None:
            suggestion["label"] = s.LEVEL_LABELS[suggestion["level"]]
        out.append({**plans.summary(row), "chemical_confirmed": confirmed, "suggestion": suggestion,
                    "levels": _levels(body), "resources": len(body.get("resources", [])),
                    "activation": done.get(row["id"])})
    return {"incident_id": incident_id, "facts": facts.as_dict(), "chemicals_involved": sorted(involved),
            "plans": out}


def _proposals(conn: Connection, body: Mapping[str, Any], level: int, access: LayerAccess) -> list[dict[str, Any]]:
    layers, out = resource_layers(), []
    for res in body.get("resources", []):
        layer = default_registry().get(layers[res["kind"]])
        where, params = access.where(layer.id, alias="t")
        name = conn.execute(text(f'SELECT t.name FROM "{layer.table}" t WHERE t."{layer.id_field}" = :id AND {where}'),
                            {**params, "id": res["id"]}).scalar()
        if name is not None:
            out.append({"resource_kind": res["kind"], "resource_id": res["id"], "name": name,
                        "task": res.get("task") or f"{body['title']}：{LEVEL_NUMERALS[level]}级响应"})
    return out


def activate(conn: Connection, incident_id: int, plan_id: int, data: dict[str, Any], *, access: LayerAccess,
             actor: str | None = None) -> dict[str, Any]:
    s.check_keys(data, ACTIVATE_KEYS)
    if data.get("level") is None:
        raise InvalidInput("level", s.LEVEL_ALLOWED, details={"reason": "required"})
    level = s.parse_level(data["level"], "level")
    reason = impact_schemas.parse_text(data.get("reason"), "reason", 1000)  # no NUL characters either
    with unit_of_work(conn) as changes:
        incident = lock_incident(conn, incident_id, access=access)
        if incident["status"] not in INCIDENT_ACTIVE:
            raise Conflict(f"incident {incident_id} is {incident['status']}: no plan can be activated",
                           f"事件 {incident['code']} 已{INCIDENT_LIFECYCLE.labels[incident['status']]}，不能再启动预案",
                           details={"current": incident["status"]}, code="incident_not_active")
        plan = plans.fetch(conn, plan_id, access=access)
        body = plans.version_body(conn, plan_id, plan["version"])["body"]
        facts, involved = facts_of(conn, incident, access=access)
        eligible = plan["owner_level"] == "city" or (plan["owner_level"] == "district" and plan["district_code"] ==
                                                     incident["district_code"]) or (
            plan["owner_level"] == "enterprise" and plan["enterprise_uscc"] == incident["enterprise_uscc"])
        if not eligible or not applies(body, incident["kind"], involved)[0]:
            raise Conflict(f"plan {plan_id} does not apply to incident {incident_id} (owner, incident kind or "
                           "chemical outside its scope)", f"预案“{plan['title']}”不适用于事件 {incident['code']}",
                           details={"plan_id": plan_id, "incident_id": incident_id}, code="plan_not_applicable")
        earlier = _activations(conn, incident_id).get(plan_id)
        if earlier is not None:
            raise Conflict(f"plan {plan_id} was activated for incident {incident_id} already "
                           f"(level {earlier['level']} at {earlier['activated_at']})",
                           f"预案“{plan['title']}”已于 {earlier['activated_at']} 启动（{earlier['level_label']}）",
                           details={"activation": earlier}, code="plan_already_activated")
        chosen = next((lv for lv in body["levels"] if lv["level"] == level), None)
        if chosen is None:
            offered = sorted(lv["level"] for lv in body["levels"])
            raise InvalidInput("level", "one of the plan's levels: " + ", ".join(map(str, offered)), value=level)
        suggestion = suggest(body["levels"], facts)
        suggested = suggestion["level"] if suggestion else None
        if level != suggested and not reason:
            raise InvalidInput("reason", "a reason, when the level differs from the suggested one "
                               f"({suggested if suggested else 'none'})", details={"reason": "required",
                                                                                    "suggested_level": suggested})
        now = clock.now()
        activation_id = conn.execute(text(
            "INSERT INTO plan_activations (incident_id, plan_id, plan_version, level, suggested_level, trigger, "
            "reason, actor, activated_at) VALUES (:i, :p, :v, :l, :sl, CAST(:t AS jsonb), :r, :a, :at) RETURNING id"),
            {"i": incident_id, "p": plan_id, "v": plan["version"], "l": level, "sl": suggested,
             "t": json.dumps(suggestion, ensure_ascii=False) if suggestion else None, "r": reason, "a": actor,
             "at": now}).scalar_one()
        roles = {r["role"]: r["name"] for r in body["organisation"]}
        seq = conn.execute(text("SELECT coalesce(max(seq), 0) FROM incident_tasks WHERE incident_id = :i"),
                           {"i": incident_id}).scalar_one()
        for k, action in enumerate(chosen["actions"], start=1):
            conn.execute(text(
                "INSERT INTO incident_tasks (incident_id, activation_id, seq, action, owner_role, owner_label, "
                "time_limit_min, due_at) VALUES (:i, :a, :seq, :action, :role, :label, :limit, :due)"),
                {"i": incident_id, "a": activation_id, "seq": seq + k, "action": action["action"],
                 "role": action["owner_role"], "label": roles[action["owner_role"]],
                 "limit": action["time_limit_min"], "due": now + timedelta(minutes=action["time_limit_min"])})
        raised = incident["response_level"] is None or level < incident["response_level"]
        if raised:
            conn.execute(text("UPDATE incidents SET response_level = :l WHERE id = :i"), {"l": level, "i": incident_id})
        record_change(conn, changes, incident_id=incident_id, event="plan_activated", actor=actor, data={
            "activation_id": activation_id, "plan_id": plan_id, "plan_title": plan["title"],
            "plan_version": plan["version"], "level": level, "suggested_level": suggested,
            "trigger": suggestion["text"] if suggestion else None, "reason": reason, "tasks": len(chosen["actions"]),
            "response_level": {"from": incident["response_level"], "to": level} if raised else None})
    return {"activation": _activations(conn, incident_id)[plan_id],
            "tasks": [t for t in list_tasks(conn, incident_id, access=access)["tasks"]
                      if t["activation_id"] == activation_id],
            "proposed_dispatch": _proposals(conn, body, level, access)}


def _task(row: Mapping[str, Any], now: Any) -> dict[str, Any]:
    return {"id": row["id"], "seq": row["seq"], "activation_id": row["activation_id"], "plan_id": row["plan_id"],
            "action": row["action"], "owner_role": row["owner_role"], "owner_label": row["owner_label"],
            "time_limit_min": row["time_limit_min"], "due_at": row["due_at"].isoformat(),
            "done": row["done_at"] is not None, "done_at": row["done_at"] and row["done_at"].isoformat(),
            "done_by": row["done_by"],
            "overdue": row["done_at"] is None and row["due_at"] < now}


_TASKS = ("SELECT t.*, a.plan_id FROM incident_tasks t JOIN plan_activations a ON a.id = t.activation_id "
          "WHERE t.incident_id = :i")


def list_tasks(conn: Connection, incident_id: int, *, access: LayerAccess) -> dict[str, Any]:
    """The incident's tasks in order, each flagged ``overdue`` when not done by its due time."""
    fetch_incident(conn, incident_id, access=access)
    now = clock.now()
    tasks = [_task(r, now) for r in conn.execute(text(_TASKS + " ORDER BY t.seq"), {"i": incident_id}).mappings()]
    return {"incident_id": incident_id, "tasks": tasks, "open": sum(not t["done"] for t in tasks),
            "overdue": sum(t["overdue"] for t in tasks)}


def mark_task(conn: Connection, incident_id: int, task_id: int, data: dict[str, Any], *, access: LayerAccess,
              actor: str | None = None) -> dict[str, Any]:
    """Mark a task done (``{"done": true}``: who and when are recorded) or not done again; a repeat changes nothing."""
    s.check_keys(data, TASK_KEYS)
    done = data.get("done")
    if not isinstance(done, bool):
        raise InvalidInput("done", "true or false", value=done, details={"reason": "required" if done is None
                                                                          else "not a boolean"})
    with unit_of_work(conn) as changes:
        lock_incident(conn, incident_id, access=access)
        row = conn.execute(text(_TASKS + " AND t.id = :t FOR UPDATE OF t"),
                           {"i": incident_id, "t": task_id}).mappings().first()
        if row is None:
            raise NotFound(f"incident {incident_id} has no task {task_id}",
                           f"事件 {incident_id} 没有编号为 {task_id} 的任务", details={"task_id": task_id})
        if (row["done_at"] is not None) != done:
            now = clock.now()
            conn.execute(text("UPDATE incident_tasks SET done_at = :at, done_by = :by WHERE id = :t"),
                         {"at": now if done else None, "by": (actor or "unknown") if done else None, "t": task_id})
            record_change(conn, changes, incident_id=incident_id, event="task_done" if done else "task_reopened",
                          actor=actor, data={"task_id": task_id, "seq": row["seq"], "action": row["action"],
                                             "owner_role": row["owner_role"], "due_at": row["due_at"].isoformat(),
                                             "at": now.isoformat(), "late": done and now > row["due_at"]})
        row = conn.execute(text(_TASKS + " AND t.id = :t"), {"i": incident_id, "t": task_id}).mappings().one()
    return _task(row, clock.now())


__all__ = ["activate", "applies", "facts_of", "list_tasks", "mark_task", "matching_plans"]
