"""GB 18218-2018 identification and grading (supervision.hazard_sources.gb18218)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from core.errors import InvalidInput
from supervision.hazard_sources.gb18218 import (
    CATEGORIES,
    TABLE1,
    alpha_for_population,
    assess,
    grade_for_r,
    list_table1_chemicals,
    resolve_chemical,
)

# Table 1 as printed in GB 18218-2018 (no:CAS:critical quantity t; "-" where the standard gives
# "—"), re-keyed from the standard's text and compared with an independent extraction of the PDF
# (seed data of a public major-hazard project), separately from the module's own table.
TABLE1_FROM_STANDARD = """
    1:7664-41-7:10 2:7783-41-7:1 3:10102-44-0:1 4:7446-09-5:20 5:7782-41-4:1 6:75-44-5:0.3
    7:75-21-8:10 8:50-00-0:5 9:7803-51-2:1 10:7783-06-4:5 11:7647-01-0:20 12:7782-50-5:5
    13:-:20 14:7784-42-1:1 15:7803-52-3:1 16:7783-07-5:1 17:74-83-9:10 18:75-86-5:20
    19:107-02-8:20 20:7664-39-3:1 21:106-89-8:20 22:3132-64-7:20 23:26471-62-5:100 24:10025-67-9:1
    25:74-90-8:1 26:7446-11-9:75 27:107-11-9:20 28:7726-95-6:20 29:151-56-4:20 30:624-83-9:0.75
    31:18810-58-7:0.5 32:13424-46-9:0.5 33:628-86-4:0.5 34:28653-16-9:5 35:118-96-7:5 36:55-63-0:1
    37:9004-70-0:1 38:9004-70-0:1 39:9004-70-0:10 40:9004-70-0:50 41:9004-70-0:50 42:9004-70-0:50
    43:6484-52-2:5 44:6484-52-2:50 45:-:200 46:7757-79-1:1000 47:106-99-0:5 48:115-10-6:50
    49:74-82-8,8006-14-2:50 50:75-01-4:50 51:1333-74-0:5 52:68476-85-7,74-98-6,106-97-8:50
    53:74-89-5:5 54:74-86-2:1 55:74-85-1:50 56:7782-44-7:200 57:71-43-2:50 58:100-42-5:500
    59:67-64-1:500 60:107-13-1:50 61:75-15-0:50 62:110-82-7:500 63:75-56-9:10 64:108-88-3:500
    65:67-56-1:500 66:86290-81-5:200 67:64-17-5:500 68:60-29-7:10 69:141-78-6:500 70:110-54-3:500
    71:79-21-0:10 72:1338-23-4:10 73:12185-10-3:50 74:-:1 75:19624-22-7:1 76:17014-71-0:20
    77:1313-60-6:20 78:3811-04-9:100 79:7775-09-9:100 80:52583-42-3:20 81:7697-37-2:100 82:506-93-4:50
    83:75-20-7:100 84:7440-09-7:1 85:7440-23-5:10
