"""Filings over HTTP (thin: the rules are in ``service``, ``status``, ``grading`` and ``plans``).

  GET /api/filings/hazard-sources                 hazard sources in scope with their filing status (?status=)
  GET /api/filings/hazard-sources/<code>          one hazard source's filing status (filed / overdue / missing)
  GET /api/filings/emergency-plans/elements       the GB/T 29639-2020 elements an emergency plan filing lists

The filings themselves are cases of the case engine (``/api/cases``, case types ``hazard_source_filing`` and
``emergency_plan_filing``).
"""

from __future__ import annotations

from flask import Blueprint, Response, jsonify, request

from access.policy.rowscope import LayerAccess
from core.database import get_db
from core.responses import private
from supervision.filings import service

bp = Blueprint("filings", __name__, url_prefix="/api/filings")


@bp.get("/hazard-sources")
def hazard_sources() -> Response:
    return private(jsonify(service.hazard_sources(get_db(), request.args, access=LayerAccess.for_request())))


@bp.get("/hazard-sources/<code>")
def hazard_source_status(code: str) -> Response:
    return private(jsonify(service.hazard_source_status(get_db(), code, access=LayerAccess.for_request())))


@bp.get("/emergency-plans/elements")
def plan_elements() -> Response:
    return jsonify(service.plan_elements())
