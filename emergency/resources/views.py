"""REST API of emergency resources: ``/api/emergency/resources/...`` (thin: parsing and status codes only)."""

from __future__ import annotations

from flask import Blueprint, Response, jsonify, request

from access.policy.rowscope import LayerAccess
from core.database import get_db
from core.errors import InvalidInput
from core.geo.points import parse_crs
from core.params import bool_arg, json_object
from emergency.resources import imports, inventory, service
from emergency.resources.schemas import parse_kinds, resource_layer

bp = Blueprint("resources", __name__, url_prefix="/resources")


def _access() -> LayerAccess:
    return LayerAccess.for_request()


@bp.get("/statistics")
def statistics() -> Response:
    return jsonify(service.statistics(get_db(), parse_kinds(request.args.get("kinds")), access=_access()))


@bp.get("/<kind>")
def list_resources(kind: str) -> Response:
    return jsonify(service.list_resources(get_db(), kind, request.args, access=_access()))


@bp.post("/<kind>")
def create_resource(kind: str) -> tuple[Response, int]:
    resource_layer(kind)
    body = json_object(request.get_json(silent=True))
    return jsonify(service.create_resource(get_db(), kind, body, access=_access())), 201


@bp.get("/<kind>/<int:resource_id>")
def get_resource(kind: str, resource_id: int) -> Response:
    return jsonify(service.get_resource(get_db(), kind, resource_id, access=_access()))


@bp.patch("/<kind>/<int:resource_id>")
def update_resource(kind: str, resource_id: int) -> Response:
    body = json_object(request.get_json(silent=True))
    return jsonify(service.update_resource(get_db(), kind, resource_id, body, access=_access()))


@bp.post("/<kind>/import")
def import_resources(kind: str) -> tuple[Response, int]:
    """multipart/form-data with a ``file`` (.csv/.xlsx), or the file as the raw body; ``?crs=…&dry_run=``."""
    resource_layer(kind)
    crs = parse_crs(request.args.get("crs") or request.form.get("crs"))
    dry_run = bool_arg(request.args, "dry_run")
    upload = request.files.get("file")
    if upload is not None:
        filename, content = upload.filename or "", upload.read()
    elif request.content_length:
        kinds = {"text/csv": "upload.csv",
                 "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": "upload.xlsx"}
        filename, content = kinds.get(request.mimetype, ""), request.get_data()
    else:
        raise InvalidInput("file", "a .csv or .xlsx file (multipart field 'file' or the request body)",
                           details={"reason": "required"})
    result = imports.import_resources(get_db(), kind, filename, content, crs, access=_access(), dry_run=dry_run)
    return jsonify(result), 200 if dry_run else 201


@bp.get("/depot/<int:depot_id>/inventory")
def list_inventory(depot_id: int) -> Response:
    return jsonify(inventory.list_inventory(get_db(), depot_id, access=_access()))


@bp.post("/depot/<int:depot_id>/inventory")
def add_inventory(depot_id: int) -> tuple[Response, int]:
    body = json_object(request.get_json(silent=True))
    return jsonify(inventory.add_inventory(get_db(), depot_id, body, access=_access())), 201


@bp.patch("/depot/<int:depot_id>/inventory/<int:inventory_id>")
def update_inventory(depot_id: int, inventory_id: int) -> Response:
    body = json_object(request.get_json(silent=True))
    return jsonify(inventory.update_inventory(get_db(), depot_id, inventory_id, body, access=_access()))
