"""Incidents: intake (接报), the 快报/续报 timeline, edits, and the lifecycle as a locked state machine.

The incident is the ``incidents`` registry layer (so it is on the map and in the OGC services); every change is
made under a row lock (``SELECT … FOR UPDATE``) and recorded through :func:`core.changes.record_change`.
Every function takes the caller's ``access``: an incident outside its read scope is a 404, a change needs the
module's write scope before and after (see :mod:`emergency.access`).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import text
from sqlalchemy.engine import Connection

from access.policy.rowscope import LayerAccess
from core.errors import Conflict, InvalidInput, NotFound
from core.geo.points import district_of
from core.params import int_arg
from emergency.access import INCIDENTS, check_write
from emergency.history import record_change, unit_of_work
from emergency.incidents import schemas as s
from emergency.lifecycles import INCIDENT_LIFECYCLE

CHINA = ZoneInfo("Asia/Shanghai")
CODE_LOCK = "onemap.incident_code"
_COLUMNS = ("i.id, i.code, i.title, i.kind, i.reported_at, i.response_level, i.status, i.enterprise_uscc, "
            "i.deaths, i.injuries, i.description, i.district_code, d.name AS district_name, "
            "ST_X(i.geom) AS lon, ST_Y(i.geom) AS lat")
_FROM = "FROM incidents i LEFT JOIN districts d ON d.code = i.district_code"


def summary(row: Mapping[str, Any]) -> dict[str, Any]:
    status, level = row["status"], row["response_level"]
    return {
        "id": row["id"], "code": row["code"], "title": row["title"], "kind": row["kind"],
        "kind_label": s.kind_label(row["kind"]), "status": status,
        "status_label": INCIDENT_LIFECYCLE.labels.get(status), "response_level": level,
        "response_level_label": s.LEVEL_LABELS.get(level), "reported_at": row["reported_at"].isoformat(),
        "district_code": row["district_code"], "district_name": row["district_name"],
        "enterprise_uscc": row["enterprise_uscc"], "deaths": row["deaths"], "injuries": row["injuries"],
        "description": row["description"], "lon": round(row["lon"], 7), "lat": round(row["lat"], 7),
        "allowed_transitions": INCIDENT_LIFECYCLE.allowed(status),
    }


def not_found(incident_id: int) -> NotFound:
    return NotFound(f"no incident with id {incident_id}", f"不存在编号为 {incident_id} 的事件",
                    details={"id": incident_id})


def _fetch(conn: Connection, incident_id: int, *, access: LayerAccess, lock: bool = False) -> Mapping[str, Any]:
    """The incident if it exists within the caller's read scope (404 otherwise: a foreign one is "missing"); a
    caller who may not read incidents at all (a token without the scope) is told so (403), not that it is missing."""
    access.require(INCIDENTS, "read")
    where, params = access.where(INCIDENTS, alias="i")
    # FOR UPDATE OF i: lock the incident only, not the district it joins.
    sql = f"SELECT {_COLUMNS} {_FROM} WHERE i.id = :id AND {where}" + (" FOR UPDATE OF i" if lock else "")
    row = conn.execute(text(sql), {**params, "id": incident_id}).mappings().first()
    if row is None:
        access.note_hidden(conn, INCIDENTS, incident_id, action="write" if lock else "read")
        raise not_found(incident_id)
    return row


def fetch_incident(conn: Connection, incident_id: int, *, access: LayerAccess) -> Mapping[str, Any]:
    """The incident row inside the caller's read scope (404 otherwise, an audited probe when it exists)."""
    return _fetch(conn, incident_id, access=access)


def _check_write(conn: Connection, access: LayerAccess, values: Mapping[str, Any], *, creating: bool = False) -> None:
    check_write(conn, access, INCIDENTS, {k: values[k] for k in ("district_code", "enterprise_uscc")},
                what_en="incidents", what_zh="事件", creating=creating)


def lock_incident(conn: Connection, incident_id: int, *, access: LayerAccess) -> Mapping[str, Any]:
    """The incident row, locked until the end of the caller's transaction, for a change by the caller: 404 when
    they cannot see it, 403 when they can but it lies outside their write scope."""
    row = _fetch(conn, incident_id, access=access, lock=True)
    _check_write(conn, access, row)
    return row


