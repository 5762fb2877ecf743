"""REST API of routing and dispatch (thin: parsing and status codes only).

``/api/emergency/nearest-resources``, ``/api/emergency/isochrones``, ``/api/emergency/incidents/<id>/dispatch``,
``/api/emergency/dispatch-orders/<id>``, ``/api/emergency/incidents/<id>/material-requests``.
"""

from __future__ import annotations

from collections.abc import Mapping

from flask import Blueprint, Response, current_app, jsonify, request

from access.policy.rowscope import LayerAccess
from core.database import get_db
from core.errors import InvalidInput
from core.geo.points import parse_crs, to_storage
from core.identity import current_identity
from core.params import float_arg, int_arg, json_object
from emergency.dispatch import orders, service
from emergency.incidents.service import get_incident
from emergency.resources.schemas import parse_kinds

bp = Blueprint("dispatch", __name__)


def _access() -> LayerAccess:
    return LayerAccess.for_request()


def _where(args: Mapping[str, str]) -> tuple[float, float]:
    """The query point: ``lon``/``lat`` (+ ``crs``) or ``incident_id`` (of an incident the caller may read)."""
    if args.get("incident_id"):
        incident = get_incident(get_db(), int_arg(args, "incident_id", 0, 1, 2**31 - 1), access=_access())
        return incident["lon"], incident["lat"]
    for name in ("lon", "lat"):
        if args.get(name) is None:
            raise InvalidInput(name, "lon and lat (with crs), or incident_id", details={"reason": "required"})
    return to_storage(args["lon"], args["lat"], parse_crs(args.get("crs")))


def _snap_limit(args: Mapping[str, str]) -> float:
    """``snap_limit_m`` (1..``emergency.max_snap_limit_m``), default ``emergency.snap_limit_m`` (configuration)."""
    conf = current_app.config["ONEMAP"]["emergency"]
    return float_arg(args, "snap_limit_m", float(conf["snap_limit_m"]), 1.0, float(conf["max_snap_limit_m"]))


@bp.get("/nearest-resources")
def nearest_resources() -> Response:
    args = request.args
    kinds = parse_kinds(args.get("kinds"))
    limit = int_arg(args, "limit", 10, 1, 100)
    lon, lat = _where(args)
    return jsonify(service.nearest_resources(get_db(), lon, lat, kinds, limit, _snap_limit(args), access=_access()))


@bp.get("/isochrones")
def isochrones() -> Response:
    args = request.args
    minutes = service.parse_minutes(args.get("minutes"))
    direction = args.get("direction", "to")
    if direction not in ("to", "from"):
        raise InvalidInput("direction", "to (responders reaching the point, default) or from", value=direction)
    lon, lat = _where(args)
    body = service.isochrone_collection(get_db(), lon, lat, minutes, towards=direction == "to",
                                        snap_limit_m=_snap_limit(args))
    return jsonify(body)


@bp.post("/incidents/<int:incident_id>/dispatch")
def dispatch(incident_id: int) -> tuple[Response, int]:
    body = json_object(request.get_json(silent=True))
    order = orders.create_order(get_db(), incident_id, body, access=_access(), actor=current_identity().username)
    return jsonify(order), 201


@bp.get("/incidents/<int:incident_id>/dispatch")
def list_orders(incident_id: int) -> Response:
    return jsonify({"incident_id": incident_id, "orders": orders.list_orders(get_db(), incident_id, access=_access())})


@bp.get("/dispatch-orders/<int:order_id>")
def get_order(order_id: int) -> Response:
    return jsonify(orders.get_order(get_db(), order_id, access=_access()))


@bp.post("/dispatch-orders/<int:order_id>/transitions")
def transition_order(order_id: int) -> Response:
    body = json_object(request.get_json(silent=True))
    return jsonify(orders.transition_order(get_db(), order_id, body.get("to"), access=_access(),
                                           note=body.get("note"), actor=current_identity().username))


@bp.post("/incidents/<int:incident_id>/material-requests")
def request_material(incident_id: int) -> tuple[Response, int]:
    body = json_object(request.get_json(silent=True))
    material = orders.request_material(get_db(), incident_id, body, access=_access(),
                                       actor=current_identity().username)
    return jsonify(material), 201


@bp.get("/incidents/<int:incident_id>/material-requests")
def list_material_requests(incident_id: int) -> Response:
    requests = orders.list_material_requests(get_db(), incident_id, access=_access())
    return jsonify({"incident_id": incident_id, "requests": requests})
