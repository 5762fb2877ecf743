"""Sensitive targets (防护目标) and shelters (避难场所): where people are, and where they can go."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from data.demo.frame import zh_number
from data.demo.names import PLACE_WORDS, RESIDENTIAL_SUFFIX, RESIDENTIAL_WORDS
from data.demo.places import Atlas

TARGETS_PER_SCALE = 200
SHELTERS_PER_SCALE = 120
TARGET_KINDS = {"residential": 0.40, "school": 0.20, "kindergarten": 0.15, "hospital": 0.08, "nursing_home": 0.17}
OCCUPANTS = {"school": (400, 2500), "kindergarten": (80, 450), "hospital": (100, 1500), "nursing_home": (40, 400)}


@dataclass
class Targets:
    rows: list[dict]
    xy: np.ndarray
    population: np.ndarray
    residential: np.ndarray


def short_place(name: str) -> str:
    """卧龙街道 → 卧龙, 杏坛镇 → 杏坛."""
    return name.removesuffix("街道").removesuffix("镇")


def unique(names: list[str]) -> list[str]:
    """Second and later copies of a name get （二）, （三） … as local registers do."""
    seen: dict[str, int] = {}
    out = []
    for name in names:
        seen[name] = seen.get(name, 0) + 1
        out.append(name if seen[name] == 1 else f"{name}（{zh_number(seen[name])}）")
    return out


def build_targets(rng: np.random.Generator, atlas: Atlas, scale: int) -> Targets:
    n = TARGETS_PER_SCALE * scale
    kinds = np.array(list(TARGET_KINDS), dtype=object)[
        rng.choice(len(TARGET_KINDS), n, p=np.array(list(TARGET_KINDS.values())))]
    placed = atlas.settle(rng, n, lambda rows: atlas.where_people_live(rng, len(rows), power=1.3),
                          accept=lambda xy: ~atlas.in_parks(xy))
    nearby = atlas.population.sum_within(placed.lon, placed.lat, 300.0)
    population = np.zeros(n, dtype=int)
    res = kinds == "residential"
    population[res] = np.clip(np.round(nearby[res] * rng.uniform(0.15, 0.35, res.sum())), 300, 15_000)
    for kind, (lo, hi) in OCCUPANTS.items():
        m = kinds == kind
        population[m] = np.round(rng.uniform(lo, hi, m.sum()) / 10) * 10
    places = [short_place(atlas.subdistricts[atlas.sub_of_cell[c]].name) for c in placed.cell]
    names = unique([_target_name(rng, k, p) for k, p in zip(kinds, places, strict=True)])
    districts = atlas.district_codes(placed)
    geoms = atlas.points_ll(placed)
    rows = [{"name": names[i], "kind": kinds[i], "population": int(population[i]), "district_code": districts[i],
             "geom": geoms[i]} for i in range(n)]
    return Targets(rows, placed.xy, population, res)


def _target_name(rng: np.random.Generator, kind: str, place: str) -> str:
    if kind == "residential":
        word = RESIDENTIAL_WORDS[rng.integers(len(RESIDENTIAL_WORDS))]
        prefix = PLACE_WORDS[rng.integers(len(PLACE_WORDS))] if rng.random() < 0.5 else ""
        return f"示范市{prefix}{word}{RESIDENTIAL_SUFFIX[rng.integers(len(RESIDENTIAL_SUFFIX))]}"
    if kind == "school":
        return f"示范市{place}第{zh_number(int(rng.integers(1, 6)))}{'小学' if rng.random() < 0.6 else '中学'}"
    if kind == "kindergarten":
        return f"示范市{place}{RESIDENTIAL_WORDS[rng.integers(len(RESIDENTIAL_WORDS))]}幼儿园"
    if kind == "hospital":
        return f"示范市{place}{('社区卫生服务中心', '卫生院', '门诊部', '康复医院')[rng.integers(4)]}"
    return f"示范市{place}{('敬老院', '养老院', '颐养中心', '老年公寓')[rng.integers(4)]}"


def build_shelters(rng: np.random.Generator, atlas: Atlas, scale: int) -> list[dict]:
    n = SHELTERS_PER_SCALE * scale
    indoor = rng.random(n) < 0.45
    cls = atlas.roads.road_class
    weight = atlas.seg_len * atlas.seg_urban ** 1.2 * (cls != "motorway") * ~atlas.seg_in_park
    placed = atlas.settle(rng, n, lambda rows: atlas.beside_roads(rng, len(rows), weight, (30.0, 120.0)),
                          accept=lambda xy: ~atlas.in_parks(xy))
    capacity = np.where(indoor, rng.lognormal(np.log(800), 0.5, n), rng.lognormal(np.log(5000), 0.7, n))
    capacity = np.clip(np.round(capacity / 10) * 10, 100, 40_000).astype(int)
    places = [short_place(atlas.subdistricts[atlas.sub_of_cell[c]].name) for c in placed.cell]
    indoor_sites = ("体育馆", "中学体育馆", "文化中心", "会展中心", "小学")
    outdoor_sites = ("公园", "广场", "体育公园", "绿地", "湿地公园")
    names = unique([
        f"示范市{p}{indoor_sites[rng.integers(5)]}避难场所" if i else f"示范市{p}{outdoor_sites[rng.integers(5)]}应急避难场所"
        for p, i in zip(places, indoor, strict=True)
    ])
    addresses = atlas.addresses(rng, placed)
    districts = atlas.district_codes(placed)
    geoms = atlas.points_ll(placed)
    return [{"name": names[i], "kind": "indoor" if indoor[i] else "outdoor", "capacity": int(capacity[i]),
             "occupancy": 0, "address": addresses[i], "district_code": districts[i], "geom": geoms[i]}
            for i in range(n)]
