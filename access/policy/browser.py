"""Refusals for people in a browser (no Flask here: the policy gate is plain WSGI).

A page request from a browser that needs a sign-in is sent to the sign-in page with ``next=`` (a same-site path
only: an open redirect after sign-in is a phishing tool); other refusals of pages become a small HTML page. API,
OGC and script requests keep their problem+json or OGC exception answers: "a browser" means a GET or HEAD whose
``Accept`` prefers ``text/html`` to JSON, which ``fetch()`` (``*/*``), curl and GIS clients never send.
"""

from __future__ import annotations

import html
import re
from collections.abc import Callable, Mapping
from http import HTTPStatus
from typing import Any
from urllib.parse import quote

from werkzeug.datastructures import MIMEAccept
from werkzeug.http import parse_accept_header

from access.security_headers import NONCE_KEY

LOGIN_PATH = "/auth/login"
MAX_NEXT = 1000
# A path on this site: one leading "/", not "//" or "/\" (both mean another host to a browser), printable ASCII
# only (browsers drop tabs and newlines, so "/\t/evil.example" would become "//evil.example").
_SAME_SITE_PATH = re.compile(r"/(?![/\\])[!-~]*")
_PATH_SAFE = "/-._~!$&'()*+,;=:@%"

StartResponse = Callable[..., Any]


def safe_next(target: str | None) -> str:
    """``target`` when it is a path on this site, else ``/``."""
    if not target or len(target) > MAX_NEXT or "\\" in target or not _SAME_SITE_PATH.fullmatch(target):
        return "/"
    return target


def wants_html(environ: Mapping[str, Any]) -> bool:
    accept = parse_accept_header(environ.get("HTTP_ACCEPT"), MIMEAccept)
    html_q = accept.quality("text/html")
    return html_q > 0 and html_q > accept.quality("application/json")


def is_navigation(environ: Mapping[str, Any]) -> bool:
    """A browser loading a page (not a form post, not a script)."""
    return (environ.get("REQUEST_METHOD") or "GET").upper() in ("GET", "HEAD") and wants_html(environ)


def requested_path(environ: Mapping[str, Any]) -> str:
    """The path and query of this request, as a same-site ``next`` value."""
    raw = (environ.get("SCRIPT_NAME") or "") + (environ.get("PATH_INFO") or "/")
    # WSGI hands the path as latin-1 decoded bytes: re-encode them, then percent-encode what is not plain ASCII.
    path = quote(raw.encode("latin-1", "replace"), safe=_PATH_SAFE)
    query = environ.get("QUERY_STRING") or ""
    return safe_next(f"{path}?{quote(query, safe='=&%+;,/:@!$()*~.-_')}" if query else path)


def login_location(next_path: str) -> str:
    target = safe_next(next_path)
    return LOGIN_PATH if target == "/" else f"{LOGIN_PATH}?next={quote(target, safe='')}"


def login_redirect(start_response: StartResponse, environ: Mapping[str, Any]) -> list[bytes]:
    """303 to the sign-in page, which returns to this page afterwards."""
    location = login_location(requested_path(environ))
    body = (f'<!doctype html><meta charset="utf-8"><title>请先登录</title>'
            f'<p>请先<a href="{html.escape(location)}">登录</a>。</p>').encode()
    start_response("303 See Other", [("Location", location), ("Content-Type", "text/html; charset=utf-8"),
                                     ("Content-Length", str(len(body))), ("Cache-Control", "no-store")])
    return [body] if environ.get("REQUEST_METHOD") != "HEAD" else []


_TITLES = {401: "请先登录", 403: "无权访问", 404: "页面不存在"}


def page_body(status: int, message: str, environ: Mapping[str, Any]) -> bytes:
    """A self-contained zh-CN page for a refused page request."""
    title = _TITLES.get(status, HTTPStatus(status).phrase)
    nonce = environ.get(NONCE_KEY) or ""  # the Content-Security-Policy runs only inline styles with it
    links = ['<a href="/">返回一张图</a>']
    if status in (401, 403):
        label = "登录" if status == 401 else "切换账号"
        links.append(f'<a href="{html.escape(login_location(requested_path(environ)))}">{label}</a>')
    return (
        '<!doctype html>\n<html lang="zh-CN"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{html.escape(title)} · OneMap</title><style nonce=\"{html.escape(nonce)}\">body{{font-family:\"Noto Sans CJK SC\","
        '"Microsoft YaHei",sans-serif;background:#f4f6f9;color:#1d2733;margin:0}main{max-width:30rem;'
        "margin:4rem auto;background:#fff;padding:1.5rem 2rem;border-radius:6px}a{margin-right:1rem;color:#2a6bb3}"
        f"</style></head><body><main><h1>{status} {html.escape(title)}</h1><p>{html.escape(message)}</p>"
        f"<p>{''.join(links)}</p></main></body></html>\n").encode()


def error_page(start_response: StartResponse, environ: Mapping[str, Any], status: int, message: str) -> list[bytes]:
    body = page_body(status, message, environ)
    start_response(f"{status} {HTTPStatus(status).phrase}", [
        ("Content-Type", "text/html; charset=utf-8"), ("Content-Length", str(len(body))),
        ("Cache-Control", "no-store")])
    return [body] if environ.get("REQUEST_METHOD") != "HEAD" else []
