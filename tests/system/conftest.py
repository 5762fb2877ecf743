"""Fixtures of the system tests: MapServer behind the /ows bridge on the demo city."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import pytest
import sqlalchemy as sa
from werkzeug.test import Client

from core.config import load_config
from mapserver.build import write_slds
from mapserver.extent import city_extent
from mapserver.mapfile import build_mapfile
from mapserver.ows import make_ows_app
from styles import default_styles
from tests.system.ows_support import REGISTRY, city_wide


@pytest.fixture(scope="module")
def ows(tmp_path_factory: pytest.TempPathFactory, demo_db: str, demo_artifacts: Path) -> SimpleNamespace:
    config = load_config({"database": {"url": demo_db}, "paths": {"var": str(demo_artifacts)}}, environ={})
    out = tmp_path_factory.mktemp("mapserver")
    styles = default_styles()
    mapfile = build_mapfile(REGISTRY, styles, config, out,
                            extent=city_extent(config, REGISTRY))
    write_slds(REGISTRY, styles, out)
    app = city_wide(make_ows_app(mapfile, out / "mapserver.conf"))
    return SimpleNamespace(mapfile=mapfile, conf=out / "mapserver.conf", app=app, client=Client(app),
                           raster=demo_artifacts / "data" / "population.tif")


@pytest.fixture(scope="module")
def ows_db(demo_db: str) -> Iterator[sa.engine.Connection]:
    """One connection on the shared read-only demo city (the /ows tests compare answers with PostGIS)."""
    engine = sa.create_engine(demo_db)
    with engine.connect() as conn:
        yield conn
    engine.dispose()

