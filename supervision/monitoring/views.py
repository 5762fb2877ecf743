"""The monitoring API under ``/api/monitoring`` (thin: parsing in ``schemas``, figures in ``service``/``impact``).

  GET /api/monitoring/alarms?state=open|active|cleared&cleared_within_h=&level=&hazard_source=&limit=
      the caller's alarms (active first, then those cleared within the window) with their sensor, hazard source,
      enterprise, level, value, threshold, state and disposal case
  GET /api/monitoring/alarms/<id>
      one alarm (404 when unknown or outside the caller's scope)
  GET /api/monitoring/alarms/<id>/impact?wind_speed_m_s=&wind_from_deg=&release_rate_g_s=&chemical=&stability=
      the gas plume of the alarm's hazard source, the sensitive targets and people inside it
  GET /api/monitoring/warning-levels
      the hazard sources with a warning level (红/橙/黄/蓝) now, with their points (the map's rings)
  GET /api/monitoring/kpis
      active alarms by level, device faults, sensors by status, hazard sources by warning level

Every row is one the caller may read on the ``sensors`` layer (the same scope as the ``monitoring.alarm`` events).
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from flask import Blueprint, Response, current_app, jsonify, request

from access.policy.rowscope import LayerAccess
from core.config import resolve_path
from core.database import get_db
from core.errors import NotFound
from core.manifest import load_document
from supervision.monitoring import impact, schemas, service

bp = Blueprint("monitoring", __name__, url_prefix="/api/monitoring")


def _private(response: Response) -> Response:
    # per caller (their scope) and live: never from a shared cache
    response.cache_control.no_store = True
    response.cache_control.private = True
    return response


@lru_cache(maxsize=4)
def _labels(reference: str) -> dict[tuple[str, str], str]:
    return service.rule_labels(load_document(reference))


def labels() -> dict[tuple[str, str], str]:
    return _labels(current_app.config["ONEMAP"]["monitoring"]["rules"])


def _root() -> str:
    return request.script_root.rstrip("/") + "/"


def _alarm(alarm_id: int) -> dict[str, Any]:
    return service.get_alarm(get_db(), alarm_id, access=LayerAccess.for_request(), labels=labels(), root=_root())


@bp.get("/alarms")
def alarms_view() -> Response:
    query = schemas.alarm_query(request.args)
    return _private(jsonify(service.list_alarms(get_db(), query, access=LayerAccess.for_request(),
                                                labels=labels(), root=_root())))


@bp.get("/alarms/<int:alarm_id>")
def alarm_view(alarm_id: int) -> Response:
    schemas.no_unknown(request.args, schemas.ONE_PARAMS)
    return _private(jsonify(_alarm(alarm_id)))


@bp.get("/alarms/<int:alarm_id>/impact")
def impact_view(alarm_id: int) -> Response:
    query = schemas.impact_query(request.args)
    alarm = _alarm(alarm_id)
    conn = get_db()
    source = service.hazard_source_of(conn, alarm["hazard_source_code"])
    if source is None:  # a sensor always has its hazard source (foreign key); kept for a row deleted meanwhile
        raise NotFound(f"no hazard source {alarm['hazard_source_code']}", "重大危险源不存在")
    raster = resolve_path(current_app.config["ONEMAP"]["paths"]["var"]) / "data" / "population.tif"
    processor = impact.plume_processor(current_app.config["ONEMAP"])
    return _private(jsonify(impact.plume_impact(conn, alarm, source, query, access=LayerAccess.for_request(),
                                                raster=raster, processor=processor)))


@bp.get("/warning-levels")
def warning_levels_view() -> Response:
    schemas.no_unknown(request.args, schemas.KPI_PARAMS)
    return _private(jsonify(service.warning_levels(get_db(), access=LayerAccess.for_request())))


@bp.get("/kpis")
def kpis_view() -> Response:
    schemas.no_unknown(request.args, schemas.KPI_PARAMS)
    return _private(jsonify(service.kpis(get_db(), access=LayerAccess.for_request())))
