"""The hidden-danger statistics API under ``/api/hidden-dangers`` (thin: parsing in ``schemas``, figures in ``stats``).

  GET /api/hidden-dangers/stats?by=district|grid_cell|industry|industry_code|category|level|state|source&from=&to=
      total, open, overdue, listed, closed, dismissed and the rectification rate per group and in sum
  GET /api/hidden-dangers/trend?months=24
      reported and closed per month (China's months), the current month last
  GET /api/hidden-dangers/grid-heat
      grid cells as GeoJSON with their open / overdue / listed hidden dangers (the console's heat layer)

Every figure counts only the rows of the ``hidden_dangers`` layer the caller may read; 400 names a bad parameter.
"""

from __future__ import annotations

from flask import Blueprint, Response, jsonify, request

from access.policy.rowscope import LayerAccess
from core.database import get_db
from core.responses import private
from supervision.hidden_dangers import schemas, stats

bp = Blueprint("hidden_dangers", __name__, url_prefix="/api/hidden-dangers")


@bp.get("/stats")
def stats_view() -> Response:
    query = schemas.stats_query(request.args)
    return private(jsonify(stats.stats(get_db(), query, access=LayerAccess.for_request())))


@bp.get("/trend")
def trend_view() -> Response:
    months = schemas.trend_months(request.args)
    return private(jsonify(stats.trend(get_db(), months, access=LayerAccess.for_request())))


@bp.get("/grid-heat")
def grid_heat_view() -> Response:
    schemas.heat_query(request.args)
    response = jsonify(stats.grid_heat(get_db(), access=LayerAccess.for_request()))
    response.mimetype = "application/geo+json"
    return private(response)
