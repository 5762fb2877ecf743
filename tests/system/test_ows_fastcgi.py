"""The /ows bridge keeps ``mapserv`` running under FastCGI (mapserver/fcgi.py): one process serves request after
request, a regenerated mapfile is read at once, a process whose answer was cut short, timed out or served its quota is
replaced, no other local process can reach one, idle ones are stopped, and none outlives the process that started it."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path
from types import SimpleNamespace

import pytest
from werkzeug.test import Client

from mapserver import fcgi
from mapserver.mapfile import MAPSERV
from mapserver.ows import make_ows_app
from tests.system.ows_support import NS, city_wide, root_name

CAPS = "SERVICE=WMS&VERSION=1.3.0&REQUEST=GetCapabilities"
HITS = "SERVICE=WFS&VERSION=2.0.0&REQUEST=GetFeature&TYPENAMES=onemap:enterprises&RESULTTYPE=hits"


def pids(app) -> set[int]:  # noqa: ANN001
    return {w.proc.pid for w in [*app.pool._free, *app.pool._busy]}


def matched(body: bytes) -> str:
    from lxml import etree

    return etree.fromstring(body).get("numberMatched")


def gone(pid: int, within: float = 10.0) -> bool:
    """The process ended (a zombie waiting for its reaper counts as ended)."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        try:
            state = Path(f"/proc/{pid}/status").read_text().split("State:")[1].split()[0]
        except (FileNotFoundError, IndexError):
            return True
        if state == "Z":
            return True
        time.sleep(0.05)
    return False


@pytest.fixture
def bridge(ows: SimpleNamespace) -> SimpleNamespace:
    app = make_ows_app(ows.mapfile, ows.conf, processes=2)
    yield SimpleNamespace(app=app, client=Client(city_wide(app)))
    app.pool.close()


def test_one_process_answers_request_after_request(bridge: SimpleNamespace) -> None:
    first = bridge.client.get("/", query_string=CAPS)
    assert first.status_code == 200 and root_name(first.data) == "WMS_Capabilities"
    (pid,) = pids(bridge.app)
    counts = {matched(bridge.client.get("/", query_string=HITS).data) for _ in range(5)}
    assert len(counts) == 1 and int(counts.pop()) > 0
    assert pids(bridge.app) == {pid}
    assert not os.path.exists(bridge.app.pool._free[0].address)  # the socket's name went once connected