def _resolve(conn: Connection, loc: s.Location, access: LayerAccess) -> tuple[float, float, str | None, str | None]:
    """(lon, lat, enterprise USCC, place name) of the location (an enterprise or hazard source the caller may read)."""
    if loc.lon is not None and loc.lat is not None:
        return loc.lon, loc.lat, None, None
    if loc.enterprise_uscc:
        where, params = access.where("enterprises", alias="e")
        row = conn.execute(text(f"SELECT ST_X(e.geom), ST_Y(e.geom), e.uscc, e.name FROM enterprises e "
                                f"WHERE e.uscc = :u AND {where}"), {**params, "u": loc.enterprise_uscc}).first()
        what, value = "location.enterprise_uscc", loc.enterprise_uscc
    else:
        where, params = access.where("hazard_sources", alias="h")
        row = conn.execute(text(f"SELECT ST_X(h.geom), ST_Y(h.geom), h.enterprise_uscc, h.name "
                                f"FROM hazard_sources h WHERE h.code = :c AND {where}"),
                           {**params, "c": loc.hazard_source_code}).first()
        what, value = "location.hazard_source_code", loc.hazard_source_code
    if row is None:
        raise InvalidInput(what, "a registered " + ("enterprise USCC" if loc.enterprise_uscc else
                                                    "hazard source code"), value=value,
                           details={"reason": "not found"})
    return float(row[0]), float(row[1]), row[2], row[3]


def _check_enterprise(conn: Connection, uscc: str | None, access: LayerAccess) -> None:
    where, params = access.where("enterprises", alias="e")
    if uscc and conn.execute(text(f"SELECT 1 FROM enterprises e WHERE e.uscc = :u AND {where}"),
                             {**params, "u": uscc}).first() is None:
        raise InvalidInput("enterprise_uscc", "the USCC of a registered enterprise", value=uscc,
                           details={"reason": "not found"})


def _next_code(conn: Connection, reported_at: datetime) -> str:
    # One code sequence per day; an advisory lock (released at commit) makes concurrent intakes take turns.
    conn.execute(text("SELECT pg_advisory_xact_lock(hashtext(:k))"), {"k": CODE_LOCK})
    prefix = "SJ" + reported_at.astimezone(CHINA).strftime("%Y%m%d")
    last = conn.execute(text("SELECT max(code) FROM incidents WHERE code LIKE :p AND length(code) = :n"),
                        {"p": prefix + "%", "n": len(prefix) + 3}).scalar()
    return f"{prefix}{(int(last[len(prefix):]) + 1) if last else 1:03d}"


def intake(conn: Connection, data: dict[str, Any], *, access: LayerAccess,
           actor: str | None = None) -> dict[str, Any]:
    """接报: create the incident and its 快报 (report 1). Outside the city → 400 ``outside_city``; in a district
    outside the caller's write scope → 403."""
    s.check_keys(data, s.INTAKE_KEYS)
    now = s.utc_now()
    reported_at = s.parse_time(data.get("reported_at"), "reported_at", now=now)
    kind = s.parse_kind(data.get("kind"))
    location = s.parse_location(data.get("location"))
    level = s.parse_level(data.get("response_level"))
    source = s.parse_source(data.get("source"))
    reporter_name, reporter_phone = s.parse_reporter(data.get("reporter"))
    casualties = s.parse_casualties(data.get("casualties"))
    title = s.parse_text(data.get("title"), "title", 200)
    description = s.parse_text(data.get("description"), "description", None)
    related = s.parse_text(data.get("enterprise_uscc"), "enterprise_uscc", 18)
    access.require(INCIDENTS, "read")  # the answer is the incident as read back: refuse before writing, not after
    with unit_of_work(conn) as changes:
        lon, lat, uscc, place = _resolve(conn, location, access)
        district = district_of(conn, lon, lat, "location")
        if related and uscc and related != uscc:
            raise InvalidInput("enterprise_uscc", f"empty or {uscc} (the location's enterprise)", value=related)
        uscc = related or uscc
        _check_enterprise(conn, uscc, access)
        _check_write(conn, access, {"district_code": district, "enterprise_uscc": uscc}, creating=True)
        if title is None:
            where = place or conn.execute(text("SELECT name FROM districts WHERE code = :c"),
                                          {"c": district}).scalar()
            title = f"{where}{s.kind_label(kind)}"
        code = _next_code(conn, reported_at)
        when = reported_at.astimezone(CHINA).strftime("%Y年%m月%d日%H时%M分")
        report_text = description or f"{when}，{title}。"
        new_id = conn.execute(text(
            "INSERT INTO incidents (code, title, kind, reported_at, response_level, status, enterprise_uscc, "
            "deaths, injuries, description, district_code, geom) VALUES (:code, :title, :kind, :at, :level, "
            ":status, :uscc, :deaths, :injuries, :description, :district, "
            "ST_SetSRID(ST_MakePoint(:lon, :lat), 4490)) RETURNING id"),
            {"code": code, "title": title, "kind": kind, "at": reported_at, "level": level,
             "status": INCIDENT_LIFECYCLE.initial, "uscc": uscc, "deaths": casualties["deaths"],
             "injuries": casualties["injuries"], "description": report_text, "district": district,
             "lon": lon, "lat": lat}).scalar_one()
        _insert_report(conn, new_id, 1, reported_at, source, reporter_name, reporter_phone, report_text,
                       casualties)
        incident = summary(_fetch(conn, new_id, access=access))
        record_change(conn, changes, incident_id=new_id, event="created", to_status=incident["status"],
                      data={"incident": incident}, actor=actor)
    return get_incident(conn, new_id, access=access)


