"""The emergency module's OGC API processes: consequence models over :mod:`emergency.consequence`.

``gaussian-plume`` (toxic gas dispersion) and ``vce-overpressure`` (vapour cloud explosion), declared in
``emergency/manifest.py`` and served by pygeoapi under /ogcapi/processes. Inputs are checked against the published
descriptions by :class:`mapserver.processes.base.JsonProcessor`, then again by the libraries.
"""

from __future__ import annotations

from typing import Any

from core.errors import InvalidInput
from emergency.consequence import plume, vce
from mapserver.processes.base import (
    SOURCE_POINT,
    JsonProcessor,
    describe,
    enum_input,
    input_spec,
    need,
    number_input,
    point,
)

__all__ = ["PLUME_METADATA", "VCE_METADATA", "GaussianPlumeProcessor", "VceOverpressureProcessor"]

# fmt: off
PLUME_METADATA = describe(
    "gaussian-plume", "Gaussian plume, continuous release", "高斯烟羽扩散（连续泄漏）",
    "Ground-reflected Gaussian plume, Briggs (1973) σy/σz for rural (open country) or urban terrain, no plume rise. "
    "Pasquill–Gifford class given, or derived from wind and insolation (day) / cloud cover (night) with Turner's key. "
    "mode=point: concentration at a receptor (x downwind, y crosswind, z height). mode=footprint: polygon where "
    "C ≥ threshold, computed in the CGCS2000 3° Gauss-Krüger zone (EPSG:4534–4554) and returned in EPSG:4490.",
    {
        "mode": enum_input("Mode", ["point", "footprint"], default="point"),
        "release_rate_g_s": number_input("Release rate", "g/s", 0, 1e7, xlo=True, req=True),
        "wind_speed_m_s": number_input("Wind speed at 10 m", "m/s", *plume.WIND_RANGE_M_S, req=True, desc="Calm is outside the model."),
        "stability": enum_input("Pasquill–Gifford class", list(plume.STABILITY_CLASSES),
                        desc="A very unstable … F stable; if absent, derived from daytime + insolation/cloud cover."),
        "daytime": input_spec("Daytime", "Day or night, to derive stability.", {"type": "boolean"}),
        "insolation": enum_input("Insolation", list(plume.INSOLATIONS), desc="Daytime solar radiation."),
        "cloud_cover_oktas": number_input("Cloud cover", "oktas", 0, 8, desc="Night-time cloud; 8 = overcast gives D day or night."),
        "terrain": enum_input("Terrain", list(plume.TERRAINS), default="rural"),
        "release_height_m": number_input("Release height", "m", 0, 500, default=0, desc="Effective height H."),
        "receptor_x_m": number_input("Receptor downwind distance", "m", 0, 100_000, xlo=True, desc="mode=point, required."),
        "receptor_y_m": number_input("Receptor crosswind offset", "m", -100_000, 100_000, default=0, desc="mode=point."),
        "receptor_z_m": number_input("Receptor height", "m", 0, 1000, default=0, desc="Both modes."),
        "source": SOURCE_POINT,
        "wind_direction_deg": number_input("Wind direction", "degrees", 0, 360,
                                 desc="Meteorological: where the wind comes FROM, clockwise from true north (footprint)."),
        "threshold_mg_m3": number_input("Threshold", "mg/m³", 0, 1e9, xlo=True, desc="Footprint contour (or threshold_ppm)."),
        "threshold_ppm": number_input("Threshold in ppm", "ppm (v/v)", 0, 1e6, xlo=True, desc="Converted at 25 °C, 101.325 kPa."),
        "molar_mass_g_mol": number_input("Molar mass", "g/mol", 1, 1000, desc="Needed with threshold_ppm."),
        "max_distance_m": number_input("Max downwind distance", "m", 100, 100_000, default=50_000, desc="Footprint is cut here."),
    },
    {"mode": "point", "release_rate_g_s": 3.0, "wind_speed_m_s": 7.0, "stability": "D", "receptor_x_m": 3000},
)

