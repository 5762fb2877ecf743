"""REST API of incidents: ``/api/emergency/incidents/...`` (thin: parsing and status codes only)."""

from __future__ import annotations

from flask import Blueprint, Response, jsonify, request

from access.policy.rowscope import LayerAccess
from core.database import get_db
from core.identity import current_identity
from core.params import json_object
from emergency.incidents import service
from emergency.lifecycles import DISPATCH_LIFECYCLE, INCIDENT_LIFECYCLE

bp = Blueprint("incidents", __name__, url_prefix="/incidents")


def actor() -> str:
    return current_identity().username


def _body() -> dict:
    return json_object(request.get_json(silent=True))


def _access() -> LayerAccess:
    return LayerAccess.for_request()


@bp.get("/lifecycle")
def lifecycle() -> Response:
    """The declared state machines, so clients draw buttons from data rather than hard-coding them."""
    return jsonify({lc.name: {"initial": lc.initial, "transitions": dict(lc.transitions), "labels": dict(lc.labels)}
                    for lc in (INCIDENT_LIFECYCLE, DISPATCH_LIFECYCLE)})


@bp.post("")
def intake() -> tuple[Response, int]:
    incident = service.intake(get_db(), _body(), access=_access(), actor=actor())
    return jsonify(incident), 201


@bp.get("")
def list_incidents() -> Response:
    return jsonify(service.list_incidents(get_db(), request.args, access=_access()))


@bp.get("/<int:incident_id>")
def get_incident(incident_id: int) -> Response:
    return jsonify(service.get_incident(get_db(), incident_id, access=_access()))


@bp.patch("/<int:incident_id>")
def update_incident(incident_id: int) -> Response:
    return jsonify(service.update_incident(get_db(), incident_id, _body(), access=_access(), actor=actor()))


@bp.post("/<int:incident_id>/reports")
def add_report(incident_id: int) -> tuple[Response, int]:
    return jsonify(service.add_report(get_db(), incident_id, _body(), access=_access(), actor=actor())), 201


@bp.post("/<int:incident_id>/transitions")
def transition(incident_id: int) -> Response:
    body = _body()
    return jsonify(service.transition(get_db(), incident_id, body.get("to"), access=_access(), note=body.get("note"),
                                      actor=actor()))


@bp.get("/<int:incident_id>/history")
def history(incident_id: int) -> Response:
    service.get_incident(get_db(), incident_id, access=_access())  # 404 for an unknown or foreign incident
    return jsonify({"incident_id": incident_id, "history": service.history(get_db(), incident_id)})
