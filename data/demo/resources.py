"""Emergency resources: rescue teams, material depots with their stock, experts, hospitals, fire stations.

All of them sit beside roads (a resource that cannot be driven to is no resource); hazchem teams and
enterprise depots cluster at the chemical parks, water-rescue teams near water, the rest follow urbanness.
"""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import shapely

from data.demo.enterprises import Enterprises
from data.demo.frame import REFERENCE_DATE, phone, zh_number
from data.demo.names import person_names, short_district
from data.demo.places import Atlas
from data.demo.targets import short_place, unique

TEAMS_PER_SCALE, DEPOTS_PER_SCALE, EXPERTS_PER_SCALE = 60, 40, 300
HOSPITALS_PER_SCALE, FIRE_STATIONS_PER_SCALE = 30, 25
TEAM_KINDS = {"hazchem": (0.20, "危化品", (20, 80)), "fire": (0.15, "消防", (15, 60)),
              "mine": (0.07, "矿山", (10, 40)), "medical": (0.18, "医疗", (8, 40)),
              "water": (0.10, "水上", (10, 30)), "general": (0.30, "综合", (20, 120))}
# (item, unit, quantity range, shelf life in years or None, stocked by: "all" or "public" depots only)
ITEMS = (
    ("防化服", "套", (20, 300), 5, "all"), ("空气呼吸器", "具", (10, 120), 8, "all"),
    ("防毒面具", "个", (50, 800), 3, "all"), ("吸附棉", "包", (50, 2000), None, "all"),
    ("围油栏", "米", (100, 3000), 10, "all"), ("堵漏工具", "套", (2, 30), None, "all"),
    ("中和剂", "吨", (1, 50), 3, "all"), ("灭火器", "具", (20, 500), 5, "all"),
    ("医用急救包", "个", (50, 1000), 2, "all"), ("沙袋", "个", (500, 20000), 3, "public"),
    ("帐篷", "顶", (20, 800), 8, "public"), ("饮用水", "箱", (100, 5000), 1, "public"),
    ("方便食品", "箱", (100, 3000), 1, "public"), ("折叠床", "张", (50, 2000), None, "public"),
    ("棉被", "床", (100, 5000), 5, "public"), ("救生衣", "件", (50, 1500), 5, "public"),
    ("冲锋舟", "艘", (1, 10), None, "public"), ("发电机", "台", (1, 20), None, "public"),
    ("应急照明灯", "台", (10, 300), 5, "public"),
)
EXPERT_FIELDS = {  # speciality: (share, organisations, titles)
    "hazchem": (0.25, ("示范大学化工学院", "示范市化工研究设计院", "示范市安全生产科学研究院"),
                ("正高级工程师", "高级工程师", "教授", "副教授", "研究员")),
    "fire": (0.12, ("示范市消防救援支队", "示范市消防技术服务中心"), ("高级工程师", "工程师", "正高级工程师")),
    "mine": (0.06, ("示范市矿山安全技术中心", "示范地质勘查院"), ("高级工程师", "正高级工程师", "研究员")),
    "structural": (0.12, ("示范大学土木工程学院", "示范市建筑设计研究院"), ("教授", "高级工程师", "正高级工程师")),
    "medical": (0.15, ("示范市第一人民医院", "示范市急救中心", "示范医科大学附属医院"), ("主任医师", "副主任医师")),
    "environment": (0.12, ("示范市环境监测中心站", "示范市环境科学研究院"), ("高级工程师", "研究员", "工程师")),
    "electrical": (0.08, ("示范供电公司", "示范市电力设计院"), ("高级工程师", "正高级工程师")),
    "special_equipment": (0.10, ("示范市特种设备检验研究院", "示范市锅炉压力容器检验所"),
                          ("高级工程师", "正高级工程师", "工程师")),
}
HOSPITAL_LEVELS = {"grade3a": (0.15, (1000, 3500)), "grade3": (0.15, (500, 1200)), "grade2": (0.35, (150, 600)),
                   "grade1": (0.35, (20, 120))}
STATION_KINDS = {"special": ((8, 15), (6, 8)), "standard": ((5, 8), (5, 7)), "small": ((2, 4), (4, 6))}


def _town(atlas: Atlas, power: float = 1.0) -> np.ndarray:
    cls = atlas.roads.road_class
    return atlas.seg_len * atlas.seg_urban ** power * (cls != "motorway") * ~atlas.seg_in_park


def _draw(rng: np.random.Generator, table: dict, n: int) -> np.ndarray:
    shares = np.array([v[0] for v in table.values()])
    return np.array(list(table), dtype=object)[rng.choice(len(table), n, p=shares / shares.sum())]


