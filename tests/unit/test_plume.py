"""Gaussian plume (emergency.consequence.plume): literature examples, properties, footprint geometry."""

from __future__ import annotations

import math

import numpy as np
import pyproj
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from shapely.geometry import Point, Polygon

from core.errors import InvalidInput
from emergency.consequence.plume import (
    STABILITY_CLASSES,
    briggs_sigmas,
    centreline_concentration,
    concentration,
    footprint,
    ppm_to_mg_m3,
    stability_class,
    turner_class,
)

CLASSES = st.sampled_from(STABILITY_CLASSES)
TERRAINS = st.sampled_from(["rural", "urban"])
WINDS = st.floats(min_value=0.5, max_value=30.0)
RATES = st.floats(min_value=0.01, max_value=1e5)


def test_crowl_louvar_burning_dump_example() -> None:
    """Crowl & Louvar, Chemical Process Safety (3rd ed.), Example 5-2, after Turner's 1970 Workbook:

    a burning dump emits 3 g/s of NOx; ground-level point source, no rise; overcast night, 7 m/s,
    rural → class D; centreline ground concentration 3 km downwind. With Briggs' rural D formulas
    σy = 0.08x(1+0.0001x)^-½ = 210 m and σz = 0.06x(1+0.0015x)^-½ = 76.7 m, so
    C = Q/(π σy σz u) = 8.4 × 10⁻⁶ g/m³ (Turner's answer, read from the P-G curves, is 1.1 × 10⁻⁵).
    """
    assert stability_class(7.0, daytime=False, cloud_cover_oktas=8) == "D"
    sy, sz = briggs_sigmas(3000.0, "D", "rural")
    assert float(sy) == pytest.approx(210.5, abs=0.5)
    assert float(sz) == pytest.approx(76.7, abs=0.1)
    assert concentration(3.0, 7.0, 3000.0, stability="D") == pytest.approx(8.44e-6, rel=0.005)


# σ at x = 1000 m written out from Crowl & Louvar Table 5-3 (Briggs 1973), independently of the
# coefficient table in the module, so a transcription slip in either shows up here.
def _table_5_3(x: float, cls: str, terrain: str) -> tuple[float, float]:
    r = {
        ("rural", "A"): (0.22 * x / math.sqrt(1 + 0.0001 * x), 0.20 * x),
        ("rural", "B"): (0.16 * x / math.sqrt(1 + 0.0001 * x), 0.12 * x),
        ("rural", "C"): (0.11 * x / math.sqrt(1 + 0.0001 * x), 0.08 * x / math.sqrt(1 + 0.0002 * x)),
        ("rural", "D"): (0.08 * x / math.sqrt(1 + 0.0001 * x), 0.06 * x / math.sqrt(1 + 0.0015 * x)),
        ("rural", "E"): (0.06 * x / math.sqrt(1 + 0.0001 * x), 0.03 * x / (1 + 0.0003 * x)),
        ("rural", "F"): (0.04 * x / math.sqrt(1 + 0.0001 * x), 0.016 * x / (1 + 0.0003 * x)),
        ("urban", "A"): (0.32 * x / math.sqrt(1 + 0.0004 * x), 0.24 * x * math.sqrt(1 + 0.001 * x)),
        ("urban", "B"): (0.32 * x / math.sqrt(1 + 0.0004 * x), 0.24 * x * math.sqrt(1 + 0.001 * x)),
        ("urban", "C"): (0.22 * x / math.sqrt(1 + 0.0004 * x), 0.20 * x),
        ("urban", "D"): (0.16 * x / math.sqrt(1 + 0.0004 * x), 0.14 * x / math.sqrt(1 + 0.0003 * x)),
        ("urban", "E"): (0.11 * x / math.sqrt(1 + 0.0004 * x), 0.08 * x / math.sqrt(1 + 0.0015 * x)),
        ("urban", "F"): (0.11 * x / math.sqrt(1 + 0.0004 * x), 0.08 * x / math.sqrt(1 + 0.0015 * x)),
    }
    return r[(terrain, cls)]


