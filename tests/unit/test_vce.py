"""TNT-equivalent VCE and Kinney–Graham overpressure (emergency.consequence.vce)."""

from __future__ import annotations

import math

import pyproj
import pytest
from hypothesis import given
from hypothesis import strategies as st
from shapely.geometry import Polygon

from core.errors import InvalidInput
from emergency.consequence.vce import (
    DAMAGE_THRESHOLDS,
    distance_for_overpressure_m,
    kinney_graham_ratio,
    overpressure_kpa,
    overpressure_zones,
    probit_threshold_kpa,
    scaled_distance,
    tnt_equivalent_kg,
)

TNT = st.floats(min_value=0.01, max_value=1e6)
GEOD = pyproj.Geod(ellps="GRS80")


def test_crowl_louvar_one_kilogram_of_tnt_at_30_m() -> None:
    """Crowl & Louvar, Chemical Process Safety (3rd ed.), ch. 6 worked example: 1 kg TNT, 30 m.

    Z = 30 m/kg^⅓; the book reads p°/pa ≈ 0.055 off its plot of the Kinney–Graham curve, i.e.
    ≈ 5.6 kPa (0.8 psi). The Kinney–Graham equation itself gives 0.0563.
    """
    assert scaled_distance(30.0, 1.0) == pytest.approx(30.0)
    assert kinney_graham_ratio(30.0) == pytest.approx(0.0563, abs=0.0005)
    assert overpressure_kpa(30.0, 1.0) == pytest.approx(5.6, rel=0.03)


def test_crowl_louvar_methane_vapour_cloud() -> None:
    """Crowl & Louvar (3rd ed.), ch. 6 worked example: 1000 kg methane, η = 2 %, 50 m.

    ΔHc = 818.7 kJ/mol ÷ 0.016 kg/mol, E_TNT = 4686 kJ/kg (the book's value) → m_TNT = 218 kg,
    Z = 8.3 m/kg^⅓, p°/pa ≈ 0.25 read off the same curve → ≈ 25 kPa (3.7 psi).
    """
    w = tnt_equivalent_kg(1000.0, 818.7 / 0.016, efficiency=0.02, e_tnt_kj_kg=4686.0)
    assert w == pytest.approx(218.0, abs=0.5)
    assert scaled_distance(50.0, w) == pytest.approx(8.3, abs=0.05)
    assert overpressure_kpa(50.0, w) == pytest.approx(0.25 * 101.325, rel=0.04)


def test_chinese_practice_lpg_cylinder_example() -> None:
    """A published Chinese assessment example (液化气钢瓶泄漏 VCE, TNT当量法): W_TNT = 1.8·a·Wf·Qf/QTNT

    with a = 0.04, Wf = 15 kg, Qf = 46 264 kJ/kg, QTNT = 4520 kJ/kg, ground factor 1.8 → 11 kg.
    """
    w = tnt_equivalent_kg(15.0, 46_264.0, ground_burst_factor=1.8)
    assert w == pytest.approx(11.05, abs=0.01)


def test_defaults_are_the_chinese_practice_values() -> None:
    """η = 0.04 and E_TNT = 4520 kJ/kg unless told otherwise."""
    assert tnt_equivalent_kg(1000.0, 45_200.0) == pytest.approx(0.04 * 1000.0 * 10.0)


def test_damage_thresholds_are_the_probit_points() -> None:
    """Crowl & Louvar Table 2-5 probits (Eisenberg et al. 1975), Y = k1 + k2 ln p°(Pa):

    lung haemorrhage death −77.1 + 6.91 ln p → 50 % at e^(82.1/6.91) = 144.5 kPa;
    eardrum rupture −15.6 + 1.93 ln p → 50 % at 43.2 kPa (≈ the 44 kPa of Chinese QRA practice),
    1 % (Y = 2.67) at 12.9 kPa; glass breakage −18.1 + 2.79 ln p → 50 % at 3.94 kPa.
    """
    kpa = {t.key: t.overpressure_kpa for t in DAMAGE_THRESHOLDS}
    assert kpa["death"] == pytest.approx(144.5, abs=0.1)
    assert kpa["serious_injury"] == pytest.approx(43.2, abs=0.1)
    assert kpa["minor_injury"] == pytest.approx(12.9, abs=0.1)
    assert kpa["glass_breakage"] == pytest.approx(3.94, abs=0.02)
    assert probit_threshold_kpa(-15.6, 1.93, 0.5) == pytest.approx(44.0, rel=0.03)


