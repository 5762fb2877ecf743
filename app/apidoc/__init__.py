"""``/api/openapi.json``: the OpenAPI 3.0 document of OneMap's own JSON APIs.

The application's own routes are described in ``openapi.yaml`` beside this file; each module describes its own in
the fragment its manifest names (``Manifest.openapi``: tags, paths, components), merged in here. The documents are
data kept beside the code they describe; what comes from the layer registry (layer ids; a module's resource kinds)
is filled in when served, so it cannot drift from the registry. ``tests/system/test_api_openapi.py`` fails when a
route of the application is missing from the document or it names a route that does not exist.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from functools import cache
from pathlib import Path
from typing import Any

from flask import Blueprint, Response, current_app, jsonify, request

from core.yamlload import parse

bp = Blueprint("apidoc", __name__)
DOCUMENT = Path(__file__).with_name("openapi.yaml")


@cache
def _template() -> dict[str, Any]:
    return parse(DOCUMENT.read_text(encoding="utf-8"))


class DocumentError(Exception):
    """Two parts of the document declare the same path or component differently."""


def merged_document(config: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The app's document with every active module's fragment merged in."""
    from core.manifest import load_document, manifests
    from layers.registry import default_registry

    doc = copy.deepcopy(_template())
    doc["components"]["parameters"]["layer_id"]["schema"]["enum"] = default_registry().ids
    for manifest in manifests(config):
        if manifest.openapi:
            _merge(doc, load_document(manifest.openapi), manifest.name)
    return doc


def _merge(doc: dict[str, Any], fragment: dict[str, Any], name: str) -> None:
    known = {t["name"] for t in doc.get("tags", [])}
    doc.setdefault("tags", []).extend(t for t in fragment.get("tags") or () if t["name"] not in known)
    for path, item in (fragment.get("paths") or {}).items():
        if path in doc["paths"]:
            raise DocumentError(f"module {name}: path {path} is already described")
        doc["paths"][path] = item
    for section, entries in (fragment.get("components") or {}).items():
        target = doc["components"].setdefault(section, {})
        for key, value in entries.items():
            if key in target and target[key] != value:
                raise DocumentError(f"module {name}: components.{section}.{key} differs from another part")
            target[key] = value


def api_document(root: str = "/", config: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The document for an application served at ``root`` (its ``servers`` entry)."""
    doc = merged_document(config)
    doc["servers"] = [{"url": root}]
    return doc


@bp.get("/api/openapi.json")
def openapi() -> Response:
    response = jsonify(api_document(request.script_root.rstrip("/") + "/", current_app.config["ONEMAP"]))
    response.cache_control.max_age = 300
    return response
