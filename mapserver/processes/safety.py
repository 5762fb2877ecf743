"""pygeoapi process plugins over the pure safety libraries (GB 18218 grading, plume, VCE, datums).

Register in the pygeoapi config (see ``mapserver.processes.PROCESSES``), e.g.::

    hazard-source-grading:
      type: process
      processor:
        name: mapserver.processes.safety.HazardSourceGradingProcessor

All four are synchronous, JSON in / JSON out; geometries are GeoJSON in EPSG:4490 (CGCS2000,
lon/lat order). Inputs are checked against the very schemas published in the process description
(so the advertised ranges cannot drift from the enforced ones), then again by the libraries.
Invalid input raises :class:`SafetyInputError`, a ``ProcessorExecuteError`` whose message names the
input and its allowed range. pygeoapi 0.24 turns any failure inside ``execute`` into a failed job
answered with HTTP 400 ("InvalidParameterValue"); the error also carries ``http_status_code = 400``
so that a manager which re-raises ``ProcessorExecuteError`` still answers 400, not 500.
"""

from __future__ import annotations

import copy
from http import HTTPStatus
from typing import Any

from pygeoapi.process.base import BaseProcessor, ProcessorExecuteError

from core.errors import InvalidInput, range_text, require_number
from core.geo.coords import convert_points
from emergency.consequence import plume, vce
from supervision.gb18218 import CATEGORIES, TABLE1, assess

__all__ = [
    "COORDS_METADATA",
    "GRADING_METADATA",
    "PLUME_METADATA",
    "VCE_METADATA",
    "CoordinateConvertProcessor",
    "GaussianPlumeProcessor",
    "HazardSourceGradingProcessor",
    "SafetyInputError",
    "VceOverpressureProcessor",
]


class SafetyInputError(ProcessorExecuteError):
    """Client error: pygeoapi should answer 400 InvalidParameterValue, never 500."""

    http_status_code = HTTPStatus.BAD_REQUEST
    ogc_exception_code = "InvalidParameterValue"


# fmt: off
# The process descriptions below are tables; one input per line reads better than the formatter's layout.

def _n(title: str, unit: str | None, lo: float | None = None, hi: float | None = None, *, xlo: bool = False,
       default: float | None = None, integer: bool = False, req: bool = False, desc: str = "") -> dict[str, Any]:
    """A numeric input; ``xlo`` makes the minimum exclusive (OpenAPI 3.0 boolean form)."""
    schema: dict[str, Any] = {"type": "integer" if integer else "number"}
    schema.update({k: v for k, v in (("minimum", lo), ("maximum", hi), ("default", default)) if v is not None})
    if xlo:
        schema["exclusiveMinimum"] = True
    return _in(title, desc, schema, unit=unit, req=req)


def _e(title: str, values: list[str], *, default: str | None = None, req: bool = False,
       desc: str = "") -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "string", "enum": values}
    if default is not None:
        schema["default"] = default
    return _in(title, desc, schema, req=req)


def _in(title: str, desc: str, schema: dict[str, Any], *, unit: str | None = None, req: bool = False) -> dict:
    spec: dict[str, Any] = {"title": title, "description": desc + (f" Unit: {unit}." if unit else ""),
                            "schema": schema, "minOccurs": 1 if req else 0, "maxOccurs": 1}
    if unit:
        spec["metadata"] = [{"title": "unit", "value": unit}]
    return spec


def _meta(pid: str, title_en: str, title_zh: str, description: str, inputs: dict, example: dict) -> dict:
    return {
        "version": "1.0.0", "id": pid, "title": {"en": title_en, "zh": title_zh},
        "description": {"en": description}, "jobControlOptions": ["sync-execute"],
        "keywords": ["onemap", "safety"], "links": [], "inputs": inputs,
        "outputs": {"result": {"title": "Result", "schema": {"type": "object", "contentMediaType": "application/json"}}},
        "example": {"inputs": example},
    }


