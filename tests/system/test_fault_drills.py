"""Fault drills through the production server (`onemap serve`: gunicorn, two worker processes) while dispatchers keep
writing: a worker killed with SIGKILL in the middle of writes, and the PostgreSQL server restarted under load.

What must hold, whatever the timing:
* an answered 201 is stored (nothing acknowledged is lost);
* nothing is half written: every stored incident has its first report (快报) and its ``created`` event, which the
  intake writes in the same transaction;
* no 500: during the database outage the answer is 503 ``database_unavailable`` (problem+json), and the server
  takes writes again once the database is back; a killed worker's requests fail at the connection (not answered),
  and gunicorn replaces the worker.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from types import SimpleNamespace

import pytest
import requests
import sqlalchemy as sa

from tests.conftest import free_port
from tests.integration.emergency_support import scratch_database

ROOT = Path(__file__).resolve().parents[2]
TITLE = "故障演练"


@pytest.fixture(scope="module")
def served(pg_cluster, template_url: str, demo_artifacts: Path,  # noqa: ANN001
           tmp_path_factory: pytest.TempPathFactory) -> Iterator[SimpleNamespace]:
    """One server for both drills (starting gunicorn's workers is most of a drill's time) on a clone of its own:
    each drill checks only the incidents it wrote."""
    with scratch_database(pg_cluster, "fault_drills") as fresh_db:
        yield from _serve(fresh_db, demo_artifacts, tmp_path_factory.mktemp("drills"))


def _serve(fresh_db: str, demo_artifacts: Path, tmp_path: Path) -> Iterator[SimpleNamespace]:
    var = tmp_path / "var"
    shutil.copytree(demo_artifacts / "data", var / "data")  # the raster; generated files are this server's own
    port = free_port()
    env = {**os.environ, "DATABASE_URL": fresh_db, "ONEMAP_VAR": str(var), "PORT": str(port),
           "ONEMAP_MQTT_INGEST": "false", "ONEMAP_MQTT_SIMULATE": "false", "ONEMAP_LOG_LEVEL": "WARNING"}
    log = (tmp_path / "serve.log").open("wb")
    proc = subprocess.Popen([sys.executable, "-c", "from app.cli import main; main(['serve', '--workers', '2'])"],
                            cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            assert proc.poll() is None, (tmp_path / "serve.log").read_text(errors="replace")[-3000:]
            try:
                if requests.get(f"{url}/healthz", timeout=10).status_code == 200:
                    break
            except (requests.ConnectionError, requests.Timeout):  # still starting its workers
                pass
            assert time.monotonic() < deadline, "onemap serve did not answer within 120 s"
            time.sleep(0.5)
        yield SimpleNamespace(url=url, pid=proc.pid, db=fresh_db, token=_token(fresh_db),
                              log=tmp_path / "serve.log")
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
        log.close()


def _token(url: str) -> str:
    from access.authn import tokens
    from access.settings import AuthSettings
    from core.config import load_config

    engine = sa.create_engine(url)
    with engine.begin() as conn:
        user = conn.execute(sa.text("SELECT id FROM users WHERE username = 'dispatcher'")).scalar_one()
        token, _ = tokens.create(conn, AuthSettings.from_config(load_config(environ={})), user, "fault drill",
                                 ["ogc:read", "api:read", "api:write"], 1)
    engine.dispose()
    return token


class Load:
    """Threads posting incidents until stopped: what each request got (status and id, or the exception)."""

    def __init__(self, server: SimpleNamespace, title: str, threads: int = 3) -> None:
        self.server, self.title, self.stop = server, title, threading.Event()
        self.results: list[tuple[int | str, int | None, dict | None]] = []
        self.lock = threading.Lock()
        self.threads = [threading.Thread(target=self._run, args=(i,), daemon=True) for i in range(threads)]

    def _run(self, n: int) -> None:
        session = requests.Session()
        session.headers["Authorization"] = f"Bearer {self.server.token}"
        i = 0
        while not self.stop.is_set():
            i += 1
            body = {"kind": "leak", "title": f"{self.title} {n}-{i}", "location": {"lon": 118.80, "lat": 32.05}}
            try:
                r = session.post(f"{self.server.url}/api/emergency/incidents", json=body, timeout=30)
                got = (r.status_code, r.json().get("id") if r.status_code == 201 else None,
                       r.json() if r.headers.get("Content-Type", "").endswith("json") else None)
            except (requests.ConnectionError, requests.Timeout) as exc:
                got = (type(exc).__name__, None, None)
                session = requests.Session()
                session.headers["Authorization"] = f"Bearer {self.server.token}"
            with self.lock:
                self.results.append(got)

    def acknowledged(self) -> list[int]:
        with self.lock:
            return [i for s, i, _ in self.results if s == 201 and i is not None]

    def until(self, condition: Callable[[], bool], what: str, timeout_s: float = 90) -> None:
        deadline = time.monotonic() + timeout_s
        while not condition():
            assert time.monotonic() < deadline, f"timed out waiting for {what}; results so far: {self.results[-5:]}"
            time.sleep(0.05)

    def __enter__(self) -> Load:
        for t in self.threads:
            t.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        for t in self.threads:
            t.join(timeout=60)


def _check_stored(db: str, title: str, acknowledged: list[int]) -> None:
    engine = sa.create_engine(db)
    with engine.connect() as conn:
        stored = set(conn.execute(sa.text("SELECT id FROM incidents WHERE title LIKE :t"), {"t": f"{title}%"}).scalars())
        half = conn.execute(sa.text(
            "SELECT i.id FROM incidents i WHERE i.title LIKE :t AND (NOT EXISTS (SELECT 1 FROM incident_reports r "
            "WHERE r.incident_id = i.id AND r.seq = 1) OR NOT EXISTS (SELECT 1 FROM incident_events e "
            "WHERE e.incident_id = i.id AND e.event = 'created'))"), {"t": f"{title}%"}).scalars().all()
    engine.dispose()
    assert set(acknowledged) <= stored, f"acknowledged but not stored: {sorted(set(acknowledged) - stored)}"
    assert half == [], f"half-written incidents: {half}"


def _gunicorn_workers(master: int) -> list[int]:
    children = Path(f"/proc/{master}/task/{master}/children").read_text().split()
    workers = []
    for pid in map(int, children):
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ")
        if b"main(['worker'])" not in cmdline:  # the background worker is a child too
            workers.append(pid)
    return workers


def test_a_worker_killed_mid_write_loses_nothing_acknowledged_and_writes_nothing_half(served: SimpleNamespace) -> None:
    workers = _gunicorn_workers(served.pid)
    assert len(workers) == 2, workers
    title = f"{TITLE}：进程被杀"
    with Load(served, title) as load:
        load.until(lambda: len(load.acknowledged()) >= 15, "15 acknowledged writes")
        os.kill(workers[0], signal.SIGKILL)
        killed_at = len(load.results)
        load.until(lambda: len([s for s, _, _ in load.results[killed_at:] if s == 201]) >= 30,
                   "30 writes acknowledged after the kill")
    statuses = {s for s, _, _ in load.results}
    assert statuses <= {201, "ConnectionError"}, statuses  # nothing answered but a success
    _check_stored(served.db, title, load.acknowledged())
    replaced = _gunicorn_workers(served.pid)
    assert len(replaced) == 2 and workers[0] not in replaced  # gunicorn started another in its place


def test_a_database_restart_under_load_is_a_clear_503_and_loses_nothing(served: SimpleNamespace, pg_cluster) -> None:  # noqa: ANN001
    title = f"{TITLE}：数据库重启"
    with Load(served, title) as load:
        load.until(lambda: len(load.acknowledged()) >= 15, "15 acknowledged writes")
        try:
            pg_cluster.stop()
            load.until(lambda: any(s == 503 for s, _, _ in load.results), "a 503 while the database is down")
        finally:
            pg_cluster.start()  # the session's cluster: it must come back whatever happened
        back = len(load.results)
        load.until(lambda: len([s for s, _, _ in load.results[back:] if s == 201]) >= 20,
                   "20 writes acknowledged after the restart")
    statuses = {s for s, _, _ in load.results}
    assert statuses <= {201, 503}, statuses
    outage = [body for s, _, body in load.results if s == 503]
    assert outage and all(b and b["code"] == "database_unavailable" for b in outage), outage[:3]
    _check_stored(served.db, title, load.acknowledged())