"""

# Table 2 critical quantity (t) and Table 4 β, by category code.
TABLES_2_AND_4 = {
    "J1": (5, 4), "J2": (50, 1), "J3": (50, 2), "J4": (50, 2), "J5": (500, 1),
    "W1.1": (1, 2), "W1.2": (10, 2), "W1.3": (50, 2), "W2": (10, 1.5), "W3": (150, 1), "W4": (50, 1),
    "W5.1": (10, 1.5), "W5.2": (50, 1), "W5.3": (1000, 1), "W5.4": (5000, 1), "W6.1": (10, 1.5), "W6.2": (50, 1),
    "W7.1": (10, 1.5), "W7.2": (50, 1), "W8": (50, 1), "W9.1": (50, 1), "W9.2": (200, 1), "W10": (200, 1),
    "W11": (200, 1),
}  # fmt: skip

# Table 3: β of the named toxic gases.
TABLE3 = {"一氧化碳": 2, "二氧化硫": 2, "氨": 2, "环氧乙烷": 2, "氯化氢": 3, "溴甲烷": 3, "氯": 4, "硫化氢": 5,
          "氟化氢": 5, "二氧化氮": 10, "氰化氢": 10, "碳酰氯": 20, "磷化氢": 20, "异氰酸甲酯": 20}  # fmt: skip


def test_table1_matches_the_standard_row_by_row() -> None:
    expected = {}
    for item in TABLE1_FROM_STANDARD.split():
        no, cas, q = item.split(":")
        expected[int(no)] = (tuple(cas.split(",")) if cas != "-" else (), float(q))
    assert len(TABLE1) == 85 == len(expected)
    assert {c.no: (c.cas, c.critical_quantity_t) for c in TABLE1} == expected


def test_every_table1_cas_number_has_a_valid_check_digit() -> None:
    for chemical in TABLE1:
        for cas in chemical.cas:
            digits = cas.replace("-", "")
            weighted = sum(i * int(d) for i, d in enumerate(reversed(digits[:-1]), start=1))
            assert weighted % 10 == int(digits[-1]), (chemical.no, cas)


def test_tables_2_and_4() -> None:
    assert {c: (cat.critical_quantity_t, cat.beta) for c, cat in CATEGORIES.items()} == TABLES_2_AND_4


@pytest.mark.parametrize(("name", "beta"), sorted(TABLE3.items()))
def test_table3_beta_by_name(name: str, beta: float) -> None:
    line = resolve_chemical({"name": name, "quantity_t": 1.0})
    assert (line.beta, line.beta_source) == (beta, "table3")


@pytest.mark.parametrize(
    ("persons", "alpha"), [(0, 0.5), (1, 1.0), (29, 1.0), (30, 1.2), (49, 1.2), (50, 1.5), (99, 1.5), (100, 2.0), (10**6, 2.0)]
)
def test_table5_alpha(persons: int, alpha: float) -> None:
    assert alpha_for_population(persons) == alpha


@pytest.mark.parametrize(
    ("r", "grade"), [(1e6, 1), (100.0, 1), (99.999, 2), (50.0, 2), (49.99, 3), (10.0, 3), (9.99, 4), (0.0, 4)]
)
def test_table6_grade(r: float, grade: int) -> None:
    assert grade_for_r(r)[0] == grade


def test_worked_example_chlorine_and_ammonia() -> None:
    """Formulas (1) and (2) of GB 18218-2018 by hand: 20 t chlorine (Q 5 t, β 4) and 5 t ammonia
    (Q 10 t, β 2), 120 residents within 500 m (α 2.0):

    S = 20/5 + 5/10 = 4.5 ≥ 1 → major; R = 2.0 × (4 × 4 + 2 × 0.5) = 34 → 10 ≤ R < 50 → 三级.
    """
    result = assess([{"cas": "7782-50-5", "quantity_t": 20}, {"name": "液氨", "quantity_t": 5}], 120)
    assert (result.s, result.r, result.alpha) == (4.5, 34.0, 2.0)
    assert (result.is_major, result.grade, result.grade_label_zh) == (True, 3, "三级")
    assert [line.table1_no for line in result.chemicals] == [12, 1]


@pytest.mark.parametrize(
    ("chlorine_t", "persons", "r", "grade"),
    [(62.5, 100, 100.0, 1), (31.25, 100, 50.0, 2), (12.5, 5, 10.0, 3), (6.0, 0, 2.4, 4)],
)
def test_grade_boundaries_are_inclusive_from_below(chlorine_t, persons, r, grade) -> None:
    """Table 6: R ≥ 100 一级, 100 > R ≥ 50 二级, 50 > R ≥ 10 三级, R < 10 四级 (chlorine: R = α·4·q/5)."""
    result = assess([{"cas": "7782-50-5", "quantity_t": chlorine_t}], persons)
    assert result.r == pytest.approx(r)
    assert result.grade == grade


def test_not_major_has_no_grade_but_still_reports_r() -> None:
    result = assess([{"name": "甲醇", "quantity_t": 100}, {"name": "乙醇", "quantity_t": 100}], 500)
    assert result.s == pytest.approx(0.4)
    assert not result.is_major and result.grade is None and result.grade_label_zh is None
    assert result.r == pytest.approx(2.0 * 0.4)


def test_single_substance_exactly_at_critical_quantity_is_major() -> None:
    """4.2 a): equal to or above the critical quantity → major hazard source."""
    result = assess([{"cas": "68476-85-7", "quantity_t": 50}], 10)
    assert result.s == 1.0 and result.is_major and result.grade == 4


def test_lookup_by_alias_english_name_and_ascii_brackets() -> None:
    assert resolve_chemical({"name": "光气", "quantity_t": 1}).table1_no == 6
    assert resolve_chemical({"name": "Chlorine", "quantity_t": 1}).table1_no == 12
    assert resolve_chemical({"name": "甲醛(含量>90%)", "quantity_t": 1}).table1_no == 8
    assert resolve_chemical({"name": "天然气", "quantity_t": 1}).table1_no == 49
    assert resolve_chemical({"cas": "74-98-6", "quantity_t": 1}).table1_no == 52  # propane → LPG


def test_shared_cas_takes_the_lowest_critical_quantity_unless_told() -> None:
    line = resolve_chemical({"cas": "9004-70-0", "quantity_t": 1})
    assert (line.table1_no, line.critical_quantity_t) == (37, 1.0)
    assert "give table1_no" in line.notes[0]
    assert resolve_chemical({"table1_no": 41, "quantity_t": 1}).critical_quantity_t == 50.0
    assert resolve_chemical({"table1_no": 41, "cas": "9004-70-0", "quantity_t": 1}).critical_quantity_t == 50.0


def test_table1_no_with_a_contradicting_cas_is_refused() -> None:
    with pytest.raises(InvalidInput) as err:
        resolve_chemical({"table1_no": 41, "cas": "7782-50-5", "quantity_t": 1})
    assert err.value.details["input"] == "chemicals[0].cas"
    assert "9004-70-0" in err.value.details["allowed"]


def test_carbon_monoxide_resolves_to_coal_gas_with_table3_beta() -> None:
    line = resolve_chemical({"cas": "630-08-0", "quantity_t": 10})
    assert (line.table1_no, line.critical_quantity_t, line.beta) == (13, 20.0, 2.0)


def test_table3_beta_wins_over_a_given_category() -> None:
    line = resolve_chemical({"name": "氨", "category": "W2", "quantity_t": 1})
    assert line.beta == 2.0 and "ignored" in line.notes[0]


def test_table1_substance_beta_from_default_or_given_category() -> None:
    gasoline = resolve_chemical({"name": "汽油", "quantity_t": 100})
    assert (gasoline.critical_quantity_t, gasoline.beta) == (200.0, 1.5)  # W5.1 by default
    assert resolve_chemical({"name": "汽油", "category": "W5.3", "quantity_t": 1}).beta == 1.0
    assert resolve_chemical({"name": "2,4,6-三硝基甲苯", "quantity_t": 1}).beta == 2.0  # explosive W1.1
    assert resolve_chemical({"name": "三氧化硫", "quantity_t": 1}).beta_source == "default"


def test_category_substance_takes_lowest_q_and_largest_beta() -> None:
    """4.1.2 b): several hazards → lowest critical quantity; β: largest of the categories (our rule)."""
    line = resolve_chemical({"name": "某有毒可燃气体", "category": ["J3", "W2"], "quantity_t": 5})
    assert (line.source, line.critical_quantity_t, line.beta, line.ratio) == ("table2", 10.0, 2.0, 0.5)


def test_unknown_cas_lists_close_matches() -> None:
    with pytest.raises(InvalidInput) as err:
        assess([{"cas": "7782-51-6", "quantity_t": 1}], 0)  # valid check digit, not in Table 1
    assert err.value.details["input"] == "chemicals[0].cas"
    assert "7782-50-5 (氯)" in err.value.details["close_matches"]
    assert "category" in err.value.details["allowed"]
    assert err.value.to_problem()["status"] == 400


def test_cas_with_wrong_check_digit_is_refused_with_suggestions() -> None:
    with pytest.raises(InvalidInput) as err:
        assess([{"cas": "7782-50-4", "quantity_t": 1}], 0)
    assert err.value.details["reason"].startswith("check digit")
    assert "7782-50-5 (氯)" in err.value.details["close_matches"]


def test_unknown_cas_is_accepted_with_a_category() -> None:
    line = resolve_chemical({"cas": "7782-51-6", "category": "W2", "quantity_t": 10})
    assert (line.source, line.critical_quantity_t) == ("table2", 10.0)


@pytest.mark.parametrize(
    ("chemicals", "persons", "bad_input"),
    [
        ([{"cas": "7782-50-5", "quantity_t": -1}], 0, "chemicals[0].quantity_t"),
        ([{"cas": "7782-50-5", "quantity_t": float("nan")}], 0, "chemicals[0].quantity_t"),
        ([{"cas": "7782-50-5", "quantity_t": "20"}], 0, "chemicals[0].quantity_t"),
        ([{"cas": "7782-50-5"}], 0, "chemicals[0].quantity_t"),
        ([{"cas": "7782-50-5", "quantity": 20}], 0, "chemicals[0].quantity"),
        ([{"cas": "chlorine", "quantity_t": 1}], 0, "chemicals[0].cas"),
        ([{"name": "氯", "quantity_t": 1}, {"name": "不存在的物质", "quantity_t": 1}], 0, "chemicals[1].name"),
        ([{"category": "W12", "quantity_t": 1}], 0, "chemicals[0].category"),
        ([{"table1_no": 86, "quantity_t": 1}], 0, "chemicals[0].table1_no"),
        ([{"quantity_t": 1}], 0, "chemicals[0]"),
        ([], 0, "chemicals"),
        ([{"cas": "7782-50-5", "quantity_t": 1}], -3, "exposed_population"),
        ([{"cas": "7782-50-5", "quantity_t": 1}], 2.5, "exposed_population"),
    ],
)
def test_invalid_input_names_the_input_and_range(chemicals, persons, bad_input: str) -> None:
    with pytest.raises(InvalidInput) as err:
        assess(chemicals, persons)
    assert err.value.details["input"] == bad_input
    assert err.value.details["allowed"]


def test_list_table1_chemicals_for_the_demo_city() -> None:
    records = list_table1_chemicals()
    assert len(records) == 85
    assert {"name_zh", "name_en", "cas", "critical_quantity_t"} <= set(records[0])
    chlorine = next(r for r in records if r["cas"] == "7782-50-5")
    assert (chlorine["name_zh"], chlorine["name_en"], chlorine["critical_quantity_t"]) == ("氯", "Chlorine", 5.0)
    assert all(r["name_en"] and r["critical_quantity_t"] > 0 for r in records)
    assert records[12]["cas"] is None  # 煤气: the standard prints no CAS


QUANTITIES = st.lists(
    st.tuples(st.sampled_from([c.no for c in TABLE1]), st.floats(min_value=0, max_value=1e5)), min_size=1, max_size=8
)


@given(QUANTITIES, st.integers(min_value=0, max_value=10_000))
def test_r_is_alpha_times_beta_weighted_sum_and_bounds_s(items, persons) -> None:
    result = assess([{"table1_no": no, "quantity_t": q} for no, q in items], persons)
    assert result.r == pytest.approx(result.alpha * sum(line.beta * line.ratio for line in result.chemicals))
    assert result.s == pytest.approx(sum(q / TABLE1[no - 1].critical_quantity_t for no, q in items))
    assert result.is_major == (result.s >= 1.0)


@given(QUANTITIES, st.integers(min_value=0, max_value=10_000), st.floats(min_value=0.0, max_value=1e4))
def test_adding_a_chemical_never_lowers_s_r_or_the_grade(items, persons, extra) -> None:
    base = assess([{"table1_no": no, "quantity_t": q} for no, q in items], persons)
    more = assess([{"table1_no": no, "quantity_t": q} for no, q in items] + [{"table1_no": 12, "quantity_t": extra}],
                  persons)
    assert more.s >= base.s and more.r >= base.r
    if base.grade is not None:
        assert more.grade is not None and more.grade <= base.grade


@given(st.integers(min_value=0, max_value=10**6), st.integers(min_value=0, max_value=10**6))
def test_alpha_never_falls_as_population_grows(a: int, b: int) -> None:
    lo, hi = sorted((a, b))
    assert alpha_for_population(lo) <= alpha_for_population(hi)
