"""The CRSs MapServer offers: the three every client uses plus the CGCS2000 3° Gauss-Krüger zones the city reaches,
each in both EPSG spellings (zone number in the easting or not). Each CRS offered costs every GetCapabilities a
projection of every layer's box (``wms_bbox_extended``), so all 42 zones of China are offered only without a city."""

from __future__ import annotations

from mapserver.extent import CHINA_EXTENT
from mapserver.mapfile import BASE_SRS, ows_srs


def test_the_demo_city_gets_its_one_zone() -> None:   # 118.67–119.35°E: the zone of CM 120°E (118.5–121.5)
    assert ows_srs((118.670035, 31.752705, 119.346826, 32.247295)) == (*BASE_SRS, "EPSG:4549", "EPSG:4528")


def test_a_city_across_a_zone_border_gets_both() -> None:   # the border at 118.5°E
    srs = ows_srs((118.2, 31.0, 118.9, 32.0))
    assert srs[:3] == BASE_SRS and set(srs[3:]) == {"EPSG:4548", "EPSG:4549", "EPSG:4527", "EPSG:4528"}


def test_without_a_city_every_zone_of_china() -> None:
    srs = ows_srs(CHINA_EXTENT)
    assert len(srs) == 3 + 42 and {f"EPSG:{c}" for c in range(4513, 4555)} == set(srs[3:])
