"""What ``POST /api/emergency/incidents/<id>/impact`` accepts, checked field by field before anything is read."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from core.errors import InvalidInput, require_number
from emergency.consequence import plume, vce
from emergency.impact import chemicals
from emergency.impact.zones import DEFAULT_MAX_DISTANCE_M, MAX_DISTANCE_M
from emergency.incidents.schemas import check_keys
from emergency.incidents.schemas import parse_text as _parse_text

PLUME_KEYS = ("chemical", "hazard_source_code", "release_rate_g_s", "wind_speed_m_s", "wind_from_deg", "stability",
              "terrain", "release_height_m", "max_distance_m", "thresholds", "molar_mass_g_mol")
EXPLOSION_KEYS = ("tnt_kg", "fuel_mass_kg", "heat_of_combustion_kj_kg", "efficiency", "ground_burst_factor",
                  "thresholds_kpa")
KEYS = ("model", "note", "evacuate", *PLUME_KEYS, *EXPLOSION_KEYS)
MODELS = ("plume", "explosion")
#: The model an incident kind calls for when the request names none.
MODEL_OF_KIND = {"leak": "plume", "poisoning": "plume", "explosion": "explosion"}


def parse_text(value: Any, name: str, length: int | None) -> str | None:
    """Text as the incident forms take it, without NUL characters (JSONB cannot store them)."""
    text = _parse_text(value, name, length)
    if text is not None and "\x00" in text:
        raise InvalidInput(name, "text without NUL characters", details={"reason": "NUL character"})
    return text


@dataclass(frozen=True)
class ImpactRequest:
    model: str
    note: str | None
    evacuate: bool
    params: dict[str, Any] = field(default_factory=dict)  # the model's checked inputs


def _number(data: dict[str, Any], name: str, lo: float, hi: float, unit: str, *, default: float | None = None,
            required: bool = False, exclusive_minimum: bool = False) -> float | None:
    if data.get(name) is None:
        if required:
            raise InvalidInput(name, f"{lo:g} {'<' if exclusive_minimum else '≤'} {name} ≤ {hi:g} {unit}",
                               details={"reason": "required"})
        return default
    return require_number(name, data[name], minimum=lo, maximum=hi, exclusive_minimum=exclusive_minimum, unit=unit)


def _choice(data: dict[str, Any], name: str, allowed: tuple[str, ...], default: str | None = None,
            *, upper: bool = False) -> str | None:
    value = data.get(name)
    if value is None:
        return default
    norm = value.strip().upper() if upper and isinstance(value, str) else value
    if norm not in allowed:
        raise InvalidInput(name, "one of " + ", ".join(allowed), value=value if isinstance(value, str) else None)
    return norm


def _refuse_inputs_of(data: dict[str, Any], other: tuple[str, ...], model: str, own: tuple[str, ...]) -> None:
    """An input of the other model is a mistake worth naming (not silently ignored)."""
    unknown = [k for k in other if k in data]
    if unknown:
        raise InvalidInput(unknown[0], f"{model} inputs: " + ", ".join(own), value=unknown[0],
                           details={"reason": f"not an input of the {model} model"})


MAX_RELEASE_G_S = 1e7


def _plume(data: dict[str, Any]) -> dict[str, Any]:
    _refuse_inputs_of(data, EXPLOSION_KEYS, "plume", PLUME_KEYS)
    chemical = data.get("chemical")
    if chemical is not None and (not isinstance(chemical, str) or chemicals.find(chemical) is None):
        raise InvalidInput("chemical", "one of " + ", ".join(f"{c.key} ({c.cas})" for c in
                                                             chemicals.CHEMICALS.values()),
                           value=chemical if isinstance(chemical, str) else None)
    code = parse_text(data.get("hazard_source_code"), "hazard_source_code", 20)
    molar = _number(data, "molar_mass_g_mol", 1.0, 1000.0, "g/mol")
    if data.get("thresholds") is not None:
        from emergency.impact.zones import parse_levels

        known = chemicals.find(chemical) if chemical else None
        parse_levels(data["thresholds"], molar or (known.molar_mass_g_mol if known else None))  # checked now
    lo, hi = plume.WIND_RANGE_M_S
    return {
        "chemical": chemicals.find(chemical).key if chemical else None,
        "hazard_source_code": code,
        # without a chemical in the request it comes from the hazard source, and so may the rate (service.py)
        "release_rate_g_s": _number(data, "release_rate_g_s", 0.0, MAX_RELEASE_G_S, "g/s",
                                    required=chemical is not None or data.get("thresholds") is not None,
                                    exclusive_minimum=True),
        "wind_speed_m_s": _number(data, "wind_speed_m_s", lo, hi, "m/s", required=True),
        "wind_from_deg": _number(data, "wind_from_deg", 0.0, 360.0, "°", required=True),
        "stability": _required_choice(data, "stability", plume.STABILITY_CLASSES),
        "terrain": _choice(data, "terrain", plume.TERRAINS, "rural"),
        "release_height_m": _number(data, "release_height_m", 0.0, 500.0, "m", default=0.0),
        "max_distance_m": _number(data, "max_distance_m", 100.0, MAX_DISTANCE_M, "m",
                                  default=DEFAULT_MAX_DISTANCE_M),
        "thresholds": data.get("thresholds"),
        "molar_mass_g_mol": molar,
    }


def _required_choice(data: dict[str, Any], name: str, allowed: tuple[str, ...]) -> str:
    if data.get(name) is None:
        raise InvalidInput(name, "one of " + ", ".join(allowed), details={"reason": "required"})
    return _choice(data, name, allowed, upper=True) or ""


def _explosion(data: dict[str, Any]) -> dict[str, Any]:
    _refuse_inputs_of(data, PLUME_KEYS, "explosion", EXPLOSION_KEYS)
    thresholds = data.get("thresholds_kpa")
    if thresholds is not None:
        if not isinstance(thresholds, dict) or not all(isinstance(k, str) and 1 <= len(k) <= 40 and "\x00" not in k
                                                      for k in thresholds):
            raise InvalidInput("thresholds_kpa", "an object of 1–10 {name (1–40 characters): kPa}")
        vce.overpressure_zones(0.0, 0.0, 1.0, thresholds)  # the library's own check of every value
    if data.get("tnt_kg") is not None:
        if data.get("fuel_mass_kg") is not None or data.get("heat_of_combustion_kj_kg") is not None:
            raise InvalidInput("tnt_kg", "tnt_kg, or fuel_mass_kg with heat_of_combustion_kj_kg (not both)")
        tnt = require_number("tnt_kg", data["tnt_kg"], minimum=0.0, maximum=vce.MAX_TNT_KG, exclusive_minimum=True,
                             unit="kg")
        basis = {"tnt_kg": tnt}
    else:
        if data.get("fuel_mass_kg") is None or data.get("heat_of_combustion_kj_kg") is None:
            raise InvalidInput("tnt_kg", "0 < tnt_kg ≤ 10000000 kg, or fuel_mass_kg with heat_of_combustion_kj_kg",
                               details={"reason": "required"})
        efficiency = _number(data, "efficiency", 0.0, 1.0, "", default=vce.DEFAULT_EFFICIENCY,
                             exclusive_minimum=True)
        factor = _number(data, "ground_burst_factor", 1.0, 2.0, "", default=1.0)
        tnt = vce.tnt_equivalent_kg(data["fuel_mass_kg"], data["heat_of_combustion_kj_kg"], efficiency=efficiency,
                                    ground_burst_factor=factor)
        basis = {"fuel_mass_kg": data["fuel_mass_kg"], "heat_of_combustion_kj_kg": data["heat_of_combustion_kj_kg"],
                 "efficiency": efficiency, "ground_burst_factor": factor, "tnt_kg": tnt}
        if tnt > vce.MAX_TNT_KG:
            raise InvalidInput("fuel_mass_kg", f"a TNT equivalent of at most {vce.MAX_TNT_KG:g} kg", value=tnt)
    return {**basis, "thresholds_kpa": thresholds}


def parse(data: dict[str, Any], incident_kind: str) -> ImpactRequest:
    check_keys(data, KEYS)
    model = _choice(data, "model", MODELS)
    if model is None:
        model = MODEL_OF_KIND.get(incident_kind)
        if model is None:
            raise InvalidInput("model", "plume (toxic release) or explosion: required for an incident of kind "
                               f"{incident_kind}", details={"reason": "required", "incident_kind": incident_kind})
    evacuate = data.get("evacuate", True)
    if not isinstance(evacuate, bool):
        raise InvalidInput("evacuate", "true or false", value=evacuate if isinstance(evacuate, str) else None)
    note = parse_text(data.get("note"), "note", 500)
    params = _plume(data) if model == "plume" else _explosion(data)
    return ImpactRequest(model, note, evacuate, params)
