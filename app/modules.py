"""The modules plugged into OneMap, declared (not scanned) — core features use the same hooks as extensions.

Each entry is ``"dotted.module:attribute"``. A business module adds its blueprint, CLI group, console panel
sections or realtime topics by adding a line here.
"""

from __future__ import annotations

import importlib
from typing import Any

BLUEPRINTS: list[str] = [
    "app.health:bp",
    "app.home:bp",
]

CLI_GROUPS: list[str] = []


def load(spec: str) -> Any:
    module, _, attribute = spec.partition(":")
    return getattr(importlib.import_module(module), attribute)
