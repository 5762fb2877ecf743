"""GCJ-02 / BD-09 conversion and the CGCS2000 Gauss-Krüger zone helper (core.geo.coords)."""

from __future__ import annotations

import math

import pyproj
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from core.errors import InvalidInput
from core.geo.coords import (
    bd09_to_gcj02,
    bd09_to_wgs84,
    convert,
    convert_points,
    gcj02_to_bd09,
    gcj02_to_wgs84,
    gk3_central_meridian,
    gk3_zone_epsg,
    haversine_m,
    out_of_china,
    wgs84_to_bd09,
    wgs84_to_gcj02,
)

# China's extent, South China Sea islands included (Zengmu Ansha ≈ 3.8°N, Pamirs ≈ 73.5°E,
# Heilongjiang ≈ 135.1°E / 53.6°N).
CHINA_LNG = st.floats(min_value=73.4, max_value=135.1)
CHINA_LAT = st.floats(min_value=3.8, max_value=53.6)

EVILTRANSFORM_FIXTURES = [
    # (wgs lng, wgs lat, gcj lng, gcj lat)
    (121.5272106, 31.1774276, 121.531541859215, 31.17530398364597),  # Shanghai
    (113.912316, 22.543847, 113.9171764808363, 22.540796131694766),  # Shenzhen
    (116.377817, 39.911954, 116.38404722455657, 39.91334545536069),  # Beijing
]


@pytest.mark.parametrize(("wlng", "wlat", "glng", "glat"), EVILTRANSFORM_FIXTURES)
def test_wgs_to_gcj_matches_eviltransform_fixtures(wlng: float, wlat: float, glng: float, glat: float) -> None:
    """Reference vectors of googollee/eviltransform (test suites of every language port)."""
    lng, lat = wgs84_to_gcj02(wlng, wlat)
    assert lng == pytest.approx(glng, abs=1e-9)
    assert lat == pytest.approx(glat, abs=1e-9)


@pytest.mark.parametrize(("wlng", "wlat", "glng", "glat"), EVILTRANSFORM_FIXTURES)
def test_gcj_to_wgs_is_exact_on_eviltransform_fixtures(wlng: float, wlat: float, glng: float, glat: float) -> None:
    """eviltransform's own bar for its 'exact' inverse is 0.5 m; ours must beat it by far."""
    lng, lat = gcj02_to_wgs84(glng, glat)
    assert haversine_m(lng, lat, wlng, wlat) < 0.01


def test_coordtransform_reference_values() -> None:
    """README of wandergis/coordtransform, point (116.404, 39.915): forward maps match to 1e-9°.

    Its bd09→gcj02 value is the one-step approximation; our iterated inverse must agree with it to
    well under the 0.5 m requirement while being exact against our own forward map.
    """
    assert wgs84_to_gcj02(116.404, 39.915) == pytest.approx((116.41024449916938, 39.91640428150164), abs=1e-9)
    assert gcj02_to_bd09(116.404, 39.915) == pytest.approx((116.41036949371029, 39.92133699351021), abs=1e-9)
    lng, lat = bd09_to_gcj02(116.404, 39.915)
    assert haversine_m(lng, lat, 116.39762729119315, 39.90865673957631) < 0.5
    assert gcj02_to_bd09(lng, lat) == pytest.approx((116.404, 39.915), abs=1e-9)


def test_bd09_is_within_baidu_published_fixture_tolerance() -> None:
    """eviltransform's BD-09 fixture (bd 120.019809, 29.199786 ↔ wgs 120.00877901, 29.19613161)

    comes from Baidu's own converter, which the public BD-09 formula approximates to ~10 m; a
    swapped axis or a wrong constant would be off by hundreds of metres.
    """
    lng, lat = bd09_to_wgs84(120.019809, 29.199786)
    assert haversine_m(lng, lat, 120.00877901149691, 29.196131605295484) < 20.0


@pytest.mark.parametrize(
    ("lng", "lat"),
    [(139.767125, 35.681236), (-0.1276, 51.5072), (-104.9903, 39.7392), (153.0251, -27.4698), (-43.1729, -22.9068)],
)
def test_points_outside_china_are_unchanged(lng: float, lat: float) -> None:
    assert out_of_china(lng, lat)
    for src in ("wgs84", "gcj02", "bd09"):
        for dst in ("wgs84", "gcj02", "bd09"):
            assert convert(lng, lat, src, dst) == (lng, lat)


