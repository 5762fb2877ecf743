"""The monitoring API under ``/api/monitoring`` (thin: parsing in ``schemas``, reading in ``readings``).

  GET /api/monitoring/sensors/<code>                     the sensor, its latest value, active alarms, set points
  GET /api/monitoring/sensors/<code>/series?range=hour|day|week
                                                         min / avg / max per bucket for a chart, with the above
  GET /api/monitoring/hazard-sources/<code>/sensors      the latest values of a hazard source's sensors

Scoped by the caller's read scope of the sensors (hazard_sources) layer: a code outside it is 404, as an unknown one.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flask import Blueprint, Response, current_app, jsonify, request

from access.policy.rowscope import LayerAccess
from core.database import get_db
from core.manifest import load_document
from supervision.monitoring import readings, schemas

bp = Blueprint("monitoring", __name__, url_prefix="/api/monitoring")
DEFAULT_RULES = "supervision.monitoring:rules.yaml"


def _rules() -> Mapping[str, Any]:
    reference = (current_app.config["ONEMAP"].get("monitoring") or {}).get("rules") or DEFAULT_RULES
    cache = current_app.extensions.setdefault("onemap.monitoring.rules", {})
    if reference not in cache:
        cache[reference] = load_document(reference)
    return cache[reference]


def _private(response: Response) -> Response:
    # values differ per caller (their scope) and change every few seconds: never from a shared cache
    response.cache_control.no_store = True
    response.cache_control.private = True
    return response


@bp.get("/sensors/<code>")
def sensor_view(code: str) -> Response:
    schemas.plain(request.args)
    doc = readings.sensor_document(get_db(), schemas.code(code, "sensor"), _rules(), access=LayerAccess.for_request())
    return _private(jsonify(doc))


@bp.get("/sensors/<code>/series")
def series_view(code: str) -> Response:
    range_name = schemas.series_range(request.args)
    doc = readings.series(get_db(), schemas.code(code, "sensor"), range_name, _rules(),
                          access=LayerAccess.for_request())
    return _private(jsonify(doc))


@bp.get("/hazard-sources/<code>/sensors")
def hazard_source_view(code: str) -> Response:
    schemas.plain(request.args)
    doc = readings.hazard_source_sensors(get_db(), schemas.code(code, "hazard_source"), _rules(),
                                         access=LayerAccess.for_request())
    return _private(jsonify(doc))