def test_kinney_graham_tends_to_its_published_limits() -> None:
    """p°/pa → 1616 as Z → 0 and ~ 1616·0.048·0.32·1.35/(4.5² Z) ≈ 1.655/Z far away (Kinney & Graham 1985)."""
    assert kinney_graham_ratio(1e-6) == pytest.approx(1616.0, rel=1e-6)
    assert kinney_graham_ratio(1e4) * 1e4 == pytest.approx(1616 * 0.048 * 0.32 * 1.35 / 4.5**2, rel=1e-3)


@given(TNT, st.floats(min_value=0.5, max_value=50_000.0), st.floats(min_value=1.001, max_value=2.0))
def test_overpressure_falls_with_distance(w: float, r: float, factor: float) -> None:
    assert overpressure_kpa(r * factor, w) < overpressure_kpa(r, w)


@given(TNT, st.floats(min_value=1.0, max_value=10_000.0), st.floats(min_value=0.1, max_value=10.0))
def test_cube_root_scaling(w: float, r: float, lam: float) -> None:
    """Hopkinson–Cranz: λ³ times the charge gives the same overpressure at λ times the distance."""
    if w * lam**3 <= 1e7 and r * lam <= 1e5:
        assert overpressure_kpa(r * lam, w * lam**3) == pytest.approx(overpressure_kpa(r, w), rel=1e-9)


@given(TNT, st.floats(min_value=0.05, max_value=10_000.0))
def test_radius_for_overpressure_inverts_the_curve(w: float, p: float) -> None:
    r = distance_for_overpressure_m(p, w)
    if r <= 1e5:
        assert overpressure_kpa(r, w) == pytest.approx(p, rel=1e-6)


def test_zones_are_nested_annuli_of_the_right_radius() -> None:
    source = (116.40, 39.90)
    zones = overpressure_zones(*source, 1000.0)
    assert [z.key for z in zones] == ["death", "serious_injury", "minor_injury", "glass_breakage"]
    radii = [z.radius_m for z in zones]
    assert radii == sorted(radii)
    polygons = []
    for zone in zones:
        poly = Polygon(zone.exterior, [zone.hole] if zone.hole else [])
        assert poly.is_valid and poly.exterior.is_ccw
        for lon, lat in zone.exterior[:-1]:
            assert GEOD.inv(*source, lon, lat)[2] == pytest.approx(zone.radius_m, abs=0.02)  # 1e-7° rounding
        assert overpressure_kpa(zone.radius_m, 1000.0) == pytest.approx(zone.overpressure_kpa, rel=1e-6)
        polygons.append(poly)
    for inner, outer in zip(polygons, polygons[1:], strict=False):
        assert inner.intersection(outer).area < 1e-6 * outer.area


def test_caller_thresholds_replace_the_defaults() -> None:
    zones = overpressure_zones(116.4, 39.9, 100.0, {"minor_injury": 17.0, "serious_injury": 44.0})
    assert [(z.key, z.overpressure_kpa) for z in zones] == [("serious_injury", 44.0), ("minor_injury", 17.0)]
    assert zones[0].label_zh == "重伤区" and zones[0].source == "caller-supplied"


@pytest.mark.parametrize(
    ("call", "bad_input"),
    [
        (lambda: overpressure_kpa(30.0, -1.0), "tnt_kg"),
        (lambda: overpressure_kpa(float("nan"), 1.0), "distance_m"),
        (lambda: overpressure_kpa(0.0, 1.0), "distance_m"),
        (lambda: tnt_equivalent_kg(1000.0, 50_000.0, efficiency=1.5), "efficiency"),
        (lambda: tnt_equivalent_kg(-5.0, 50_000.0), "fuel_mass_kg"),
        (lambda: tnt_equivalent_kg(5.0, 50_000.0, ground_burst_factor=3.0), "ground_burst_factor"),
        (lambda: distance_for_overpressure_m(1e6, 10.0), "overpressure_kpa"),
        (lambda: overpressure_zones(116.4, 39.9, 10.0, {"death": -1.0}), "thresholds_kpa.death"),
    ],
)
def test_invalid_inputs_name_the_input_and_range(call, bad_input: str) -> None:
    with pytest.raises(InvalidInput) as err:
        call()
    assert err.value.details["input"] == bad_input
    assert err.value.details["allowed"]


def test_death_zone_for_a_tonne_of_tnt_is_tens_of_metres() -> None:
    """Sanity against the Chinese empirical death radius R₀.₅ = 13.6 (W/1000)^0.37 = 13.6 m at 1 t:

    the lung-haemorrhage radius must be the same order (a factor-of-3 band), not hundreds of metres.
    """
    r = distance_for_overpressure_m(DAMAGE_THRESHOLDS[0].overpressure_kpa, 1000.0)
    assert 13.6 / 3 < r < 13.6 * 3
    assert math.isfinite(r)
