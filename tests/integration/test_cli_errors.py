"""Bad set-ups get a one-line actionable error, never a traceback."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import sqlalchemy as sa

from core.pgcluster import PrivateCluster
from layers.registry import DEFS_DIR
from tests.conftest import admin_conn, free_port

ROOT = Path(__file__).resolve().parents[2]
ONEMAP = str(Path(sys.executable).parent / "onemap")


def run(args: list[str], **env: str) -> subprocess.CompletedProcess[str]:
    environ = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "ONEMAP_CONFIG", "PORT")}
    environ.update(env)
    return subprocess.run([ONEMAP, *args], capture_output=True, text=True, env=environ, timeout=60, cwd=ROOT)


def assert_clean_error(result: subprocess.CompletedProcess[str], expected: str) -> None:
    assert result.returncode == 2, result
    assert "Traceback" not in result.stderr
    assert result.stderr.startswith("error: ")
    assert expected in result.stderr, result.stderr


def test_invalid_layer_yaml(tmp_path: Path) -> None:
    defs = tmp_path / "defs"
    shutil.copytree(DEFS_DIR, defs)
    path = defs / "hospitals.yaml"
    path.write_text(path.read_text(encoding="utf-8").replace("type: integer", "type: number"), encoding="utf-8")
    result = run(["config", "check"], ONEMAP_LAYERS_DIR=str(defs))
    assert_clean_error(result, "hospitals.yaml: fields[2](name=beds).type: 'number' is not one of")


def test_unreachable_database_url() -> None:
    port = free_port()
    result = run(["db", "status"], DATABASE_URL=f"postgresql://nobody:secret@127.0.0.1:{port}/onemap")
    assert_clean_error(result, f"cannot connect to postgresql+psycopg://nobody:***@127.0.0.1:{port}/onemap")
    assert "secret" not in result.stderr


def test_database_without_postgis(pg_cluster: PrivateCluster) -> None:
    with admin_conn(pg_cluster) as conn:
        conn.execute("DROP DATABASE IF EXISTS plain_pg")
        conn.execute("CREATE DATABASE plain_pg OWNER onemap")
    try:
        result = run(["db", "status"], DATABASE_URL=pg_cluster.url(dbname="plain_pg"))
        assert_clean_error(result, "database plain_pg has no PostGIS")
    finally:
        sa.create_engine(pg_cluster.url()).dispose()
        with admin_conn(pg_cluster) as conn:
            conn.execute("DROP DATABASE plain_pg WITH (FORCE)")


def test_port_already_in_use() -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = run(["serve", "--port", str(port)], DATABASE_URL="postgresql://x@127.0.0.1:1/x")
    assert_clean_error(result, f"port {port} on 127.0.0.1 is already in use")


def test_no_python_312(tmp_path: Path) -> None:
    fake_bin = tmp_path / "bin"
    fake_bin.mkdir()
    for tool in ("ls", "sort"):
        (fake_bin / tool).symlink_to(shutil.which(tool))
    old = fake_bin / "python3"
    old.write_text("#!/bin/sh\nexit 1\n")  # an interpreter that is too old answers the version probe with 1
    old.chmod(0o755)
    result = subprocess.run(["/bin/sh", str(ROOT / "scripts" / "find-python.sh")], capture_output=True, text=True,
                            env={"PATH": str(fake_bin), "HOME": str(tmp_path), "PYENV_ROOT": str(tmp_path)})
    assert result.returncode == 1
    assert result.stdout == ""
    assert "no Python >= 3.12" in result.stderr and "PYTHON=" in result.stderr


def test_find_python_finds_a_312_interpreter() -> None:
    result = subprocess.run(["/bin/sh", str(ROOT / "scripts" / "find-python.sh")], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    version = subprocess.run([result.stdout.strip(), "-c", "import sys; print(sys.version_info[:2] >= (3, 12))"],
                             capture_output=True, text=True)
    assert version.stdout.strip() == "True"
