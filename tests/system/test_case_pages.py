"""The case pages (/cases, /cases/<id>) on the whole app behind the policy gate: who may open them, what they embed.

The expectation comes from the requirement, not from the policy under test: the pages are for the roles that work
cases (enterprise users, grid workers, district and city regulators) and for dispatchers, who read every case
from the command centre; every other role is refused — a person who is
not signed in is sent to the sign-in page (303), a signed-in one gets 403. The pages carry no inline script or style
(CSP), load only OneMap's own assets, and speak Chinese by default and English on ``?lang=en``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import sqlalchemy as sa
from werkzeug.test import Client

from tests.conftest import clone_database, drop_database
from tests.system.test_permission_matrix import ROLES, InjectIdentity, find_gate, identity

pytestmark = pytest.mark.system

CASE_WORKERS = {"city_regulator", "district_regulator", "grid_worker", "enterprise_user", "dispatcher"}
PAGES = ["/cases", "/cases/1", "/cases?list=overdue&type=hidden_danger&page=2", "/cases/2147483647"]
HTML = {"Accept": "text/html,application/xhtml+xml;q=0.9,*/*;q=0.8"}
STATIC = "/static/modules/supervision.cases/"


@pytest.fixture(scope="module")
def world(pg_cluster: Any, template_url: str, demo_artifacts: Path,
          tmp_path_factory: pytest.TempPathFactory) -> Iterator[SimpleNamespace]:
    """The whole app on a private clone of the demo city whose holiday table holds the 2026 schedule."""
    from app import create_app
    from core.workdays_store import seed

    name = "t_case_pages"
    url = clone_database(pg_cluster, name)
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        seed(conn, [2026])
    engine.dispose()
    app = create_app({"database": {"url": url}, "paths": {"var": str(tmp_path_factory.mktemp("case-pages-var"))},
                      "logging": {"level": "WARNING", "format": "json"}})
    yield SimpleNamespace(client=Client(InjectIdentity(find_gate(app))), own_uscc="91329902MA0000000X")
    drop_database(pg_cluster, name)


def get(world: SimpleNamespace, role: str, path: str, **headers: str) -> Any:
    return world.client.get(path, headers={**HTML, **headers},
                            environ_base={"test.identity": identity(role, world)})


def boot_of(html: str) -> dict[str, Any]:
    found = re.search(r'<script type="application/json" id="onemap-boot">(.*?)</script>', html, re.S)
    assert found, "the page embeds no boot document"
    return json.loads(found.group(1))


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("path", PAGES)
def test_only_case_workers_get_the_pages(world: SimpleNamespace, role: str, path: str) -> None:
    response = get(world, role, path)
    if role in CASE_WORKERS:
        assert response.status_code == 200, (role, path, response.status_code)
        assert response.mimetype == "text/html"
        boot = boot_of(response.get_data(as_text=True))
        assert boot["lang"] == "zh-CN" and boot["strings"]["list_todo"] == "待办"
        assert boot["page"] == ("cases" if path.startswith("/cases?") or path == "/cases" else "case")
    elif role == "anonymous":
        assert response.status_code == 303, (path, response.status_code)
        assert response.headers["Location"].startswith("/auth/login?next=%2Fcases")
    else:
        assert response.status_code == 403, (role, path, response.status_code)
        assert "onemap-boot" not in response.get_data(as_text=True)


def test_case_page_boot_names_the_case_and_the_city_basemap(world: SimpleNamespace) -> None:
    boot = boot_of(get(world, "district_regulator", "/cases/42").get_data(as_text=True))
    assert boot["caseId"] == 42
    assert boot["basemap"] == "/tiles/wmts/basemap/webmercator/{z}/{x}/{y}.png"
    assert boot["root"] == "/"


def test_pages_have_no_inline_code_and_no_foreign_assets(world: SimpleNamespace) -> None:
    for path in ("/cases", "/cases/7"):
        html = get(world, "city_regulator", path).get_data(as_text=True)
        scripts = re.findall(r"<script([^>]*)>(.*?)</script>", html, re.S)
        assert scripts, path
        for attrs, body in scripts:
            # code only from files; the one inline element is data the browser never runs
            assert ('src="' in attrs and not body.strip()) or 'type="application/json"' in attrs, (path, attrs)
        assert "<style" not in html and " style=" not in html
        for url in re.findall(r'(?:src|href)="([^"]+)"', html):
            assert not re.match(r"^(https?:)?//", url), (path, url)  # nothing from the internet


def test_page_scripts_and_styles_are_served(world: SimpleNamespace) -> None:
    html = get(world, "grid_worker", "/cases/3").get_data(as_text=True)
    assets = re.findall(r'(?:src|href)="(/static/[^"?]+)', html)
    assert f"{STATIC}case_page.js" in assets and f"{STATIC}cases.css" in assets
    for name in ("case_page.js", "list_page.js", "form.js", "common.js", "console.js", "cases.css"):
        response = get(world, "anonymous", STATIC + name)
        assert response.status_code == 200, name
        assert response.get_data(), name


def test_english_on_request(world: SimpleNamespace) -> None:
    response = get(world, "enterprise_user", "/cases?lang=en")
    html = response.get_data(as_text=True)
    boot = boot_of(html)
    assert boot["lang"] == "en" and boot["strings"]["list_overdue"] == "Overdue"
    assert '<html lang="en">' in html and ">To do" in html
    chinese = get(world, "enterprise_user", "/cases").get_data(as_text=True)
    assert '<html lang="zh-CN">' in chinese and ">待办" in chinese


def test_strings_for_the_console_plugin(world: SimpleNamespace) -> None:
    zh = get(world, "grid_worker", "/cases/strings", Accept="application/json").get_json()
    en = get(world, "grid_worker", "/cases/strings?lang=en", Accept="application/json").get_json()
    assert zh["todo_badge"] == "待办" and en["todo_badge"] == "To do"
    assert set(zh) == set(en)
    assert get(world, "auditor", "/cases/strings", Accept="application/json").status_code == 403


def _working(window: dict[str, Any], day: str) -> str:
    from datetime import date

    return window["days"][(date.fromisoformat(day) - date.fromisoformat(window["start"])).days]


def test_the_page_counts_deadlines_in_working_days_with_tiaoxiu(world: SimpleNamespace) -> None:
    """The case page's window of working days follows the 2026 schedule (国庆节 1–7 October off, Saturday
    10 October worked by 调休) and the test clock, not the browser's date."""
    from datetime import UTC, datetime

    from core import clock

    with clock.freeze(datetime(2026, 10, 5, 4, 0, tzinfo=UTC)):
        boot = boot_of(get(world, "city_regulator", "/cases/5").get_data(as_text=True))
    assert boot["today"] == "2026-10-05"
    window = boot["workdays"]
    assert window is not None, "the demo city's holiday table covers 2026"
    # 1–7 October off, Thursday 8 and Friday 9 worked, Saturday 10 worked (调休), Sunday 11 off, Monday 12 worked
    assert "".join(_working(window, f"2026-10-{d:02d}") for d in range(1, 13)) == "000000011101"
    assert _working(window, "2026-09-20") == "1"  # a Sunday worked by 调休
    assert _working(window, "2026-09-21") == "1" and _working(window, "2026-09-26") == "0"
