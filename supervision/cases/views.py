"""REST API of cases: ``/api/cases/...`` (thin: parsing and status codes; the rules are in service/engine)."""

from __future__ import annotations

from flask import Blueprint, Response, current_app, jsonify, request, send_file

from access.policy.rowscope import LayerAccess
from core.database import get_db
from core.errors import InvalidInput
from core.identity import current_identity
from core.params import json_object
from supervision.cases import files, registry, service, worklists
from supervision.cases.engine import scope_sql

bp = Blueprint("cases", __name__, url_prefix="/api/cases")


def _config() -> dict:
    settings = current_app.config["ONEMAP"]
    registry.configure(settings)
    return settings["cases"]


def _access() -> LayerAccess:
    return LayerAccess.for_request()


@bp.get("/types")
def types() -> Response:
    _config()
    return jsonify(service.types_for(current_identity(), _access()))


@bp.get("/types/<case_type>")
def type_definition(case_type: str) -> Response:
    _config()
    return jsonify(service.type_definition(case_type))


@bp.post("")
def open_case() -> tuple[Response, int]:
    config = _config()
    body = json_object(request.get_json(silent=True))
    key = request.headers.get("Idempotency-Key")
    if key is None:
        return jsonify(service.open_case(get_db(), body, access=_access(), identity=current_identity(),
                                         config=config)), 201
    # a repeated submission with the same key gets the case its first submission opened (200), not a second one
    case, replayed = service.open_case_once(get_db(), body, key, access=_access(), identity=current_identity(),
                                            config=config)
    return jsonify(case), 200 if replayed else 201


@bp.get("")
def listing() -> Response:
    config = _config()
    return jsonify(worklists.listing(get_db(), request.args, access=_access(), identity=current_identity(),
                                     config=config))


@bp.get("/counts")
def counts() -> Response:
    config = _config()
    return jsonify(worklists.counts(get_db(), access=_access(), identity=current_identity(), config=config))


@bp.get("/<int:case_id>")
def detail(case_id: int) -> Response:
    _config()
    return jsonify(service.detail(get_db(), case_id, access=_access(), identity=current_identity()))


@bp.get("/<int:case_id>/events")
def events(case_id: int) -> Response:
    _config()
    return jsonify({"case_id": case_id, "events": service.events(get_db(), case_id, access=_access())})


@bp.get("/<int:case_id>/verify")
def verify(case_id: int) -> Response:
    _config()
    return jsonify(service.verify_chain(get_db(), case_id, access=_access()))


@bp.post("/<int:case_id>/transitions")
def transition(case_id: int) -> Response:
    config = _config()
    body = json_object(request.get_json(silent=True))
    return jsonify(service.transition(get_db(), case_id, body, access=_access(), identity=current_identity(),
                                      config=config))


@bp.post("/files")
def upload() -> tuple[Response, int]:
    config = _config()
    upload = request.files.get("file")
    if upload is None:
        raise InvalidInput("file", "a multipart/form-data upload in the field 'file'", details={"reason": "required"})
    conn = get_db()
    with conn.begin():
        stored = files.store(conn, config, upload.stream, name=upload.filename,
                             uploaded_by=current_identity().username)
    return jsonify(stored), 201


@bp.get("/files/<sha256>")
def download(sha256: str) -> Response:
    config = _config()
    path, media_type = files.open_file(get_db(), config, sha256.lower(),
                                       scope_sql(service.read_scope(_access())))
    return send_file(path, mimetype=media_type, max_age=3600, etag=sha256)