_SOURCE = _in("Source point", "GeoJSON Point in EPSG:4490 (CGCS2000), [lon, lat]. Convert web-map (GCJ-02/BD-09) "
              "coordinates first with coordinate-convert.", {"type": "object", "contentMediaType": "application/geo+json",
                                                            "$ref": "https://geojson.org/schema/Point.json"})
_CATEGORY_SCHEMA = {"oneOf": [{"type": "string", "enum": list(CATEGORIES)},
                              {"type": "array", "items": {"type": "string", "enum": list(CATEGORIES)}}]}
_SYSTEMS = ["wgs84", "cgcs2000", "gcj02", "bd09"]

GRADING_METADATA = _meta(
    "hazard-source-grading", "Major hazard source identification and grading (GB 18218-2018)", "危险化学品重大危险源辨识与分级",
    "S = Σq/Q (S ≥ 1 → major hazard source); R = α·Σβ·q/Q; grade 1–4 by Table 6, null when not major. Each chemical "
    "by CAS, Chinese/English name or table1_no (Table 1, 85 substances), or by Table 2 category code(s). The rules "
    "applied where the standard leaves a choice are returned in 'rules'; an unknown CAS is answered with close matches.",
    {
        "chemicals": _in("Chemicals in the unit", "1–500 items {cas | name | table1_no | category, quantity_t}.", {
            "type": "array", "minItems": 1, "maxItems": 500, "items": {"type": "object", "required": ["quantity_t"],
            "properties": {"cas": {"type": "string", "pattern": r"^\d{2,7}-\d{2}-\d$"}, "name": {"type": "string"},
                           "table1_no": {"type": "integer", "minimum": 1, "maximum": len(TABLE1)},
                           "category": _CATEGORY_SCHEMA,
                           "quantity_t": {"type": "number", "minimum": 0, "maximum": 1e7, "description": "tonnes"}}}},
            req=True),
        "exposed_population": _n("Exposed persons", "persons", 0, 10_000_000, integer=True, req=True,
                                 desc="Residents within 500 m of the site boundary (Table 5 α)."),
    },
    {"chemicals": [{"cas": "7782-50-5", "quantity_t": 20}, {"name": "液氨", "quantity_t": 5}], "exposed_population": 120},
)

PLUME_METADATA = _meta(
    "gaussian-plume", "Gaussian plume, continuous release", "高斯烟羽扩散（连续泄漏）",
    "Ground-reflected Gaussian plume, Briggs (1973) σy/σz for rural (open country) or urban terrain, no plume rise. "
    "Pasquill–Gifford class given, or derived from wind and insolation (day) / cloud cover (night) with Turner's key. "
    "mode=point: concentration at a receptor (x downwind, y crosswind, z height). mode=footprint: polygon where "
    "C ≥ threshold, computed in the CGCS2000 3° Gauss-Krüger zone (EPSG:4534–4554) and returned in EPSG:4490.",
    {
        "mode": _e("Mode", ["point", "footprint"], default="point"),
        "release_rate_g_s": _n("Release rate", "g/s", 0, 1e7, xlo=True, req=True),
        "wind_speed_m_s": _n("Wind speed at 10 m", "m/s", *plume.WIND_RANGE_M_S, req=True, desc="Calm is outside the model."),
        "stability": _e("Pasquill–Gifford class", list(plume.STABILITY_CLASSES),
                        desc="A very unstable … F stable; if absent, derived from daytime + insolation/cloud cover."),
        "daytime": _in("Daytime", "Day or night, to derive stability.", {"type": "boolean"}),
        "insolation": _e("Insolation", list(plume.INSOLATIONS), desc="Daytime solar radiation."),
        "cloud_cover_oktas": _n("Cloud cover", "oktas", 0, 8, desc="Night-time cloud; 8 = overcast gives D day or night."),
        "terrain": _e("Terrain", list(plume.TERRAINS), default="rural"),
        "release_height_m": _n("Release height", "m", 0, 500, default=0, desc="Effective height H."),
        "receptor_x_m": _n("Receptor downwind distance", "m", 0, 100_000, xlo=True, desc="mode=point, required."),
        "receptor_y_m": _n("Receptor crosswind offset", "m", -100_000, 100_000, default=0, desc="mode=point."),
        "receptor_z_m": _n("Receptor height", "m", 0, 1000, default=0, desc="Both modes."),
        "source": _SOURCE,
        "wind_direction_deg": _n("Wind direction", "degrees", 0, 360,
                                 desc="Meteorological: where the wind comes FROM, clockwise from true north (footprint)."),
        "threshold_mg_m3": _n("Threshold", "mg/m³", 0, 1e9, xlo=True, desc="Footprint contour (or threshold_ppm)."),
        "threshold_ppm": _n("Threshold in ppm", "ppm (v/v)", 0, 1e6, xlo=True, desc="Converted at 25 °C, 101.325 kPa."),
        "molar_mass_g_mol": _n("Molar mass", "g/mol", 1, 1000, desc="Needed with threshold_ppm."),
        "max_distance_m": _n("Max downwind distance", "m", 100, 100_000, default=50_000, desc="Footprint is cut here."),
    },
    {"mode": "point", "release_rate_g_s": 3.0, "wind_speed_m_s": 7.0, "stability": "D", "receptor_x_m": 3000},
)

