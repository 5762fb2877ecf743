"""Adding a business module edits no central list: the toy module (tests/toy_module/) is named only by
``modules.extra`` in the configuration, and each part its manifest declares appears — its route (opened by its own
policy fragment to the roles it names, refused to others), its console panel section, its OGC process (listed and
executed by pygeoapi), its CLI group, its console script (listed in the console's boot JSON and served) and its
configuration section. Switching a module off (``modules.disabled``) takes its routes and script away again."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
import yaml

from core.manifest import console_script_url
from tests.conftest import SHARED_SESSION_AUTH
from tests.integration.auth_support import sign_in
from tests.toy_module.manifest import MANIFEST as TOY
from tests.toy_module.views import PANEL_LAYER, PANEL_SECTION

ROOT = Path(__file__).resolve().parents[2]
TOY_REF = "tests.toy_module.manifest:MANIFEST"
BOOT = re.compile(r'<script type="application/json" id="onemap-boot">(.*?)</script>', re.S)


def _app(demo_db: str, var: Path, modules: dict[str, Any]) -> Any:
    from app import create_app

    # a var directory of its own: the generated pygeoapi/MapServer/MapProxy files are this app's, toy included
    return create_app({"database": {"url": demo_db}, "paths": {"var": str(var)}, "modules": modules,
                       "logging": {"level": "WARNING", "format": "json"}, "auth": SHARED_SESSION_AUTH})


def _client(app: Any, session: tuple[str, str] | None) -> Any:
    client = app.test_client()
    if session:
        cookie, csrf = session
        client.set_cookie(app.config["ONEMAP_AUTH"].cookie_name, cookie)
        client.environ_base["HTTP_X_CSRF_TOKEN"] = csrf
    return client


@pytest.fixture(scope="module")
def toy_app(demo_db: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    from core.panels import unregister_panel_section

    yield _app(demo_db, tmp_path_factory.mktemp("toy-var"), {"extra": [TOY_REF]})
    # panel sections live in one process-wide registry: later apps of this test run must not see the toy's
    unregister_panel_section(PANEL_LAYER, PANEL_SECTION)


@pytest.fixture(scope="module")
def dispatcher(toy_app: Any, dispatcher_session: tuple[str, str]) -> Any:
    return _client(toy_app, dispatcher_session)


def _boot(client: Any) -> dict[str, Any]:
    page = client.get("/")
    assert page.status_code == 200
    return json.loads(BOOT.search(page.get_data(as_text=True))[1])


def test_the_route_answers_the_roles_its_fragment_opens(dispatcher) -> None:  # noqa: ANN001
    response = dispatcher.get("/api/toy/hello")
    assert response.status_code == 200, response.get_data(as_text=True)
    # the toy's configuration section, with the default its package ships
    assert response.get_json() == {"module": "toy", "greeting": "你好"}


def test_the_route_is_refused_to_roles_the_fragment_does_not_open(toy_app) -> None:  # noqa: ANN001
    worker = _client(toy_app, None)
    sign_in(worker, "grid_worker")  # a map user with no rule for the toy module
    assert worker.get("/api/console/layers").status_code == 200  # signed in, and a map user
    assert worker.get("/api/toy/hello").status_code == 403
    assert _client(toy_app, None).get("/api/toy/hello").status_code in (401, 403)


def test_the_console_follows_the_live_events_of_every_module(dispatcher) -> None:  # noqa: ANN001
    """A live event of a kind some active module publishes makes the console re-read its live layers."""
    kinds = _boot(dispatcher)["liveEventKinds"]
    assert "toy" in kinds and "incident" in kinds and "resource" in kinds


def test_the_api_document_describes_the_route(dispatcher) -> None:  # noqa: ANN001
    doc = dispatcher.get("/api/openapi.json").get_json()
    assert "/api/toy/hello" in doc["paths"] and "toy" in {t["name"] for t in doc["tags"]}
    assert "/api/emergency/incidents" in doc["paths"]  # the installed modules' parts stay


def test_the_policy_holds_the_fragment(toy_app) -> None:  # noqa: ANN001
    from access.policy.rules import load_policy

    policy = load_policy(config=toy_app.config["ONEMAP"])
    assert "toy" in {r.name for r in policy.routes if r.kind == "module"}
    assert "toy-echo" in policy.processes
    assert "city-toy" in {r.id for r in policy.rules}


def test_the_panel_section_appears_on_its_layer(dispatcher, db: sa.Engine) -> None:  # noqa: ANN001
    with db.connect() as conn:
        feature_id = conn.execute(sa.text(f"SELECT min(id) FROM {PANEL_LAYER}")).scalar_one()
    response = dispatcher.get(f"/api/console/features/{PANEL_LAYER}/{feature_id}")
    assert response.status_code == 200, response.get_data(as_text=True)
    sections = {s["id"]: s for s in response.get_json()["sections"]}
    assert sections[PANEL_SECTION]["title"] == {"zh-CN": "示例", "en": "Toy"}
    assert sections[PANEL_SECTION]["content"]["items"][0]["value"] == f"toy:{feature_id}"


def test_the_process_is_listed_and_executes(dispatcher) -> None:  # noqa: ANN001
    listed = dispatcher.get("/ogcapi/processes?f=json")
    assert listed.status_code == 200
    ids = {p["id"] for p in listed.get_json()["processes"]}
    assert {"toy-echo", *dict(TOY.processes)} <= ids
    assert {"coordinate-convert", "gaussian-plume"} <= ids  # the installed modules' processes are still there
    run = dispatcher.post("/ogcapi/processes/toy-echo/execution", json={"inputs": {"text": "一张图"}})
    assert run.status_code == 200, run.get_data(as_text=True)
    assert run.get_json() == {"echo": "一张图"}


def test_the_boot_json_lists_the_console_script_and_it_is_served(dispatcher) -> None:  # noqa: ANN001
    plugins = _boot(dispatcher)["plugins"]
    toy_url = "/" + console_script_url(TOY.console_scripts[0])
    emergency_url = "/static/modules/emergency/console.js"
    assert toy_url in plugins and emergency_url in plugins
    assert plugins.index(emergency_url) < plugins.index(toy_url)  # installed modules first, extra ones after
    page = dispatcher.get("/").get_data(as_text=True)
    for url in plugins:
        assert f'<link rel="modulepreload" href="{url}">' in page  # fetched beside main.js, not after it ran
        script = dispatcher.get(url)
        assert script.status_code == 200, url
        assert script.mimetype == "text/javascript"
        assert re.search(r"export (async )?function init\(", script.get_data(as_text=True)), url
    # only the folders of packages that declare console scripts are served
    assert dispatcher.get("/static/modules/tests/conftest.py").status_code == 404
    assert dispatcher.get("/static/modules/tests.toy_module/../views.py").status_code == 404


def _onemap(*args: str, config: Path | None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}  # the toy module lives in tests/, not in the installed package
    env.pop("ONEMAP_CONFIG", None)
    if config is not None:
        env["ONEMAP_CONFIG"] = str(config)
    return subprocess.run([str(Path(sys.executable).with_name("onemap")), *args], env=env, cwd=ROOT,
                          capture_output=True, text=True, timeout=120, check=False)


def test_the_cli_group_appears_in_onemap_help(tmp_path: Path) -> None:
    config = tmp_path / "onemap.yaml"
    config.write_text(yaml.safe_dump({"paths": {"var": str(tmp_path / "var")}, "modules": {"extra": [TOY_REF]}}))
    without = _onemap("--help", config=None)
    assert without.returncode == 0, without.stderr
    assert not re.search(r"^\s+toy\s", without.stdout, re.M)
    shown = _onemap("--help", config=config)
    assert shown.returncode == 0, shown.stderr
    assert re.search(r"^\s+toy\s+Toy module commands", shown.stdout, re.M), shown.stdout
    hello = _onemap("toy", "hello", config=config)
    assert (hello.returncode, hello.stdout) == (0, "hello from toy\n"), hello.stderr


def test_a_disabled_module_takes_its_routes_and_script_away(toy_app, demo_db: str, tmp_path: Path,  # noqa: ANN001
                                                            dispatcher_session: tuple[str, str]) -> None:
    assert [r for r in toy_app.url_map.iter_rules() if r.rule.startswith("/api/emergency")]  # there when enabled
    app = _app(demo_db, tmp_path / "var", {"disabled": ["emergency"]})
    rules = [r.rule for r in app.url_map.iter_rules()]
    assert rules and not [r for r in rules if r.startswith("/api/emergency")]
    client = _client(app, dispatcher_session)
    assert client.get("/api/emergency/incidents").status_code in (403, 404)
    assert not [u for u in _boot(client)["plugins"] if "/emergency/" in u]
    assert client.get("/static/modules/emergency/console.js").status_code == 404
