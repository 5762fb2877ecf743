"""The records API under ``/api/records`` (thin: parsing and status codes; logic in ``service`` and ``imports``).

  GET   /api/records/<collection>                        list (status, district_code, q, limit, offset)
  POST  /api/records/<collection>                        create → 201
  GET   /api/records/<collection>/<key>                  one record with its version
  PATCH /api/records/<collection>/<key>                  edit {version, fields…, lon, lat, crs} (409 when stale)
  POST  /api/records/<collection>/<key>/deactivate       {version, reason?}
  POST  /api/records/<collection>/<key>/reactivate       {version, reason?}
  GET   /api/records/<collection>/<key>/history          who changed what, when (old → new)
  POST  /api/records/<collection>/import?dry_run=&crs=   .csv / .xlsx, all or nothing (422 listing row and column)
  GET   /api/records/industries                          the GB/T 4754-2017 sections and divisions
  GET   /api/records/<collection>/schema                 JSON Schema of the editable fields (the console's forms)
  GET   /api/records/strings                             the records console plug-in's UI strings (?lang=)

``collection`` is ``enterprises`` (key: USCC) or ``hazard-sources`` (key: code).
"""

from __future__ import annotations

from flask import Blueprint, Response, jsonify, request

from access.policy.rowscope import LayerAccess
from core.database import get_db
from core.errors import InvalidInput, NotFound
from core.geo.points import parse_crs
from core.identity import current_identity
from core.params import bool_arg, json_object
from supervision.records import forms, imports, service
from supervision.records.industry import DIVISIONS, SECTIONS, section_of
from supervision.records.schemas import ENTERPRISE, HAZARD_SOURCE, Kind

bp = Blueprint("records", __name__, url_prefix="/api/records")
COLLECTIONS = {"enterprises": ENTERPRISE, "hazard-sources": HAZARD_SOURCE}
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def _kind(collection: str) -> Kind:
    kind = COLLECTIONS.get(collection)
    if kind is None:
        raise NotFound(f"no record collection {collection!r} (enterprises, hazard-sources)",
                       f"不存在档案类别 {collection}", details={"collection": collection})
    return kind


def _access() -> LayerAccess:
    return LayerAccess.for_request()


def _body() -> dict:
    return json_object(request.get_json(silent=True))


@bp.get("/industries")
def industries() -> Response:
    return jsonify({"sections": [{"code": k, "name": zh, "name_en": en, "divisions": [f"{n:02d}" for n in
                                  range(lo, hi + 1)]} for k, (zh, en, lo, hi) in SECTIONS.items()],
                    "divisions": [{"code": k, "name": v, "section": section_of(k)} for k, v in DIVISIONS.items()]})


@bp.get("/strings")
def strings() -> Response:
    """``?lang=`` decides, as on the console (which always sends it); the default is Chinese."""
    return jsonify(forms.ui_strings(request.args.get("lang", "")))


@bp.get("/<collection>/schema")
def schema(collection: str) -> Response:
    return jsonify(forms.edit_schema(_kind(collection)))


@bp.get("/<collection>")
def list_records(collection: str) -> Response:
    return jsonify(service.list_records(get_db(), _kind(collection), request.args, access=_access()))


@bp.post("/<collection>")
def create_record(collection: str) -> tuple[Response, int]:
    kind = _kind(collection)
    return jsonify(service.create_record(get_db(), kind, _body(), access=_access(),
                                         actor=current_identity().username)), 201


@bp.get("/<collection>/<key>")
def get_record(collection: str, key: str) -> Response:
    return jsonify(service.get_record(get_db(), _kind(collection), key, access=_access()))


@bp.patch("/<collection>/<key>")
def update_record(collection: str, key: str) -> Response:
    kind = _kind(collection)
    return jsonify(service.update_record(get_db(), kind, key, _body(), access=_access(),
                                         actor=current_identity().username))


@bp.post("/<collection>/<key>/deactivate")
def deactivate(collection: str, key: str) -> Response:
    kind = _kind(collection)
    return jsonify(service.set_status(get_db(), kind, key, "deactivated", _body(), access=_access(),
                                      actor=current_identity().username))


@bp.post("/<collection>/<key>/reactivate")
def reactivate(collection: str, key: str) -> Response:
    kind = _kind(collection)
    return jsonify(service.set_status(get_db(), kind, key, "active", _body(), access=_access(),
                                      actor=current_identity().username))


@bp.get("/<collection>/<key>/history")
def history(collection: str, key: str) -> Response:
    return jsonify(service.get_history(get_db(), _kind(collection), key, access=_access()))


@bp.post("/<collection>/import")
def import_records(collection: str) -> tuple[Response, int]:
    """multipart/form-data with a ``file`` (.csv/.xlsx), or the file as the raw body; ``?crs=…&dry_run=``."""
    kind = _kind(collection)
    crs = parse_crs(request.args.get("crs") or request.form.get("crs"))
    dry_run = bool_arg(request.args, "dry_run")
    upload = request.files.get("file")
    if upload is not None:
        filename, content = upload.filename or "", upload.read()
    elif request.content_length:
        filename = {"text/csv": "upload.csv", XLSX: "upload.xlsx"}.get(request.mimetype, "")
        content = request.get_data()
    else:
        raise InvalidInput("file", "a .csv or .xlsx file (multipart field 'file' or the request body)",
                           details={"reason": "required"})
    result = imports.import_records(get_db(), kind, filename, content, crs, access=_access(),
                                    actor=current_identity().username, dry_run=dry_run)
    return jsonify(result), 200 if dry_run else 201