VCE_METADATA = _meta(
    "vce-overpressure", "Vapour cloud explosion overpressure (TNT equivalence)", "蒸气云爆炸超压（TNT当量法）",
    "W_TNT = f·η·m·ΔHc/E_TNT (η 0.04, E_TNT 4520 kJ/kg, ground-burst factor f 1 by default); Z = R/W^(1/3); "
    "Kinney–Graham side-on overpressure. mode=point: overpressure at distance_m. mode=zones: a disc then annuli "
    "(EPSG:4490) for death 144.5 kPa, serious injury 43.2 kPa, minor injury 12.9 kPa and glass breakage 3.9 kPa: the "
    "50 %, 50 %, 1 % and 50 % points of the probits in Crowl & Louvar Table 2-5 (Eisenberg et al. 1975).",
    {
        "mode": _e("Mode", ["point", "zones"], default="point"),
        "tnt_kg": _n("TNT equivalent", "kg", 0, vce.MAX_TNT_KG, xlo=True, desc="Or fuel_mass_kg + heat_of_combustion_kj_kg."),
        "fuel_mass_kg": _n("Fuel mass in the cloud", "kg", 0, 1e7, xlo=True),
        "heat_of_combustion_kj_kg": _n("Heat of combustion", "kJ/kg", 1000, 150_000),
        "efficiency": _n("Yield η", None, 0, 1, xlo=True, default=vce.DEFAULT_EFFICIENCY),
        "e_tnt_kj_kg": _n("TNT blast energy", "kJ/kg", 4000, 5000, default=vce.E_TNT_KJ_KG),
        "ground_burst_factor": _n("Ground-burst factor", None, 1, 2, default=1.0,
                                  desc="1 = free air; 1.8 in Chinese practice for surface bursts."),
        "distance_m": _n("Distance", "m", 0, vce.MAX_DISTANCE_M, xlo=True, desc="mode=point, required."),
        "source": _SOURCE,
        "thresholds_kpa": _in("Thresholds", "mode=zones, optional {name: kPa}; keys death, serious_injury, minor_injury, "
                              "glass_breakage keep their labels.", {"type": "object", "additionalProperties":
                              {"type": "number", "minimum": 0.01, "maximum": 163_000}}, unit="kPa"),
    },
    {"mode": "zones", "fuel_mass_kg": 1000, "heat_of_combustion_kj_kg": 46_350,
     "source": {"type": "Point", "coordinates": [116.40, 39.90]}},
)

