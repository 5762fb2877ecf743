"""Major hazard sources (重大危险源), their chemical inventories and their online sensors.

Every unit holds GB 18218-2018 Table 1 substances chosen to suit its firm's industry, in quantities drawn so
that S = Σ q/Q lands between 1 and ~60 (so each unit is a major hazard source). S, R and the grade are then
computed by ``supervision.hazard_sources.gb18218.assess`` — the same code the product uses — from the stored inventory and
the exposed population, so the demo data agree with the standard and with the application.

Exposed population (persons within 500 m, Table 5's α) is approximated as the residents of the population
grid whose pixel centres lie within 500 m of the unit, plus the occupants of non-residential sensitive
targets (schools, kindergartens, hospitals, nursing homes) within 500 m; residential compounds are already
in the grid.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.spatial import cKDTree

from data.demo.enterprises import Enterprises
from data.demo.places import Atlas, Placed

PER_SCALE = 150
SENSORS_PER_SCALE = 800
UNITS = {"tank": ("储罐区", "罐区", "球罐区"), "store": ("甲类仓库", "危化品仓库"), "process": ("生产装置", "装置区")}
# Substances (by CAS) each industry typically holds; resolved against Table 1 at build time.
INVENTORY = {
    "2614": ("67-56-1", "71-43-2", "108-88-3", "100-42-5", "107-13-1", "75-21-8", "75-56-9", "74-85-1",
             "106-99-0", "75-01-4", "67-64-1", "141-78-6"),
    "2611": ("7697-37-2", "7446-11-9", "7446-09-5", "7664-39-3"),
    "2612": ("7782-50-5", "1333-74-0", "7647-01-0"),
    "2613": ("7782-50-5", "7664-41-7", "7726-95-6"),
    "2619": ("7782-50-5", "7664-41-7", "7647-01-0", "1333-74-0", "75-15-0"),
    "2621": ("7664-41-7", "6484-52-2", "1333-74-0", "67-56-1"),
    "2631": ("7782-50-5", "75-44-5", "67-56-1", "108-88-3", "74-83-9", "74-90-8"),
    "2641": ("108-88-3", "141-78-6", "67-64-1", "67-56-1", "100-42-5"),
    "2651": ("100-42-5", "75-01-4", "74-85-1", "106-99-0", "107-13-1", "106-89-8", "26471-62-5"),
    "2661": ("67-56-1", "64-17-5", "67-64-1", "110-54-3", "60-29-7", "79-21-0"),
    "2511": ("86290-81-5", "68476-85-7", "1333-74-0", "7783-06-4", "71-43-2", "108-88-3"),
    "2710": ("67-56-1", "64-17-5", "67-64-1", "110-54-3", "60-29-7"),
    "4512": ("68476-85-7", "74-82-8"),
    "5162": ("86290-81-5", "68476-85-7", "67-56-1"),
}
FLAMMABLE = frozenset({
    "67-56-1", "71-43-2", "108-88-3", "100-42-5", "107-13-1", "75-21-8", "75-56-9", "74-85-1", "106-99-0",
    "75-01-4", "67-64-1", "141-78-6", "64-17-5", "110-54-3", "60-29-7", "86290-81-5", "68476-85-7", "74-82-8",
    "1333-74-0", "75-15-0", "106-89-8",
})
#: Toxic-gas detector set points in ppm (first, second alarm), about 1× and 2× the occupational limit.
TOXIC_PPM = {
    "7664-41-7": (30.0, 60.0), "7782-50-5": (0.3, 0.6), "7783-06-4": (7.0, 14.0), "7647-01-0": (5.0, 10.0),
    "75-44-5": (0.1, 0.2), "7446-09-5": (2.0, 4.0), "7664-39-3": (2.0, 4.0), "74-90-8": (1.0, 2.0),
    "74-83-9": (0.5, 1.0),
}
SENSOR_KINDS = {"tank": ("tank_level", "temperature", "pressure", "gas_concentration", "gas_concentration"),
                "store": ("gas_concentration", "gas_concentration", "temperature"),
                "process": ("pressure", "temperature", "gas_concentration", "gas_concentration")}
#: Grades are aimed at roughly the national mix of registered major hazard sources (most are grade 4).
GRADE_SHARES = [0.04, 0.10, 0.30, 0.56]
GRADE_R = {1: (100.0, 300.0), 2: (50.0, 100.0), 3: (10.0, 50.0), 4: (1.0, 10.0)}
SENSOR_TAG = {"gas_concentration": "GA", "tank_level": "LV", "temperature": "TE", "pressure": "PR"}


@dataclass
class HazardSources:
    rows: list[dict]
    chemicals: list[dict]
    sensors: list[dict]
    placed: Placed
    host: np.ndarray  # enterprise index per hazard source


def _table1_by_cas() -> dict[str, dict]:
    from supervision.hazard_sources.gb18218 import list_table1_chemicals, resolve_chemical

    out = {}
    records = {r["no"]: r for r in list_table1_chemicals()}
    for cas in {c for v in INVENTORY.values() for c in v}:
        # Resolve through the product's own rules, so that a CAS shared by several entries (ammonium
        # nitrate) maps to the entry the application would pick when it recomputes from the inventory.
        out[cas] = records[resolve_chemical({"cas": cas, "quantity_t": 1.0}).table1_no]
    return out


def _inventory(rng: np.random.Generator, chosen: list[dict], share: np.ndarray, r_range: tuple[float, float],
               exposed: int) -> list[dict]:
    """Quantities that put R = α·Σβ·q/Q inside ``r_range`` (log-uniform), never letting S = Σ q/Q drop below 1."""
    from supervision.hazard_sources.gb18218 import alpha_for_population, resolve_chemical

    beta = np.array([resolve_chemical({"table1_no": c["no"], "quantity_t": 1.0}).beta for c in chosen])
    r_target = float(np.exp(rng.uniform(np.log(r_range[0]), np.log(r_range[1]))))
    s_total = max(1.02, r_target / (alpha_for_population(exposed) * float(share @ beta)))
    return [{"table1_no": c["no"], "quantity_t": _round_up(max(0.01, sh * s_total * c["critical_quantity_t"]))}
            for c, sh in zip(chosen, share, strict=True)]


def _round_up(q: float) -> float:
    digits = 2 - int(np.floor(np.log10(q)))
    return float(np.ceil(q * 10 ** digits) / 10 ** digits)


def build_hazard_sources(rng: np.random.Generator, atlas: Atlas, firms: Enterprises, targets_xy: np.ndarray,
                         targets_pop: np.ndarray, scale: int) -> HazardSources:
    from supervision.hazard_sources.gb18218 import assess

    table1 = _table1_by_cas()
    n = PER_SCALE * scale
    rows_e = firms.rows
    eligible = np.flatnonzero((firms.role == "plant")
                              & np.array([r["industry_code"] in INVENTORY for r in rows_e]))
    weight = np.where(firms.park[eligible] >= 0, 6.0, 1.0)
    picks: list[int] = []
    per_host: dict[int, int] = {}
    while len(picks) < n:
        for h in rng.choice(eligible, n - len(picks), p=weight / weight.sum()):
            if per_host.get(int(h), 0) < 4:
                per_host[int(h)] = per_host.get(int(h), 0) + 1
                picks.append(int(h))
    host = np.sort(np.array(picks[:n]))
    placed = atlas.settle(rng, n, lambda rows: atlas.near(rng, firms.placed.xy[host[rows]], 40.0, 180.0))
    districts = atlas.district_codes(placed)
    exposed = _exposed(atlas, placed, targets_xy, targets_pop)

    rows, chemicals = [], []
    seq: dict[str, int] = {}
    unit_no: dict[int, int] = {}
    kinds = np.array(list(UNITS))[rng.choice(3, n, p=[0.55, 0.2, 0.25])]
    target_grade = rng.choice([1, 2, 3, 4], n, p=GRADE_SHARES)
    for i in range(n):
        firm = rows_e[host[i]]
        seq[districts[i]] = seq.get(districts[i], 0) + 1
        unit_no[host[i]] = unit_no.get(host[i], 0) + 1
        code = f"HS-{districts[i]}-{seq[districts[i]]:04d}"
        options = INVENTORY[firm["industry_code"]]
        k = int(min(len(options), rng.choice([1, 2, 3, 4], p=[0.35, 0.35, 0.2, 0.1])))
        chosen = [table1[c] for c in rng.choice(options, k, replace=False)]
        share = rng.dirichlet(np.full(k, 1.5))
        items = _inventory(rng, chosen, share, GRADE_R[int(target_grade[i])], int(exposed[i]))
        result = assess(items, int(exposed[i]))
        while result.s < 1.0:  # rounding only ever raises q, but keep the promise explicit
            items = [{**it, "quantity_t": _round_up(it["quantity_t"] * 1.05)} for it in items]
            result = assess(items, int(exposed[i]))
        unit = UNITS[kinds[i]][rng.integers(len(UNITS[kinds[i]]))]
        rows.append({"code": code, "name": f"{firm['name']}{unit_no[host[i]]}#{unit}",
                     "enterprise_uscc": firm["uscc"], "grade": int(result.grade), "s_value": float(result.s),
                     "r_value": float(result.r), "exposed_population": int(exposed[i]),
                     "district_code": districts[i], "status": "active",
                     "updated_at": None, "warning_level": None, "geom": None,
                     # no filing in the demo city: every hazard source starts unfiled (supervision/filings)
                     "filing_status": "missing", "filing_number": None, "filing_valid_to": None})
        for c, it in zip(chosen, items, strict=True):
            chemicals.append({"hazard_source_code": code, "chemical_name": c["name_zh"], "cas": c["cas"],
                              "quantity_t": it["quantity_t"], "critical_quantity_t": c["critical_quantity_t"]})
    for row, g in zip(rows, atlas.points_ll(placed), strict=True):
        row["geom"] = g
    sensors = _sensors(rng, atlas, placed, rows, chemicals, kinds, scale)
    return HazardSources(rows, chemicals, sensors, placed, host)


def _exposed(atlas: Atlas, placed: Placed, targets_xy: np.ndarray, targets_pop: np.ndarray) -> np.ndarray:
    residents = atlas.population.sum_within(placed.lon, placed.lat, 500.0)
    occupants = np.zeros(len(placed))
    if len(targets_xy):
        near = cKDTree(targets_xy).query_ball_point(placed.xy, r=500.0)
        occupants = np.array([targets_pop[idx].sum() if idx else 0 for idx in near], dtype=float)
    return np.round(residents + occupants).astype(int)


def _sensors(rng: np.random.Generator, atlas: Atlas, hs: Placed, rows: list[dict], chemicals: list[dict],
             kinds: np.ndarray, scale: int) -> list[dict]:
    n_hs, total = len(rows), SENSORS_PER_SCALE * scale
    counts = np.full(n_hs, 3) + np.bincount(rng.choice(n_hs, total - 3 * n_hs), minlength=n_hs)
    owner = np.repeat(np.arange(n_hs), counts)
    placed = atlas.settle(rng, len(owner), lambda r: atlas.near(rng, hs.xy[owner[r]], 10.0, 90.0))
    districts = atlas.district_codes(placed)
    by_code: dict[str, list[dict]] = {}
    for c in chemicals:
        by_code.setdefault(c["hazard_source_code"], []).append(c)
    status = np.full(len(owner), "normal", dtype=object)
    odd = rng.permutation(len(owner))
    n_alarm, n_offline = max(3, round(0.015 * len(owner))), max(5, round(0.03 * len(owner)))
    status[odd[:n_alarm]] = "alarm"
    status[odd[n_alarm:n_alarm + n_offline]] = "offline"
    geoms = atlas.points_ll(placed)
    out, tag_no = [], {}
    for i, h in enumerate(owner):
        code = rows[h]["code"]
        kind, unit, low, high = _sensor_spec(rng, kinds[h], by_code[code])
        key = (code, SENSOR_TAG[kind])
        tag_no[key] = tag_no.get(key, 0) + 1
        out.append({"code": f"{code}-{SENSOR_TAG[kind]}{tag_no[key]:02d}", "hazard_source_code": code,
                    "kind": kind, "unit": unit, "alarm_low": low, "alarm_high": high, "status": status[i],
                    "district_code": districts[i], "geom": geoms[i]})
    return out


def _sensor_spec(rng: np.random.Generator, unit_kind: str,
                 stock: list[dict]) -> tuple[str, str, float | None, float]:
    kind = SENSOR_KINDS[unit_kind][rng.integers(len(SENSOR_KINDS[unit_kind]))]
    if kind == "gas_concentration":
        detectable = [c["cas"] for c in stock if c["cas"] in FLAMMABLE or c["cas"] in TOXIC_PPM]
        if not detectable:
            kind = "temperature"
        else:
            cas = detectable[rng.integers(len(detectable))]
            if cas in TOXIC_PPM:
                return kind, "ppm", *TOXIC_PPM[cas]
            return kind, "%LEL", 25.0, 50.0  # GB/T 50493-2019 first/second alarm set points
    if kind == "tank_level":
        height = float(rng.choice([8.0, 10.0, 12.0, 14.0, 16.0, 20.0]))
        return kind, "m", round(0.1 * height, 1), round(0.85 * height, 1)
    if kind == "pressure":
        if unit_kind == "tank":
            return kind, "MPa", 0.1, float(rng.choice([0.8, 1.2, 1.6, 2.0]))
        return kind, "MPa", None, float(rng.choice([0.6, 1.0, 2.5, 4.0, 6.0]))
    if unit_kind == "process":
        return "temperature", "°C", None, float(rng.choice([120.0, 180.0, 250.0, 350.0]))
    return "temperature", "°C", -10.0, float(rng.choice([35.0, 40.0, 45.0, 50.0]))


def build_video_points(rng: np.random.Generator, atlas: Atlas, hazards: HazardSources) -> list[dict]:
    """视频监控点: one camera at each of the first two hazard sources of every enterprise that has any (10-60 m from
    it, on the plant's fence), a few offline. No stream URL: the demo plays the generated HLS sample
    (supervision/monitoring/video.py); a deployment sets real ones."""
    seen: dict[str, int] = {}
    chosen = []
    for i, row in enumerate(hazards.rows):
        seen[row["enterprise_uscc"]] = seen.get(row["enterprise_uscc"], 0) + 1
        if seen[row["enterprise_uscc"]] <= 2:
            chosen.append(i)
    owner = np.array(chosen, dtype=int)
    placed = atlas.settle(rng, len(owner), lambda r: atlas.near(rng, hazards.placed.xy[owner[r]], 10.0, 60.0))
    districts = atlas.district_codes(placed)
    offline = set(rng.choice(len(owner), size=max(1, len(owner) // 20), replace=False).tolist())
    out = []
    for k, (i, g) in enumerate(zip(owner, atlas.points_ll(placed), strict=True)):
        source = hazards.rows[i]
        out.append({"code": f"{source['code']}-VD01", "name": f"{source['name']} 视频监控",
                    "enterprise_uscc": source["enterprise_uscc"], "hazard_source_code": source["code"],
                    "stream_url": None, "status": "offline" if k in offline else "online",
                    "district_code": districts[k], "geom": g})
    return out