def test_requests_at_once_share_at_most_the_pool(bridge: SimpleNamespace) -> None:
    answers: list[int] = []

    def ask() -> None:
        answers.append(Client(city_wide(bridge.app)).get("/", query_string=HITS).status_code)

    threads = [threading.Thread(target=ask) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert answers == [200] * 6
    assert bridge.app.pool.processes() in (1, 2)  # more may run at once (one per thread); two are kept


def test_a_regenerated_mapfile_is_read_on_the_next_request(ows: SimpleNamespace, tmp_path: Path) -> None:
    mapfile = tmp_path / "onemap.map"
    text = ows.mapfile.read_text(encoding="utf-8")
    mapfile.write_text(text, encoding="utf-8")
    conf = tmp_path / "mapserver.conf"
    conf.write_text(ows.conf.read_text(encoding="utf-8").replace(str(ows.mapfile), str(mapfile)), encoding="utf-8")
    app = make_ows_app(mapfile, conf, processes=1)
    client = Client(app)
    try:
        before = client.get("/", query_string=CAPS).get_data(as_text=True)
        assert "WMS_Capabilities" in before
        (pid,) = pids(app)
        mapfile.write_text(text.replace('"wms_title"', '"wms_title" "重新生成的标题"\n      "x_old_title"', 1),
                           encoding="utf-8")
        after = client.get("/", query_string=CAPS)
        assert "重新生成的标题" in after.get_data(as_text=True)
        assert "重新生成的标题" not in before
        assert pids(app) == {pid}
    finally:
        app.pool.close()


def test_an_answer_cut_short_replaces_the_process(bridge: SimpleNamespace) -> None:
    big = "SERVICE=WFS&VERSION=2.0.0&REQUEST=GetFeature&TYPENAMES=onemap:enterprises"  # all of them, in GML
    response = bridge.client.get("/", query_string=big, buffered=False)
    assert response.status_code == 200
    (pid,) = pids(bridge.app)
    next(iter(response.response))  # a client that reads the first piece and goes away
    response.close()
    assert gone(pid)
    again = bridge.client.get("/", query_string=HITS)
    assert again.status_code == 200 and pid not in pids(bridge.app)


def test_a_process_is_replaced_after_its_quota_and_stopped_when_idle(ows: SimpleNamespace) -> None:
    app = make_ows_app(ows.mapfile, ows.conf, processes=1)
    app.pool.max_requests = 2
    client = Client(city_wide(app))
    seen = []
    for _ in range(3):
        assert matched(client.get("/", query_string=HITS).data)
        seen.append(next(iter(pids(app)), None))
    assert seen[0] is not None and seen[1] is None and seen[2] not in (None, seen[0])  # killed at 2 answers
    assert gone(seen[0])
    app.pool.idle_s = 0
    app.pool.reap(time.monotonic())
    assert app.pool.processes() == 0 and gone(seen[2])


def test_a_timed_out_process_is_replaced(ows: SimpleNamespace, tmp_path: Path) -> None:
    slow = tmp_path / "mapserv"  # the real mapserv, but the first process it starts sleeps first
    marker = tmp_path / "started"
    slow.write_text(f"#!/bin/sh\nif [ ! -e {marker} ]; then touch {marker}; exec sleep 30; fi\nexec {MAPSERV}\n")
    slow.chmod(0o755)
    app = make_ows_app(ows.mapfile, ows.conf, mapserv=slow, timeout=1.0, processes=1)
    client = Client(city_wide(app))
    try:
        assert client.get("/", query_string=CAPS).status_code == 504
        assert app.pool.processes() == 0
        assert client.get("/", query_string=CAPS).status_code == 200
    finally:
        app.pool.close()


def test_a_large_post_body_goes_in_several_records(bridge: SimpleNamespace, ows_db) -> None:  # noqa: ANN001
    import sqlalchemy as sa

    ids = [r[0] for r in ows_db.execute(sa.text("select id from enterprises order by id limit 3"))]
    ors = "".join(f'<fes:PropertyIsEqualTo><fes:ValueReference>id</fes:ValueReference><fes:Literal>{i}</fes:Literal>'
                  "</fes:PropertyIsEqualTo>" for i in [*ids, *range(-1500, 0)])  # ~170 kB: past one record and 64 kB
    body = (f'<wfs:GetFeature service="WFS" version="2.0.0" resultType="hits" xmlns:wfs="http://www.opengis.net/wfs/2.0" '
            f'xmlns:fes="http://www.opengis.net/fes/2.0"><wfs:Query typeNames="onemap:enterprises"><fes:Filter><fes:Or>'
            f"{ors}</fes:Or></fes:Filter></wfs:Query></wfs:GetFeature>").encode()
    assert len(body) > 2 * fcgi.MAX_CONTENT
    response = bridge.client.post("/", data=body, content_type="application/xml")
    assert response.status_code == 200, response.data[:400]
    assert matched(response.data) == "3"
    assert NS["wfs"] in response.get_data(as_text=True)


def test_no_process_outlives_the_process_that_started_it(ows: SimpleNamespace) -> None:
    script = textwrap.dedent(f"""
        import os, sys
        sys.path.insert(0, {str(Path(__file__).parents[2])!r})
        from mapserver import fcgi
        from mapserver.ows import _Run
        pool = fcgi.Pool([{str(MAPSERV)!r}], {{"PATH": "/usr/bin:/bin", "MAPSERVER_CONFIG_FILE": {str(ows.conf)!r},
                                               "MS_MAPFILE": {str(ows.mapfile)!r}}})
        run = _Run(pool, {{**pool.env, "REQUEST_METHOD": "GET", "QUERY_STRING": "SERVICE=WMS&REQUEST=GetCapabilities"}},
                   b"", 30)
        while run.read():
            pass
        run.finish()
        print(pool._free[0].proc.pid, flush=True)
        os._exit(0)  # no clean-up of any kind
    """)
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=True)
    assert gone(int(out.stdout.split()[-1])), out.stderr
