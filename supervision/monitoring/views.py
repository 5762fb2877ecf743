"""The monitoring API under ``/api/monitoring`` (thin: parsing in ``schemas``, reading in ``readings``,
``service`` and ``impact``).

  GET /api/monitoring/sensors/<code>                     the sensor, its latest value, active alarms, set points
  GET /api/monitoring/sensors/<code>/series?range=hour|day|week
                                                         min / avg / max per bucket for a chart, with the above
  GET /api/monitoring/hazard-sources/<code>/sensors      the latest values of a hazard source's sensors
  GET /api/monitoring/video-points/<code>/stream         the HLS URL a camera plays (video.py)
  GET /api/monitoring/video/sample/<file>                the demo's generated HLS sample (playlist, segments)

  GET /api/monitoring/alarms?state=open|active|cleared&cleared_within_h=&level=&hazard_source=&limit=
                                                         the caller's alarms (active first, then those cleared within
                                                         the window) with sensor, hazard source, level, disposal case
  GET /api/monitoring/alarms/<id>                        one alarm
  GET /api/monitoring/alarms/<id>/impact?wind_speed_m_s=&wind_from_deg=&release_rate_g_s=&chemical=&stability=
                                                         the gas plume of the alarm's hazard source, the sensitive
                                                         targets and people inside it
  GET /api/monitoring/warning-levels                     hazard sources with a warning level (红/橙/黄/蓝) now
  GET /api/monitoring/kpis                               active alarms by level, faults, sensors by status, levels

Scoped by the caller's read scope of the sensors (hazard_sources, video_points) layer: a code outside it is 404, as an
unknown one; alarms are those of the sensors the caller may read (the scope of the ``monitoring.alarm`` events).
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import lru_cache
from typing import Any

from flask import Blueprint, Response, current_app, jsonify, request, send_from_directory

from access.policy.rowscope import LayerAccess
from core.config import resolve_path
from core.database import get_db
from core.errors import NotFound
from core.manifest import load_document
from core.responses import private
from supervision.monitoring import impact, readings, schemas, service, video

bp = Blueprint("monitoring", __name__, url_prefix="/api/monitoring")
DEFAULT_RULES = "supervision.monitoring:rules.yaml"


def _rules() -> Mapping[str, Any]:
    reference = (current_app.config["ONEMAP"].get("monitoring") or {}).get("rules") or DEFAULT_RULES
    cache = current_app.extensions.setdefault("onemap.monitoring.rules", {})
    if reference not in cache:
        cache[reference] = load_document(reference)
    return cache[reference]


@bp.get("/sensors/<code>")
def sensor_view(code: str) -> Response:
    schemas.plain(request.args)
    doc = readings.sensor_document(get_db(), schemas.code(code, "sensor"), _rules(), access=LayerAccess.for_request())
    return private(jsonify(doc))


@bp.get("/sensors/<code>/series")
def series_view(code: str) -> Response:
    range_name = schemas.series_range(request.args)
    doc = readings.series(get_db(), schemas.code(code, "sensor"), range_name, _rules(),
                          access=LayerAccess.for_request())
    return private(jsonify(doc))


@bp.get("/hazard-sources/<code>/sensors")
def hazard_source_view(code: str) -> Response:
    schemas.plain(request.args)
    doc = readings.hazard_source_sensors(get_db(), schemas.code(code, "hazard_source"), _rules(),
                                         access=LayerAccess.for_request())
    return private(jsonify(doc))


def _sample_dir():  # noqa: ANN202
    return video.sample_dir(resolve_path(current_app.config["ONEMAP"]["paths"]["var"]))


@bp.get("/video-points/<code>/stream")
def video_stream_view(code: str) -> Response:
    schemas.plain(request.args)
    cfg = (current_app.config["ONEMAP"].get("monitoring") or {}).get("video") or {}
    doc = video.stream(get_db(), schemas.code(code, "video_point"), cfg.get("streams") or {},
                       (_sample_dir() / video.SAMPLE_PLAYLIST).is_file(), access=LayerAccess.for_request())
    if doc["source"] == "sample":
        doc["url"] = request.root_path + "/" + video.SAMPLE_URL
    return private(jsonify(doc))


@bp.get("/video/sample/<name>")
def video_sample_view(name: str) -> Response:
    """The generated sample's playlist and segments (only those two kinds of file, by name)."""
    schemas.plain(request.args)
    if not schemas.SAMPLE_FILE.match(name) or not (_sample_dir() / name).is_file():
        raise NotFound(f"no sample file {name[:60]!r}", f"示例视频文件 {name[:60]} 不存在", details={"file": name[:60]})
    mimetype = "application/vnd.apple.mpegurl" if name.endswith(".m3u8") else "video/mp2t"
    return send_from_directory(_sample_dir(), name, mimetype=mimetype, max_age=60)


@lru_cache(maxsize=4)
def _labels(reference: str) -> dict[tuple[str, str], str]:
    return service.rule_labels(load_document(reference))


def labels() -> dict[tuple[str, str], str]:
    return _labels((current_app.config["ONEMAP"].get("monitoring") or {}).get("rules") or DEFAULT_RULES)


def _root() -> str:
    return request.script_root.rstrip("/") + "/"


def _alarm(alarm_id: int) -> dict[str, Any]:
    return service.get_alarm(get_db(), alarm_id, access=LayerAccess.for_request(), labels=labels(), root=_root())


@bp.get("/alarms")
def alarms_view() -> Response:
    query = schemas.alarm_query(request.args)
    return private(jsonify(service.list_alarms(get_db(), query, access=LayerAccess.for_request(),
                                                labels=labels(), root=_root())))


@bp.get("/alarms/<int:alarm_id>")
def alarm_view(alarm_id: int) -> Response:
    schemas.no_unknown(request.args, schemas.ONE_PARAMS)
    return private(jsonify(_alarm(alarm_id)))


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
    return private(jsonify(impact.plume_impact(conn, alarm, source, query, access=LayerAccess.for_request(),
                                                raster=raster, processor=processor)))


@bp.get("/warning-levels")
def warning_levels_view() -> Response:
    schemas.no_unknown(request.args, schemas.KPI_PARAMS)
    return private(jsonify(service.warning_levels(get_db(), access=LayerAccess.for_request())))


@bp.get("/kpis")
def kpis_view() -> Response:
    schemas.no_unknown(request.args, schemas.KPI_PARAMS)
    return private(jsonify(service.kpis(get_db(), access=LayerAccess.for_request())))
