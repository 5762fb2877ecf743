"""Impact analysis runs of an incident (辅助决策): model → zones → what lies inside → evacuation → stored run.

``run_impact`` checks the whole request first, then, in one transaction under the incident's row lock, computes
the zones (:mod:`emergency.impact.zones`), the affected population of each (:mod:`core.geo.zonal`),
the sensitive targets, enterprises, hazard sources (domino risk) and roads inside each (PostGIS), the evacuation
proposal (:mod:`emergency.impact.evacuation`), stores the run as the next ``seq`` of the incident in
``impact_runs`` and records ``impact_analysed`` on the incident's timeline. Any refusal rolls everything back.

Scope: the incident must be one the caller may change (404 unseen, 403 outside the write scope; 409 once closed).
What a run lists is read again through the reader's scope whenever it is shown: objects of layers or districts
the reader may not read are left out, and the population figures (and with them the evacuation, whose numbers
are the population's) only reach those who may read the population coverage.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import shapely
from shapely.geometry import mapping
from shapely.geometry.base import BaseGeometry
from sqlalchemy import text
from sqlalchemy.engine import Connection

from access.policy.rowscope import LayerAccess
from core.errors import Conflict, InvalidInput, NotFound
from core.geo.zonal import zonal_sum
from emergency.access import INCIDENTS
from emergency.consequence import vce
from emergency.dispatch.graph import VERSIONS_SQL, graphs
from emergency.history import record_change, unit_of_work
from emergency.impact import chemicals, evacuation, schemas, zones
from emergency.incidents.service import lock_incident, not_found
from emergency.lifecycles import INCIDENT_ACTIVE, INCIDENT_LIFECYCLE
from emergency.models import resource_layers
from layers.registry import default_registry

# Without a rate in the request, a chemical taken from the hazard source is released at its worst case: the whole
# stock in 10 minutes (US EPA RMP worst-case release scenario, 40 CFR 68.25(c)) — the stock recorded for the
# hazard source, which may be several vessels: an upper bound.
WORST_CASE_RELEASE_S = 600.0
WORST_CASE_BASIS = "US EPA RMP worst-case release scenario, 40 CFR 68.25(c): the stock released in 10 minutes"
MAX_LISTED = 1000  # objects of one kind listed per zone (the count says when more were found)
POPULATION = "population"

# layer → (SELECT list with alias t, ORDER BY); every list carries district_code (and enterprise_uscc) so that a
# reader's scope can be applied to a stored run
_INSIDE = {
    "sensitive_targets": ("t.id, t.name, t.kind, t.population, t.district_code, NULL::text AS enterprise_uscc, "
                          "ST_X(t.geom) AS lon, ST_Y(t.geom) AS lat", "t.population DESC, t.id"),
    "enterprises": ("t.uscc AS id, t.name, t.sector, t.risk_colour, t.district_code, t.uscc AS enterprise_uscc, "
                    "ST_X(t.geom) AS lon, ST_Y(t.geom) AS lat", "t.name, t.uscc"),
    "hazard_sources": ("t.code AS id, t.name, t.grade, t.status, t.district_code, t.enterprise_uscc, "
                       "ST_X(t.geom) AS lon, ST_Y(t.geom) AS lat", "t.grade, t.code"),
    "roads": ("t.id, t.name, t.road_class, NULL::text AS district_code, NULL::text AS enterprise_uscc, "
              "round(ST_Length(ST_Intersection(t.geom, z.g)::geography)::numeric, 1)::float AS length_inside_m",
              "t.road_class, t.id"),
}


def may_count(access: LayerAccess) -> bool:
    """May the caller see population figures (the city-wide population coverage)?"""
    if access.authz is None:
        return access.authenticated  # an unrestricted service caller
    return access.authz.can("read", "coverage", POPULATION)


def _zone_sql(geom: BaseGeometry) -> dict[str, Any]:
    return {"g": shapely.to_wkb(geom)}


_Z = "(SELECT ST_SetSRID(ST_GeomFromWKB(:g), 4490) AS g) z"


def _inside(conn: Connection, layer: str, geom: BaseGeometry, access: LayerAccess) -> dict[str, Any]:
    columns, order = _INSIDE[layer]
    where, params = access.where(layer, alias="t")
    table = default_registry().get(layer).table
    rows = conn.execute(text(
        f"SELECT {columns} FROM \"{table}\" t, {_Z} WHERE t.geom && z.g AND ST_Intersects(t.geom, z.g) AND {where} "
        f"ORDER BY {order} LIMIT :n"), {**params, **_zone_sql(geom), "n": MAX_LISTED + 1}).mappings().all()
    items = []
    for r in rows[:MAX_LISTED]:
        item = dict(r)
        if "lon" in item:
            item["lon"], item["lat"] = round(item["lon"], 7), round(item["lat"], 7)
        items.append(item)
    return {"items": items, "truncated": len(rows) > MAX_LISTED}


def _hazard_chemicals(conn: Connection, access: LayerAccess, *, code: str | None,
                      uscc: str | None) -> tuple[chemicals.Chemical, str, float] | None:
    """The most toxic chemical of the table held by the named hazard source (or the incident enterprise's), the
    source's code and the tonnes it holds."""
    where, params = access.where("hazard_sources", alias="h")
    if code is not None:
        found = conn.execute(text(f"SELECT h.code FROM hazard_sources h WHERE h.code = :c AND {where}"),
                             {**params, "c": code}).first()
        if found is None:
            raise InvalidInput("hazard_source_code", "the code of a registered hazard source", value=code,
                               details={"reason": "not found"})
        filter_sql, filter_params = "h.code = :c", {"c": code}
    elif uscc is not None and access.can("hazard_sources"):
        filter_sql, filter_params = "h.enterprise_uscc = :u AND h.status = 'active'", {"u": uscc}
    else:
        return None
    rows = conn.execute(text(
        f"SELECT c.cas, h.code, c.quantity_t FROM hazard_source_chemicals c JOIN hazard_sources h "
        f"ON h.code = c.hazard_source_code WHERE {filter_sql} AND {where} AND c.cas = ANY(:cas) ORDER BY h.code"),
        {**params, **filter_params, "cas": list(chemicals.BY_CAS)}).all()
    held = [(chemicals.BY_CAS[r.cas], r.code, float(r.quantity_t or 0)) for r in rows]
    if not held:
        if code is not None:
            raise InvalidInput("hazard_source_code", "a hazard source holding one of " + ", ".join(chemicals.CHEMICALS),
                               value=code, details={"reason": "no chemical of the table in its inventory"})
        return None
    held.sort(key=lambda pair: (pair[0].levels[1].ppm, pair[1]))  # the lowest AEGL-2: the worst case
    return held[0]


def _plume_zones(conn: Connection, incident: Mapping[str, Any], p: dict[str, Any],
                 access: LayerAccess) -> tuple[list[zones.ImpactZone], dict[str, Any], list[str]]:
    chemical = chemicals.find(p["chemical"]) if p["chemical"] else None
    origin = "request" if chemical else None
    tonnes = 0.0
    if chemical is None and p["thresholds"] is None:
        held = _hazard_chemicals(conn, access, code=p["hazard_source_code"], uscc=incident["enterprise_uscc"])
        if held is None:
            raise InvalidInput("chemical", "one of " + ", ".join(chemicals.CHEMICALS) + " (or thresholds): the "
                               "incident has no hazard source holding a chemical of the table",
                               details={"reason": "required"})
        chemical, code, tonnes = held
        origin = f"hazard_source:{code}"
    if p["thresholds"] is not None:
        molar = p["molar_mass_g_mol"] or (chemical.molar_mass_g_mol if chemical else None)
        levels = zones.parse_levels(p["thresholds"], molar)
    else:
        levels = zones.chemical_levels(chemical)
    rate, rate_source = p["release_rate_g_s"], {"kind": "request"}
    if rate is None:  # the worst case of the hazard source's stock (the schema asks for a rate otherwise)
        rate = min(schemas.MAX_RELEASE_G_S, tonnes * 1e6 / WORST_CASE_RELEASE_S)
        if rate <= 0:
            raise InvalidInput("release_rate_g_s", "a rate in g/s: the hazard source records no quantity of "
                               f"{chemical.name_zh}", details={"reason": "required"})
        rate_source = {"kind": "worst_case", "hazard_source_code": code, "quantity_t": tonnes,
                       "release_s": WORST_CASE_RELEASE_S, "basis": WORST_CASE_BASIS}
    found, notes = zones.plume_zones(
        incident["lon"], incident["lat"], levels, release_rate_g_s=rate,
        wind_speed_m_s=p["wind_speed_m_s"], wind_from_deg=p["wind_from_deg"], stability=p["stability"],
        terrain=p["terrain"], release_height_m=p["release_height_m"], max_distance_m=p["max_distance_m"])
    about = {"chemical": None if chemical is None else {"key": chemical.key, "cas": chemical.cas,
                                                         "name_zh": chemical.name_zh,
                                                         "molar_mass_g_mol": chemical.molar_mass_g_mol},
             "chemical_source": origin, "release_rate_g_s": round(rate, 3), "release_rate_source": rate_source}
    return found, about, notes


def _graph(conn: Connection):  # noqa: ANN202 - a RoadGraph
    row = conn.execute(VERSIONS_SQL).one()
    return graphs.get(conn, (conn.engine.url.render_as_string(hide_password=True), int(row.db_oid)), int(row.roads))


def _evacuation(conn: Connection, incident: Mapping[str, Any], area: BaseGeometry, persons: int,
                access: LayerAccess) -> dict[str, Any]:
    graph = _graph(conn)
    params = {**_zone_sql(area), "m": evacuation.MARGIN_DEG}
    blocked = conn.execute(text(f"SELECT t.id, t.source, t.target FROM roads t, {_Z} "
                                "WHERE ST_DWithin(t.geom, z.g, :m)"), params).all()
    blocked_ids = np.array([r.id for r in blocked], dtype=np.int64)
    rows = np.flatnonzero(np.isin(graph.edge_ids, blocked_ids))
    ends = np.array([n for r in blocked for n in (r.source, r.target)], dtype=np.int64)
    origins = evacuation.exits(graph, ends, area)
    if len(origins) == 0:  # no road crosses the area: leave from the incident's own road node, when outside
        node = conn.execute(text("SELECT node_id FROM emergency_snap(ST_SetSRID(ST_MakePoint(:x, :y), 4490))"),
                            {"x": incident["lon"], "y": incident["lat"]}).scalar()
        if node is not None:
            origins = evacuation.exits(graph, np.array([node]), area)
    layer = resource_layers()["shelter"]
    table = default_registry().get(layer).table
    where, sparams = access.where(layer, alias="s")
    shelters = [
        evacuation.Shelter(r.id, r.name, r.district_code, r.lon, r.lat, max(0, r.capacity - r.occupancy), r.capacity,
                           r.occupancy, int(graph.index_of(np.array([r.node_id]))[0]))
        for r in conn.execute(text(
            f"SELECT s.id, s.name, s.district_code, ST_X(s.geom) AS lon, ST_Y(s.geom) AS lat, s.capacity, "
            f"s.occupancy, rs.node_id FROM \"{table}\" s JOIN resource_snaps rs ON rs.kind = 'shelter' "
            f"AND rs.resource_id = s.id, {_Z} WHERE NOT ST_DWithin(s.geom, z.g, :m) AND {where} ORDER BY s.id"),
            {**params, **sparams}).all()]
    out = evacuation.plan(graph, area, rows, origins, shelters, persons)
    return {**out, "construction": "roads within 1e-5° of the affected area removed from the road graph; "
                                   "shelters outside it filled nearest first (drive time from the nearest exit), "
                                   "at most capacity − occupancy each (emergency/impact/evacuation.py)"}


def _analyse(conn: Connection, incident: Mapping[str, Any], req: schemas.ImpactRequest, access: LayerAccess,
             raster: Path | None) -> tuple[dict[str, Any], dict[str, Any]]:
    p = req.params
    if req.model == "plume":
        found, about, notes = _plume_zones(conn, incident, p, access)
        inputs = {k: v for k, v in p.items() if v is not None}
    else:
        found = zones.explosion_zones(incident["lon"], incident["lat"], p["tnt_kg"], p["thresholds_kpa"])
        about, notes = {"tnt_kg": p["tnt_kg"], "thresholds_source": "caller-supplied" if p["thresholds_kpa"]
                        else vce.DAMAGE_THRESHOLDS[0].source.split(":")[0]}, []
        inputs = {k: v for k, v in p.items() if v is not None}
    counting = may_count(access) and raster is not None and raster.is_file()
    if may_count(access) and not counting:
        notes.append("population raster not available: no population figures")
    features, total = [], 0.0
    for zn in found:
        props: dict[str, Any] = {"zone": zn.key, "label_zh": zn.label_zh, "label_en": zn.label_en,
                                 "threshold": zn.threshold, "source": zn.source,
                                 "area_km2": round(_area_m2(zn.area) / 1e6, 4)}
        if counting:
            zs = zonal_sum(raster, zn.area)
            total += zs.persons
            props["population"] = {"persons": round(zs.persons, 1), "cells_inside": zs.cells_inside,
                                   "cells_edge": zs.cells_edge}
        props["inside"] = {layer: _inside(conn, layer, zn.area, access) for layer in _INSIDE if access.can(layer)}
        features.append({"type": "Feature", "id": zn.key, "geometry": mapping(zn.area), "properties": props})
    area = found[-1].extent if found else None
    result: dict[str, Any] = {
        "model": req.model, "origin": [incident["lon"], incident["lat"]], **about,
        "zones": {"type": "FeatureCollection", "features": features},
        "affected_area": mapping(area) if area is not None else None,
        "notes": notes,
        "population": {"persons": round(total, 1), "method": "area-weighted zonal sum: cells crossed by a zone's "
                       "edge count by the exact fraction of their area inside (shapely intersection)"}
        if counting else None,
    }
    if req.evacuate and counting and area is not None:
        result["evacuation"] = _evacuation(conn, incident, area, math.ceil(round(total, 6)), access)
    elif req.evacuate:
        result["evacuation"] = {"withheld": True, "reason": "no affected area" if area is None
                                else "no population figures for this caller"}
    return inputs, result


def _area_m2(geom: BaseGeometry) -> float:
    from pyproj import Geod

    return abs(Geod(ellps="GRS80").geometry_area_perimeter(geom)[0]) if not geom.is_empty else 0.0


def run_impact(conn: Connection, incident_id: int, data: dict[str, Any], *, access: LayerAccess,
               raster: Path | None, actor: str | None = None) -> dict[str, Any]:
    """Analyse, store and announce one run; its stored form as the caller sees it."""
    with unit_of_work(conn) as changes:
        incident = lock_incident(conn, incident_id, access=access)
        req = schemas.parse(data, incident["kind"])
        if incident["status"] not in INCIDENT_ACTIVE:
            raise Conflict(f"incident {incident_id} is {incident['status']}: no more impact analyses",
                           f"事件 {incident['code']} 已{INCIDENT_LIFECYCLE.labels[incident['status']]}，不能再进行影响分析",
                           details={"current": incident["status"], "allowed_statuses": list(INCIDENT_ACTIVE)},
                           code="incident_not_active")
        inputs, result = _analyse(conn, incident, req, access, raster)
        seq = conn.execute(text("SELECT coalesce(max(seq), 0) + 1 FROM impact_runs WHERE incident_id = :i"),
                           {"i": incident_id}).scalar_one()
        row = conn.execute(text(
            "INSERT INTO impact_runs (incident_id, seq, model, inputs, result, actor) VALUES (:i, :seq, :model, "
            "CAST(:inputs AS jsonb), CAST(:result AS jsonb), :actor) RETURNING id, created_at"),
            {"i": incident_id, "seq": seq, "model": req.model, "inputs": json.dumps(inputs, ensure_ascii=False),
             "result": json.dumps({**result, "note": req.note}, ensure_ascii=False), "actor": actor}).one()
        record_change(conn, changes, incident_id=incident_id, event="impact_analysed",
                      data={"run": seq, "run_id": row.id, "model": req.model, "zones": [
                          f["id"] for f in result["zones"]["features"]], "note": req.note}, actor=actor)
    return get_run(conn, incident_id, seq, access=access)


def _visible(run: Mapping[str, Any], access: LayerAccess) -> dict[str, Any]:
    """A stored run as ``access`` may see it (see the module docstring)."""
    result = json.loads(json.dumps(run["result"]))  # a deep copy
    counting = may_count(access)
    for feature in result["zones"]["features"]:
        props = feature["properties"]
        if not counting:
            props.pop("population", None)
        inside = {}
        for layer, found in props.get("inside", {}).items():
            if not access.can(layer):
                continue
            items = [i for i in found["items"] if default_registry().get(layer).access == "public"
                     or access.admits(layer, district_code=i.get("district_code"),
                                      enterprise_uscc=i.get("enterprise_uscc"))]
            inside[layer] = {"count": len(items), "truncated": found["truncated"], "items": items}
        props["inside"] = inside
    if not counting:
        result["population"] = None
        if "evacuation" in result:
            result["evacuation"] = {"withheld": True, "reason": "no population figures for this caller"}
    return {"id": run["id"], "incident_id": run["incident_id"], "run": run["seq"], "model": run["model"],
            "inputs": run["inputs"], "actor": run["actor"], "created_at": run["created_at"].isoformat(), **result}


_RUN_COLUMNS = "r.id, r.incident_id, r.seq, r.model, r.inputs, r.result, r.actor, r.created_at"


def _check_incident(conn: Connection, incident_id: int, access: LayerAccess) -> None:
    where, params = access.where(INCIDENTS, alias="i")
    if conn.execute(text(f"SELECT 1 FROM incidents i WHERE i.id = :id AND {where}"),
                    {**params, "id": incident_id}).first() is None:
        access.note_hidden(conn, INCIDENTS, incident_id)
        raise not_found(incident_id)


def get_run(conn: Connection, incident_id: int, seq: int, *, access: LayerAccess) -> dict[str, Any]:
    _check_incident(conn, incident_id, access)
    row = conn.execute(text(f"SELECT {_RUN_COLUMNS} FROM impact_runs r WHERE r.incident_id = :i AND r.seq = :s"),
                       {"i": incident_id, "s": seq}).mappings().first()
    if row is None:
        raise NotFound(f"incident {incident_id} has no impact analysis run {seq}",
                       f"事件 {incident_id} 没有第 {seq} 次影响分析", details={"incident_id": incident_id, "run": seq})
    return _visible(row, access)


def list_runs(conn: Connection, incident_id: int, *, access: LayerAccess) -> list[dict[str, Any]]:
    """Every run of the incident, oldest first, as summaries (zones and totals, no geometry)."""
    _check_incident(conn, incident_id, access)
    rows = conn.execute(text(f"SELECT {_RUN_COLUMNS} FROM impact_runs r WHERE r.incident_id = :i ORDER BY r.seq"),
                        {"i": incident_id}).mappings().all()
    out = []
    for row in rows:
        run = _visible(row, access)
        evac = run.get("evacuation") or {}
        out.append({k: run[k] for k in ("id", "incident_id", "run", "model", "inputs", "actor", "created_at")} | {
            "zones": [{"zone": f["id"], "threshold": f["properties"]["threshold"],
                       "persons": (f["properties"].get("population") or {}).get("persons")}
                      for f in run["zones"]["features"]],
            "persons": (run["population"] or {}).get("persons"),
            "assigned": evac.get("assigned"), "unassigned": evac.get("unassigned"), "note": run.get("note")})
    return out
