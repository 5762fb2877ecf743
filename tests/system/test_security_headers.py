"""Security headers on every response: every route of the Flask app and of the OGC API mount, every OGC request the
gate passes to MapServer, MapProxy's paths, as an anonymous caller and as a signed-in dispatcher, and the errors
each layer of the stack writes itself (404 of each mount, the auth middleware's 401, the gate's 403, a 400).

Every HTML answer is also read: each inline ``<script>``/``<style>`` must carry the nonce of its own response's
Content-Security-Policy (or, for MapServer's fixed templates, a hash the policy lists), and no element may carry an
inline event handler or a ``javascript:`` URL — the browser would refuse them (tests/system/
test_security_headers_browser.py shows it does).
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
from collections.abc import Iterator
from html.parser import HTMLParser
from typing import Any

import pytest

from access.security_headers import INLINE_STYLE_PATHS
from tests.system.bad_input_support import (
    ROLES,
    SESSION_ENDING,
    Route,
    flask_routes,
    ogcapi_routes,
    ows_routes,
    tiles_routes,
    walk_app,
    walk_clients,
)

pytestmark = pytest.mark.system
EXECUTABLE = {"", "text/javascript", "module", "application/javascript"}


@pytest.fixture(scope="module")
def scratch_db(pg_cluster, template_url: str) -> Iterator[str]:  # noqa: ANN001
    from tests.conftest import clone_database, drop_database

    yield clone_database(pg_cluster, "t_security_headers")
    drop_database(pg_cluster, "t_security_headers")


@pytest.fixture(scope="module")
def app(scratch_db: str, demo_artifacts):  # noqa: ANN001, ANN201
    return walk_app(scratch_db, demo_artifacts)


@pytest.fixture(scope="module")
def clients(app) -> dict[str, Any]:  # noqa: ANN001
    return walk_clients(app)


@pytest.fixture(scope="module")
def routes(app, clients) -> list[Route]:  # noqa: ANN001
    api_doc = clients["anonymous"].get("/api/openapi.json").get_json()
    ogc_doc = json.loads(clients["dispatcher"].get("/ogcapi/openapi?f=json").get_data())
    found = [*flask_routes(app, api_doc), *ogcapi_routes(app, ogc_doc), *ows_routes(), *tiles_routes()]
    assert len({r.id for r in found}) > 100  # generated from the application, not a handful of examples
    assert {r.surface for r in found} == {"rest", "page", "ogcapi", "ows", "tiles"}
    return found


def header_problems(response: Any, path: str = "") -> list[str]:
    h = response.headers
    problems = []
    csp = h.get("Content-Security-Policy", "")
    directives = {d.split()[0]: d.split()[1:] for d in csp.split(";") if d.strip()}
    script = directives.get("script-src", [])
    if directives.get("default-src") != ["'self'"]:
        problems.append(f"default-src {directives.get('default-src')}")
    if not script or script[0] != "'self'" or "'unsafe-inline'" in script or "'unsafe-eval'" in script \
            or not all(s == "'self'" or s.startswith("'nonce-") for s in script):
        problems.append(f"script-src {script}")
    inline_styles = "'unsafe-inline'" in directives.get("style-src", []) + directives.get("style-src-elem", [])
    if inline_styles and not path.startswith(INLINE_STYLE_PATHS):  # only Swagger UI's page needs them
        problems.append("inline style elements allowed")
    if directives.get("frame-ancestors") != ["'none'"]:
        problems.append(f"frame-ancestors {directives.get('frame-ancestors')}")
    if directives.get("object-src") != ["'none'"]:
        problems.append(f"object-src {directives.get('object-src')}")
    for name, value in (("X-Frame-Options", "DENY"), ("X-Content-Type-Options", "nosniff")):
        if h.get(name) != value:
            problems.append(f"{name}: {h.get(name)!r}")
    if h.get("Referrer-Policy") not in ("strict-origin-when-cross-origin", "no-referrer"):
        problems.append(f"Referrer-Policy: {h.get('Referrer-Policy')!r}")
    return problems


class _Inline(HTMLParser):
    """Inline scripts and styles (with their nonce and text), inline handlers and javascript: URLs of a page."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.blocks: list[tuple[str, str | None, str]] = []  # (tag, nonce, text)
        self.handlers: list[str] = []
        self._open: tuple[str, str | None] | None = None
        self._text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        for name, value in attrs:
            if name.startswith("on") or (value or "").strip().lower().startswith("javascript:"):
                self.handlers.append(f"<{tag} {name}={value!r}>")
        inline_script = tag == "script" and "src" not in a and (a.get("type") or "").lower() in EXECUTABLE
        if inline_script or tag == "style":
            self._open, self._text = (tag, a.get("nonce")), []

    def handle_data(self, data: str) -> None:
        if self._open:
            self._text.append(data)

    def handle_endtag(self, tag: str) -> None:
        if self._open and tag == self._open[0]:
            self.blocks.append((tag, self._open[1], "".join(self._text)))
            self._open = None


