"""The Content-Security-Policy in a real browser (Chromium): the console, the large screen and the other HTML pages
(sign-in, service index, pygeoapi's pages) load with no policy violation, and no page can be framed.

Violations are caught twice: the ``securitypolicyviolation`` DOM event (recorded from before any script of the page
runs) and Chromium's console message about the policy.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from tests.conftest import free_port
from tests.system.bad_input_support import sample_layer
from tests.system.test_console_browser import LOCAL_HOSTS, browser, signed_in  # noqa: F401  (fixtures)

pytestmark = pytest.mark.system

RECORD_VIOLATIONS = """
window.__cspViolations = [];
document.addEventListener('securitypolicyviolation', (e) => {
  window.__cspViolations.push(`${e.violatedDirective} ${e.blockedURI} ${e.sourceFile}:${e.lineNumber}`);
});
"""


def _context(chromium, url: str, session):  # noqa: ANN001, ANN202
    context = chromium.new_context(viewport={"width": 1600, "height": 900}, locale="zh-CN")
    if session:
        context.add_cookies([{"name": session[0], "value": session[1], "url": url}])
    context.add_init_script(RECORD_VIOLATIONS)

    def guard(route) -> None:  # noqa: ANN001  (nothing leaves this machine)
        host = urlsplit(route.request.url).hostname or ""
        if route.request.url.startswith(("data:", "blob:")) or host in LOCAL_HOSTS:
            route.continue_()
        else:
            route.abort()

    context.route("**/*", guard)
    return context


def _violations(page, console: list[str]) -> list[str]:  # noqa: ANN001
    recorded = page.evaluate("window.__cspViolations || []")
    return recorded + [m for m in console if "Content Security Policy" in m or "Content-Security-Policy" in m]


def _open(context, url: str, ready: str | None):  # noqa: ANN001, ANN202
    page = context.new_page()
    console: list[str] = []
    page.on("console", lambda m: console.append(m.text))
    response = page.goto(url)
    assert response is not None and response.ok, (url, response and response.status)
    assert "frame-ancestors 'none'" in response.headers["content-security-policy"]
    if ready:
        page.wait_for_function(ready, timeout=30_000)
    page.wait_for_load_state("load")
    page.wait_for_timeout(1000)  # scripts that run after load (Swagger UI, maps) have their turn
    return page, console


@pytest.mark.parametrize(("path", "ready"), [
    # arrow functions: Playwright evaluates a bare expression with eval(), which the policy refuses
    ("/", "() => window.onemap && window.onemap.ready === true && window.onemap.renderComplete === true"),
    ("/screen", "() => window.onemap && window.onemap.ready === true && window.onemap.kpis !== undefined"),
])
def test_console_and_screen_load_without_a_policy_violation(browser, live_server: str, signed_in,  # noqa: ANN001, F811
                                                            path: str, ready: str) -> None:
    context = _context(browser, live_server, signed_in)
    try:
        page, console = _open(context, live_server + path, ready)
        # the page really ran: its module script drew the map (so a blocked script would have shown here)
        assert page.evaluate("document.querySelectorAll('canvas').length") > 0
        assert _violations(page, console) == []
    finally:
        context.close()


def test_other_pages_load_without_a_policy_violation(browser, live_server: str, signed_in) -> None:  # noqa: ANN001, F811
    layer = sample_layer()
    pages = ["/auth/login", "/services", "/ogcapi?f=html", "/ogcapi/collections?f=html",
             f"/ogcapi/collections/{layer}?f=html", f"/ogcapi/collections/{layer}/items?f=html&limit=5",
             f"/ogcapi/collections/{layer}/items/1?f=html", "/ogcapi/openapi?f=html", "/ogcapi/processes?f=html",
             "/ogcapi/TileMatrixSets?f=html", "/ogcapi/conformance?f=html"]
    found: dict[str, list[str]] = {}
    context = _context(browser, live_server, signed_in)
    try:
        for path in pages:
            page, console = _open(context, live_server + path, None)
            if problems := _violations(page, console):
                found[path] = problems
            page.close()
    finally:
        context.close()
    assert found == {}


@pytest.fixture(scope="module")
def other_site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    """Another origin on this machine (its own port) whose pages may try to frame OneMap's."""
    root = tmp_path_factory.mktemp("other-site")
    handler = partial(SimpleHTTPRequestHandler, directory=str(root))
    server = ThreadingHTTPServer(("127.0.0.1", free_port()), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", root
    finally:
        server.shutdown()
        thread.join(timeout=10)


def test_the_sign_in_page_cannot_be_framed(browser, live_server: str, other_site) -> None:  # noqa: ANN001, F811
    origin, root = other_site
    (root / "frame.html").write_text(f'<iframe id="f" src="{live_server}/auth/login" width="800" height="600">'
                                     "</iframe>", encoding="utf-8")
    context = _context(browser, live_server, None)
    try:
        page = context.new_page()
        # the page on its own shows the sign-in form, so the check below can tell a blocked frame
        page.goto(f"{live_server}/auth/login")
        assert page.locator("input[type=password]").count() == 1
        page.goto(f"{origin}/frame.html")
        page.wait_for_timeout(1500)
        assert page.frame_locator("#f").locator("input[type=password]").count() == 0
        # Chromium replaces a frame refused by frame-ancestors / X-Frame-Options with its error page
        assert [f.url for f in page.frames if f is not page.main_frame] == ["chrome-error://chromewebdata/"]
    finally:
        context.close()
