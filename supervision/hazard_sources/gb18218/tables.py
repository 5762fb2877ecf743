"""GB 18218-2018《危险化学品重大危险源辨识》 tables 1–6, as data.

Transcribed from the standard's text and cross-checked against an independent PDF extraction
(every critical quantity, category code, β and α below agrees with it; see the test module).

One column is NOT from the standard: ``beta_categories`` of Table 1 substances. Table 4 gives β by
hazard category, but the standard does not say which category a named substance falls in. These
are OneMap's reading of each substance's GHS classification (as on SDSs and in EU CLP Annex VI; UN
transport divisions for the explosives and oxidisers), pending review by a registered safety
engineer. They matter only for β, only for substances absent from Table 3, and the caller can
override them per substance (``category``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

__all__ = [
    "ADDITIONAL_CAS",
    "ADDITIONAL_NAMES",
    "ALPHA_BANDS",
    "CATEGORIES",
    "GRADE_BANDS",
    "TABLE1",
    "TABLE3_BETA",
    "Category",
    "Chemical",
    "list_table1_chemicals",
]


@dataclass(frozen=True)
class Chemical:
    """One row of Table 1."""

    no: int
    name_zh: str
    aliases_zh: tuple[str, ...]
    name_en: str
    cas: tuple[str, ...]  # empty where the standard gives "—"; first is the primary number
    critical_quantity_t: float
    beta_categories: tuple[str, ...]  # OneMap's reading, see module docstring; () → β = 1


@dataclass(frozen=True)
class Category:
    """One row of Table 2 with its β from Table 4."""

    code: str
    hazard_zh: str
    description_zh: str
    critical_quantity_t: float
    beta: float


# (no, 名称, 别名 ";"-separated, English name, CAS ";"-separated, 临界量/t, β categories)
_TABLE1_ROWS: tuple[tuple[int, str, str, str, str, float, str], ...] = (
    (1, "氨", "液氨;氨气", "Ammonia", "7664-41-7", 10, ""),
    (2, "二氟化氧", "一氧化二氟", "Oxygen difluoride", "7783-41-7", 1, "J1;W4"),
    (3, "二氧化氮", "", "Nitrogen dioxide", "10102-44-0", 1, ""),
    (4, "二氧化硫", "亚硫酸酐", "Sulfur dioxide", "7446-09-5", 20, ""),
    (5, "氟", "", "Fluorine", "7782-41-4", 1, "J1;W4"),
    (6, "碳酰氯", "光气", "Carbonyl dichloride (phosgene)", "75-44-5", 0.3, ""),
    (7, "环氧乙烷", "氧化乙烯", "Ethylene oxide", "75-21-8", 10, ""),
    (8, "甲醛（含量>90%）", "蚁醛", "Formaldehyde (content > 90 %)", "50-00-0", 5, "J3;W2"),
    (9, "磷化氢", "磷化三氢;膦", "Phosphine", "7803-51-2", 1, ""),
    (10, "硫化氢", "", "Hydrogen sulfide", "7783-06-4", 5, ""),
    (11, "氯化氢（无水）", "", "Hydrogen chloride (anhydrous)", "7647-01-0", 20, ""),
    (12, "氯", "液氯;氯气", "Chlorine", "7782-50-5", 5, ""),
    (13, "煤气（CO，CO和H2、CH4的混合物等）", "", "Coal gas (CO; CO mixed with H2, CH4 etc.)", "", 20, ""),
    (14, "砷化氢", "砷化三氢;胂", "Arsine", "7784-42-1", 1, "J1;W2"),
    (15, "锑化氢", "三氢化锑;锑化三氢;䏲", "Stibine", "7803-52-3", 1, "J1;W2"),
    (16, "硒化氢", "", "Hydrogen selenide", "7783-07-5", 1, "J1;W2"),
    (17, "溴甲烷", "甲基溴", "Methyl bromide", "74-83-9", 10, ""),
    (18, "丙酮氰醇", "丙酮合氰化氢;2-羟基异丁腈;氰丙醇", "Acetone cyanohydrin", "75-86-5", 20, "J2"),
    (19, "丙烯醛", "烯丙醛;败脂醛", "Acrolein", "107-02-8", 20, "J2;W5.3"),
    (20, "氟化氢", "", "Hydrogen fluoride", "7664-39-3", 1, ""),
    (21, "1-氯-2,3-环氧丙烷", "环氧氯丙烷;3-氯-1,2-环氧丙烷", "Epichlorohydrin", "106-89-8", 20, "W5.4"),
    (22, "3-溴-1,2-环氧丙烷", "环氧溴丙烷;溴甲基环氧乙烷;表溴醇", "Epibromohydrin", "3132-64-7", 20, "W5.4"),
    (23, "甲苯二异氰酸酯", "二异氰酸甲苯酯;TDI", "Toluene diisocyanate (TDI)", "26471-62-5", 100, "J5"),
    (24, "一氯化硫", "氯化硫", "Sulfur monochloride", "10025-67-9", 1, "J5"),
    (25, "氰化氢", "无水氢氰酸", "Hydrogen cyanide", "74-90-8", 1, ""),
    (26, "三氧化硫", "硫酸酐", "Sulfur trioxide", "7446-11-9", 75, ""),
    (27, "3-氨基丙烯", "烯丙胺", "Allylamine (3-aminopropene)", "107-11-9", 20, "W5.3"),
    (28, "溴", "溴素", "Bromine", "7726-95-6", 20, "J5"),
    (29, "乙撑亚胺", "吖丙啶;1-氮杂环丙烷;氮丙啶", "Ethyleneimine (aziridine)", "151-56-4", 20, "J5;W5.3"),
    (30, "异氰酸甲酯", "甲基异氰酸酯", "Methyl isocyanate", "624-83-9", 0.75, ""),
    (31, "叠氮化钡", "叠氮钡", "Barium azide", "18810-58-7", 0.5, "W1.1"),
    (32, "叠氮化铅", "", "Lead azide", "13424-46-9", 0.5, "W1.1"),
    (33, "雷汞", "二雷酸汞;雷酸汞", "Mercury fulminate", "628-86-4", 0.5, "W1.1"),
    (34, "三硝基苯甲醚", "三硝基茴香醚", "Trinitroanisole", "28653-16-9", 5, "W1.1"),
    (35, "2,4,6-三硝基甲苯", "梯恩梯;TNT", "2,4,6-Trinitrotoluene (TNT)", "118-96-7", 5, "W1.1"),
    (36, "硝化甘油", "硝化丙三醇;甘油三硝酸酯", "Nitroglycerin", "55-63-0", 1, "W1.1"),
    (
        37,
        "硝化纤维素[干的或含水（或乙醇）<25%]",
        "硝化棉",
        "Nitrocellulose (dry, or wetted with < 25 % water or alcohol)",
        "9004-70-0",
        1,
        "W1.1",
    ),
    (
        38,
        "硝化纤维素（未改型的，或增塑的，含增塑剂<18%）",
        "硝化棉",
        "Nitrocellulose (unmodified, or plasticized with < 18 % plasticizer)",
        "9004-70-0",
        1,
        "W1.1",
    ),
    (
        39,
        "硝化纤维素（含乙醇≥25%）",
        "硝化棉",
        "Nitrocellulose (with ≥ 25 % alcohol)",
        "9004-70-0",
        10,
        "W1.2",
    ),
    (40, "硝化纤维素（含氮≤12.6%）", "硝化棉", "Nitrocellulose (nitrogen ≤ 12.6 %)", "9004-70-0", 50, "W10"),
    (41, "硝化纤维素（含水≥25%）", "硝化棉", "Nitrocellulose (with ≥ 25 % water)", "9004-70-0", 50, "W10"),
    (
        42,
        "硝化纤维素溶液（含氮量≤12.6%，含硝化纤维素≤55%）",
        "硝化棉溶液",
        "Nitrocellulose solution (nitrogen ≤ 12.6 %, nitrocellulose ≤ 55 %)",
        "9004-70-0",
        50,
        "W5.3",
    ),
    (
        43,
        "硝酸铵（含可燃物>0.2%，包括以碳计算的任何有机物，但不包括任何其他添加剂）",
        "",
        "Ammonium nitrate (combustible material > 0.2 %)",
        "6484-52-2",
        5,
        "W1.1",
    ),
    (
        44,
        "硝酸铵（含可燃物≤0.2%）",
        "",
        "Ammonium nitrate (combustible material ≤ 0.2 %)",
        "6484-52-2",
        50,
        "W9.2",
    ),
    (
        45,
        "硝酸铵肥料（含可燃物≤0.4%）",
        "",
        "Ammonium nitrate fertilizer (combustible material ≤ 0.4 %)",
        "",
        200,
        "W9.2",
    ),
    (46, "硝酸钾", "", "Potassium nitrate", "7757-79-1", 1000, "W9.2"),
    (47, "1,3-丁二烯", "联乙烯", "1,3-Butadiene", "106-99-0", 5, "W2"),
    (48, "二甲醚", "甲醚", "Dimethyl ether", "115-10-6", 50, "W2"),
    (49, "甲烷，天然气", "甲烷;天然气", "Methane, natural gas", "74-82-8;8006-14-2", 50, "W2"),
    (50, "氯乙烯", "乙烯基氯", "Vinyl chloride", "75-01-4", 50, "W2"),
    (51, "氢", "氢气", "Hydrogen", "1333-74-0", 5, "W2"),
    (
        52,
        "液化石油气（含丙烷、丁烷及其混合物）",
        "石油气（液化的）;丙烷;丁烷",
        "Liquefied petroleum gas (propane, butane and their mixtures)",
        "68476-85-7;74-98-6;106-97-8",
        50,
        "W2",
    ),
    (53, "一甲胺", "氨基甲烷;甲胺", "Methylamine", "74-89-5", 5, "W2"),
    (54, "乙炔", "电石气", "Acetylene", "74-86-2", 1, "W2"),
    (55, "乙烯", "", "Ethylene", "74-85-1", 50, "W2"),
    (56, "氧（压缩的或液化的）", "液氧;氧气", "Oxygen (compressed or liquefied)", "7782-44-7", 200, "W4"),
    (57, "苯", "纯苯", "Benzene", "71-43-2", 50, "W5.3"),
    (58, "苯乙烯", "乙烯苯", "Styrene", "100-42-5", 500, "W5.4"),
    (59, "丙酮", "二甲基酮", "Acetone", "67-64-1", 500, "W5.3"),
    (60, "2-丙烯腈", "丙烯腈;乙烯基氰;氰基乙烯", "Acrylonitrile", "107-13-1", 50, "W5.3"),
    (61, "二硫化碳", "", "Carbon disulfide", "75-15-0", 50, "W5.3"),
    (62, "环己烷", "六氢化苯", "Cyclohexane", "110-82-7", 500, "W5.3"),
    (
        63,
        "1,2-环氧丙烷",
        "氧化丙烯;甲基环氧乙烷",
        "Propylene oxide (1,2-epoxypropane)",
        "75-56-9",
        10,
        "W5.1",
    ),
    (64, "甲苯", "甲基苯;苯基甲烷", "Toluene", "108-88-3", 500, "W5.3"),
    (65, "甲醇", "木醇;木精", "Methanol", "67-56-1", 500, "W5.3"),
    (
        66,
        "汽油（乙醇汽油、甲醇汽油）",
        "乙醇汽油;甲醇汽油",
        "Gasoline (incl. ethanol and methanol gasoline)",
        "86290-81-5",
        200,
        "W5.1",
    ),
    (67, "乙醇", "酒精", "Ethanol", "64-17-5", 500, "W5.3"),
    (68, "乙醚", "二乙基醚", "Diethyl ether", "60-29-7", 10, "W5.1"),
    (69, "乙酸乙酯", "醋酸乙酯", "Ethyl acetate", "141-78-6", 500, "W5.3"),
    (70, "正己烷", "己烷", "n-Hexane", "110-54-3", 500, "W5.3"),
    (71, "过乙酸", "过醋酸;过氧乙酸;乙酰过氧化氢", "Peracetic acid", "79-21-0", 10, "W7.2"),
    (
        72,
        "过氧化甲基乙基酮（10%<有效氧含量≤10.7%，含A型稀释剂≥48%）",
        "",
        "Methyl ethyl ketone peroxide (10 % < active oxygen ≤ 10.7 %, type A diluent ≥ 48 %)",
        "1338-23-4",
        10,
        "W7.2",
    ),
    (73, "白磷", "黄磷", "White phosphorus", "12185-10-3", 50, "W8;J5"),
    (74, "烷基铝", "三烷基铝", "Alkylaluminium (trialkylaluminium)", "", 1, "W8;W11"),
    (75, "戊硼烷", "五硼烷", "Pentaborane", "19624-22-7", 1, "W8;J2"),
    (76, "过氧化钾", "", "Potassium peroxide", "17014-71-0", 20, "W9.1"),
    (77, "过氧化钠", "双氧化钠;二氧化钠", "Sodium peroxide", "1313-60-6", 20, "W9.1"),
    (78, "氯酸钾", "", "Potassium chlorate", "3811-04-9", 100, "W9.1"),
    (79, "氯酸钠", "", "Sodium chlorate", "7775-09-9", 100, "W9.1"),
    (80, "发烟硝酸", "", "Fuming nitric acid", "52583-42-3", 20, "W9.1"),
    (
        81,
        "硝酸（发红烟的除外，含硝酸>70%）",
        "",
        "Nitric acid (> 70 %, other than red fuming)",
        "7697-37-2",
        100,
        "W9.2",
    ),
    (82, "硝酸胍", "硝酸亚氨脲", "Guanidine nitrate", "506-93-4", 50, "W9.2"),
    (83, "碳化钙", "电石", "Calcium carbide", "75-20-7", 100, "W11"),
    (84, "钾", "金属钾", "Potassium", "7440-09-7", 1, "W11"),
    (85, "钠", "金属钠", "Sodium", "7440-23-5", 10, "W11"),
)


def _split(text: str) -> tuple[str, ...]:
    return tuple(part for part in text.split(";") if part)


TABLE1: tuple[Chemical, ...] = tuple(
    Chemical(no, zh, _split(aliases), en, _split(cas), float(q), _split(cats))
    for no, zh, aliases, en, cas, q, cats in _TABLE1_ROWS
)

#: Look-ups the standard implies but does not print: entry 13 names CO itself ("CO，CO和H2、CH4的
#:混合物等") while giving no CAS, and Table 3 lists 一氧化碳 — so carbon monoxide resolves to 13.
ADDITIONAL_CAS: dict[str, int] = {"630-08-0": 13}
ADDITIONAL_NAMES: dict[str, int] = {"一氧化碳": 13, "carbon monoxide": 13}

#: Table 3, β for the named toxic gases, keyed by Table 1 number (一氧化碳 → entry 13, see above).
TABLE3_BETA: dict[int, tuple[str, float]] = {
    13: ("一氧化碳", 2.0),
    4: ("二氧化硫", 2.0),
    1: ("氨", 2.0),
    7: ("环氧乙烷", 2.0),
    11: ("氯化氢", 3.0),
    17: ("溴甲烷", 3.0),
    12: ("氯", 4.0),
    10: ("硫化氢", 5.0),
    20: ("氟化氢", 5.0),
    3: ("二氧化氮", 10.0),
    25: ("氰化氢", 10.0),
    6: ("碳酰氯", 20.0),
    9: ("磷化氢", 20.0),
    30: ("异氰酸甲酯", 20.0),
}

# (code, 危险性类别, 说明, 临界量/t from Table 2, β from Table 4)
_CATEGORY_ROWS: tuple[tuple[str, str, str, float, float], ...] = (
    ("J1", "急性毒性", "类别1，所有暴露途径，气体", 5, 4),
    ("J2", "急性毒性", "类别1，所有暴露途径，固体、液体", 50, 1),
    ("J3", "急性毒性", "类别2、类别3，所有暴露途径，气体", 50, 2),
    ("J4", "急性毒性", "类别2、类别3，吸入途径，液体（沸点≤35℃）", 50, 2),
    ("J5", "急性毒性", "类别2，所有暴露途径，液体（除J4外）、固体", 500, 1),
    ("W1.1", "爆炸物", "不稳定爆炸物；1.1项爆炸物", 1, 2),
    ("W1.2", "爆炸物", "1.2、1.3、1.5、1.6项爆炸物", 10, 2),
    ("W1.3", "爆炸物", "1.4项爆炸物", 50, 2),
    ("W2", "易燃气体", "类别1和类别2", 10, 1.5),
    ("W3", "气溶胶", "类别1和类别2（临界量按净重）", 150, 1),
    ("W4", "氧化性气体", "类别1", 50, 1),
    ("W5.1", "易燃液体", "类别1；类别2和3，工作温度高于沸点", 10, 1.5),
    (
        "W5.2",
        "易燃液体",
        "类别2和3，具有引发重大事故的特殊工艺条件（危险化工工艺、爆炸极限范围或附近操作、"
        "操作压力大于1.6 MPa等）",
        50,
        1,
    ),
    ("W5.3", "易燃液体", "不属于W5.1或W5.2的其他类别2", 1000, 1),
    ("W5.4", "易燃液体", "不属于W5.1或W5.2的其他类别3", 5000, 1),
    ("W6.1", "自反应物质和混合物", "A型和B型自反应物质和混合物", 10, 1.5),
    ("W6.2", "自反应物质和混合物", "C型、D型、E型自反应物质和混合物", 50, 1),
    ("W7.1", "有机过氧化物", "A型和B型有机过氧化物", 10, 1.5),
    ("W7.2", "有机过氧化物", "C型、D型、E型、F型有机过氧化物", 50, 1),
    ("W8", "自燃液体和自燃固体", "类别1自燃液体；类别1自燃固体", 50, 1),
    ("W9.1", "氧化性固体和液体", "类别1", 50, 1),
    ("W9.2", "氧化性固体和液体", "类别2、类别3", 200, 1),
    ("W10", "易燃固体", "类别1易燃固体", 200, 1),
    ("W11", "遇水放出易燃气体的物质和混合物", "类别1和类别2", 200, 1),
)

CATEGORIES: dict[str, Category] = {
    code: Category(code, hazard, text, float(q), float(beta))
    for code, hazard, text, q, beta in _CATEGORY_ROWS
}

#: Table 5: (minimum persons within 500 m of the boundary, α), checked from the top.
ALPHA_BANDS: tuple[tuple[int, float, str], ...] = (
    (100, 2.0, "100人以上"),
    (50, 1.5, "50人～99人"),
    (30, 1.2, "30人～49人"),
    (1, 1.0, "1人～29人"),
    (0, 0.5, "0人"),
)

#: Table 6: (minimum R, grade, label), checked from the top.
GRADE_BANDS: tuple[tuple[float, int, str], ...] = (
    (100.0, 1, "一级"),
    (50.0, 2, "二级"),
    (10.0, 3, "三级"),
    (float("-inf"), 4, "四级"),
)


def list_table1_chemicals() -> list[dict[str, Any]]:
    """All 85 Table 1 substances as plain records (for the demo-city generator and pick lists).

    ``cas`` is the primary CAS number or ``None`` where the standard gives none; ``cas_all`` lists
    every number the entry covers (e.g. methane and natural gas).
    """
    return [
        {
            "no": c.no,
            "name_zh": c.name_zh,
            "name_en": c.name_en,
            "aliases_zh": list(c.aliases_zh),
            "cas": c.cas[0] if c.cas else None,
            "cas_all": list(c.cas),
            "critical_quantity_t": c.critical_quantity_t,
        }
        for c in TABLE1
    ]
