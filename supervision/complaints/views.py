"""Complaints over HTTP (thin: the rules are in ``filing`` and ``handling``).

  POST /api/public/complaints                  public: file a complaint (JSON, or multipart/form-data with the JSON
                                               in the part ``complaint`` and up to N image parts ``photos``);
                                               201 with the number and the query code (shown once); a retry with
                                               the same Idempotency-Key answers 200 with the same
  GET  /api/public/complaints/<number>         public: state and published reply; the query code in the header
                                               X-Query-Code (never in the URL: it would end up in logs and history)
  GET  /api/complaints/<id>                    staff: the complaint in the caller's data scope (never its reporter)
  GET  /api/complaints/reporters/<id>          the city's complaints office: the reporter (audited)
  GET  /public/complaints                      public page: file a complaint (map pick or address, photos)
  GET  /public/complaints/status               public page: follow a complaint with its number and query code

How often one address may file or ask is the rate-limit rules ``complaint_filing`` and ``complaint_queries`` of
``auth.rate_limits`` (429 with Retry-After, before the request reaches these views).
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, current_app, jsonify, render_template, request

from access.policy.rowscope import LayerAccess
from core import i18n
from core.database import get_db
from core.errors import DomainError, InvalidInput
from core.identity import current_identity
from core.jsonbody import is_json_type, loads
from core.responses import private
from supervision.cases import registry
from supervision.complaints import filing, handling, ui_strings

public_bp = Blueprint("public_complaints", __name__, url_prefix="/api/public/complaints")
bp = Blueprint("complaints", __name__, url_prefix="/api/complaints")
pages_bp = Blueprint("complaint_pages", __name__, template_folder="templates", static_folder="static",
                     static_url_path="/public/complaints/static")
MULTIPART_FIELDS = {"complaint", "csrf_token"}


class TooLarge(DomainError):
    http_status = 413
    code = "request_too_large"


class UnsupportedType(DomainError):
    http_status = 415
    code = "unsupported_media_type"


def _configs() -> tuple[dict[str, Any], dict[str, Any]]:
    settings = current_app.config["ONEMAP"]
    registry.configure(settings)
    return settings["cases"], settings["complaints"]


def _body(limit: int) -> tuple[Any, list[filing.Photo]]:
    """The filing and its photos from a JSON or a multipart body, within ``limit`` bytes."""
    if request.content_length is not None and request.content_length > limit:
        raise TooLarge(f"the request is larger than {limit} bytes", f"提交内容超过 {limit // 1_000_000} MB 上限",
                       details={"max_bytes": limit})
    request.max_content_length = limit   # a body without Content-Length is cut off at the limit too (413)
    mime = request.mimetype
    if is_json_type(mime):
        return request.get_json(), []
    if mime == "multipart/form-data":
        # (a part without a name is listed under None: named here as "" so that it is refused like any other)
        unknown = sorted(str(k or "") for k in set(request.form) - MULTIPART_FIELDS) + \
            sorted(str(k or "") for k in set(request.files) - {"photos"})
        if unknown:
            raise InvalidInput(unknown[0], "the parts complaint (JSON) and photos (images)",
                               details={"reason": "unknown part"})
        raw = request.form.get("complaint")
        if raw is None:
            raise InvalidInput("complaint", "a form part holding the complaint as JSON", details={"reason": "required"})
        photos = [filing.Photo(f.stream, f.filename) for f in request.files.getlist("photos") if f.filename or
                  f.content_length]
        return loads(raw), photos
    raise UnsupportedType(f"send the complaint as application/json or multipart/form-data, not {mime or 'nothing'}",
                          "请以 application/json 或 multipart/form-data 提交举报", details={"content_type": mime})


@public_bp.post("")
def file_complaint() -> tuple[Response, int]:
    cases_config, config = _configs()
    body, photos = _body(int(config["max_request_bytes"]))
    answer, replayed = filing.file_complaint(get_db(), body, photos, cases_config=cases_config, config=config,
                                             idempotency_key=request.headers.get("Idempotency-Key"))
    return private(jsonify(answer)), 200 if replayed else 201


@public_bp.get("/<number>")
def complaint_status(number: str) -> Response:
    _configs()
    return private(jsonify(filing.status(get_db(), number, request.headers.get("X-Query-Code"))))


@bp.get("/<int:case_id>")
def complaint(case_id: int) -> Response:
    _configs()
    return private(jsonify(handling.staff_view(get_db(), case_id, access=LayerAccess.for_request())))


@bp.get("/reporters/<int:case_id>")
def reporter(case_id: int) -> Response:
    _configs()
    return private(jsonify(handling.reporter(get_db(), case_id, access=LayerAccess.for_request(),
                                             identity=current_identity())))


def _city_centre() -> list[float]:
    """Where the pick map opens: the middle of the city's districts."""
    from sqlalchemy import text

    row = get_db().execute(text("SELECT ST_X(c), ST_Y(c) FROM (SELECT ST_Centroid(ST_Extent(geom)::geometry) c "
                                "FROM districts) s")).one()
    return [round(row[0] or 0.0, 5), round(row[1] or 0.0, 5)]


def _page(template: str, page: str) -> str:
    lang = i18n.normalise_lang(request.args.get("lang"))
    _cases_config, config = _configs()
    root = request.script_root.rstrip("/") + "/"
    boot = {"page": page, "lang": lang, "root": root, "strings": ui_strings.strings(lang),
            "categories": ui_strings.categories(lang), "maxPhotos": config["max_photos"],
            "basemap": root + "tiles/wmts/basemap/webmercator/{z}/{x}/{y}.png", "center": _city_centre()}
    return render_template(template, boot=boot, s=boot["strings"], lang=lang,
                           lang_other="zh-CN" if lang == "en" else "en")


@pages_bp.get("/public/complaints")
def file_page() -> str:
    return _page("complaints/file.html", "file")


@pages_bp.get("/public/complaints/status")
def status_page() -> str:
    return _page("complaints/status.html", "status")
