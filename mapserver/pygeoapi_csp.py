"""Give pygeoapi's HTML templates ``csp_nonce()``: the nonce of the response they are rendered for.

OneMap's Content-Security-Policy (``access/security_headers.py``) runs an inline ``<script>`` or ``<style>`` only with
the response's nonce. pygeoapi builds a new Jinja environment for every page (``pygeoapi.util.render_j2_template``)
and passes it no request, so its environment class is replaced by one that adds the global; the nonce comes from
the context variable the security-headers middleware binds for the request.

pygeoapi's tile matrix set pages pass its configuration where the template settings belong, so they were rendered
from pygeoapi's stock templates (CDN assets, scripts without the nonce) instead of OneMap's overrides: every
renderer falls back to ``server.templates`` when it is given no template path.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from functools import wraps
from typing import Any

from jinja2 import Environment


def _nonce() -> str:
    from access.security_headers import CURRENT_NONCE

    return CURRENT_NONCE.get() or ""


class NonceEnvironment(Environment):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.globals["csp_nonce"] = _nonce


def _with_template_path(render: Callable[..., str]) -> Callable[..., str]:
    @wraps(render)
    def render_j2_template(config: dict, tpl_config: Any, template: Any, data: dict, locale_: Any = None) -> str:
        if not (isinstance(tpl_config, dict) and "path" in tpl_config):
            tpl_config = config.get("server", {}).get("templates") or tpl_config
        return render(config, tpl_config, template, data, locale_)

    render_j2_template.onemap_patched = True  # type: ignore[attr-defined]
    return render_j2_template


# the modules that imported pygeoapi.util.render_j2_template by name
RENDERING_MODULES = ("pygeoapi.api", "pygeoapi.api.coverages", "pygeoapi.api.environmental_data_retrieval",
                     "pygeoapi.api.itemtypes", "pygeoapi.api.maps", "pygeoapi.api.processes",
                     "pygeoapi.api.stac", "pygeoapi.api.tiles")


def install() -> None:
    import pygeoapi.util

    pygeoapi.util.Environment = NonceEnvironment  # type: ignore[misc]
    for name in RENDERING_MODULES:
        try:
            module = importlib.import_module(name)
        except ImportError:  # an optional API module this pygeoapi does not have
            continue
        render = getattr(module, "render_j2_template", None)
        if render is not None and not getattr(render, "onemap_patched", False):
            module.render_j2_template = _with_template_path(render)  # type: ignore[attr-defined]