def _insert_report(conn: Connection, incident_id: int, seq: int, at: datetime, source: str | None,
                   name: str | None, phone: str | None, body: str, casualties: dict[str, int | None]) -> None:
    conn.execute(text(
        "INSERT INTO incident_reports (incident_id, seq, kind, reported_at, source, reporter_name, reporter_phone, "
        "text, deaths, injuries, missing) VALUES (:i, :seq, :kind, :at, :source, :name, :phone, :text, :deaths, "
        ":injuries, :missing)"),
        {"i": incident_id, "seq": seq, "kind": "first_report" if seq == 1 else "follow_up_report", "at": at,
         "source": source, "name": name, "phone": phone, "text": body, **casualties})


def _reports(conn: Connection, incident_id: int) -> list[dict[str, Any]]:
    rows = conn.execute(text(
        "SELECT seq, kind, reported_at, source, reporter_name, reporter_phone, text, deaths, injuries, missing "
        "FROM incident_reports WHERE incident_id = :i ORDER BY seq"), {"i": incident_id}).mappings().all()
    return [{**r, "reported_at": r["reported_at"].isoformat()} for r in rows]


def history(conn: Connection, incident_id: int) -> list[dict[str, Any]]:
    rows = conn.execute(text(
        "SELECT id, event, from_status, to_status, data, actor, at FROM incident_events WHERE incident_id = :i "
        "ORDER BY id"), {"i": incident_id}).mappings().all()
    return [{**r, "at": r["at"].isoformat()} for r in rows]


def get_incident(conn: Connection, incident_id: int, *, access: LayerAccess) -> dict[str, Any]:
    """The incident with its reports and history (404 when missing or outside the caller's read scope)."""
    incident = summary(_fetch(conn, incident_id, access=access))
    incident["reports"] = _reports(conn, incident_id)
    incident["history"] = history(conn, incident_id)
    return incident


def list_incidents(conn: Connection, args: Mapping[str, str], *, access: LayerAccess) -> dict[str, Any]:
    """Filters ``status``, ``kind``, ``district_code`` (comma lists), ``active=true``; newest first; paging.
    Only incidents inside the caller's read scope are listed and counted."""
    scoped, params = access.where(INCIDENTS, alias="i")
    where = [scoped]
    for name in ("status", "kind", "district_code"):
        if args.get(name):
            params[name] = [v.strip() for v in args[name].split(",") if v.strip()]
            where.append(f"i.{name} = ANY(:{name})")
    if args.get("active") in ("1", "true"):
        where.append("i.status = ANY(:active)")
        params["active"] = ["reported", "verified", "responding", "under_control"]
    unknown = sorted(set(args) - {"status", "kind", "district_code", "active", "limit", "offset"})
    if unknown:
        raise InvalidInput(unknown[0], "status, kind, district_code, active, limit, offset", value=unknown[0],
                           details={"reason": "unknown parameter"})
    params["limit"] = int_arg(args, "limit", 100, 1, 1000)
    params["offset"] = int_arg(args, "offset", 0, 0, 10**9)
    clause = " WHERE " + " AND ".join(where)
    total = conn.execute(text(f"SELECT count(*) {_FROM}{clause}"), params).scalar_one()
    rows = conn.execute(text(f"SELECT {_COLUMNS} {_FROM}{clause} ORDER BY i.reported_at DESC, i.id DESC "
                             "LIMIT :limit OFFSET :offset"), params).mappings().all()
    features = [{"type": "Feature", "id": r["id"], "properties": summary(r),
                 "geometry": {"type": "Point", "coordinates": [round(r["lon"], 7), round(r["lat"], 7)]}}
                for r in rows]
    return {"type": "FeatureCollection", "numberMatched": total, "numberReturned": len(rows),
            "limit": params["limit"], "offset": params["offset"], "features": features}


