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
    "access.authn.views:bp",
    "access.authn.api:bp",
    "access.security_views:bp",
    "access.audit.views:bp",
    "access.system_views:bp",
    "emergency.views:bp",
]

# Console feature-panel sections: each entry is a ``register()`` function calling
# ``core.panels.register_panel_section(...)``; run once when the app is built.
PANEL_SECTIONS: list[str] = [
    "app.console.sections:register",
    "emergency.console:register",
]

CLI_GROUPS: list[str] = [
    "access.cli:audit_group",
    "access.cli:user_group",
    "app.cli_tiles:tiles",
]


def load(spec: str) -> Any:
    module, _, attribute = spec.partition(":")
    return getattr(importlib.import_module(module), attribute)
