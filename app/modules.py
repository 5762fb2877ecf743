"""The modules plugged into OneMap, declared (not scanned) — core features use the same hooks as extensions.

Each entry is ``"dotted.module:attribute"``. A business module adds its blueprint, CLI group, console panel
sections or realtime topics by adding a line here.
"""

from __future__ import annotations

import importlib
from typing import Any

BLUEPRINTS: list[str] = [
    "app.health:bp",
    "app.apidoc:bp",
    "app.home:bp",
    "app.console.views:bp",
    "app.console.events:bp",
    "app.screen.views:bp",
    "app.auth.views:bp",
    "app.auth.api:bp",
    "app.auth.security_views:bp",
    "app.auth.audit_views:bp",
    "app.auth.system_views:bp",
    "emergency.views:bp",
]

# Console feature-panel sections: each entry is a ``register()`` function calling
# ``app.console.panels.register_panel_section(...)``; run once when the app is built.
PANEL_SECTIONS: list[str] = [
    "app.console.sections:register",
    "emergency.console:register",
]

CLI_GROUPS: list[str] = [
    "app.auth.cli:audit_group",
    "app.auth.cli:user_group",
    "app.cli_tiles:tiles",
]


def load(spec: str) -> Any:
    module, _, attribute = spec.partition(":")
    return getattr(importlib.import_module(module), attribute)