def build_rescue_teams(rng: np.random.Generator, atlas: Atlas, scale: int) -> list[dict]:
    n = TEAMS_PER_SCALE * scale
    kinds = _draw(rng, TEAM_KINDS, n)
    mid = (atlas.seg_a + atlas.seg_b) / 2
    near_water = shapely.dwithin(atlas.geo.water_union, shapely.points(mid), 1500.0)
    near_park = shapely.dwithin(atlas.geo.parks_union, shapely.points(mid), 1500.0)
    cls = atlas.roads.road_class
    weights = {
        "hazchem": atlas.seg_len * (near_park + 0.05) * (cls != "motorway"),
        "water": atlas.seg_len * (near_water + 0.02) * (cls != "motorway"),
        "mine": atlas.seg_len / (0.05 + atlas.seg_urban) * (cls != "motorway"),
    }

    def propose(rows: np.ndarray) -> np.ndarray:
        out = np.empty((len(rows), 2))
        for kind in TEAM_KINDS:
            m = kinds[rows] == kind
            if m.any():
                out[m] = atlas.beside_roads(rng, int(m.sum()), weights.get(kind, _town(atlas)), (15.0, 60.0))
        return out

    placed = atlas.settle(rng, n, propose)
    districts = atlas.district_codes(placed)
    labels = [f"示范市{short_district(atlas.districts[d].name)}{TEAM_KINDS[k][1]}应急救援" for d, k in
              zip(districts, kinds, strict=True)]
    count: dict[str, int] = {}
    names = []
    for label in labels:
        count[label] = count.get(label, 0) + 1
        names.append(f"{label}{zh_number(count[label])}队")
    status = rng.choice(["standby", "dispatched", "off_duty"], n, p=[0.85, 0.05, 0.10])
    phones, geoms = phone(rng, n), atlas.points_ll(placed)
    return [{"name": names[i], "speciality": kinds[i],
             "members": int(rng.integers(*TEAM_KINDS[kinds[i]][2])), "status": str(status[i]),
             "phone": phones[i], "district_code": districts[i], "geom": geoms[i]} for i in range(n)]


def build_depots(rng: np.random.Generator, atlas: Atlas, firms: Enterprises,
                 scale: int) -> tuple[list[dict], list[dict]]:
    """(depots, depot_inventory); inventory rows point at their depot by ``depot_index`` (row position)."""
    n = DEPOTS_PER_SCALE * scale
    level = rng.choice(["municipal", "district", "enterprise"], n, p=[0.1, 0.4, 0.5])
    hosts_pool = np.flatnonzero((firms.sector == "hazchem") & (firms.park >= 0))
    host = rng.choice(hosts_pool, n, replace=len(hosts_pool) < n)

    def propose(rows: np.ndarray) -> np.ndarray:
        out = np.empty((len(rows), 2))
        ent = level[rows] == "enterprise"
        if ent.any():
            out[ent] = atlas.near(rng, firms.placed.xy[host[rows[ent]]], 30.0, 120.0)
        if (~ent).any():
            out[~ent] = atlas.beside_roads(rng, int((~ent).sum()), _town(atlas, 0.5), (30.0, 150.0))
        return out

    placed = atlas.settle(rng, n, propose)
    districts = atlas.district_codes(placed)
    names = unique([
        f"{firms.rows[host[i]]['name']}应急物资库" if level[i] == "enterprise"
        else "示范市市级应急物资储备库" if level[i] == "municipal"
        else f"示范市{short_district(atlas.districts[districts[i]].name)}应急物资储备库"
        for i in range(n)
    ])
    managers, phones, geoms = person_names(rng, n), phone(rng, n), atlas.points_ll(placed)
    depots = [{"name": names[i], "level": str(level[i]), "manager": managers[i], "phone": phones[i],
               "district_code": districts[i], "geom": geoms[i]} for i in range(n)]
    inventory = []
    for i in range(n):
        pool = [it for it in ITEMS if it[4] == "all" or level[i] != "enterprise"]
        k = {"municipal": (12, 17), "district": (8, 13), "enterprise": (5, 10)}[str(level[i])]
        for j in sorted(rng.choice(len(pool), min(len(pool), int(rng.integers(*k))), replace=False)):
            item, unit, (lo, hi), life, _ = pool[j]
            expiry = None
            if life is not None:  # a few are already past their date, as in any real store
                expiry = REFERENCE_DATE + timedelta(days=int(rng.integers(-90, life * 365)))
            inventory.append({"depot_index": i, "item": item, "unit": unit,
                              "quantity": float(rng.integers(lo, hi + 1)), "expiry": expiry})
    return depots, inventory


