"""Every refusal of the gate and of the authentication middleware is written here, in the dialect of its surface.

On a mount the mount's adapter writes the body (OGC exception reports on ``/ows`` and ``/tiles``, OGC API exceptions
on ``/ogcapi``); on Flask routes it is problem+json — except to a person in a browser asking for a page, who gets the
sign-in page (401) or an HTML page (see :mod:`access.policy.browser`).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Sequence
from http import HTTPStatus
from typing import Any

from access.policy import browser
from access.policy.mounts import Mount, Refusal, mount_of
from core.errors import PROBLEM_TYPE_BASE, preferred_language

StartResponse = Callable[..., Any]
WWW_AUTHENTICATE = 'Basic realm="OneMap", charset="UTF-8"'


def lang(environ: dict[str, Any]) -> str:
    return "en" if preferred_language(environ.get("HTTP_ACCEPT_LANGUAGE")) == "en" else "zh"


def flask_surface(path: str) -> str:
    return "rest" if path.startswith("/api/") else "page"


def surface_of(environ: dict[str, Any], mounts: Sequence[Mount]) -> tuple[Mount | None, str]:
    """The mount and surface a request is for by its path alone, for refusals that come before classification."""
    path = environ.get("PATH_INFO", "") or "/"
    mount, _ = mount_of(path, mounts)
    return mount, mount.surface() if mount is not None else flask_surface(path)


def problem_body(refusal: Refusal, environ: dict[str, Any]) -> bytes:
    snake = re.sub(r"(?<!^)(?=[A-Z])", "_", refusal.code).lower()
    return json.dumps({"type": PROBLEM_TYPE_BASE + snake, "title": HTTPStatus(refusal.status).phrase,
                       "status": refusal.status, "code": snake,
                       "detail": refusal.message_en if lang(environ) == "en" else refusal.message_zh},
                      ensure_ascii=False).encode()


def respond(start_response: StartResponse, environ: dict[str, Any], refusal: Refusal, *, mount: Mount | None,
            surface: str, headers: Iterable[tuple[str, str]] = (), status_line: str | None = None) -> list[bytes]:
    """Send ``refusal`` (``headers`` are added; a 401 on a mount challenges for Basic unless they already do)."""
    extra = list(headers)

    def start(status: str, response_headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
        return start_response(status, [*response_headers, *extra], exc_info)

    if mount is not None:
        body, ctype = mount.refusal_body(refusal, surface)
    elif surface == "page" and browser.wants_html(environ):
        if refusal.status == 401 and browser.is_navigation(environ):
            return browser.login_redirect(start, environ)
        message = refusal.message_en if lang(environ) == "en" else refusal.message_zh
        return browser.error_page(start, environ, refusal.status, message)
    else:
        body, ctype = problem_body(refusal, environ), "application/problem+json"
    out = [("Content-Type", ctype), ("Content-Length", str(len(body))), ("Cache-Control", "no-store")]
    if refusal.status == 401 and mount is not None and not any(k.lower() == "www-authenticate" for k, _ in extra):
        out.append(("WWW-Authenticate", WWW_AUTHENTICATE))  # desktop GIS prompts for credentials on this
    start(status_line or f"{refusal.status} {HTTPStatus(refusal.status).phrase}", out)
    return [body]

__all__ = ["WWW_AUTHENTICATE", "flask_surface", "lang", "problem_body", "respond", "surface_of"]
