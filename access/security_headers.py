"""Security headers on every response of the one WSGI application: Flask pages and APIs, the OGC mounts (pygeoapi,
MapServer, MapProxy) and every error, whoever wrote it (the auth middleware's 401, the gate's 403, a 404).

The Content-Security-Policy allows only this origin: every script, style sheet, font and image OneMap uses is
vendored under /static. Inline ``<script>`` and ``<style>`` elements run only with the nonce of their response,
which the templates read as ``csp_nonce()`` — Flask templates through a context processor, pygeoapi's through
``mapserver/pygeoapi_csp.py`` — so markup injected into a page does not run. Style *attributes* stay allowed
(``style-src-attr``): the pygeoapi pages and the map libraries' popups use them, and they cannot run code.
``frame-ancestors 'none'`` with ``X-Frame-Options: DENY`` (older browsers) keeps the console and the sign-in page
out of other sites' frames (click-jacking).
"""

from __future__ import annotations

import base64
import hashlib
import re
import secrets
from collections.abc import Callable, Iterable
from contextvars import ContextVar
from functools import lru_cache
from pathlib import Path
from typing import Any

from flask import Flask, request

NONCE_KEY = "onemap.csp_nonce"
# pygeoapi renders its templates without the WSGI environ: the middleware binds the request's nonce here too.
CURRENT_NONCE: ContextVar[str | None] = ContextVar("onemap_csp_nonce", default=None)

StartResponse = Callable[..., Any]
WSGIApp = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]


MAPSERVER_TEMPLATES = Path(__file__).resolve().parent.parent / "mapserver" / "templates"


@lru_cache(maxsize=1)
def static_style_hashes() -> str:
    """Hashes of the ``<style>`` blocks of MapServer's GetFeatureInfo templates: MapServer writes them as they are
    and cannot add a nonce, and their content never changes while the process runs."""
    found = []
    for path in sorted(MAPSERVER_TEMPLATES.glob("*.html")):
        for block in re.findall(r"<style>(.*?)</style>", path.read_text(encoding="utf-8"), re.S):
            digest = base64.b64encode(hashlib.sha256(block.encode()).digest()).decode()
            found.append(f"'sha256-{digest}'")
    return " ".join(found)


# Swagger UI (pygeoapi's API document page) writes <style> elements from its script and cannot be given a nonce:
# there, and only there, inline style elements are allowed. Its scripts stay under the nonce like everywhere.
INLINE_STYLE_PATHS = ("/ogcapi/openapi",)


def content_security_policy(nonce: str, *, inline_styles: bool = False) -> str:
    # a nonce in the list would make browsers ignore 'unsafe-inline', so the relaxed list has none
    styles = ("'self' 'unsafe-inline'" if inline_styles
              else f"'self' 'nonce-{nonce}' {static_style_hashes()}".rstrip())
    return "; ".join((
        "default-src 'self'",
        f"script-src 'self' 'nonce-{nonce}'",
        f"style-src {styles}",
        f"style-src-elem {styles}",
        "style-src-attr 'unsafe-inline'",
        # data: and blob: images are drawn by the page itself (map canvases, chart exports, icon sprites)
        "img-src 'self' data: blob:",
        "font-src 'self' data:",
        "connect-src 'self'",
        # the console's video player (hls.js) feeds the <video> element through Media Source Extensions: a blob: URL
        "media-src 'self' blob:",
        "worker-src 'self' blob:",
        "object-src 'none'",
        "base-uri 'self'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ))


def headers(nonce: str, path: str = "/") -> list[tuple[str, str]]:
    inline_styles = any(path == p or path.startswith(p + "/") for p in INLINE_STYLE_PATHS)
    return [
        ("Content-Security-Policy", content_security_policy(nonce, inline_styles=inline_styles)),
        ("X-Frame-Options", "DENY"),
        ("X-Content-Type-Options", "nosniff"),
        ("Referrer-Policy", "strict-origin-when-cross-origin"),
        ("Cross-Origin-Opener-Policy", "same-origin"),
    ]


OURS = frozenset(name.lower() for name, _ in headers("x"))


class SecurityHeaders:
    """WSGI middleware: the outermost layer, so nothing answers around it."""

    def __init__(self, app: WSGIApp) -> None:
        self.app = app

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        nonce = secrets.token_urlsafe(18)
        environ[NONCE_KEY] = nonce
        extra = headers(nonce, (environ.get("SCRIPT_NAME") or "") + (environ.get("PATH_INFO") or ""))

        def start(status: str, response_headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            # ours replace whatever a mount set (MapServer or pygeoapi never weaken them)
            kept = [(k, v) for k, v in response_headers if k.lower() not in OURS]
            return start_response(status, kept + extra, exc_info)

        token = CURRENT_NONCE.set(nonce)
        try:
            return self.app(environ, start)
        finally:
            CURRENT_NONCE.reset(token)


def csp_nonce() -> str:
    """The nonce of the current response, for ``<script nonce="{{ csp_nonce() }}">`` in a template."""
    return request.environ.get(NONCE_KEY) or CURRENT_NONCE.get() or ""


def init_app(app: Flask) -> None:
    app.jinja_env.globals["csp_nonce"] = csp_nonce
    app.wsgi_app = SecurityHeaders(app.wsgi_app)  # type: ignore[method-assign]
