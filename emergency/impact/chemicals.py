"""Toxic-gas concentration levels for the plume zones of an impact analysis.

Three levels per chemical, strongest first, as ppm by volume (converted at 25 °C, 101.325 kPa):

* ``idlh``  — NIOSH Immediately Dangerous to Life or Health concentration (NIOSH, *Documentation for Immediately
  Dangerous to Life or Health Concentrations (IDLHs)*, 1994 revision): the 致死/重度 zone;
* ``aegl2`` — US EPA / National Research Council AEGL-2, 60-minute exposure (irreversible or escape-impairing
  effects): the evacuation zone;
* ``aegl1`` — AEGL-1, 60-minute exposure (notable discomfort, transient): the shelter-in-place / warning zone.

AEGL values: NRC *Acute Exposure Guideline Levels for Selected Airborne Chemicals* — chlorine vol. 4 (2004),
ammonia vol. 6 (2008), hydrogen sulfide vol. 9 (2010). A caller may give levels of its own instead (``thresholds``).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Level:
    key: str
    label_zh: str
    label_en: str
    ppm: float
    source: str


@dataclass(frozen=True)
class Chemical:
    key: str
    cas: str
    name_zh: str
    molar_mass_g_mol: float
    levels: tuple[Level, ...]  # strongest (highest concentration) first


_NIOSH = "NIOSH IDLH (1994)"


def _levels(idlh: float, aegl2: float, aegl1: float, aegl_source: str) -> tuple[Level, ...]:
    return (
        Level("idlh", "致死/重度伤害区（IDLH）", "IDLH", idlh, _NIOSH),
        Level("aegl2", "疏散区（AEGL-2, 60 min）", "AEGL-2 (60 min)", aegl2, aegl_source),
        Level("aegl1", "警戒区（AEGL-1, 60 min）", "AEGL-1 (60 min)", aegl1, aegl_source),
    )


CHEMICALS: dict[str, Chemical] = {
    "chlorine": Chemical("chlorine", "7782-50-5", "氯气", 70.90,
                         _levels(10.0, 2.0, 0.50, "US EPA AEGL final, NRC vol. 4 (2004)")),
    "ammonia": Chemical("ammonia", "7664-41-7", "氨", 17.03,
                        _levels(300.0, 160.0, 30.0, "US EPA AEGL final, NRC vol. 6 (2008)")),
    "hydrogen_sulfide": Chemical("hydrogen_sulfide", "7783-06-4", "硫化氢", 34.08,
                                 _levels(100.0, 27.0, 0.51, "US EPA AEGL final, NRC vol. 9 (2010)")),
}
BY_CAS: dict[str, Chemical] = {c.cas: c for c in CHEMICALS.values()}


def find(value: str) -> Chemical | None:
    """By key (``chlorine``) or CAS number (``7782-50-5``)."""
    return CHEMICALS.get(value.strip().lower()) or BY_CAS.get(value.strip())
