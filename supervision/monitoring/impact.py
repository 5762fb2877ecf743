"""Alarm → impact: the gas plume of a hazard source whose gas detector alarms, and what lies inside it (no Flask).

The footprint is the ``gaussian-plume`` OGC API process's (declared by the emergency module's manifest; the same
processor class, looked up by its name, so the zone equals what a GIS client gets from /ogcapi/processes/gaussian-plume/execution with these inputs): a continuous
ground-level release at the hazard source, the contour where the concentration reaches the chemical's threshold.

* the chemical: of the hazard source's inventory, one the model knows (below), the toxic ones first for a ppm
  detector, the flammable ones for a %LEL detector; of toxic gases the most toxic (the worst case), of flammable
  ones the largest stock; the dispatcher may pick another;
* the threshold: for a toxic gas its ERPG-2 (AIHA, the level below which nearly everyone can escape without
  irreversible harm — the evacuation zone); for a flammable gas half its lower explosive limit (the usual
  "no ignition source" zone);
* the wind: the dispatcher's figures, else the defaults below (the demo city has no weather station yet; a
  ``weather`` sensor kind would be read here first);
* the release rate: the dispatcher's, else a medium leak of 1 kg/s.

Inside the zone: the sensitive targets (防护目标) the caller may read, with their occupants, and the residents of
the population raster, area-weighted at the zone's edges (only for callers who may read that coverage: it is
city-wide data).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import text
from sqlalchemy.engine import Connection

from access.policy.rowscope import LayerAccess
from core.errors import Conflict, InvalidInput

DEFAULT_WIND_SPEED_M_S = 2.5   # a light breeze: the plume reaches farthest in light, stable-ish air
DEFAULT_WIND_FROM_DEG = 90.0   # easterly (the demo city's prevailing wind on the Yangtze plain)
DEFAULT_RELEASE_G_S = 1000.0
DEFAULT_STABILITY = "D"
MAX_TARGETS = 500

# CAS -> (name, molar mass g/mol, kind, threshold ppm, basis). Toxic: ERPG-2 (AIHA 2016); flammable: ½ LEL.
CHEMICALS: dict[str, tuple[str, float, str, float, str]] = {
    "7782-50-5": ("氯气", 70.90, "toxic", 3.0, "ERPG-2"),
    "7664-41-7": ("氨", 17.03, "toxic", 150.0, "ERPG-2"),
    "7783-06-4": ("硫化氢", 34.08, "toxic", 30.0, "ERPG-2"),
    "7647-01-0": ("氯化氢", 36.46, "toxic", 20.0, "ERPG-2"),
    "75-44-5": ("光气", 98.92, "toxic", 0.5, "ERPG-2"),
    "7446-09-5": ("二氧化硫", 64.07, "toxic", 3.0, "ERPG-2"),
    "7664-39-3": ("氟化氢", 20.01, "toxic", 20.0, "ERPG-2"),
    "74-90-8": ("氰化氢", 27.03, "toxic", 10.0, "ERPG-2"),
    "74-83-9": ("溴甲烷", 94.94, "toxic", 50.0, "ERPG-2"),
    "67-56-1": ("甲醇", 32.04, "flammable", 30000.0, "½ LEL"),
    "71-43-2": ("苯", 78.11, "flammable", 6000.0, "½ LEL"),
    "108-88-3": ("甲苯", 92.14, "flammable", 5500.0, "½ LEL"),
    "100-42-5": ("苯乙烯", 104.15, "flammable", 4500.0, "½ LEL"),
    "107-13-1": ("丙烯腈", 53.06, "flammable", 15000.0, "½ LEL"),
    "75-21-8": ("环氧乙烷", 44.05, "flammable", 15000.0, "½ LEL"),
    "75-56-9": ("环氧丙烷", 58.08, "flammable", 11500.0, "½ LEL"),
    "74-85-1": ("乙烯", 28.05, "flammable", 13500.0, "½ LEL"),
    "106-99-0": ("1,3-丁二烯", 54.09, "flammable", 10000.0, "½ LEL"),
    "75-01-4": ("氯乙烯", 62.50, "flammable", 18000.0, "½ LEL"),
    "67-64-1": ("丙酮", 58.08, "flammable", 12500.0, "½ LEL"),
    "141-78-6": ("乙酸乙酯", 88.11, "flammable", 10000.0, "½ LEL"),
    "64-17-5": ("乙醇", 46.07, "flammable", 16500.0, "½ LEL"),
    "110-54-3": ("正己烷", 86.18, "flammable", 5500.0, "½ LEL"),
    "60-29-7": ("乙醚", 74.12, "flammable", 9500.0, "½ LEL"),
    "68476-85-7": ("液化石油气", 44.10, "flammable", 10500.0, "½ LEL"),
    "86290-81-5": ("汽油", 100.0, "flammable", 7000.0, "½ LEL"),
    "74-82-8": ("甲烷", 16.04, "flammable", 25000.0, "½ LEL"),
    "1333-74-0": ("氢气", 2.016, "flammable", 20000.0, "½ LEL"),
    "75-15-0": ("二硫化碳", 76.14, "flammable", 6500.0, "½ LEL"),
    "106-89-8": ("环氧氯丙烷", 92.52, "flammable", 19000.0, "½ LEL"),
}


@dataclass(frozen=True)
class ImpactQuery:
    wind_speed_m_s: float | None
    wind_from_deg: float | None
    release_rate_g_s: float | None
    chemical: str | None       # a CAS number of the hazard source's inventory
    stability: str | None


def chemical_choices(chemicals: list[Mapping[str, Any]], unit: str | None) -> list[dict[str, Any]]:
    """The hazard source's chemicals the model knows, the likely one first (see the module's docstring)."""
    prefer = "flammable" if unit == "%LEL" else "toxic"
    known = [c for c in chemicals if c.get("cas") in CHEMICALS]
    # the preferred kind first; of toxic gases the most toxic (the worst case), of flammable ones the largest stock
    known.sort(key=lambda c: (CHEMICALS[c["cas"]][2] != prefer,
                              CHEMICALS[c["cas"]][3] if CHEMICALS[c["cas"]][2] == "toxic" else 0.0,
                              -float(c.get("quantity_t") or 0)))
    out = []
    for c in known:
        _name, molar, kind, ppm, basis = CHEMICALS[c["cas"]]
        out.append({"cas": c["cas"], "name": c["name"], "quantity_t": c.get("quantity_t"), "kind": kind,
                    "molar_mass_g_mol": molar, "threshold_ppm": ppm, "basis": basis})
    return out


def _inside(conn: Connection, zone: dict[str, Any], access: LayerAccess) -> list[dict[str, Any]]:
    if not access.can("sensitive_targets"):
        return []
    where, params = access.where("sensitive_targets", alias="t")
    rows = conn.execute(text(
        "SELECT t.id, t.name, t.kind, t.population, ST_X(t.geom) AS lon, ST_Y(t.geom) AS lat "
        "FROM sensitive_targets t, (SELECT ST_SetSRID(ST_GeomFromGeoJSON(:g), 4490) AS g) z "
        f"WHERE t.geom && z.g AND ST_Intersects(t.geom, z.g) AND {where} "
        "ORDER BY t.population DESC, t.id LIMIT :n"), {**params, "g": json.dumps(zone), "n": MAX_TARGETS + 1})
    return [dict(r) for r in rows.mappings()]


def residents(raster: Path, zone: dict[str, Any]) -> int | None:
    """People of the population grid inside ``zone``, area-weighted at its edges as an incident's impact analysis
    counts them (:func:`core.geo.zonal.zonal_sum`); None without the raster."""
    if not raster.is_file():
        return None
    from shapely.geometry import shape

    from core.geo.zonal import zonal_sum

    return int(round(zonal_sum(raster, shape(zone)).persons))


PLUME_PROCESS = "gaussian-plume"


def plume_processor(config: Mapping[str, Any] | None) -> Any:
    """The ``gaussian-plume`` process's class as the active modules declare it (Manifest.processes): found by
    name, not imported, since a module imports no other business module; 409 when no active module offers it."""
    import importlib

    from core.manifest import collect

    reference = dict(collect(config, "processes")).get(PLUME_PROCESS)
    if reference is None:
        raise Conflict(f"no active module offers the {PLUME_PROCESS} process", f"未启用提供 {PLUME_PROCESS} 扩散模型的模块",
                       details={"process": PLUME_PROCESS})
    module, _, name = reference.rpartition(".")
    return getattr(importlib.import_module(module), name)


def plume_impact(conn: Connection, alarm: Mapping[str, Any], source: Mapping[str, Any], query: ImpactQuery, *,
                 access: LayerAccess, raster: Path, processor: Any) -> dict[str, Any]:
    """The zone, what lies inside, and every input used (so the dispatcher sees what was assumed). ``processor`` is
    the process class (:func:`plume_processor`)."""
    if alarm["sensor_kind"] != "gas_concentration":
        raise Conflict(f"alarm {alarm['id']} is not a gas alarm (sensor kind {alarm['sensor_kind']}): no plume",
                       f"报警 {alarm['id']} 不是气体浓度报警，无法进行扩散分析",
                       details={"id": alarm["id"], "sensor_kind": alarm["sensor_kind"]})
    choices = chemical_choices(source["chemicals"], alarm.get("unit"))
    if not choices:
        raise Conflict(f"hazard source {source['code']} holds no gas the plume model knows",
                       f"重大危险源 {source['code']} 的危险化学品中没有可用于扩散模型的气体",
                       details={"hazard_source_code": source["code"]})
    if query.chemical is None:
        chemical = choices[0]
    else:
        chemical = next((c for c in choices if c["cas"] == query.chemical), None)
        if chemical is None:
            raise InvalidInput("chemical", "the CAS number of one of: " + ", ".join(c["cas"] for c in choices),
                               value=query.chemical)
    wind_given = query.wind_speed_m_s is not None or query.wind_from_deg is not None
    inputs = {
        "mode": "footprint",
        "release_rate_g_s": query.release_rate_g_s or DEFAULT_RELEASE_G_S,
        "wind_speed_m_s": query.wind_speed_m_s or DEFAULT_WIND_SPEED_M_S,
        "wind_direction_deg": DEFAULT_WIND_FROM_DEG if query.wind_from_deg is None else query.wind_from_deg,
        "stability": query.stability or DEFAULT_STABILITY,
        "threshold_ppm": chemical["threshold_ppm"],
        "molar_mass_g_mol": chemical["molar_mass_g_mol"],
        "source": {"type": "Point", "coordinates": [source["lon"], source["lat"]]},
        "max_distance_m": 20_000,
    }
    from pygeoapi.process.base import ProcessorExecuteError

    try:
        _mimetype, feature = processor({"name": PLUME_PROCESS}).execute(dict(inputs))
    except ProcessorExecuteError as err:  # the process's own check of an input (its words)
        raise InvalidInput("inputs", "inputs the gaussian-plume process accepts", str(err), str(err)) from err
    zone = feature.get("geometry")
    targets = _inside(conn, zone, access) if zone else []
    truncated = len(targets) > MAX_TARGETS
    targets = targets[:MAX_TARGETS]
    may_count = access.authz is None and access.authenticated or (
        access.authz is not None and access.authz.can("read", "coverage", "population"))
    people = residents(raster, zone) if zone and may_count else None
    return {
        "alarm_id": alarm["id"],
        "hazard_source": {k: source[k] for k in ("code", "name", "enterprise_uscc", "district_code", "lon", "lat")},
        "point": [source["lon"], source["lat"]],
        "chemical": chemical,
        "chemicals": choices,
        "wind": {"speed_m_s": inputs["wind_speed_m_s"], "from_deg": inputs["wind_direction_deg"],
                 "source": "entered" if wind_given else "default"},
        "inputs": {k: v for k, v in inputs.items() if k != "source"},
        "process": PLUME_PROCESS,
        "zone": feature,
        "sensitive_targets": targets,
        "sensitive_targets_truncated": truncated,
        "population": {"sensitive_targets": sum(int(t["population"] or 0) for t in targets),
                       "residents": people},
    }


__all__ = ["CHEMICALS", "PLUME_PROCESS", "plume_processor", "DEFAULT_RELEASE_G_S", "DEFAULT_STABILITY", "DEFAULT_WIND_FROM_DEG",
           "DEFAULT_WIND_SPEED_M_S", "ImpactQuery", "chemical_choices", "plume_impact", "residents"]
