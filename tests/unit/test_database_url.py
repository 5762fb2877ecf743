"""The database URL of the private cluster is worked out once per process, not on every request.

``get_engine`` asks for it on every request; finding the cluster's directory can run ``runuser`` (may the postgres
user reach the checkout?) and reads the credentials file. That once cost two forks per request under `make run`.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from core import db, pgcluster


def _config(base: Path) -> dict:
    return {"database": {"url": None, "private_cluster": {"dir": str(base), "port": 55999, "name": "onemap"}}}


@pytest.fixture
def cluster_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    db._private_cluster_url.cache_clear()
    monkeypatch.setattr(pgcluster, "_is_root", lambda: True)   # the branch that probes with a subprocess
    (tmp_path / "credentials.json").write_text(json.dumps({"superuser": "s3cret", "app": "app-pw"}))
    yield tmp_path
    db._private_cluster_url.cache_clear()


def test_the_private_cluster_url_is_looked_up_once(cluster_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    probes: list[Path] = []
    monkeypatch.setattr(pgcluster, "_reachable_by_postgres", lambda path: probes.append(path) or True)
    urls = {db.database_url(_config(cluster_dir)) for _ in range(50)}
    assert urls == {"postgresql+psycopg://onemap:app-pw@127.0.0.1:55999/onemap"}
    assert len(probes) == 1
    assert db.database_url(_config(cluster_dir), superuser=True).startswith("postgresql+psycopg://postgres:s3cret@")


def test_a_missing_cluster_is_not_remembered(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    db._private_cluster_url.cache_clear()
    monkeypatch.setattr(pgcluster, "_reachable_by_postgres", lambda path: True)
    with pytest.raises(pgcluster.ClusterError):
        db.database_url(_config(tmp_path))
    (tmp_path / "credentials.json").write_text(json.dumps({"superuser": "s", "app": "a"}))  # `onemap db up` ran
    assert db.database_url(_config(tmp_path)) == "postgresql+psycopg://onemap:a@127.0.0.1:55999/onemap"
    db._private_cluster_url.cache_clear()


def test_a_configured_url_is_used_as_given() -> None:
    config = {"database": {"url": "postgresql://u:p@db.example:5432/x", "private_cluster": {}}}
    assert db.database_url(config) == "postgresql+psycopg://u:p@db.example:5432/x"
