"""``/screen``: the dark large-screen page and its KPI endpoint (the map and live events are the console's)."""

from __future__ import annotations

from flask import Blueprint, Response, jsonify, render_template

from access.policy.rowscope import LayerAccess
from app.console.stats import screen_kpis
from app.console.views import page_boot
from core.database import get_db

bp = Blueprint("screen", __name__)


@bp.get("/screen")
def index() -> str:
    boot = page_boot("screen")
    return render_template("screen/index.html", boot=boot, s=boot["strings"], lang=boot["lang"])


# Under /screen, not /api: whoever may see the screen may read its figures (one policy family).
@bp.get("/screen/kpis")
def kpis() -> Response:
    response = jsonify(screen_kpis(get_db(), access=LayerAccess.for_request()))
    response.cache_control.no_store = True
    return response
