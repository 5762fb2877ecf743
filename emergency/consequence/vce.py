"""Vapour cloud explosion by TNT equivalence, with Kinney–Graham side-on overpressure.

    W_TNT = f_ground · η · m · ΔHc / E_TNT          (TNT equivalency, Crowl & Louvar 3rd ed., ch. 6)
    Z     = R / W_TNT^(1/3)                          (Hopkinson–Cranz scaling, m/kg^(1/3))
    p°/pa = 1616 [1 + (Z/4.5)²] / (√(1 + (Z/0.048)²) · √(1 + (Z/0.32)²) · √(1 + (Z/1.35)²))
                                                     (Kinney & Graham 1985, as given in C&L ch. 6)

Defaults follow Chinese practice for VCE assessments: η = 0.04 (the 4 % statistical mean yield),
E_TNT = 4520 kJ/kg; the optional ground-burst factor (1.8 in that practice) multiplies W_TNT and
defaults to 1, i.e. a free-air burst as in Kinney–Graham.

Damage thresholds are the 50 % (and for minor injury 1 %) points of the probit equations in
Crowl & Louvar Table 2-5 (after Eisenberg et al. 1975, via Lees), Y = k1 + k2·ln(p° / Pa):
see :data:`DAMAGE_THRESHOLDS`. They are computed, not typed, so the source stays checkable.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from statistics import NormalDist

from core.errors import InvalidInput, require_number

__all__ = [
    "AMBIENT_PRESSURE_KPA",
    "DAMAGE_THRESHOLDS",
    "DEFAULT_EFFICIENCY",
    "E_TNT_KJ_KG",
    "DamageThreshold",
    "Zone",
    "distance_for_overpressure_m",
    "kinney_graham_ratio",
    "overpressure_kpa",
    "overpressure_zones",
    "probit_threshold_kpa",
    "scaled_distance",
    "tnt_equivalent_kg",
]

E_TNT_KJ_KG = 4520.0
DEFAULT_EFFICIENCY = 0.04
AMBIENT_PRESSURE_KPA = 101.325
KG_PEAK_RATIO = 1616.0  # Kinney–Graham p°/pa as Z → 0
MAX_TNT_KG = 1e7
MAX_DISTANCE_M = 100_000.0


def probit_threshold_kpa(k1: float, k2: float, probability: float) -> float:
    """Overpressure (kPa) at which the probit Y = k1 + k2·ln(p°/Pa) gives ``probability``."""
    y = 5.0 + NormalDist().inv_cdf(probability)
    return math.exp((y - k1) / k2) / 1000.0


@dataclass(frozen=True)
class DamageThreshold:
    key: str
    label_zh: str
    label_en: str
    overpressure_kpa: float
    source: str


_C_AND_L = "Crowl & Louvar, Chemical Process Safety 3rd ed., Table 2-5 (Eisenberg et al. 1975)"

#: Default thresholds, strongest first. Serious injury (43.2 kPa) agrees with the 44 kPa of
#: Chinese QRA practice; minor injury there is often 17 kPa — pass ``thresholds_kpa`` to use it.
DAMAGE_THRESHOLDS: tuple[DamageThreshold, ...] = (
    DamageThreshold(
        "death",
        "死亡区",
        "death (50 % lung haemorrhage)",
        probit_threshold_kpa(-77.1, 6.91, 0.5),
        f"{_C_AND_L}: lung haemorrhage, Y = −77.1 + 6.91 ln p°, Y = 5",
    ),
    DamageThreshold(
        "serious_injury",
        "重伤区",
        "serious injury (50 % eardrum rupture)",
        probit_threshold_kpa(-15.6, 1.93, 0.5),
        f"{_C_AND_L}: eardrum rupture, Y = −15.6 + 1.93 ln p°, Y = 5",
    ),
    DamageThreshold(
        "minor_injury",
        "轻伤区",
        "minor injury (1 % eardrum rupture)",
        probit_threshold_kpa(-15.6, 1.93, 0.01),
        f"{_C_AND_L}: eardrum rupture, Y = −15.6 + 1.93 ln p°, Y = 2.67",
    ),
    DamageThreshold(
        "glass_breakage",
        "玻璃破碎区",
        "glass breakage (50 %)",
        probit_threshold_kpa(-18.1, 2.79, 0.5),
        f"{_C_AND_L}: glass breakage, Y = −18.1 + 2.79 ln p°, Y = 5",
    ),
)


def tnt_equivalent_kg(
    fuel_mass_kg: float,
    heat_of_combustion_kj_kg: float,
    *,
    efficiency: float = DEFAULT_EFFICIENCY,
    e_tnt_kj_kg: float = E_TNT_KJ_KG,
    ground_burst_factor: float = 1.0,
) -> float:
    """W_TNT = f_ground · η · m · ΔHc / E_TNT, in kg."""
    m = require_number(
        "fuel_mass_kg", fuel_mass_kg, minimum=0.0, maximum=1e7, exclusive_minimum=True, unit="kg"
    )
    dh = require_number(
        "heat_of_combustion_kj_kg", heat_of_combustion_kj_kg, minimum=1000.0, maximum=150_000.0, unit="kJ/kg"
    )
    eta = require_number("efficiency", efficiency, minimum=0.0, maximum=1.0, exclusive_minimum=True)
    e_tnt = require_number("e_tnt_kj_kg", e_tnt_kj_kg, minimum=4000.0, maximum=5000.0, unit="kJ/kg")
    f = require_number("ground_burst_factor", ground_burst_factor, minimum=1.0, maximum=2.0)
    return f * eta * m * dh / e_tnt


def _check_tnt(tnt_kg: float) -> float:
    return require_number(
        "tnt_kg", tnt_kg, minimum=0.0, maximum=MAX_TNT_KG, exclusive_minimum=True, unit="kg"
    )


def scaled_distance(distance_m: float, tnt_kg: float) -> float:
    """Z = R / W^(1/3) in m/kg^(1/3)."""
    r = require_number(
        "distance_m", distance_m, minimum=0.0, maximum=MAX_DISTANCE_M, exclusive_minimum=True, unit="m"
    )
    return r / _check_tnt(tnt_kg) ** (1.0 / 3.0)


def kinney_graham_ratio(z: float) -> float:
    """Scaled side-on overpressure p°/pa at scaled distance ``z`` (m/kg^(1/3)) > 0."""
    num = KG_PEAK_RATIO * (1.0 + (z / 4.5) ** 2)
    den = (
        math.sqrt(1.0 + (z / 0.048) ** 2)
        * math.sqrt(1.0 + (z / 0.32) ** 2)
        * math.sqrt(1.0 + (z / 1.35) ** 2)
    )
    return num / den


def overpressure_kpa(distance_m: float, tnt_kg: float, *, ambient_kpa: float = AMBIENT_PRESSURE_KPA) -> float:
    """Side-on peak overpressure (kPa) at ``distance_m`` from a ``tnt_kg`` charge."""
    return kinney_graham_ratio(scaled_distance(distance_m, tnt_kg)) * ambient_kpa


def _z_for_ratio(ratio: float) -> float:
    # The Kinney–Graham ratio falls monotonically in Z, so bisection on log Z is safe and exact
    # enough (60 halvings of a 1e-4..1e4 bracket is far below a millimetre at any real scale).
    lo, hi = math.log(1e-4), math.log(1e4)
    for _ in range(80):
        mid = 0.5 * (lo + hi)
        if kinney_graham_ratio(math.exp(mid)) > ratio:
            lo = mid
        else:
            hi = mid
    return math.exp(0.5 * (lo + hi))


def distance_for_overpressure_m(
    overpressure: float,
    tnt_kg: float,
    *,
    ambient_kpa: float = AMBIENT_PRESSURE_KPA,
    input_name: str = "overpressure_kpa",
) -> float:
    """Radius (m) at which the side-on overpressure falls to ``overpressure`` kPa."""
    w = _check_tnt(tnt_kg)
    ceiling = KG_PEAK_RATIO * ambient_kpa
    p = require_number(
        input_name, overpressure, minimum=0.01, maximum=ceiling, exclusive_maximum=True, unit="kPa"
    )
    return _z_for_ratio(p / ambient_kpa) * w ** (1.0 / 3.0)


@dataclass(frozen=True)
class Zone:
    key: str
    label_zh: str
    label_en: str
    overpressure_kpa: float
    radius_m: float
    inner_radius_m: float
    source: str
    exterior: list[tuple[float, float]]  # EPSG:4490 lon/lat, closed, counter-clockwise
    hole: list[tuple[float, float]] | None  # the next stronger zone's circle, clockwise


def _circle(
    lon: float, lat: float, radius_m: float, segments: int, clockwise: bool
) -> list[tuple[float, float]]:
    from pyproj import Geod

    # Azimuths run clockwise from north; reversing them gives a counter-clockwise (RFC 7946) ring.
    azimuths = [360.0 * i / segments for i in range(segments)]
    if not clockwise:
        azimuths = azimuths[::-1]
    lons, lats, _ = Geod(ellps="GRS80").fwd(
        [lon] * segments, [lat] * segments, azimuths, [radius_m] * segments
    )
    ring = [(round(a, 7), round(b, 7)) for a, b in zip(lons, lats, strict=True)]
    return ring + [ring[0]]


def _thresholds(thresholds_kpa: dict[str, float] | None) -> list[DamageThreshold]:
    if thresholds_kpa is None:
        return list(DAMAGE_THRESHOLDS)
    if not isinstance(thresholds_kpa, dict) or not 1 <= len(thresholds_kpa) <= 10:
        raise InvalidInput(
            "thresholds_kpa", "an object of 1–10 {name: overpressure in kPa}", value=thresholds_kpa
        )
    known = {t.key: t for t in DAMAGE_THRESHOLDS}
    out = []
    for key, value in thresholds_kpa.items():
        p = require_number(
            f"thresholds_kpa.{key}",
            value,
            minimum=0.01,
            maximum=KG_PEAK_RATIO * AMBIENT_PRESSURE_KPA,
            exclusive_maximum=True,
            unit="kPa",
        )
        base = known.get(key)
        out.append(
            DamageThreshold(
                key, base.label_zh if base else key, base.label_en if base else key, p, "caller-supplied"
            )
        )
    return sorted(out, key=lambda t: -t.overpressure_kpa)


def overpressure_zones(
    source_lon: float,
    source_lat: float,
    tnt_kg: float,
    thresholds_kpa: dict[str, float] | None = None,
    *,
    segments: int = 72,
) -> list[Zone]:
    """Nested, non-overlapping rings (disc, then annuli) for each threshold, strongest first."""
    lon = require_number("source.lon", source_lon, minimum=-180.0, maximum=180.0, unit="°")
    lat = require_number("source.lat", source_lat, minimum=-89.0, maximum=89.0, unit="°")
    zones: list[Zone] = []
    inner = 0.0
    for t in _thresholds(thresholds_kpa):
        radius = distance_for_overpressure_m(t.overpressure_kpa, tnt_kg, input_name=f"thresholds_kpa.{t.key}")
        exterior = _circle(lon, lat, radius, segments, clockwise=False)
        hole = _circle(lon, lat, inner, segments, clockwise=True) if inner > 0 else None
        zones.append(
            Zone(t.key, t.label_zh, t.label_en, t.overpressure_kpa, radius, inner, t.source, exterior, hole)
        )
        inner = radius
    return zones