def html_problems(response: Any) -> list[str]:
    csp = response.headers.get("Content-Security-Policy", "")
    nonce = m.group(1) if (m := re.search(r"'nonce-([^']+)'", csp)) else None
    parser = _Inline()
    parser.feed(response.get_data(as_text=True))
    problems = [f"inline handler {h}" for h in parser.handlers]
    for tag, block_nonce, text in parser.blocks:
        digest = base64.b64encode(hashlib.sha256(text.encode()).digest()).decode()
        style_ok = tag == "style" and (f"'sha256-{digest}'" in csp or "'unsafe-inline'" in csp.split("style-src-elem")[1]
                                       .split(";")[0])
        if not (nonce and block_nonce == nonce) and not style_ok:
            problems.append(f"<{tag}> not allowed by the policy (nonce {block_nonce!r}): {text.strip()[:60]!r}")
    return problems


def _send(client: Any, route: Route, accept: str) -> Any:
    query = dict(route.fixed_query)
    if route.surface == "ogcapi" and accept == "text/html":
        query["f"] = "html"
    return client.open(route.path, method=route.method, query_string=query, headers={"Accept": accept})


def _check(failures: list[str], what: str, response: Any, seen: dict[str, int]) -> None:
    try:
        path = what.split()[1].split("?")[0]
        failures += [f"{what} {response.status_code}: {p}" for p in header_problems(response, path)]
        ctype = response.headers.get("Content-Type") or ""
        seen[str(response.status_code)[0] + "xx"] = seen.get(str(response.status_code)[0] + "xx", 0) + 1
        if ctype.startswith("text/html"):
            seen["html"] = seen.get("html", 0) + 1
            failures += [f"{what} {response.status_code}: {p}" for p in html_problems(response)]
    finally:
        response.close()  # never read an event stream that accepted the request: it does not end


@pytest.mark.parametrize("role", ROLES)
def test_every_route_answers_with_the_security_headers(clients, routes, role: str) -> None:  # noqa: ANN001
    client, failures, seen = clients[role], [], {}
    for route in routes:
        if role == "dispatcher" and (route.method, route.path) in SESSION_ENDING:
            continue
        for accept in ("application/json", "text/html"):
            _check(failures, f"{route.id} [{accept}]", _send(client, route, accept), seen)
    assert failures == [], "\n".join(failures[:40])
    # the walk reached answers of every kind, HTML pages included (else it checked little)
    assert seen.get("2xx", 0) > 50 and seen.get("4xx", 0) > 10 and seen.get("html", 0) > 10, seen


def test_errors_of_every_layer_carry_the_headers(app, clients) -> None:  # noqa: ANN001
    from tests.system.bad_input_support import sample_layer

    anonymous, dispatcher = clients["anonymous"], clients["dispatcher"]
    layer = sample_layer()
    cases = [
        (anonymous, "GET", "/no-such-page", {}, None, 404),
        (anonymous, "GET", "/ogcapi/no-such-thing", {}, None, 404),
        (anonymous, "GET", "/ogcapi/collections/no_such_layer/items?f=html", {"Accept": "text/html"}, None, 404),
        (anonymous, "GET", "/tiles/no-such-thing", {}, None, 404),
        (anonymous, "GET", "/static/no-such-file.js", {}, None, 404),
        (anonymous, "GET", "/api/console/layers", {"Authorization": "Bearer not-a-token"}, None, 401),
        (anonymous, "GET", "/admin", {}, None, 401),
        (dispatcher, "GET", "/api/admin/users", {}, None, 403),
        (dispatcher, "GET", "/security", {"Accept": "text/html"}, None, 403),
        (anonymous, "POST", "/api/auth/login", {"Content-Type": "application/json"}, b"{", 400),
        (anonymous, "GET", "/ows?SERVICE=WMS&REQUEST=GetMap&LAYERS=" + layer + "&WIDTH=x", {}, None, 400),
        (anonymous, "GET", f"/ogcapi/collections/{layer}/items?limit=x", {}, None, 400),
    ]
    failures: list[str] = []
    for client, method, path, headers, body, status in cases:
        response = client.open(path, method=method, headers=headers, data=body)
        assert response.status_code == status, (path, response.status_code, response.get_data()[:200])
        _check(failures, f"{method} {path}", response, {})
    assert failures == [], "\n".join(failures)


def test_each_response_has_its_own_nonce(clients) -> None:  # noqa: ANN001
    first = clients["anonymous"].get("/login").headers["Content-Security-Policy"]
    second = clients["anonymous"].get("/login").headers["Content-Security-Policy"]
    nonce = re.compile(r"'nonce-([^']+)'")
    assert nonce.search(first) and nonce.search(first).group(1) != nonce.search(second).group(1)
