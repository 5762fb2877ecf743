"""What every OneMap pygeoapi processor shares: declared inputs, their checking, errors and the BaseProcessor glue.

A module that offers an OGC API process writes a process description with the helpers below and a subclass of
:class:`JsonProcessor` whose ``_compute`` gets inputs already checked against that very description (so the
advertised ranges cannot drift from the enforced ones), then declares it in its manifest::

    MANIFEST = Manifest(..., processes={"gaussian-plume": "emergency.processes.GaussianPlumeProcessor"})

All OneMap processes are synchronous, JSON in / JSON out; geometries are GeoJSON in EPSG:4490 (CGCS2000, lon/lat
order). Invalid input raises :class:`ProcessInputError`, a ``ProcessorExecuteError`` whose message names the input
and its allowed range. pygeoapi 0.24 turns any failure inside ``execute`` into a failed job answered with HTTP 400
("InvalidParameterValue"); the error also carries ``http_status_code = 400`` so that a manager which re-raises
``ProcessorExecuteError`` still answers 400, not 500.

This module imports pygeoapi and the kernel only, so a business module's processes depend on nothing else of the
OGC stack.
"""

from __future__ import annotations

import copy
from http import HTTPStatus
from typing import Any

from pygeoapi.process.base import BaseProcessor, ProcessorExecuteError

from core.errors import InvalidInput, range_text, require_number

__all__ = [
    "SOURCE_POINT",
    "JsonProcessor",
    "ProcessInputError",
    "check_declared",
    "describe",
    "enum_input",
    "input_spec",
    "need",
    "number_input",
    "point",
]


class ProcessInputError(ProcessorExecuteError):
    """Client error: pygeoapi should answer 400 InvalidParameterValue, never 500."""

    http_status_code = HTTPStatus.BAD_REQUEST
    ogc_exception_code = "InvalidParameterValue"


# fmt: off
# Process descriptions are tables; one input per line reads better than the formatter's layout.

def number_input(title: str, unit: str | None, lo: float | None = None, hi: float | None = None, *,
                 xlo: bool = False, default: float | None = None, integer: bool = False, req: bool = False,
                 desc: str = "") -> dict[str, Any]:
    """A numeric input; ``xlo`` makes the minimum exclusive (OpenAPI 3.0 boolean form)."""
    schema: dict[str, Any] = {"type": "integer" if integer else "number"}
    schema.update({k: v for k, v in (("minimum", lo), ("maximum", hi), ("default", default)) if v is not None})
    if xlo:
        schema["exclusiveMinimum"] = True
    return input_spec(title, desc, schema, unit=unit, req=req)


def enum_input(title: str, values: list[str], *, default: str | None = None, req: bool = False,
               desc: str = "") -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "string", "enum": values}
    if default is not None:
        schema["default"] = default
    return input_spec(title, desc, schema, req=req)


def input_spec(title: str, desc: str, schema: dict[str, Any], *, unit: str | None = None,
               req: bool = False) -> dict[str, Any]:
    spec: dict[str, Any] = {"title": title, "description": desc + (f" Unit: {unit}." if unit else ""),
                            "schema": schema, "minOccurs": 1 if req else 0, "maxOccurs": 1}
    if unit:
        spec["metadata"] = [{"title": "unit", "value": unit}]
    return spec


def describe(pid: str, title_en: str, title_zh: str, description: str, inputs: dict[str, Any],
             example: dict[str, Any]) -> dict[str, Any]:
    """A synchronous JSON process description in pygeoapi's shape."""
    return {
        "version": "1.0.0", "id": pid, "title": {"en": title_en, "zh": title_zh},
        "description": {"en": description}, "jobControlOptions": ["sync-execute"],
        "keywords": ["onemap", "safety"], "links": [], "inputs": inputs,
        "outputs": {"result": {"title": "Result", "schema": {"type": "object", "contentMediaType": "application/json"}}},
        "example": {"inputs": example},
    }


SOURCE_POINT = input_spec(
    "Source point", "GeoJSON Point in EPSG:4490 (CGCS2000), [lon, lat]. Convert web-map (GCJ-02/BD-09) "
    "coordinates first with coordinate-convert.", {"type": "object", "contentMediaType": "application/geo+json",
                                                  "$ref": "https://geojson.org/schema/Point.json"})


