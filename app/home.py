"""``/``: the service index a newcomer lands on (the one-map console replaces it when it lands)."""

from __future__ import annotations

from flask import Blueprint, render_template

from layers.registry import GROUP_TITLES, default_registry

bp = Blueprint("home", __name__)


@bp.get("/")
def index() -> str:
    registry = default_registry()
    groups = {key: [layer for layer in registry if layer.group == key] for key in GROUP_TITLES}
    return render_template("home.html", groups=groups, group_titles=GROUP_TITLES)
