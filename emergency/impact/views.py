"""REST API of impact analysis: ``/api/emergency/incidents/<id>/impact[/<run>]`` (thin: parsing and status codes)."""

from __future__ import annotations

from flask import Blueprint, Response, current_app, jsonify, request

from access.policy.rowscope import LayerAccess
from core.config import resolve_path
from core.database import get_db
from core.identity import current_identity
from core.params import json_object
from core.responses import private
from emergency.impact import report, service

bp = Blueprint("impact", __name__)


def _raster():  # noqa: ANN202 - a Path
    return resolve_path(current_app.config["ONEMAP"]["paths"]["var"]) / "data" / "population.tif"


@bp.post("/incidents/<int:incident_id>/impact")
def run_impact(incident_id: int) -> tuple[Response, int]:
    body = json_object(request.get_json(silent=True))
    run = service.run_impact(get_db(), incident_id, body, access=LayerAccess.for_request(), raster=_raster(),
                             actor=current_identity().username)
    return jsonify(run), 201


@bp.get("/incidents/<int:incident_id>/impact")
def list_runs(incident_id: int) -> Response:
    runs = service.list_runs(get_db(), incident_id, access=LayerAccess.for_request())
    return jsonify({"incident_id": incident_id, "runs": runs})


@bp.get("/incidents/<int:incident_id>/impact/<int:run>")
def get_run(incident_id: int, run: int) -> Response:
    return jsonify(service.get_run(get_db(), incident_id, run, access=LayerAccess.for_request()))


@bp.get("/incidents/<int:incident_id>/impact/<int:run>/report")
def run_report(incident_id: int, run: int) -> Response:
    """The run's situation report (辅助决策专报) as PDF."""
    body = report.report_pdf(get_db(), incident_id, run, access=LayerAccess.for_request(),
                             generated_by=current_identity().username)
    response = Response(body, mimetype="application/pdf")
    response.headers["Content-Disposition"] = f"inline; filename=impact-{incident_id}-{run}.pdf"
    return private(response)