COORDS_METADATA = _meta(
    "coordinate-convert", "Coordinate conversion WGS-84/CGCS2000 ↔ GCJ-02 ↔ BD-09", "坐标转换",
    "Public GCJ-02 algorithm (Krasovsky a = 6378245.0, e² = 0.00669342162296594323); inverses solved by iteration, "
    "error < 1 mm (far under 0.5 m). 'cgcs2000' is accepted as an alias of 'wgs84' (they differ by centimetres). "
    "Points outside China's rectangle (72.004–137.8347°E, 0.8293–55.8271°N) come back unchanged.",
    {
        "from": _e("From", _SYSTEMS, req=True, desc="cgcs2000 = alias of wgs84."),
        "to": _e("To", _SYSTEMS, req=True, desc="cgcs2000 = alias of wgs84."),
        "points": _in("Points", "[[lng, lat], ...], 1–100000 points.", {
            "type": "array", "minItems": 1, "maxItems": 100_000,
            "items": {"type": "array", "minItems": 2, "maxItems": 2, "items": {"type": "number"}}},
            unit="degrees", req=True),
    },
    {"from": "gcj02", "to": "wgs84", "points": [[116.404, 39.915]]},
)


def _allowed(name: str, spec: dict[str, Any]) -> str:
    """The allowed range or values of a declared input, for error messages."""
    schema, unit = spec["schema"], spec.get("metadata", [{}])[0].get("value", "")
    if schema.get("type") in ("number", "integer"):
        return range_text(name, schema.get("minimum"), schema.get("maximum"), bool(schema.get("exclusiveMinimum")),
                          False, unit)
    if "enum" in schema:
        return "one of " + ", ".join(schema["enum"])
    return f"{spec['title']}: {spec['description']}".rstrip()


def _check_declared(data: dict[str, Any], inputs: dict[str, dict[str, Any]]) -> None:
    """Enforce the published description: known names, required ones present, ranges, enums, types."""
    unknown = sorted(set(data) - set(inputs))
    if unknown:
        raise InvalidInput(unknown[0], "one of the declared inputs: " + ", ".join(inputs))
    for name, spec in inputs.items():
        schema = spec["schema"]
        if name not in data:
            if spec["minOccurs"]:
                raise InvalidInput(name, f"{_allowed(name, spec)} (required)")
            continue
        value, kind = data[name], schema.get("type")
        if kind in ("number", "integer"):
            number = require_number(name, value, minimum=schema.get("minimum"), maximum=schema.get("maximum"),
                                    exclusive_minimum=bool(schema.get("exclusiveMinimum")),
                                    unit=spec.get("metadata", [{}])[0].get("value", ""))
            if kind == "integer" and not number.is_integer():
                raise InvalidInput(name, "an integer", value=value)
        elif "enum" in schema and value not in schema["enum"]:
            raise InvalidInput(name, "one of " + ", ".join(schema["enum"]), value=value)
        elif kind == "boolean" and not isinstance(value, bool):
            raise InvalidInput(name, "true or false", value=value)
# fmt: on


def _point(data: dict[str, Any], name: str = "source") -> tuple[float, float]:
    value = data.get(name)
    if isinstance(value, dict) and value.get("type") == "Feature":
        value = value.get("geometry")
    allowed = 'GeoJSON Point {"type": "Point", "coordinates": [lon, lat]} in EPSG:4490'
    if not isinstance(value, dict) or value.get("type") != "Point":
        raise InvalidInput(name, allowed + " (required in this mode)", value=value)
    coords = value.get("coordinates")
    if not isinstance(coords, list) or len(coords) < 2:
        raise InvalidInput(f"{name}.coordinates", allowed, value=coords)
    lon = require_number(f"{name}.coordinates[0] (lon)", coords[0], minimum=-180, maximum=180, unit="°")
    lat = require_number(f"{name}.coordinates[1] (lat)", coords[1], minimum=-90, maximum=90, unit="°")
    return lon, lat


