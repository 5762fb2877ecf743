"""Coordinate reading in the console search: DMS and decimal, hemisphere letters, axis order by range."""

from __future__ import annotations

import pytest

from app.console.search import parse_coordinate
from core.errors import InvalidInput


@pytest.mark.parametrize(("text", "expected"), [
    ("119°1'30\"E 32°0'0\"N", (119.025, 32.0)),
    ("32°0′0″N, 119°1′30″E", (119.025, 32.0)),
    ("N32.5 E119.25", (119.25, 32.5)),
    ("119.025E,32N", (119.025, 32.0)),
    ("东经119度1分30秒 北纬32度", (119.025, 32.0)),
    ("119°1.5'E 32°N", (119.025, 32.0)),
    ("74°W 40.7°N", (-74.0, 40.7)),
    ("lon: 119.5 lat: 32.25", (119.5, 32.25)),
    # no letters: a number beyond ±90 is the longitude
    ("32.0,119.0", (119.0, 32.0)),
    ("119.0 32.0", (119.0, 32.0)),
    ("-33.9, 151.2", (151.2, -33.9)),
    # both within ±90: only one order falls in China (longitudes ≥ 72, latitudes ≤ 55.8 there)
    ("40.5, 80.25", (80.25, 40.5)),
    ("80.25 40.5", (80.25, 40.5)),
])
def test_one_reading(text: str, expected: tuple[float, float]) -> None:
    [(lon, lat)] = parse_coordinate(text)
    assert lon == pytest.approx(expected[0]) and lat == pytest.approx(expected[1])


def test_both_orders_outside_china_are_offered_not_guessed() -> None:
    assert parse_coordinate("10, 20") == [(10.0, 20.0), (20.0, 10.0)]
    assert parse_coordinate("10 10") == [(10.0, 10.0)]  # the same either way


@pytest.mark.parametrize("text", ["示范市德润", "9132990344630827X2", "2651", "enterprise 12", "119.0"])
def test_text_is_not_a_coordinate(text: str) -> None:
    assert parse_coordinate(text) is None


@pytest.mark.parametrize("text", ["119°60'E 32°N", "119E 120E", "32N 33S", "200, 100", "119°1'75\"E 32°N"])
def test_impossible_coordinates_are_refused(text: str) -> None:
    with pytest.raises(InvalidInput):
        parse_coordinate(text)
