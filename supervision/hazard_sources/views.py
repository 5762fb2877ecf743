"""The hazard source API under ``/api/hazard-sources`` (thin: parsing in ``schemas``, logic in ``service``).

  GET /api/hazard-sources/<code>/assessment[?exposed_population=N]
      the GB 18218-2018 identification and grading of the stored unit (S, R, α, grade, each chemical's q/Q and β),
      beside S, R and grade on record and the differences between them. 400 for a malformed code or parameter,
      404 for a code that is unknown or outside the caller's data scope, 409 for an inventory that cannot be graded.
"""

from __future__ import annotations

from flask import Blueprint, Response, jsonify, request

from access.policy.rowscope import LayerAccess
from core.database import get_db
from supervision.hazard_sources import schemas, service

bp = Blueprint("hazard_sources", __name__, url_prefix="/api/hazard-sources")


@bp.get("/<code>/assessment")
def assessment(code: str) -> Response:
    query = schemas.assessment_query(code, request.args)
    return jsonify(service.assessment(get_db(), query.code, access=LayerAccess.for_request(),
                                      exposed_population=query.exposed_population))
