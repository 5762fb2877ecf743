"""``/api/openapi.json``: the OpenAPI 3.0 document of OneMap's own JSON APIs (``openapi.yaml`` beside this file).

The document is data kept beside the code it describes; what comes from the layer registry (layer ids, resource
kinds) is filled in when it is served, so it cannot drift from the registry. ``tests/system/test_api_openapi.py``
fails when a route of the application is missing from it or it names a route that does not exist.
"""

from __future__ import annotations

import copy
from functools import cache
from pathlib import Path
from typing import Any

import yaml
from flask import Blueprint, Response, jsonify, request

bp = Blueprint("apidoc", __name__)
DOCUMENT = Path(__file__).with_name("openapi.yaml")


@cache
def _template() -> dict[str, Any]:
    return yaml.safe_load(DOCUMENT.read_text(encoding="utf-8"))


def api_document(root: str = "/") -> dict[str, Any]:
    """The document for an application served at ``root`` (its ``servers`` entry)."""
    from emergency.models import resource_layers
    from layers.registry import default_registry

    doc = copy.deepcopy(_template())
    doc["servers"] = [{"url": root}]
    params = doc["components"]["parameters"]
    params["layer_id"]["schema"]["enum"] = default_registry().ids
    params["kind"]["schema"]["enum"] = list(resource_layers())
    return doc


@bp.get("/api/openapi.json")
def openapi() -> Response:
    response = jsonify(api_document(request.script_root.rstrip("/") + "/"))
    response.cache_control.max_age = 300
    return response
