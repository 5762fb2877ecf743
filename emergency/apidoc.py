"""The emergency module's part of /api/openapi.json (``openapi.yaml`` beside this file), with its resource kinds."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from core.yamlload import parse

DOCUMENT = Path(__file__).with_name("openapi.yaml")


def document() -> dict[str, Any]:
    """The fragment, the ``kind`` path parameter limited to the dispatchable layers' kinds (from the registry)."""
    from emergency.models import resource_layers

    doc = parse(DOCUMENT.read_text(encoding="utf-8"))
    doc["components"]["parameters"]["kind"]["schema"]["enum"] = list(resource_layers())
    return doc
