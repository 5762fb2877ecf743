"""``/services``: the service index (OGC endpoints and layers); the one-map console is at ``/``."""

from __future__ import annotations

from flask import Blueprint, render_template

from layers.registry import GROUP_TITLES, default_registry

bp = Blueprint("home", __name__)


@bp.get("/services")
def index() -> str:
    registry = default_registry()
    groups = {key: [layer for layer in registry if layer.group == key] for key in GROUP_TITLES}
    return render_template("home.html", groups=groups, group_titles=GROUP_TITLES)