def test_offset_inside_china_is_hundreds_of_metres() -> None:
    lng, lat = wgs84_to_gcj02(116.391226, 39.907333)
    assert 100 < haversine_m(lng, lat, 116.391226, 39.907333) < 1000


@settings(max_examples=300)
@given(CHINA_LNG, CHINA_LAT)
def test_wgs_gcj_round_trip_under_half_a_metre(lng: float, lat: float) -> None:
    back = gcj02_to_wgs84(*wgs84_to_gcj02(lng, lat))
    assert haversine_m(*back, lng, lat) < 0.5


@settings(max_examples=300)
@given(CHINA_LNG, CHINA_LAT)
def test_wgs_bd_round_trip_under_half_a_metre(lng: float, lat: float) -> None:
    back = bd09_to_wgs84(*wgs84_to_bd09(lng, lat))
    assert haversine_m(*back, lng, lat) < 0.5


@settings(max_examples=200)
@given(CHINA_LNG, CHINA_LAT)
def test_gcj_bd_round_trip_under_half_a_metre(lng: float, lat: float) -> None:
    back = bd09_to_gcj02(*gcj02_to_bd09(lng, lat))
    assert haversine_m(*back, lng, lat) < 0.5


def test_cgcs2000_is_an_alias_of_wgs84() -> None:
    p = (116.404, 39.915)
    assert convert(*p, "cgcs2000", "gcj02") == convert(*p, "wgs84", "gcj02")
    assert convert(*p, "CGCS2000", "wgs84") == p


def test_convert_points_converts_each_point() -> None:
    out = convert_points([[116.404, 39.915], [121.5, 31.2]], "wgs84", "gcj02")
    assert out == [wgs84_to_gcj02(116.404, 39.915), wgs84_to_gcj02(121.5, 31.2)]


@pytest.mark.parametrize(
    ("points", "src", "dst", "bad_input"),
    [
        ([[116.4, float("nan")]], "wgs84", "gcj02", "points[0][1] (lat)"),
        ([[116.4, 91.0]], "wgs84", "gcj02", "points[0][1] (lat)"),
        ([[116.4]], "wgs84", "gcj02", "points[0]"),
        ([], "wgs84", "gcj02", "points"),
        ([[116.4, 39.9]], "mercator", "gcj02", "from"),
        ([[116.4, 39.9]], "wgs84", "bd-11", "to"),
    ],
)
def test_malformed_points_are_refused_with_the_input_named(points, src, dst, bad_input) -> None:
    with pytest.raises(InvalidInput) as err:
        convert_points(points, src, dst)
    assert err.value.details["input"] == bad_input
    assert err.value.details["allowed"]
    assert err.value.http_status == 400


@pytest.mark.parametrize(
    ("lng", "epsg", "cm"),
    [(73.6, 4534, 75), (76.49, 4534, 75), (76.5, 4535, 78), (116.4, 4548, 117), (121.47, 4549, 120),
     (121.5, 4550, 123), (121.51, 4550, 123), (135.0, 4554, 135)],
)
def test_gk3_zone_matches_epsg_names(lng: float, epsg: int, cm: int) -> None:
    assert gk3_zone_epsg(lng) == epsg
    assert gk3_central_meridian(lng) == cm
    assert f"CM {cm}E" in pyproj.CRS.from_epsg(epsg).name


@given(st.floats(min_value=73.5, max_value=134.99))
def test_gk3_zone_centre_is_within_one_and_a_half_degrees(lng: float) -> None:
    cm = gk3_central_meridian(lng)
    assert abs(lng - cm) <= 1.5 + 1e-9
    assert cm % 3 == 0


@pytest.mark.parametrize("lng", [60.0, 140.0, math.inf, math.nan])
def test_gk3_zone_refuses_longitudes_outside_china(lng: float) -> None:
    with pytest.raises(InvalidInput) as err:
        gk3_zone_epsg(lng)
    assert err.value.details["input"] == "lng"
