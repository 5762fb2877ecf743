"""A year of incident history (突发事件) up to the reference date, so the events layer is never empty.

Industrial incidents happen at (and are linked to) an enterprise of a fitting sector; traffic incidents on
arterial roads; the rest where people live. Old incidents are closed or reviewed; the last few are still
being handled, so a fresh demo database always shows live work.
"""

from __future__ import annotations

from datetime import datetime, time, timedelta

import numpy as np

from data.demo.enterprises import Enterprises
from data.demo.frame import CHINA_TZ, REFERENCE_DATE
from data.demo.names import short_district
from data.demo.places import Atlas
from data.demo.targets import short_place
from layers.registry import default_registry

PER_SCALE = 30
# share of each kind; the words in a title are the kind's label in the incidents layer file
KINDS = {"fire": 0.30, "traffic": 0.22, "leak": 0.15, "collapse": 0.10, "explosion": 0.05, "poisoning": 0.05,
         "other": 0.13}
LINK_SHARE = {"fire": 0.85, "leak": 0.85, "explosion": 0.9, "poisoning": 0.85, "collapse": 0.5, "other": 0.3,
              "traffic": 0.0}
SECTORS_FOR = {"fire": ("hazchem", "industry_trade", "fireworks"), "leak": ("hazchem",),
               "explosion": ("hazchem", "fireworks"), "poisoning": ("hazchem", "industry_trade"),
               "collapse": ("non_coal_mine", "industry_trade"), "other": ("industry_trade",)}
OPEN_STATUSES = ("reported", "verified", "responding", "under_control")


def build_incidents(rng: np.random.Generator, atlas: Atlas, firms: Enterprises, scale: int) -> list[dict]:
    n = PER_SCALE * scale
    shares = np.array(list(KINDS.values()))
    kinds = np.array(list(KINDS), dtype=object)[rng.choice(len(KINDS), n, p=shares / shares.sum())]
    # Ages in days, oldest first; the newest three are at most two days old and still open.
    ages = np.sort(rng.uniform(0, 365, n))[::-1]
    ages[-3:] = np.sort(rng.uniform(0.05, 2.0, 3))[::-1]
    start = datetime.combine(REFERENCE_DATE, time(9, 0), CHINA_TZ)
    reported = [(start - timedelta(days=float(a))).replace(microsecond=0) for a in ages]

    colour_weight = {"red": 6.0, "orange": 3.0, "yellow": 1.5, "blue": 1.0}
    firm_w = np.array([colour_weight[r["risk_colour"]] for r in firms.rows])
    pools = {k: np.flatnonzero(np.isin(firms.sector, sectors)) for k, sectors in SECTORS_FOR.items()}
    host = np.full(n, -1)
    for i, k in enumerate(kinds):
        if rng.random() < LINK_SHARE[k]:
            pool = pools[k]
            host[i] = rng.choice(pool, p=firm_w[pool] / firm_w[pool].sum())
    arterial = np.isin(atlas.roads.road_class, ("motorway", "trunk", "primary", "secondary")) * atlas.seg_len

    def propose(rows: np.ndarray) -> np.ndarray:
        out = atlas.where_people_live(rng, len(rows))
        linked = host[rows] >= 0
        if linked.any():
            out[linked] = atlas.near(rng, firms.placed.xy[host[rows[linked]]], 10.0, 60.0)
        road = (kinds[rows] == "traffic") & ~linked
        if road.any():
            out[road] = atlas.beside_roads(rng, int(road.sum()), arterial, (0.5, 8.0))
        return out

    placed = atlas.settle(rng, n, propose)
    districts = atlas.district_codes(placed)
    roads = atlas.nearest_road_names(placed.xy)
    kind_field = default_registry().get("incidents").field("kind")
    out = []
    per_day: dict[str, int] = {}
    for i in range(n):
        kind = kinds[i]
        label = kind_field.label_of(kind, "zh-CN")
        day = reported[i].strftime("%Y%m%d")
        per_day[day] = per_day.get(day, 0) + 1
        status = _status(rng, ages[i], i >= n - 3)
        level = _level(rng, kind)
        deaths = int(rng.choice([0, 0, 0, 1, 2])) if kind in ("explosion", "collapse") and level in (2, 3) else 0
        injuries = int(rng.poisson(1.2 if kind != "other" else 0.3))
        sub = short_place(atlas.subdistricts[atlas.sub_of_cell[placed.cell[i]]].name)
        if host[i] >= 0:
            firm = firms.rows[host[i]]
            title, where, uscc = f"{firm['name']}{label}", firm["name"], firm["uscc"]
        elif kind == "traffic":
            title = where = f"{short_district(atlas.districts[districts[i]].name)}{roads[i]}"
            title, uscc = f"{title}{label}", None
        else:
            where = f"{short_district(atlas.districts[districts[i]].name)}{sub}"
            title, uscc = f"{where}{label}", None
        casualties = "无人员伤亡" if deaths + injuries == 0 else f"造成{deaths}人死亡、{injuries}人受伤" if deaths \
            else f"造成{injuries}人受伤"
        out.append({
            "code": f"SJ{day}{per_day[day]:03d}", "title": title, "kind": kind, "reported_at": reported[i],
            "response_level": level, "status": status, "enterprise_uscc": uscc, "deaths": deaths,
            "injuries": injuries, "district_code": districts[i], "geom": None,
            "description": f"{reported[i]:%Y年%m月%d日%H时%M分}，{where}发生{label}，{casualties}。（示范数据）",
        })
    for row, g in zip(out, atlas.points_ll(placed), strict=True):
        row["geom"] = g
    return out


def _status(rng: np.random.Generator, age_days: float, newest: bool) -> str:
    if newest:
        return str(rng.choice(OPEN_STATUSES[:3]))
    if age_days < 7:
        return str(rng.choice(["under_control", "closed"]))
    if age_days < 60:
        return "closed"
    return str(rng.choice(["closed", "reviewed"], p=[0.4, 0.6]))


def _level(rng: np.random.Generator, kind: str) -> int | None:
    if kind == "explosion":
        return int(rng.choice([2, 3, 3, 4]))
    return [None, 4, 4, 4, 3][int(rng.integers(5))]
