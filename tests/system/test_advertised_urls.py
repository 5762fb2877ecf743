"""Every OGC mount advertises the address the client reached: the configured public URL, else a trusted proxy's
forwarded address, else the Host it addressed -- never the host and port the configuration was generated with.

Each document that carries URLs (MapServer WMS/WFS/WCS capabilities and GML schemaLocation, pygeoapi's links,
OpenAPI servers and HTML pages, MapProxy's WMTS/TMS/WMS capabilities) is fetched through the policy gate and every
URL naming one of the hosts in play must start with the expected base. A real client (OWSLib) then follows the
advertised operation URLs of an app served on a port its configuration does not name.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any
from urllib.parse import urlsplit

import pytest
from werkzeug.serving import make_server
from werkzeug.test import Client

from tests.conftest import free_port
from tests.system.test_permission_matrix import InjectIdentity, find_gate, identity

pytestmark = pytest.mark.system

DOCUMENTS = {  # every document a mount advertises URLs in
    "WMS 1.3.0 capabilities": "/ows?SERVICE=WMS&VERSION=1.3.0&REQUEST=GetCapabilities",
    "WMS 1.1.1 capabilities": "/ows?SERVICE=WMS&VERSION=1.1.1&REQUEST=GetCapabilities",
    "WFS 2.0 capabilities": "/ows?SERVICE=WFS&VERSION=2.0.0&REQUEST=GetCapabilities",
    "WFS 1.1 capabilities": "/ows?SERVICE=WFS&VERSION=1.1.0&REQUEST=GetCapabilities",
    "WCS 2.0 capabilities": "/ows?SERVICE=WCS&VERSION=2.0.1&REQUEST=GetCapabilities",
    "WCS 1.0 capabilities": "/ows?SERVICE=WCS&VERSION=1.0.0&REQUEST=GetCapabilities",
    "GML schemaLocation": "/ows?SERVICE=WFS&VERSION=2.0.0&REQUEST=GetFeature&TYPENAMES=hospitals&COUNT=1",
    "OGC API landing page": "/ogcapi?f=json",
    "OGC API landing page (HTML)": "/ogcapi?f=html",
    "OGC API OpenAPI": "/ogcapi/openapi?f=json",
    "OGC API collections": "/ogcapi/collections?f=json",
    "OGC API items": "/ogcapi/collections/hospitals/items?f=json&limit=2",
    "OGC API item (HTML)": "/ogcapi/collections/hospitals/items/1?f=html",
    "OGC API processes": "/ogcapi/processes?f=json",
    "OGC API coverage": "/ogcapi/collections/population?f=json",
    "WMTS capabilities": "/tiles/wmts/1.0.0/WMTSCapabilities.xml",
    "TMS capabilities": "/tiles/tms/1.0.0/basemap/webmercator",
    "MapProxy WMS capabilities": "/tiles/service?SERVICE=WMS&REQUEST=GetCapabilities&VERSION=1.3.0",
}
# hosts a wrong answer could name: the configured defaults, the test client's, and the ones the tests send
OURS = {"127.0.0.1", "localhost", "0.0.0.0", "testserver", "gis.example", "internal.example", "evil.example",
        "proxy.example", "onemap.example.gov.cn"}
FORWARDED = {"HTTP_X_FORWARDED_HOST": "proxy.example", "HTTP_X_FORWARDED_PROTO": "https",
             "HTTP_X_FORWARDED_PORT": "8443", "HTTP_X_FORWARDED_PREFIX": "/onemap"}
SPOOFED = {"HTTP_X_FORWARDED_HOST": "evil.example", "HTTP_X_FORWARDED_PROTO": "https", "HTTP_X_SCRIPT_NAME": "/x",
           "HTTP_FORWARDED": "host=evil.example;proto=https"}
PROXY, STRANGER = "10.0.0.5", "10.0.0.9"
_URL = re.compile(r"https?://[^\s\"'<>\\]+")


def make_app(demo_db: str, demo_artifacts: Path, var: Path, **server: Any) -> SimpleNamespace:
    from app import create_app

    (var / "data").mkdir(parents=True, exist_ok=True)
    raster = var / "data" / "population.tif"
    if not raster.exists():
        raster.symlink_to(demo_artifacts / "data" / "population.tif")
    trusted = server.pop("trusted_proxies", [])
    app = create_app({"database": {"url": demo_db}, "paths": {"var": str(var)}, "server": server,
                      "auth": {"trusted_proxies": trusted}, "logging": {"level": "WARNING", "format": "json"}})
    return SimpleNamespace(app=app, client=Client(InjectIdentity(find_gate(app))))


@pytest.fixture(scope="module")
def apps(demo_db: str, demo_artifacts: Path, tmp_path_factory: pytest.TempPathFactory) -> SimpleNamespace:
    var = tmp_path_factory.mktemp("urls-var")
    return SimpleNamespace(
        plain=make_app(demo_db, demo_artifacts, var),
        proxied=make_app(demo_db, demo_artifacts, var, trusted_proxies=[PROXY]),
        public=make_app(demo_db, demo_artifacts, tmp_path_factory.mktemp("urls-public-var"),
                        public_url="https://onemap.example.gov.cn/gis/"))


def advertised(app: SimpleNamespace, path: str, base_url: str, **environ: str) -> list[str]:
    """The URLs naming one of OURS in the document at ``path``, fetched as a city-wide regulator."""
    response = app.client.get(path, base_url=base_url, environ_base={
        "test.identity": identity("city_regulator", SimpleNamespace(own_uscc=None)), **environ})
    assert response.status_code == 200, (path, response.status_code, response.data[:300])
    urls = [u for u in _URL.findall(response.get_data(as_text=True)) if urlsplit(u).hostname in OURS]
    assert urls, f"{path} advertises no URL of this server"
    return urls


def assert_under(urls: list[str], base: str) -> None:
    wrong = sorted({u for u in urls if not (u == base or u.startswith(base + "/") or u.startswith(base + "?"))})
    assert not wrong, f"{len(wrong)} URLs not under {base}: {wrong[:5]}"


@pytest.mark.parametrize("document", list(DOCUMENTS))
def test_the_address_the_client_used_is_advertised(apps: SimpleNamespace, document: str) -> None:
    # served on 18080 while the configuration says 8000: the Host header is the truth
    assert_under(advertised(apps.plain, DOCUMENTS[document], "http://gis.example:18080"), "http://gis.example:18080")
    # a forwarding header from a peer nobody trusts (here: any peer) changes nothing, MapProxy's included
    assert_under(advertised(apps.plain, DOCUMENTS[document], "http://internal.example:8000",
                            REMOTE_ADDR="127.0.0.1", **SPOOFED), "http://internal.example:8000")


@pytest.mark.parametrize("document", list(DOCUMENTS))
def test_a_trusted_proxy_decides_the_address(apps: SimpleNamespace, document: str) -> None:
    path = DOCUMENTS[document]
    assert_under(advertised(apps.proxied, path, "http://internal.example:8000", REMOTE_ADDR=PROXY, **FORWARDED),
                 "https://proxy.example:8443/onemap")
    rfc7239 = {"HTTP_FORWARDED": 'for=192.0.2.1;host="evil.example";proto=http, for=198.51.100.7;'
                                 'host=proxy.example;proto=https'}  # the element our proxy appended is the last
    assert_under(advertised(apps.proxied, path, "http://internal.example:8000", REMOTE_ADDR=PROXY, **rfc7239),
                 "https://proxy.example")
    assert_under(advertised(apps.proxied, path, "http://internal.example:8000", REMOTE_ADDR=STRANGER, **FORWARDED),
                 "http://internal.example:8000")


@pytest.mark.parametrize("document", list(DOCUMENTS))
def test_the_configured_public_url_wins(apps: SimpleNamespace, document: str) -> None:
    for environ in ({}, {"REMOTE_ADDR": PROXY, **FORWARDED}, SPOOFED):
        assert_under(advertised(apps.public, DOCUMENTS[document], "http://internal.example:8000", **environ),
                     "https://onemap.example.gov.cn/gis")


# -- a real client on a port the configuration does not name --------------------------------------------------------
@pytest.fixture(scope="module")
def unconfigured_server(demo_db: str, demo_artifacts: Path, tmp_path_factory: pytest.TempPathFactory,
                        ) -> Iterator[str]:
    """The app (configured for port 8000, no public URL) served on a free port; the OGC mounts as anonymous."""
    app = make_app(demo_db, demo_artifacts, tmp_path_factory.mktemp("urls-live-var")).app
    port = free_port()
    server = make_server("127.0.0.1", port, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{port}"
    server.shutdown()
    thread.join(timeout=10)


def test_owslib_follows_the_advertised_operations(unconfigured_server: str) -> None:
    from owslib.wfs import WebFeatureService
    from owslib.wms import WebMapService
    from owslib.wmts import WebMapTileService

    base = unconfigured_server
    wms = WebMapService(f"{base}/ows", version="1.3.0")
    assert {m["url"] for op in wms.operations for m in op.methods} == {f"{base}/ows?"}
    image = wms.getmap(layers=["hospitals"], styles=[""], srs="EPSG:4326", bbox=(118.9, 31.9, 119.0, 32.0),
                       size=(64, 64), format="image/png")
    assert image.info()["Content-Type"] == "image/png"
    wfs = WebFeatureService(f"{base}/ows", version="2.0.0")
    assert {m["url"] for op in wfs.operations for m in op.methods} == {f"{base}/ows?"}
    assert b"hospitals" in wfs.getfeature(typename=["onemap:hospitals"], maxfeatures=1).read()
    wmts = WebMapTileService(f"{base}/tiles/wmts/1.0.0/WMTSCapabilities.xml")
    assert wmts.contents["basemap"].resourceURLs[0]["template"].startswith(f"{base}/tiles/wmts/basemap/")
