"""The ``/ows`` WSGI bridge: every request goes to the real ``mapserv`` binary with a server-chosen mapfile, kept
running under FastCGI between requests (mapserver/fcgi.py).

The bridge is the first line of defence for the OGC endpoints: clients never choose the mapfile (``map=`` is
refused), oversized bodies get 413, obviously bad bounding boxes and image sizes get an OGC exception before
MapServer allocates anything, and MapServer's own exception reports (sent with HTTP 200) become 400 so that
clients and monitoring see a client error. A watchdog kills ``mapserv`` after ``timeout`` seconds (504).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

from mapserver import fcgi
from mapserver.mapfile import MAPSERV, MAXSIZE
from mapserver.owscheck import RequestProblem, check_request, exception_body
from mapserver.public_base import BASE_KEY, from_request

log = logging.getLogger(__name__)

StartResponse = Callable[..., Any]
WSGIApp = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]

DEFAULT_TIMEOUT = 60.0
MAX_BODY = 1 << 20  # 1 MiB: the largest WFS filter we have seen from QGIS is a few kB
MAX_HEADER_BYTES = 64 << 10
CHUNK = 64 << 10
SLD_NAME = re.compile(r"^/styles/([a-z][a-z0-9_]*)\.sld$")
# the root element's name, past the declaration, comments and a DOCTYPE (WMS 1.1.1 exceptions carry one)
_FIRST_ELEMENT = re.compile(rb"^\s*(?:<\?.*?\?>\s*|<!--.*?-->\s*|<!DOCTYPE[^>\[]*(?:\[.*?\])?\s*>\s*)*"
                            rb"<([A-Za-z_][\w.:-]*)", re.S)
# mapserv's HTML page for a request it could not take as an OGC one ("MapServer Message", its version banner)
_HTML_MESSAGE = re.compile(rb"^\s*<HTML>\s*<HEAD>\s*<TITLE>MapServer Message</TITLE>", re.I)
_EXCEPTION_ROOTS = {b"ServiceExceptionReport", b"ExceptionReport"}
_SECRET = re.compile(r"(password|passfile)=\S+", re.I)
_PASS_HEADERS = {"content-type", "content-disposition", "cache-control", "expires", "last-modified", "etag"}
_CGI_ENV = ("SERVER_PROTOCOL", "REMOTE_ADDR")


def _exception_response(start_response: StartResponse, problem: RequestProblem) -> list[bytes]:
    body, content_type = exception_body(problem)
    start_response(f"{problem.status} {_REASONS.get(problem.status, 'Error')}",
                   [("Content-Type", content_type), ("Content-Length", str(len(body)))])
    return [body]


_REASONS = {200: "OK", 400: "Bad Request", 404: "Not Found", 405: "Method Not Allowed",
            413: "Payload Too Large", 500: "Internal Server Error", 502: "Bad Gateway", 503: "Service Unavailable", 504: "Gateway Timeout"}


class _Run(fcgi.Exchange):
    """One request to a pooled ``mapserv`` (mapserver/fcgi.py); its stderr is logged, passwords masked."""

    def finish(self) -> None:
        if self.finished:
            return
        super().finish()
        if self.stderr:
            text = _SECRET.sub(r"\1=***", self.stderr.decode("utf-8", "replace")).strip()
            log.info("mapserv stderr: %s", text[:2000])


def _read_head(run: _Run) -> tuple[bytes, bytes] | None:
    """CGI header block and the start of the body, or None if mapserv died (or was killed) first."""
    buf = b""
    while True:
        # the earliest terminator wins: binary bodies may contain either byte sequence later on
        found = [(i, sep) for sep in (b"\r\n\r\n", b"\n\n") if (i := buf.find(sep)) >= 0]
        if found:
            i, sep = min(found)
            return buf[:i], buf[i + len(sep):]
        if len(buf) > MAX_HEADER_BYTES:
            return None
        chunk = run.read()
        if not chunk:
            return None
        buf += chunk


def _parse_headers(block: bytes) -> tuple[int, list[tuple[str, str]]]:
    status = 200
    headers: list[tuple[str, str]] = []
    for line in block.decode("latin-1").splitlines():
        name, _, value = line.partition(":")
        name, value = name.strip(), value.strip()
        if name.lower() == "status":
            m = re.match(r"(\d{3})", value)
            status = int(m.group(1)) if m else 500
        elif name.lower() in _PASS_HEADERS:
            headers.append((name, value))
    return status, headers


def _body_stream(run: _Run, first: bytes) -> Iterator[bytes]:
    try:
        if first:
            yield first
        while chunk := run.read():
            yield chunk
        if run.timed_out:
            log.warning("mapserv killed at the deadline while streaming; the response is truncated")
    finally:
        run.finish()


class _Response:
    """WSGI iterable whose close() always reaps the process, even if the client disconnects mid-stream."""

    def __init__(self, chunks: Iterator[bytes], run: _Run) -> None:
        self._chunks = chunks
        self._run = run

    def __iter__(self) -> Iterator[bytes]:
        return self._chunks

    def close(self) -> None:
        close = getattr(self._chunks, "close", None)
        if close:
            close()
        self._run.finish()


def _read_body(environ: dict[str, Any], limit: int) -> bytes | None:
    """The request body, or None if it is larger than ``limit`` (read at most limit + 1 bytes)."""
    stream = environ.get("wsgi.input")
    length = environ.get("CONTENT_LENGTH") or ""
    if length.strip():
        try:
            n = int(length)
        except ValueError:
            return None
        if n > limit or n < 0:
            return None
        return stream.read(n) if stream is not None and n else b""
    if stream is None:
        return b""
    data = stream.read(limit + 1)
    return None if len(data) > limit else data


def _classify(status: int, head: bytes, content_type: str) -> int:
    """HTTP status for a mapserv answer: OGC exception reports become 400 (or 503 when the database is down)."""
    if status >= 400:
        return status
    if content_type.startswith("text/html") and _HTML_MESSAGE.match(head):
        # the banner alone: no OGC request was recognised; a message about loading the map: our side is broken
        return 500 if b"msLoadMap" in head or b"msCGILoadMap" in head else 400
    if not any(t in content_type for t in ("xml", "se_xml")):
        return status
    m = _FIRST_ELEMENT.match(head)
    if not m or m.group(1).split(b":")[-1] not in _EXCEPTION_ROOTS:
        return status
    if b"Database connection failed" in head or b"could not connect to server" in head:
        return 503
    return 400


def make_ows_app(mapfile: Path, conf: Path, *, mapserv: Path = MAPSERV, timeout: float = DEFAULT_TIMEOUT,
                 max_body: int = MAX_BODY, sld_dir: Path | None = None, processes: int = 2) -> WSGIApp:
    """A WSGI app for ``/ows`` (mount it there): KVP/POST OGC requests to ``mapserv`` running ``mapfile``.

    ``GET <mount>/styles/<layer>.sld`` serves the compiled SLD 1.1 from ``sld_dir`` (default: ``sld/`` next to
    the mapfile, written by :func:`mapserver.build.build_mapserver`). Up to ``processes`` ``mapserv`` run at once,
    kept between requests (mapserver/fcgi.py); the app's ``pool`` attribute holds them.
    """
    mapfile, conf = Path(mapfile).resolve(), Path(conf).resolve()
    slds = Path(sld_dir).resolve() if sld_dir is not None else mapfile.parent / "sld"
    base_env = {"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8", "MAPSERVER_CONFIG_FILE": str(conf),
                "MS_MAPFILE": str(mapfile), "GATEWAY_INTERFACE": "CGI/1.1"}
    pool = fcgi.Pool([str(mapserv)], base_env, size=processes)

    def serve_sld(layer_id: str, start_response: StartResponse) -> list[bytes]:
        path = slds / f"{layer_id}.sld"
        if not path.is_file():
            return _exception_response(start_response, RequestProblem(
                404, "LayerNotDefined", "layer", f"no style for layer {layer_id!r}"))
        body = path.read_bytes()
        start_response("200 OK", [("Content-Type", "application/vnd.ogc.sld+xml; charset=UTF-8"),
                                  ("Content-Length", str(len(body)))])
        return [body]

    def app(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        method = environ.get("REQUEST_METHOD", "GET").upper()
        path = environ.get("PATH_INFO", "") or ""
        query = environ.get("QUERY_STRING", "") or ""
        params = parse_qsl(query, keep_blank_values=True)
        m = SLD_NAME.match(path)
        if m and method in ("GET", "HEAD"):
            return serve_sld(m.group(1), start_response)
        if path not in ("", "/"):
            return _exception_response(start_response, RequestProblem(404, "NoApplicableCode", None,
                                                                        f"no OGC endpoint at {path!r}"))
        if method not in ("GET", "HEAD", "POST"):
            return _exception_response(start_response, RequestProblem(
                405, "OperationNotSupported", "request", f"HTTP method {method} is not supported"))
        body = b""
        content_type = environ.get("CONTENT_TYPE", "") or ""
        if method == "POST":
            read = _read_body(environ, max_body)
            if read is None:
                # POST bodies are WFS/WCS XML requests, so answer in the OWS dialect unless the URL says otherwise
                return _exception_response(start_response, RequestProblem(
                    413, "NoApplicableCode", None, f"request body larger than {max_body} bytes",
                    service=_service(params) or "WFS"))
            body = read
            if "x-www-form-urlencoded" in content_type:
                params += parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True)
        problem = check_request(params, body if method == "POST" else b"", content_type, max_size=MAXSIZE)
        if problem is not None:
            return _exception_response(start_response, problem)

        env = dict(base_env)
        env.update({"REQUEST_METHOD": "GET" if method == "HEAD" else method, "QUERY_STRING": query,
                     "SCRIPT_NAME": environ.get("SCRIPT_NAME", "") or "/", "PATH_INFO": ""})
        env.update({k: str(environ[k]) for k in _CGI_ENV if environ.get(k)})
        # MapServer writes its own address into capabilities and GML schemaLocation from these CGI variables (the
        # mapfile names none): the public base of this request, never a client's X-Forwarded-* header.
        base = environ.get(BASE_KEY) or from_request(environ)
        env.update({"SERVER_NAME": base.host, "SERVER_PORT": str(base.port)})
        if base.scheme == "https":
            env["HTTPS"] = "on"
        if method == "POST":
            env["CONTENT_TYPE"] = content_type or "application/xml"
            env["CONTENT_LENGTH"] = str(len(body))
        try:
            run = _Run(pool, env, body, timeout)
        except fcgi.WorkerGone as exc:
            log.error("mapserv: %s", exc)
            return _exception_response(start_response, RequestProblem(
                502, "NoApplicableCode", None, "the map server could not be started", service=_service(params)))
        head = _read_head(run)
        if head is None:
            timed_out = run.timed_out
            run.finish()
            if timed_out:
                return _exception_response(start_response, RequestProblem(
                    504, "NoApplicableCode", None, f"the map server did not answer within {timeout:g} s",
                    service=_service(params)))
            return _exception_response(start_response, RequestProblem(
                502, "NoApplicableCode", None, "the map server failed without an answer", service=_service(params)))
        block, first = head
        while len(first) < 4096 and (more := run.read()):
            first += more  # enough of the body to recognise an exception report
        status, headers = _parse_headers(block)
        ctype = next((v for k, v in headers if k.lower() == "content-type"), "application/octet-stream")
        if ctype.startswith("text/") and "charset" not in ctype:
            # MapServer's HTML templates are UTF-8 but it does not say so; browsers would guess wrong.
            headers = [(k, f"{v}; charset=UTF-8" if k.lower() == "content-type" else v) for k, v in headers]
        status = _classify(status, first, ctype)
        start_response(f"{status} {_REASONS.get(status, 'Error')}", headers)
        if method == "HEAD":
            run.finish()
            return []
        return _Response(_body_stream(run, first), run)

    app.pool = pool  # type: ignore[attr-defined]
    return app


def _service(params: list[tuple[str, str]]) -> str | None:
    return next((v.upper() for k, v in params if k.lower() == "service"), None)


__all__ = ["make_ows_app", "DEFAULT_TIMEOUT", "MAX_BODY"]
