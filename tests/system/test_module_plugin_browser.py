"""The console starts every active module's console plug-in (Manifest.console_scripts) through the plug-in interface
of main.js: the toy module (tests/toy_module/), named only by ``modules.extra``, runs beside the emergency module's,
sharing the console's own modules (one boot.js, fetched once), with no error in the browser."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.conftest import free_port, serving
from tests.system.test_console_browser import browser, open_page, pages, signed_in  # noqa: F401 - fixtures

pytestmark = pytest.mark.system


@pytest.fixture(scope="module")
def toy_server(demo_db: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    from app import create_app
    from core.panels import unregister_panel_section
    from tests.toy_module.views import PANEL_LAYER, PANEL_SECTION

    port = free_port()
    base = f"http://127.0.0.1:{port}"
    app = create_app({"database": {"url": demo_db}, "paths": {"var": str(tmp_path_factory.mktemp("toy-live-var"))},
                      "server": {"public_url": base}, "modules": {"extra": ["tests.toy_module.manifest:MANIFEST"]},
                      "logging": {"level": "WARNING", "format": "json"}})
    try:
        with serving(app, port):
            yield base
    finally:
        unregister_panel_section(PANEL_LAYER, PANEL_SECTION)  # one process-wide registry


def test_every_console_plugin_is_started(browser, pages, toy_server: str, signed_in) -> None:  # noqa: ANN001, F811
    w = open_page(browser, f"{toy_server}/", signed_in)
    pages.append(w)  # the fixture fails the test on any browser error or request leaving 127.0.0.1
    toy = w.page.evaluate("window.onemap.toy")
    assert toy is not None, "the toy plug-in's init() was not called"
    assert toy["started"] is True and toy["lang"] == "zh-CN" and toy["layers"] > 1
    assert toy["host"] == ["refreshLayers", "showLayer"]
    assert w.page.evaluate("window.onemap.emergency.can('write')") is True  # the installed module's plug-in too
    scripts = [url for status, url in w.responses if url.endswith(".js") and "/vendor/" not in url]
    assert f"{toy_server}/static/modules/tests.toy_module/console.js" in scripts
    assert f"{toy_server}/static/modules/emergency/console.js" in scripts
    # the plug-ins import the console's modules by the very URL main.js does: one instance of each
    boot = [url for url in scripts if url.endswith("/boot.js")]
    assert boot == [f"{toy_server}/static/console/boot.js"], boot
