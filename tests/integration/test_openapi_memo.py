"""The OGC API's OpenAPI document is built once per schema in a process (mapserver/pygeoapi_config.py): a database
of the same schema gets the same document without pygeoapi opening every provider again; a changed column, another
configuration or an unreachable database builds it anew."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa

from core.config import load_config
from mapserver import pygeoapi_config
from tests.conftest import free_port


@pytest.fixture
def counted(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    import importlib

    oas = importlib.import_module("pygeoapi.openapi")  # the package's own `openapi` attribute is its CLI group
    calls: list[int] = []
    real = oas.get_oas

    def get_oas(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(oas, "get_oas", get_oas)
    monkeypatch.setattr(pygeoapi_config, "_OPENAPI_MEMO", type(pygeoapi_config._OPENAPI_MEMO)())
    return calls


def write(url: str, var: Path, out: Path) -> str:
    settings = load_config({"database": {"url": url}, "paths": {"var": str(var)}}, environ={})
    return pygeoapi_config.write_pygeoapi(settings, out)["openapi"].read_text(encoding="utf-8")


def test_same_schema_same_document_built_once(counted: list[int], fresh_db: str, demo_db: str,
                                              demo_artifacts: Path, tmp_path: Path) -> None:
    first = write(fresh_db, demo_artifacts, tmp_path / "a")
    second = write(demo_db, demo_artifacts, tmp_path / "b")
    assert len(counted) == 1
    assert first == second
    with sa.create_engine(fresh_db).begin() as conn:
        conn.execute(sa.text("ALTER TABLE enterprises ADD COLUMN zz_probe text"))
    write(fresh_db, demo_artifacts, tmp_path / "c")
    assert len(counted) == 2  # the columns changed: built again


def test_another_configuration_or_no_database_builds_anew(counted: list[int], demo_db: str, demo_artifacts: Path,
                                                          tmp_path: Path) -> None:
    with_raster = write(demo_db, demo_artifacts, tmp_path / "a")
    assert "/collections/population/coverage" in with_raster
    empty_var = tmp_path / "var"  # no population raster: no coverage collection
    empty_var.mkdir()
    without_raster = write(demo_db, empty_var, tmp_path / "b")
    assert len(counted) == 2 and "/collections/population/coverage" not in without_raster
    nowhere = f"postgresql://nobody:pw@127.0.0.1:{free_port()}/none"
    write(nowhere, empty_var, tmp_path / "c")
    write(nowhere, empty_var, tmp_path / "d")
    assert len(counted) == 4  # an unreadable database is never keyed