def build_experts(rng: np.random.Generator, atlas: Atlas, scale: int) -> list[dict]:
    n = EXPERTS_PER_SCALE * scale
    orgs = sorted({o for v in EXPERT_FIELDS.values() for o in v[1]})
    sites = atlas.settle(rng, len(orgs), lambda rows: atlas.beside_roads(rng, len(rows), _town(atlas, 2.0),
                                                                         (20.0, 80.0)))
    site_of = {o: sites.xy[i] for i, o in enumerate(orgs)}
    fields = _draw(rng, EXPERT_FIELDS, n)
    org = [EXPERT_FIELDS[f][1][rng.integers(len(EXPERT_FIELDS[f][1]))] for f in fields]
    title = [EXPERT_FIELDS[f][2][rng.integers(len(EXPERT_FIELDS[f][2]))] for f in fields]
    home = np.array([site_of[o] for o in org])
    placed = atlas.settle(rng, n, lambda rows: atlas.near(rng, home[rows], 0.0, 150.0))
    districts, geoms = atlas.district_codes(placed), atlas.points_ll(placed)
    names, phones = person_names(rng, n), phone(rng, n)
    return [{"name": names[i], "speciality": fields[i], "title": title[i], "organisation": org[i],
             "phone": phones[i], "district_code": districts[i], "geom": geoms[i]} for i in range(n)]


def build_hospitals(rng: np.random.Generator, atlas: Atlas, scale: int) -> list[dict]:
    n = HOSPITALS_PER_SCALE * scale
    levels = _draw(rng, HOSPITAL_LEVELS, n)
    big = np.isin(levels, ("grade3a", "grade3"))
    placed = atlas.settle(rng, n, lambda rows: np.where(
        big[rows, None], atlas.beside_roads(rng, len(rows), _town(atlas, 2.0), (20.0, 80.0)),
        atlas.beside_roads(rng, len(rows), _town(atlas, 0.7), (20.0, 80.0))))
    districts = atlas.district_codes(placed)
    places = [short_place(atlas.subdistricts[atlas.sub_of_cell[c]].name) for c in placed.cell]
    first = iter(range(1, 10_000))
    names = unique([
        f"示范市第{zh_number(next(first))}人民医院" if lv == "grade3a"
        else f"示范市{short_district(atlas.districts[d].name)}{('人民医院', '中医医院', '妇幼保健院')[rng.integers(3)]}"
        if lv == "grade3" else f"示范市{p}医院" if lv == "grade2"
        else f"示范市{p}{('社区卫生服务中心', '卫生院')[rng.integers(2)]}"
        for lv, d, p in zip(levels, districts, places, strict=True)
    ])
    phones, geoms = phone(rng, n), atlas.points_ll(placed)
    return [{"name": names[i], "level": levels[i], "beds": int(rng.integers(*HOSPITAL_LEVELS[levels[i]][1])),
             "phone": phones[i], "district_code": districts[i], "geom": geoms[i]} for i in range(n)]


def build_fire_stations(rng: np.random.Generator, atlas: Atlas, scale: int) -> list[dict]:
    """Stations spread for coverage: the farthest of several valid candidates, town-weighted, each time."""
    n = FIRE_STATIONS_PER_SCALE * scale
    pool = atlas.settle(rng, 8 * n, lambda rows: atlas.beside_roads(rng, len(rows), _town(atlas, 0.5),
                                                                    (15.0, 50.0)))
    chosen = [int(np.argmax(atlas.geo.urbanness(pool.xy[:, 0], pool.xy[:, 1])))]
    dist = np.hypot(*(pool.xy - pool.xy[chosen[0]]).T)
    for _ in range(n - 1):
        k = int(np.argmax(dist * rng.uniform(0.7, 1.0, len(dist))))
        chosen.append(k)
        dist = np.minimum(dist, np.hypot(*(pool.xy - pool.xy[k]).T))
    idx = np.array(chosen)
    xy, cells = pool.xy[idx], pool.cell[idx]
    urban = atlas.geo.urbanness(xy[:, 0], xy[:, 1])
    rank = np.argsort(-urban)
    kind = np.full(n, "standard", dtype=object)
    kind[rank[: max(1, round(0.15 * n))]] = "special"
    kind[rank[-round(0.3 * n):]] = "small"
    districts = [atlas.district_of_cell[c] for c in cells]
    places = [short_place(atlas.subdistricts[atlas.sub_of_cell[c]].name) for c in cells]
    special_no = iter(range(1, 10_000))
    names = unique([
        f"示范市消防救援支队特勤{zh_number(next(special_no))}站" if k == "special"
        else f"示范市{p}小型消防站" if k == "small"
        else f"示范市{short_district(atlas.districts[d].name)}{p}消防救援站"
        for k, d, p in zip(kind, districts, places, strict=True)
    ])
    geoms = shapely.points(pool.lon[idx], pool.lat[idx])
    out = []
    for i in range(n):
        vehicles = int(rng.integers(*STATION_KINDS[kind[i]][0]))
        personnel = vehicles * int(rng.integers(*STATION_KINDS[kind[i]][1]))
        out.append({"name": names[i], "kind": kind[i], "vehicles": vehicles, "personnel": personnel,
                    "district_code": districts[i], "geom": geoms[i]})
    return out
