"""Real OGC clients (OWSLib) against MapServer over HTTP: WMS, WFS 2.0 and WCS 2.0.1."""

from __future__ import annotations

import io
import json
import threading
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import pytest
from PIL import Image
from werkzeug.serving import make_server

from core.config import load_config
from mapserver.mapfile import build_mapfile
from mapserver.ows import make_ows_app
from styles import default_styles
from tests.conftest import free_port
from tests.system.ows_support import (
    RED,
    REGISTRY,
    city_wide,
    close,
    isolated_enterprise,
)


# -- real clients over HTTP -----------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def http_url(ows: SimpleNamespace, tmp_path_factory: pytest.TempPathFactory, demo_db: str,
             demo_artifacts: Path) -> Iterator[str]:
    """The bridge on a real port; its capabilities advertise that port, as OWSLib follows them."""
    port = free_port()
    config = load_config({"database": {"url": demo_db}, "paths": {"var": str(demo_artifacts)}}, environ={})
    out = tmp_path_factory.mktemp("mapserver-http")
    mapfile = build_mapfile(REGISTRY, default_styles(), config, out,
                            extent=(118.7, 31.8, 119.3, 32.2))
    server = make_server("127.0.0.1", port, city_wide(make_ows_app(mapfile, out / "mapserver.conf")), threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{port}/"
    server.shutdown()
    thread.join(timeout=10)


@pytest.mark.system
def test_owslib_wms(http_url: str, ows_db) -> None:  # noqa: ANN001
    from owslib.wms import WebMapService

    wms = WebMapService(http_url, version="1.3.0")
    assert {layer.id: wms[layer.id].title for layer in REGISTRY} == {layer.id: layer.title_zh for layer in REGISTRY}
    e = isolated_enterprise(ows_db, "red")
    img = wms.getmap(layers=["enterprises"], styles=[""], srs="EPSG:4326", format="image/png", size=(256, 256),
                     bbox=(e.lon - 0.003, e.lat - 0.003, e.lon + 0.003, e.lat + 0.003))
    # OWSLib sends the bbox in the CRS's axis order for WMS 1.3.0 when given lon/lat for EPSG:4326
    image = Image.open(io.BytesIO(img.read())).convert("RGBA")
    assert close(image.getpixel((128, 128)), RED)


@pytest.mark.system
def test_owslib_wfs(http_url: str, ows_db) -> None:  # noqa: ANN001
    from owslib.wfs import WebFeatureService

    wfs = WebFeatureService(http_url, version="2.0.0")
    assert {f"onemap:{layer.id}" for layer in REGISTRY} == set(wfs.contents)
    assert wfs["onemap:enterprises"].title == "生产经营单位"
    data = wfs.getfeature(typename=["onemap:enterprises"], maxfeatures=5, outputFormat="application/json").read()
    features = json.loads(data)["features"]
    assert len(features) == 5 and all(f["properties"]["name"] for f in features)


@pytest.mark.system
def test_owslib_wcs(http_url: str, tmp_path: Path) -> None:
    import rasterio
    from owslib.wcs import WebCoverageService

    wcs = WebCoverageService(http_url, version="2.0.1")
    assert "population" in wcs.contents
    out = wcs.getCoverage(identifier="population", format="image/tiff",
                          subsets=[("Long", 118.8, 118.9), ("Lat", 31.9, 32.0)])
    (tmp_path / "p.tif").write_bytes(out.read())
    with rasterio.open(tmp_path / "p.tif") as cov:
        assert cov.crs.to_epsg() == 4490 and cov.width > 50 and cov.height > 50