@pytest.mark.parametrize("terrain", ["rural", "urban"])
@pytest.mark.parametrize("cls", STABILITY_CLASSES)
@pytest.mark.parametrize("x", [150.0, 1000.0, 8000.0])
def test_briggs_sigmas_match_crowl_louvar_table_5_3(x: float, cls: str, terrain: str) -> None:
    sy, sz = briggs_sigmas(x, cls, terrain)
    ey, ez = _table_5_3(x, cls, terrain)
    assert float(sy) == pytest.approx(ey, rel=1e-12)
    assert float(sz) == pytest.approx(ez, rel=1e-12)


@pytest.mark.parametrize(
    ("wind", "daytime", "insolation", "oktas", "entry", "letter"),
    [
        (1.5, True, "strong", None, "A", "A"),
        (1.5, True, "moderate", None, "A-B", "B"),
        (2.5, True, "strong", None, "A-B", "B"),
        (2.5, True, "slight", None, "C", "C"),
        (4.0, True, "moderate", None, "B-C", "C"),
        (5.5, True, "moderate", None, "C-D", "D"),
        (7.0, True, "strong", None, "C", "C"),
        (7.0, True, "moderate", None, "D", "D"),
        (2.5, False, None, 5, "E", "E"),
        (2.5, False, None, 2, "F", "F"),
        (4.0, False, None, 2, "E", "E"),
        (4.0, False, None, 4, "D", "D"),
        (1.0, True, "strong", 8, "D", "D"),  # overcast → D by day too
    ],
)
def test_turner_key(wind, daytime, insolation, oktas, entry, letter) -> None:
    """Turner (1970), Workbook of Atmospheric Dispersion Estimates, Table 1 (≡ Crowl & Louvar Table 5-1)."""
    assert turner_class(wind, daytime=daytime, insolation=insolation, cloud_cover_oktas=oktas) == entry
    assert stability_class(wind, daytime=daytime, insolation=insolation, cloud_cover_oktas=oktas) == letter


@given(RATES, WINDS, CLASSES, TERRAINS, st.floats(min_value=1.0, max_value=30_000.0), st.floats(1.001, 3.0))
def test_ground_source_concentration_falls_everywhere_downwind(q, u, cls, terrain, x, factor) -> None:
    near = concentration(q, u, x, stability=cls, terrain=terrain)
    far = concentration(q, u, x * factor, stability=cls, terrain=terrain)
    assert far < near


def _peak_x(q: float, u: float, cls: str, terrain: str, h: float) -> float:
    x = np.geomspace(1.0, 100_000.0, 20_000)
    c = centreline_concentration(q, u, x, stability=cls, terrain=terrain, release_height_m=h)
    return float(x[int(np.argmax(c))])


@st.composite
def elevated_sources(draw: st.DrawFn) -> tuple[str, str, float]:
    """(class, terrain, H) with a ground-level maximum inside 100 km.

    Rural E and F σz level off (at 100 m and 53 m), so a source much above ~1.4 σz,max never
    brings its plume to the ground maximum; those draws are kept below 60 m.
    """
    cls, terrain = draw(CLASSES), draw(TERRAINS)
    top = 60.0 if terrain == "rural" and cls in "EF" else 300.0
    return cls, terrain, draw(st.floats(min_value=5.0, max_value=top))


@settings(max_examples=60, deadline=None)
@given(elevated_sources(), st.floats(0.0, 0.99), st.floats(0.001, 1.0))
def test_elevated_source_concentration_falls_beyond_ground_maximum(source, frac1, frac2) -> None:
    cls, terrain, h = source
    x_peak = _peak_x(100.0, 5.0, cls, terrain, h)
    assert x_peak < 50_000.0  # the maximum is inside the range, so the property is not vacuous
    x1 = x_peak * (100_000.0 / x_peak) ** frac1
    # min(): x1 * (1e5 / x1) ** 1.0 can round to 100000.00000000001, just past the model's 100 km range
    x2 = min(x1 * (100_000.0 / x1) ** frac2, 100_000.0)
    near = concentration(100.0, 5.0, x1, stability=cls, terrain=terrain, release_height_m=h)
    far = concentration(100.0, 5.0, x2, stability=cls, terrain=terrain, release_height_m=h)
    assert far < near


