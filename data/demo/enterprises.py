"""Enterprises (生产经营单位): sector, GB/T 4754 industry, location, USCC, risk colour.

Hazchem firms sit mostly in the chemical parks; mines and fireworks makers in the countryside; the
industry-and-trade majority beside roads in proportion to urbanness. Risk colours are drawn so that the
city-wide shares come out near 3 / 12 / 35 / 50 % (red / orange / yellow / blue) while hazchem firms in
parks carry markedly more red and orange.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from data.demo.frame import phone
from data.demo.names import FIRM_WORDS, PLACE_WORDS, person_names
from data.demo.places import Atlas, Placed
from data.demo.uscc import generate_usccs

PER_SCALE = 5000
SECTOR_SHARES = {"hazchem": 0.12, "fireworks": 0.02, "non_coal_mine": 0.015, "industry_trade": 0.845}
COLOURS = ("red", "orange", "yellow", "blue")
TARGET_SHARES = np.array([0.03, 0.12, 0.35, 0.50])
PARK_HAZCHEM_SHARES = np.array([0.10, 0.30, 0.40, 0.20])

# (GB/T 4754-2017 class, name words, weight, role). Roles: "plant" (makes or stores chemicals: may hold a
# major hazard source), "trade" (an office), "fuel" (a filling station), "other".
INDUSTRIES: dict[str, tuple[tuple[str, tuple[str, ...], float, str], ...]] = {
    "hazchem": (
        ("2614", ("化工", "石化", "化学"), 3.0, "plant"),        # 有机化学原料制造
        ("2611", ("化工", "酸业"), 0.8, "plant"),                # 无机酸制造
        ("2612", ("碱业", "氯碱化工"), 0.8, "plant"),            # 无机碱制造
        ("2613", ("盐化", "化工"), 0.6, "plant"),                # 无机盐制造
        ("2619", ("化工", "化学"), 1.2, "plant"),                # 其他基础化学原料制造
        ("2621", ("化肥", "化工"), 0.5, "plant"),                # 氮肥制造
        ("2631", ("农药", "生物化学"), 0.6, "plant"),            # 化学农药制造
        ("2641", ("涂料", "油漆"), 1.0, "plant"),                # 涂料制造
        ("2651", ("树脂", "新材料"), 1.0, "plant"),              # 初级形态塑料及合成树脂制造
        ("2661", ("化学试剂", "精细化工"), 1.0, "plant"),        # 化学试剂和助剂制造
        ("2511", ("石油化工", "炼化"), 0.3, "plant"),            # 原油加工及石油制品制造
        ("2710", ("药业", "制药"), 0.7, "plant"),                # 化学药品原料药制造
        ("4512", ("燃气", "液化气"), 0.5, "plant"),              # 液化石油气生产和供应业
        ("5162", ("石油", "油品储运"), 0.8, "plant"),            # 石油及制品批发 (with tank farms)
        ("5169", ("化工贸易", "化工物资"), 2.0, "trade"),        # 其他化工产品批发
        ("5265", ("能源",), 2.5, "fuel"),                        # 机动车燃油零售
        ("5266", ("燃气能源",), 0.4, "fuel"),                    # 机动车燃气零售
    ),
    "fireworks": (
        ("2672", ("烟花", "鞭炮", "花炮"), 1.0, "other"),        # 焰火、鞭炮产品制造
        ("5299", ("烟花爆竹",), 1.5, "other"),                   # 其他未列明零售业 (零售网点)
    ),
    "non_coal_mine": (
        ("1011", ("石灰石", "矿业"), 1.0, "other"),              # 石灰石、石膏开采
        ("1012", ("石材", "建材"), 1.0, "other"),                # 建筑装饰用石开采
        ("1019", ("砂石", "矿业"), 1.2, "other"),                # 粘土及其他土砂石开采
        ("1020", ("化学矿", "矿业"), 0.3, "other"),              # 化学矿开采
        ("0810", ("铁矿", "矿业"), 0.3, "other"),                # 铁矿采选
    ),
    "industry_trade": (
        ("3011", ("水泥",), 0.3, "other"), ("3021", ("水泥制品", "建材"), 0.8, "other"),
        ("3130", ("钢材", "钢铁"), 0.4, "other"), ("3252", ("铝业",), 0.5, "other"),
        ("3311", ("钢结构",), 1.2, "other"), ("3360", ("表面处理", "热处理"), 0.8, "other"),
        ("3391", ("铸造",), 0.6, "other"), ("3670", ("汽车零部件", "汽配"), 1.2, "other"),
        ("3831", ("电缆", "电线"), 0.6, "other"), ("1713", ("印染", "纺织"), 0.6, "other"),
        ("1810", ("服装", "服饰"), 1.0, "other"), ("2110", ("家具",), 0.8, "other"),
        ("2221", ("纸业",), 0.4, "other"), ("2922", ("塑业", "塑料制品"), 1.0, "other"),
        ("1311", ("米业", "粮油"), 0.6, "other"), ("1391", ("淀粉", "食品"), 0.4, "other"),
        ("5211", ("百货", "商贸"), 1.2, "other"), ("5212", ("超市", "商贸"), 1.5, "other"),
    ),
}
FORMS = ("有限公司", "有限公司", "有限公司", "有限公司", "股份有限公司", "有限责任公司", "厂")
EMPLOYEES = {"hazchem": (60, 1.0), "fireworks": (12, 0.9), "non_coal_mine": (30, 0.8),
             "industry_trade": (22, 1.2)}  # lognormal (median, sigma)


@dataclass
class Enterprises:
    rows: list[dict]
    placed: Placed
    sector: np.ndarray
    role: np.ndarray
    park: np.ndarray  # park index or -1


def build_enterprises(rng: np.random.Generator, atlas: Atlas, scale: int) -> Enterprises:
    n = PER_SCALE * scale
    counts = {s: int(round(n * share)) for s, share in SECTOR_SHARES.items()}
    counts["industry_trade"] = n - sum(v for k, v in counts.items() if k != "industry_trade")
    sector = np.concatenate([np.full(c, s, dtype=object) for s, c in counts.items()])
    industry, labels, role = _industries(rng, sector)
    in_park_wanted = np.where(sector == "hazchem", (role == "plant") & (rng.random(n) < 0.8),
                              (sector == "industry_trade") & (rng.random(n) < 0.03))

    road_w = _road_weights(atlas)
    park_segments = atlas.seg_in_park.astype(float) * atlas.seg_len
    town = atlas.seg_urban ** 1.3 * atlas.seg_len * road_w
    country = (1.0 / (0.05 + atlas.seg_urban)) * atlas.seg_len * road_w * ~atlas.seg_in_park
    arterial = np.isin(atlas.roads.road_class, ("trunk", "primary", "secondary")) * atlas.seg_len * (
        0.2 + atlas.seg_urban)

    def propose(rows: np.ndarray) -> np.ndarray:
        out = np.empty((len(rows), 2))
        groups = {
            "park": in_park_wanted[rows],
            "fuel": ~in_park_wanted[rows] & (role[rows] == "fuel"),
            # Mines, fireworks and chemical plants outside the parks are kept out of town.
            "rural": ~in_park_wanted[rows] & (np.isin(sector[rows], ("fireworks", "non_coal_mine"))
                                              | (role[rows] == "plant")),
        }
        groups["town"] = ~(groups["park"] | groups["fuel"] | groups["rural"])
        sources = {"park": (park_segments, (20.0, 80.0)), "fuel": (arterial, (15.0, 30.0)),
                   "rural": (country, (40.0, 300.0)), "town": (town, (15.0, 70.0))}
        for g, mask in groups.items():
            if mask.any():
                w, off = sources[g]
                out[mask] = atlas.beside_roads(rng, int(mask.sum()), w, off)
        return out

    # Park firms must land in a park and nobody else may: settle the two groups separately.
    placed_parts: list[tuple[np.ndarray, Placed]] = []
    for wanted in (True, False):
        idx = np.flatnonzero(in_park_wanted == wanted)
        sub = atlas.settle(rng, len(idx), lambda rows, idx=idx: propose(idx[rows]),
                           accept=(lambda xy: atlas.in_parks(xy)) if wanted else (lambda xy: ~atlas.in_parks(xy)))
        placed_parts.append((idx, sub))
    xy = np.zeros((n, 2))
    lon, lat, cell = np.zeros(n), np.zeros(n), np.zeros(n, dtype=int)
    for idx, sub in placed_parts:
        xy[idx], lon[idx], lat[idx], cell[idx] = sub.xy, sub.lon, sub.lat, sub.cell
    placed = Placed(xy, lon, lat, cell)
    park = atlas.park_index(placed)

    districts = atlas.district_codes(placed)
    usccs = generate_usccs(rng, districts)
    names = _names(rng, labels, role, atlas.nearest_road_names(xy))
    employees = _employees(rng, sector, park >= 0)
    colours = _risk_colours(rng, (sector == "hazchem") & (park >= 0))
    addresses = atlas.addresses(rng, placed)
    legal = person_names(rng, n)
    phones = phone(rng, n)
    cells = atlas.cell_codes(placed)
    parks = [atlas.geo.parks[p].code if p >= 0 else None for p in park]
    geoms = atlas.points_ll(placed)
    rows = [
        {"uscc": usccs[i], "name": names[i], "industry_code": industry[i], "sector": sector[i],
         "employees": int(employees[i]), "address": addresses[i], "legal_representative": legal[i],
         "phone": phones[i], "risk_colour": colours[i], "district_code": districts[i],
         "grid_cell_code": cells[i], "park_code": parks[i], "status": "active", "updated_at": None,
         "geom": geoms[i]}
        for i in range(n)
    ]
    return Enterprises(rows, placed, sector, role, park)


def _industries(rng: np.random.Generator, sector: np.ndarray) -> tuple[list[str], list[str], np.ndarray]:
    n = len(sector)
    industry = np.empty(n, dtype=object)
    labels = np.empty(n, dtype=object)
    role = np.empty(n, dtype=object)
    for s, options in INDUSTRIES.items():
        rows = np.flatnonzero(sector == s)
        w = np.array([o[2] for o in options])
        pick = rng.choice(len(options), len(rows), p=w / w.sum())
        word = rng.integers(0, 6, len(rows))
        industry[rows] = [options[k][0] for k in pick]
        labels[rows] = [options[k][1][j % len(options[k][1])] for k, j in zip(pick, word, strict=True)]
        role[rows] = [options[k][3] for k in pick]
    return list(industry), list(labels), role


def _road_weights(atlas: Atlas) -> np.ndarray:
    cls = atlas.roads.road_class
    return np.select([cls == "motorway", cls == "residential"], [0.0, 0.8], 1.0)


def _names(rng: np.random.Generator, labels: list[str], role: np.ndarray, roads: np.ndarray) -> list[str]:
    taken: set[str] = set()
    out = []
    for label, r, road in zip(labels, role, roads, strict=True):
        while True:
            firm = FIRM_WORDS[rng.integers(len(FIRM_WORDS))]
            place = PLACE_WORDS[rng.integers(len(PLACE_WORDS))] if rng.random() < 0.6 else ""
            if r == "fuel":
                name = f"示范市{place}{firm}{label}有限公司{road}加油站"
            elif label == "烟花爆竹":
                name = f"示范市{place}{firm}烟花爆竹零售店"
            else:
                name = f"示范市{place}{firm}{label}{FORMS[rng.integers(len(FORMS))]}"
            if name not in taken:
                taken.add(name)
                out.append(name)
                break
    return out


def _employees(rng: np.random.Generator, sector: np.ndarray, in_park: np.ndarray) -> np.ndarray:
    median = np.array([EMPLOYEES[s][0] for s in sector], dtype=float) * np.where(in_park, 2.5, 1.0)
    sigma = np.array([EMPLOYEES[s][1] for s in sector])
    return np.clip(np.round(median * np.exp(sigma * rng.standard_normal(len(sector)))), 1, 20_000).astype(int)


def _risk_colours(rng: np.random.Generator, park_hazchem: np.ndarray) -> list[str]:
    f = park_hazchem.mean()
    others = np.clip((TARGET_SHARES - f * PARK_HAZCHEM_SHARES) / max(1e-9, 1 - f), 0.005, None)
    others /= others.sum()
    u = rng.random(len(park_hazchem))
    pick = np.where(park_hazchem, np.searchsorted(np.cumsum(PARK_HAZCHEM_SHARES), u),
                    np.searchsorted(np.cumsum(others), u))
    return [COLOURS[min(k, 3)] for k in pick]