def _need(data: dict[str, Any], name: str, inputs: dict[str, Any], why: str) -> Any:
    if name not in data:
        raise InvalidInput(name, f"{_allowed(name, inputs[name])} (required {why})")
    return data[name]


class _SafetyProcessor(BaseProcessor):
    metadata_template: dict[str, Any] = {}

    def __init__(self, processor_def: dict) -> None:
        # pygeoapi appends to jobControlOptions in place: never hand it the shared class-level template.
        super().__init__(processor_def, copy.deepcopy(self.metadata_template))

    def execute(self, data: dict, outputs: dict | None = None) -> tuple[str, Any]:
        try:
            if not isinstance(data, dict):
                raise InvalidInput("inputs", "a JSON object of named inputs", value=type(data).__name__)
            _check_declared(data, self.metadata["inputs"])
            return "application/json", self._compute(data)
        except InvalidInput as err:
            raise SafetyInputError(err.message_en, user_msg=err.message_en) from err

    def _compute(self, data: dict[str, Any]) -> Any:
        raise NotImplementedError


class HazardSourceGradingProcessor(_SafetyProcessor):
    """hazard-source-grading: GB 18218-2018 identification (S) and grading (R, grade 1–4)."""

    metadata_template = GRADING_METADATA

    def _compute(self, data: dict[str, Any]) -> Any:
        return assess(data["chemicals"], int(data["exposed_population"])).to_dict()


class GaussianPlumeProcessor(_SafetyProcessor):
    """gaussian-plume: point concentration or threshold footprint polygon."""

    metadata_template = PLUME_METADATA

    @staticmethod
    def _stability(data: dict[str, Any]) -> tuple[str, str]:
        if "stability" in data:
            return data["stability"], "given"
        if "daytime" not in data:
            raise InvalidInput("stability", "one of A–F, or daytime with insolation (day) / cloud_cover_oktas (night)")
        entry = plume.turner_class(data["wind_speed_m_s"], daytime=data["daytime"],
                                   insolation=data.get("insolation"), cloud_cover_oktas=data.get("cloud_cover_oktas"))
        return entry.split("-")[-1], f"Turner key: {entry}" + (", more stable letter taken" if "-" in entry else "")

    def _compute(self, data: dict[str, Any]) -> Any:
        inputs = self.metadata["inputs"]
        stability, how = self._stability(data)
        q, u, z = data["release_rate_g_s"], data["wind_speed_m_s"], data.get("receptor_z_m", 0.0)
        common = {"stability": stability, "terrain": data.get("terrain", "rural"),
                  "release_height_m": data.get("release_height_m", 0.0)}
        if data.get("mode", "point") == "point":
            x = _need(data, "receptor_x_m", inputs, "for mode=point")
            c = plume.concentration(q, u, x, data.get("receptor_y_m", 0.0), z, **common)
            sy, sz = plume.briggs_sigmas(x, stability, common["terrain"])
            lo, hi = plume.BRIGGS_VALID_RANGE_M
            notes = [] if lo <= x <= hi else ["receptor outside 100 m–10 km: Briggs σ extrapolated"]
            return {"concentration_g_m3": c, "concentration_mg_m3": c * 1000.0, "stability": stability,
                    "stability_source": how, "sigma_y_m": float(sy), "sigma_z_m": float(sz), "notes": notes}
        lon, lat = _point(data)
        if "threshold_mg_m3" in data:
            thr = float(data["threshold_mg_m3"])
        elif "threshold_ppm" in data:
            thr = plume.ppm_to_mg_m3(data["threshold_ppm"], _need(data, "molar_mass_g_mol", inputs, "with threshold_ppm"))
        else:
            raise InvalidInput("threshold_mg_m3", "0 < threshold_mg_m3 mg/m³, or threshold_ppm with molar_mass_g_mol")
        fp = plume.footprint(source_lon=lon, source_lat=lat,
                             wind_from_deg=_need(data, "wind_direction_deg", inputs, "for mode=footprint"),
                             threshold_g_m3=thr / 1000.0, release_rate_g_s=q, wind_speed_m_s=u, receptor_z_m=z,
                             max_distance_m=data.get("max_distance_m", 50_000.0), **common)
        rings = fp.rings_lonlat
        if not rings:
            geometry = None
        elif len(rings) == 1:
            geometry = {"type": "Polygon", "coordinates": [rings[0]]}
        else:
            geometry = {"type": "MultiPolygon", "coordinates": [[ring] for ring in rings]}
        props = {"threshold_mg_m3": thr, "x_min_m": fp.x_min_m, "x_max_m": fp.x_max_m,
                 "max_half_width_m": fp.max_half_width_m, "area_m2": fp.area_m2,
                 "metric_crs": f"EPSG:{fp.epsg_metric}", "truncated": fp.truncated, "stability": stability,
                 "stability_source": how, "notes": fp.notes}
        return {"type": "Feature", "geometry": geometry, "properties": props}


