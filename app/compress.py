"""gzip for the OGC mounts: GeoJSON, GML, vector tiles and capabilities documents shrink 4–10× on the wire.

pygeoapi can gzip by itself (``server.gzip``), but switching it on registers ``f=gzip`` as an output format in a
process-wide table; MapServer's CGI answers never are. One small WSGI wrapper handles both: it compresses a
complete (non-streaming) answer when the client accepts gzip, the content type is text-like or a vector tile, the
body is worth it and nobody encoded it already. PNG/JPEG tiles are left alone (already compressed).
"""

from __future__ import annotations

import gzip
from collections.abc import Callable, Iterable
from typing import Any

StartResponse = Callable[..., Any]
WSGIApp = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]

MIN_SIZE = 1024
LEVEL = 5  # the knee of size vs CPU for JSON/GML; level 9 saves ~3 % more for twice the time
COMPRESSIBLE = ("application/json", "application/geo+json", "application/problem+json", "application/ld+json",
                "application/vnd.mapbox-vector-tile", "application/gml+xml", "application/xml", "text/",
                "application/vnd.ogc.", "application/schema+json", "application/javascript",
                "application/openapi+json", "application/vnd.oai.openapi+json")


def accepts_gzip(environ: dict[str, Any]) -> bool:
    for part in (environ.get("HTTP_ACCEPT_ENCODING") or "").lower().split(","):
        coding, _, params = part.strip().partition(";")
        if coding.strip() in ("gzip", "*"):
            q = params.strip()
            return not (q.startswith("q=") and q[2:].strip() in ("0", "0.0", "0.00", "0.000"))
    return False


def _compressible(headers: list[tuple[str, str]]) -> bool:
    ctype = encoding = ""
    for name, value in headers:
        lower = name.lower()
        if lower == "content-type":
            ctype = value.lower()
        elif lower == "content-encoding":
            encoding = value.strip().lower()
    return encoding in ("", "identity") and ctype.startswith(COMPRESSIBLE) and "event-stream" not in ctype


class Gzip:
    """gzip what is worth it under ``prefixes`` (mounts whose answers are complete documents, not streams).

    Outermost in the stack: the policy gate rewrites capabilities documents and must see them uncompressed.
    """

    def __init__(self, app: WSGIApp, *, prefixes: tuple[str, ...], min_size: int = MIN_SIZE,
                 level: int = LEVEL) -> None:
        self.app, self.prefixes, self.min_size, self.level = app, prefixes, min_size, level

    def _applies(self, path: str) -> bool:
        return any(path == p or path.startswith(p + "/") for p in self.prefixes)

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        if not self._applies(environ.get("PATH_INFO") or "/"):
            return self.app(environ, start_response)  # streams (the SSE feed) must never be buffered
        if environ.get("REQUEST_METHOD") == "HEAD" or not accepts_gzip(environ):
            return self.app(environ, _vary(start_response))
        captured: dict[str, Any] = {}

        def capture(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Callable[[bytes], None]:
            captured.update(status=status, headers=headers, exc_info=exc_info)
            return lambda data: captured.setdefault("written", []).append(data)

        result = self.app(environ, capture)
        try:
            body = b"".join([*captured.get("written", []), *result])
        finally:
            close = getattr(result, "close", None)
            if close is not None:
                close()
        status, headers = captured["status"], list(captured["headers"])
        code = int(status[:3])
        if code >= 200 and code not in (204, 304) and len(body) >= self.min_size and _compressible(headers):
            body = gzip.compress(body, self.level, mtime=0)
            headers = [(k, v) for k, v in headers if k.lower() != "content-length"]
            headers += [("Content-Encoding", "gzip"), ("Content-Length", str(len(body)))]
            headers = [(k, f'W/{v}' if k.lower() == "etag" and not v.startswith("W/") else v) for k, v in headers]
        headers = _with_vary(headers)
        start_response(status, headers, captured.get("exc_info"))
        return [body]


def _with_vary(headers: list[tuple[str, str]]) -> list[tuple[str, str]]:
    for i, (name, value) in enumerate(headers):
        if name.lower() == "vary":
            if "accept-encoding" not in value.lower():
                headers[i] = (name, f"{value}, Accept-Encoding")
            return headers
    return [*headers, ("Vary", "Accept-Encoding")]


def _vary(start_response: StartResponse) -> StartResponse:
    """Caches in front must know the answer depends on Accept-Encoding, compressed or not."""

    def wrapped(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
        return start_response(status, _with_vary(list(headers)), exc_info)

    return wrapped


__all__ = ["Gzip", "accepts_gzip"]