VCE_METADATA = describe(
    "vce-overpressure", "Vapour cloud explosion overpressure (TNT equivalence)", "蒸气云爆炸超压（TNT当量法）",
    "W_TNT = f·η·m·ΔHc/E_TNT (η 0.04, E_TNT 4520 kJ/kg, ground-burst factor f 1 by default); Z = R/W^(1/3); "
    "Kinney–Graham side-on overpressure. mode=point: overpressure at distance_m. mode=zones: a disc then annuli "
    "(EPSG:4490) for death 144.5 kPa, serious injury 43.2 kPa, minor injury 12.9 kPa and glass breakage 3.9 kPa: the "
    "50 %, 50 %, 1 % and 50 % points of the probits in Crowl & Louvar Table 2-5 (Eisenberg et al. 1975).",
    {
        "mode": enum_input("Mode", ["point", "zones"], default="point"),
        "tnt_kg": number_input("TNT equivalent", "kg", 0, vce.MAX_TNT_KG, xlo=True, desc="Or fuel_mass_kg + heat_of_combustion_kj_kg."),
        "fuel_mass_kg": number_input("Fuel mass in the cloud", "kg", 0, 1e7, xlo=True),
        "heat_of_combustion_kj_kg": number_input("Heat of combustion", "kJ/kg", 1000, 150_000),
        "efficiency": number_input("Yield η", None, 0, 1, xlo=True, default=vce.DEFAULT_EFFICIENCY),
        "e_tnt_kj_kg": number_input("TNT blast energy", "kJ/kg", 4000, 5000, default=vce.E_TNT_KJ_KG),
        "ground_burst_factor": number_input("Ground-burst factor", None, 1, 2, default=1.0,
                                  desc="1 = free air; 1.8 in Chinese practice for surface bursts."),
        "distance_m": number_input("Distance", "m", 0, vce.MAX_DISTANCE_M, xlo=True, desc="mode=point, required."),
        "source": SOURCE_POINT,
        "thresholds_kpa": input_spec("Thresholds", "mode=zones, optional {name: kPa}; keys death, serious_injury, minor_injury, "
                              "glass_breakage keep their labels.", {"type": "object", "additionalProperties":
                              {"type": "number", "minimum": 0.01, "maximum": 163_000}}, unit="kPa"),
    },
    {"mode": "zones", "fuel_mass_kg": 1000, "heat_of_combustion_kj_kg": 46_350,
     "source": {"type": "Point", "coordinates": [116.40, 39.90]}},
)
# fmt: on


class GaussianPlumeProcessor(JsonProcessor):
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
            x = need(data, "receptor_x_m", inputs, "for mode=point")
            c = plume.concentration(q, u, x, data.get("receptor_y_m", 0.0), z, **common)
            sy, sz = plume.briggs_sigmas(x, stability, common["terrain"])
            lo, hi = plume.BRIGGS_VALID_RANGE_M
            notes = [] if lo <= x <= hi else ["receptor outside 100 m–10 km: Briggs σ extrapolated"]
            return {"concentration_g_m3": c, "concentration_mg_m3": c * 1000.0, "stability": stability,
                    "stability_source": how, "sigma_y_m": float(sy), "sigma_z_m": float(sz), "notes": notes}
        lon, lat = point(data)
        if "threshold_mg_m3" in data:
            thr = float(data["threshold_mg_m3"])
        elif "threshold_ppm" in data:
            thr = plume.ppm_to_mg_m3(data["threshold_ppm"], need(data, "molar_mass_g_mol", inputs, "with threshold_ppm"))
        else:
            raise InvalidInput("threshold_mg_m3", "0 < threshold_mg_m3 mg/m³, or threshold_ppm with molar_mass_g_mol")
        fp = plume.footprint(source_lon=lon, source_lat=lat,
                             wind_from_deg=need(data, "wind_direction_deg", inputs, "for mode=footprint"),
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

class VceOverpressureProcessor(JsonProcessor):
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
            r = need(data, "distance_m", self.metadata["inputs"], "for mode=point")
            z = vce.scaled_distance(r, w)
            notes = ["Z < 1 m/kg^(1/3): at or inside the cloud, where the TNT analogy overstates"] if z < 1 else []
            return {"tnt_kg": w, "scaled_distance_m_kg13": z, "overpressure_kpa": vce.overpressure_kpa(r, w),
                    "notes": notes}
        lon, lat = point(data)
        features = [
            {"type": "Feature", "id": zn.key,
             "geometry": {"type": "Polygon", "coordinates": [zn.exterior] + ([zn.hole] if zn.hole else [])},
             "properties": {"zone": zn.key, "label_zh": zn.label_zh, "label_en": zn.label_en,
                            "overpressure_kpa": zn.overpressure_kpa, "radius_m": zn.radius_m,
                            "inner_radius_m": zn.inner_radius_m, "source": zn.source}}
            for zn in vce.overpressure_zones(lon, lat, w, data.get("thresholds_kpa"))
        ]
        return {"type": "FeatureCollection", "features": features, "tnt_kg": w}
