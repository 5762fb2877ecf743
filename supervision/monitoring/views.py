"""The monitoring API under ``/api/monitoring`` (thin: parsing in ``schemas``, reading in ``readings``).

  GET /api/monitoring/sensors/<code>                     the sensor, its latest value, active alarms, set points
  GET /api/monitoring/sensors/<code>/series?range=hour|day|week
                                                         min / avg / max per bucket for a chart, with the above
  GET /api/monitoring/hazard-sources/<code>/sensors      the latest values of a hazard source's sensors
  GET /api/monitoring/video-points/<code>/stream         the HLS URL a camera plays (video.py)
  GET /api/monitoring/video/sample/<file>                the demo's generated HLS sample (playlist, segments)

Scoped by the caller's read scope of the sensors (hazard_sources) layer: a code outside it is 404, as an unknown one.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flask import Blueprint, Response, current_app, jsonify, request, send_from_directory

from access.policy.rowscope import LayerAccess
from core.config import resolve_path
from core.database import get_db
from core.errors import NotFound
from core.manifest import load_document
from supervision.monitoring import readings, schemas, video

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
    return _private(jsonify(doc))


@bp.get("/video/sample/<name>")
def video_sample_view(name: str) -> Response:
    """The generated sample's playlist and segments (only those two kinds of file, by name)."""
    schemas.plain(request.args)
    if not schemas.SAMPLE_FILE.match(name) or not (_sample_dir() / name).is_file():
        raise NotFound(f"no sample file {name[:60]!r}", f"示例视频文件 {name[:60]} 不存在", details={"file": name[:60]})
    mimetype = "application/vnd.apple.mpegurl" if name.endswith(".m3u8") else "video/mp2t"
    return send_from_directory(_sample_dir(), name, mimetype=mimetype, max_age=60)