class VceOverpressureProcessor(_SafetyProcessor):
    """vce-overpressure: overpressure at a distance, or damage-zone rings."""

    metadata_template = VCE_METADATA

    @staticmethod
    def _tnt(data: dict[str, Any]) -> float:
        if "tnt_kg" in data:
            return float(data["tnt_kg"])
        if "fuel_mass_kg" not in data or "heat_of_combustion_kj_kg" not in data:
            raise InvalidInput("tnt_kg", "0 < tnt_kg ≤ 10000000 kg, or fuel_mass_kg with heat_of_combustion_kj_kg")
        return vce.tnt_equivalent_kg(data["fuel_mass_kg"], data["heat_of_combustion_kj_kg"],
                                     efficiency=data.get("efficiency", vce.DEFAULT_EFFICIENCY),
                                     e_tnt_kj_kg=data.get("e_tnt_kj_kg", vce.E_TNT_KJ_KG),
                                     ground_burst_factor=data.get("ground_burst_factor", 1.0))

    def _compute(self, data: dict[str, Any]) -> Any:
        w = self._tnt(data)
        if data.get("mode", "point") == "point":
            r = _need(data, "distance_m", self.metadata["inputs"], "for mode=point")
            z = vce.scaled_distance(r, w)
            notes = ["Z < 1 m/kg^(1/3): at or inside the cloud, where the TNT analogy overstates"] if z < 1 else []
            return {"tnt_kg": w, "scaled_distance_m_kg13": z, "overpressure_kpa": vce.overpressure_kpa(r, w),
                    "notes": notes}
        lon, lat = _point(data)
        features = [
            {"type": "Feature", "id": zn.key,
             "geometry": {"type": "Polygon", "coordinates": [zn.exterior] + ([zn.hole] if zn.hole else [])},
             "properties": {"zone": zn.key, "label_zh": zn.label_zh, "label_en": zn.label_en,
                            "overpressure_kpa": zn.overpressure_kpa, "radius_m": zn.radius_m,
                            "inner_radius_m": zn.inner_radius_m, "source": zn.source}}
            for zn in vce.overpressure_zones(lon, lat, w, data.get("thresholds_kpa"))
        ]
        return {"type": "FeatureCollection", "features": features, "tnt_kg": w}


class CoordinateConvertProcessor(_SafetyProcessor):
    """coordinate-convert: WGS-84/CGCS2000 ↔ GCJ-02 ↔ BD-09."""

    metadata_template = COORDS_METADATA

    def _compute(self, data: dict[str, Any]) -> Any:
        points = convert_points(data["points"], data["from"], data["to"])
        return {"from": data["from"], "to": data["to"], "points": [[lng, lat] for lng, lat in points]}