@settings(max_examples=40, deadline=None)
@given(elevated_sources())
def test_elevated_ground_maximum_satisfies_the_stationarity_condition(source) -> None:
    """d ln C/dx = 0 ⇔ H²·σz'/σz³ = σy'/σy + σz'/σz for C ∝ exp(−H²/2σz²)/(σy σz) at ground level."""
    cls, terrain, h = source
    x = _peak_x(100.0, 5.0, cls, terrain, h)
    dx = x * 1e-4
    (sy0, sy1), (sz0, sz1) = briggs_sigmas([x - dx, x + dx], cls, terrain)
    sy, sz = briggs_sigmas(x, cls, terrain)
    dsy, dsz = (sy1 - sy0) / (2 * dx), (sz1 - sz0) / (2 * dx)
    lhs = h * h * dsz / sz**3
    rhs = dsy / sy + dsz / sz
    assert float(lhs) == pytest.approx(float(rhs), rel=0.02)


@given(RATES, WINDS, CLASSES, TERRAINS, st.floats(1.0, 50_000.0), st.floats(0.0, 5_000.0), st.floats(0.0, 200.0))
def test_concentration_is_symmetric_about_the_plume_axis(q, u, cls, terrain, x, y, h) -> None:
    left = concentration(q, u, x, y, stability=cls, terrain=terrain, release_height_m=h)
    right = concentration(q, u, x, -y, stability=cls, terrain=terrain, release_height_m=h)
    assert left == right


@given(RATES, WINDS, CLASSES, st.floats(50.0, 20_000.0), st.floats(0.0, 2_000.0), st.floats(1.01, 3.0))
def test_concentration_falls_away_from_the_axis(q, u, cls, x, y, factor) -> None:
    inner = concentration(q, u, x, y, stability=cls)
    outer = concentration(q, u, x, y * factor + 1.0, stability=cls)
    assert outer < inner or inner == 0.0


def test_upwind_receptor_gets_nothing() -> None:
    assert concentration(100.0, 3.0, -50.0, stability="D") == 0.0


def test_ppm_conversion_at_25_c() -> None:
    """mg/m³ = ppm · M / 24.45 (25 °C, 1 atm): 10 ppm chlorine (70.9 g/mol) ≈ 29.0 mg/m³."""
    assert ppm_to_mg_m3(10.0, 70.9) == pytest.approx(29.0, abs=0.05)


@pytest.mark.parametrize(
    ("kwargs", "bad_input"),
    [
        ({"wind_speed_m_s": -3.0}, "wind_speed_m_s"),
        ({"wind_speed_m_s": 0.0}, "wind_speed_m_s"),
        ({"stability": "G"}, "stability"),
        ({"stability": 4}, "stability"),
        ({"release_rate_g_s": float("nan")}, "release_rate_g_s"),
        ({"release_rate_g_s": -1.0}, "release_rate_g_s"),
        ({"terrain": "forest"}, "terrain"),
        ({"release_height_m": 1e4}, "release_height_m"),
        ({"receptor_x_m": float("inf")}, "receptor_x_m"),
    ],
)
def test_invalid_inputs_name_the_input_and_range(kwargs: dict, bad_input: str) -> None:
    args = {"release_rate_g_s": 1.0, "wind_speed_m_s": 3.0, "receptor_x_m": 500.0, "stability": "D"} | kwargs
    with pytest.raises(InvalidInput) as err:
        concentration(args.pop("release_rate_g_s"), args.pop("wind_speed_m_s"), args.pop("receptor_x_m"), **args)
    assert err.value.details["input"] == bad_input
    assert err.value.details["allowed"]