def _not_final(row: Mapping[str, Any]) -> None:
    if not INCIDENT_LIFECYCLE.allowed(row["status"]):
        raise Conflict(f"incident {row['id']} is {row['status']}: its record is final",
                       f"事件 {row['code']} 已{INCIDENT_LIFECYCLE.labels[row['status']]}，记录不可再修改",
                       details={"current": row["status"], "allowed": []}, code="incident_final")


def add_report(conn: Connection, incident_id: int, data: dict[str, Any], *, access: LayerAccess,
               actor: str | None = None) -> dict[str, Any]:
    """续报: the next report of the timeline; casualty figures given are the latest totals."""
    s.check_keys(data, s.REPORT_KEYS)
    reported_at = s.parse_time(data.get("reported_at"), "reported_at", now=s.utc_now())
    source = s.parse_source(data.get("source"))
    name, phone = s.parse_reporter(data.get("reporter"))
    body = s.parse_text(data.get("text"), "text", None, required=True)
    casualties = s.parse_casualties(data.get("casualties"))
    with unit_of_work(conn) as changes:
        row = lock_incident(conn, incident_id, access=access)
        _not_final(row)
        seq = conn.execute(text("SELECT coalesce(max(seq), 0) + 1 FROM incident_reports WHERE incident_id = :i"),
                           {"i": incident_id}).scalar_one()
        _insert_report(conn, incident_id, seq, reported_at, source, name, phone, body or "", casualties)
        totals = {k: v for k, v in casualties.items() if k in ("deaths", "injuries") and v is not None}
        if totals:
            sets = ", ".join(f"{k} = :{k}" for k in totals)
            conn.execute(text(f"UPDATE incidents SET {sets} WHERE id = :id"), {**totals, "id": incident_id})
        record_change(conn, changes, incident_id=incident_id, event="report_added",
                      data={"seq": seq, "kind": "first_report" if seq == 1 else "follow_up_report",
                            "casualties": casualties, "text": body}, actor=actor)
    return get_incident(conn, incident_id, access=access)


def update_incident(conn: Connection, incident_id: int, data: dict[str, Any], *, access: LayerAccess,
                    actor: str | None = None) -> dict[str, Any]:
    """Edit title, kind, response level (Ⅰ–Ⅳ), description or the related enterprise."""
    s.check_keys(data, s.UPDATE_KEYS)
    values: dict[str, Any] = {}
    if "title" in data:
        values["title"] = s.parse_text(data["title"], "title", 200, required=True)
    if "kind" in data:
        values["kind"] = s.parse_kind(data["kind"])
    if "response_level" in data:
        values["response_level"] = s.parse_level(data["response_level"])
    if "description" in data:
        values["description"] = s.parse_text(data["description"], "description", None)
    if "enterprise_uscc" in data:
        values["enterprise_uscc"] = s.parse_text(data["enterprise_uscc"], "enterprise_uscc", 18)
    with unit_of_work(conn) as changes:
        row = lock_incident(conn, incident_id, access=access)
        _not_final(row)
        _check_enterprise(conn, values.get("enterprise_uscc"), access)
        _check_write(conn, access, {**row, **values})  # still the caller's after the change
        changed = {k: {"from": row[k], "to": v} for k, v in values.items() if row[k] != v}
        if changed:
            sets = ", ".join(f"{k} = :{k}" for k in changed)
            conn.execute(text(f"UPDATE incidents SET {sets} WHERE id = :id"),
                         {**{k: values[k] for k in changed}, "id": incident_id})
            record_change(conn, changes, incident_id=incident_id, event="updated", data={"changes": changed},
                          actor=actor)
    return get_incident(conn, incident_id, access=access)


def transition(conn: Connection, incident_id: int, target: Any, *, access: LayerAccess, note: str | None = None,
               actor: str | None = None) -> dict[str, Any]:
    """Move the incident along its lifecycle; 409 with the allowed next states when the move is not allowed.

    The row lock makes concurrent moves take turns: of two "reported → verified" at once, one wins and the
    other sees "verified" and gets 409.
    """
    note = s.parse_text(note, "note", 500)
    with unit_of_work(conn) as changes:
        row = lock_incident(conn, incident_id, access=access)
        INCIDENT_LIFECYCLE.check(row["status"], target)
        conn.execute(text("UPDATE incidents SET status = :s WHERE id = :id"), {"s": target, "id": incident_id})
        record_change(conn, changes, incident_id=incident_id, event="status_changed", from_status=row["status"],
                      to_status=str(target), data={"note": note, "code": row["code"], "title": row["title"]},
                      actor=actor)
    return get_incident(conn, incident_id, access=access)

