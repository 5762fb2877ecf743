"""The toy module's route, panel section, CLI group and configuration section (one file: it is a toy)."""

from __future__ import annotations

from typing import Any

import click
from flask import Blueprint, Response, current_app, jsonify

from core.config import ConfigSection, section_object
from core.panels import PanelContext, register_panel_section

bp = Blueprint("toy", __name__, url_prefix="/api/toy")

SECTION = ConfigSection("toy", section_object({"greeting": {"type": "string", "minLength": 1}}),
                        defaults="tests.toy_module:defaults.yaml")

PANEL_LAYER = "shelters"
PANEL_SECTION = "toy_note"


@bp.get("/hello")
def hello() -> Response:
    return jsonify({"module": "toy", "greeting": current_app.config["ONEMAP"]["toy"]["greeting"]})


def _note(feature_id: int, ctx: PanelContext) -> dict[str, Any]:
    return {"kind": "fields", "items": [{"label": {"zh-CN": "示例", "en": "Toy"}, "value": f"toy:{feature_id}"}]}


def register_sections() -> None:
    register_panel_section(PANEL_LAYER, PANEL_SECTION, "示例", "Toy", _note, order=90)


@click.group("toy")
def toy_cli() -> None:
    """Toy module commands."""


@toy_cli.command("hello")
def toy_hello() -> None:
    """Say hello from the toy module."""
    click.echo("hello from toy")