def _allowed(name: str, spec: dict[str, Any]) -> str:
    """The allowed range or values of a declared input, for error messages."""
    schema, unit = spec["schema"], spec.get("metadata", [{}])[0].get("value", "")
    if schema.get("type") in ("number", "integer"):
        return range_text(name, schema.get("minimum"), schema.get("maximum"), bool(schema.get("exclusiveMinimum")),
                          False, unit)
    if "enum" in schema:
        return "one of " + ", ".join(schema["enum"])
    return f"{spec['title']}: {spec['description']}".rstrip()


def check_declared(data: dict[str, Any], inputs: dict[str, dict[str, Any]]) -> None:
    """Enforce the published description: known names, required ones present, ranges, enums, types."""
    unknown = sorted(set(data) - set(inputs))
    if unknown:
        raise InvalidInput(unknown[0], "one of the declared inputs: " + ", ".join(inputs))
    for name, spec in inputs.items():
        schema = spec["schema"]
        if name not in data:
            if spec["minOccurs"]:
                raise InvalidInput(name, f"{_allowed(name, spec)} (required)")
            continue
        value, kind = data[name], schema.get("type")
        if kind in ("number", "integer"):
            number = require_number(name, value, minimum=schema.get("minimum"), maximum=schema.get("maximum"),
                                    exclusive_minimum=bool(schema.get("exclusiveMinimum")),
                                    unit=spec.get("metadata", [{}])[0].get("value", ""))
            if kind == "integer" and not number.is_integer():
                raise InvalidInput(name, "an integer", value=value)
        elif "enum" in schema and value not in schema["enum"]:
            raise InvalidInput(name, "one of " + ", ".join(schema["enum"]), value=value)
        elif kind == "boolean" and not isinstance(value, bool):
            raise InvalidInput(name, "true or false", value=value)
# fmt: on


def point(data: dict[str, Any], name: str = "source") -> tuple[float, float]:
    """``(lon, lat)`` of a GeoJSON Point (or a Feature holding one) input."""
    value = data.get(name)
    if isinstance(value, dict) and value.get("type") == "Feature":
        value = value.get("geometry")
    allowed = 'GeoJSON Point {"type": "Point", "coordinates": [lon, lat]} in EPSG:4490'
    if not isinstance(value, dict) or value.get("type") != "Point":
        raise InvalidInput(name, allowed + " (required in this mode)", value=value)
    coords = value.get("coordinates")
    if not isinstance(coords, list) or len(coords) < 2:
        raise InvalidInput(f"{name}.coordinates", allowed, value=coords)
    lon = require_number(f"{name}.coordinates[0] (lon)", coords[0], minimum=-180, maximum=180, unit="°")
    lat = require_number(f"{name}.coordinates[1] (lat)", coords[1], minimum=-90, maximum=90, unit="°")
    return lon, lat


def need(data: dict[str, Any], name: str, inputs: dict[str, Any], why: str) -> Any:
    """An input the description marks optional but this mode requires (``why``: "for mode=point")."""
    if name not in data:
        raise InvalidInput(name, f"{_allowed(name, inputs[name])} (required {why})")
    return data[name]


class JsonProcessor(BaseProcessor):
    """A synchronous JSON process: set ``metadata_template`` (see :func:`describe`) and implement ``_compute``."""

    metadata_template: dict[str, Any] = {}

    def __init__(self, processor_def: dict) -> None:
        # pygeoapi appends to jobControlOptions in place: never hand it the shared class-level template.
        super().__init__(processor_def, copy.deepcopy(self.metadata_template))

    def execute(self, data: dict, outputs: dict | None = None) -> tuple[str, Any]:
        try:
            if not isinstance(data, dict):
                raise InvalidInput("inputs", "a JSON object of named inputs", value=type(data).__name__)
            check_declared(data, self.metadata["inputs"])
            return "application/json", self._compute(data)
        except InvalidInput as err:
            raise ProcessInputError(err.message_en, user_msg=err.message_en) from err

    def _compute(self, data: dict[str, Any]) -> Any:
        raise NotImplementedError