def test_stability_needs_weather_for_its_half_of_the_day() -> None:
    with pytest.raises(InvalidInput) as err:
        turner_class(3.0, daytime=True)
    assert err.value.details["input"] == "insolation"
    with pytest.raises(InvalidInput) as err:
        turner_class(3.0, daytime=False)
    assert err.value.details["input"] == "cloud_cover_oktas"


# ---- footprint -------------------------------------------------------------------------------

SOURCE = (116.40, 39.90)  # Beijing, CGCS2000 3° zone CM 117E (EPSG:4548)
GEOD = pyproj.Geod(ellps="GRS80")


def _fp(**kw):
    args = dict(source_lon=SOURCE[0], source_lat=SOURCE[1], wind_from_deg=270.0, threshold_g_m3=1e-3,
                release_rate_g_s=1000.0, wind_speed_m_s=3.0, stability="D") | kw
    return footprint(**args)


@pytest.mark.parametrize(("wind_from", "bearing"), [(270.0, 90.0), (0.0, 180.0), (45.0, 225.0), (180.0, 0.0)])
def test_footprint_points_downwind(wind_from: float, bearing: float) -> None:
    """Meteorological convention: wind FROM 270° (west) carries the plume towards 090° (east)."""
    fp = _fp(wind_from_deg=wind_from)
    ring = fp.rings_lonlat[0]
    tip = max(ring, key=lambda p: GEOD.inv(*SOURCE, *p)[2])
    azimuth, _, distance = GEOD.inv(*SOURCE, *tip)
    assert (azimuth - bearing + 180) % 360 - 180 == pytest.approx(0.0, abs=0.2)
    assert distance == pytest.approx(fp.x_max_m, rel=1e-3)
    assert ring[0] == pytest.approx(SOURCE, abs=1e-7)  # ground release: pinned to the source


def test_footprint_polygon_is_valid_and_area_matches_the_analytic_integral() -> None:
    fp = _fp(wind_from_deg=30.0)
    poly = Polygon(fp.rings_lonlat[0])
    assert poly.is_valid
    to_gk = pyproj.Transformer.from_crs(4490, fp.epsg_metric, always_xy=True)
    assert fp.epsg_metric == 4548
    lons, lats = zip(*fp.rings_lonlat[0], strict=True)
    projected = Polygon(zip(*to_gk.transform(lons, lats), strict=True))
    assert projected.area == pytest.approx(fp.area_m2, rel=0.01)


def test_footprint_contains_what_exceeds_the_threshold_and_nothing_beyond() -> None:
    fp = _fp()
    poly = Polygon(fp.rings_lonlat[0])
    inside_lon, inside_lat, _ = GEOD.fwd(*SOURCE, 90.0, fp.x_max_m * 0.5)
    beyond_lon, beyond_lat, _ = GEOD.fwd(*SOURCE, 90.0, fp.x_max_m * 1.05)
    assert poly.contains(Point(inside_lon, inside_lat))
    assert not poly.contains(Point(beyond_lon, beyond_lat))
    c_edge = concentration(1000.0, 3.0, fp.x_max_m, stability="D")
    assert c_edge == pytest.approx(1e-3, rel=1e-3)


def test_elevated_footprint_starts_downwind_of_the_source() -> None:
    fp = _fp(release_height_m=60.0, threshold_g_m3=2e-4)
    assert fp.rings_lonlat and fp.x_min_m > 50.0
    assert not Polygon(fp.rings_lonlat[0]).contains(Point(*SOURCE))


def test_footprint_empty_when_threshold_never_reached() -> None:
    fp = _fp(release_height_m=200.0, threshold_g_m3=10.0)
    assert fp.rings_lonlat == [] and fp.area_m2 == 0.0


def test_footprint_reports_truncation_at_max_distance() -> None:
    fp = _fp(threshold_g_m3=1e-9, stability="F", max_distance_m=5000.0)
    assert fp.truncated and fp.x_max_m == pytest.approx(5000.0)


def test_footprint_refuses_bad_direction() -> None:
    with pytest.raises(InvalidInput) as err:
        _fp(wind_from_deg=400.0)
    assert err.value.details["input"] == "wind_direction_deg"
