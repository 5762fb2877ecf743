"""The hidden-danger statistics API and the large screen's overdue card, on the whole WSGI app behind the policy gate,
for every role, on a clone of the demo city holding the hand-made hidden dangers of hidden_dangers_support.

Expectations are the hand-counted figures: city regulators and dispatchers see the city's, district regulators and
grid workers their district's, the enterprise user its own enterprise's; every other role is refused (401 anonymous /
403). A bad parameter is a 400 problem naming it. The screen's "逾期未整改隐患" card is the overdue figure of the
viewer's scope, and follows the data.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import sqlalchemy as sa
from werkzeug.test import Client

from core import clock
from core.identity import ANONYMOUS, ROLES, Identity
from tests.conftest import clone_database, drop_database
from tests.integration import hidden_dangers_support as hd
from tests.system.test_permission_matrix import InjectIdentity, find_gate

pytestmark = pytest.mark.system
ALL_ROLES = ["anonymous", *ROLES]
API = "/api/hidden-dangers"
NAME = "t_permission_hidden_dangers"


@pytest.fixture(scope="module")
def world(pg_cluster, template_url: str, demo_artifacts: Path,  # noqa: ANN001
          tmp_path_factory: pytest.TempPathFactory) -> Iterator[SimpleNamespace]:
    from app import create_app

    url = clone_database(pg_cluster, NAME)
    var = tmp_path_factory.mktemp(f"{NAME}-var")
    (var / "data").mkdir()
    (var / "data" / "population.tif").symlink_to(demo_artifacts / "data" / "population.tif")
    app = create_app({"database": {"url": url}, "paths": {"var": str(var)},
                      "logging": {"level": "WARNING", "format": "json"}})
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        made = hd.insert(conn)
    with clock.freeze(hd.NOW):
        yield SimpleNamespace(client=Client(InjectIdentity(find_gate(app))), engine=engine, **vars(made))
    engine.dispose()
    drop_database(pg_cluster, NAME)


def identity(role: str, world: SimpleNamespace) -> Identity:
    if role == "anonymous":
        return ANONYMOUS
    return Identity(user_id=3000 + ALL_ROLES.index(role), username=f"test_{role}", roles=frozenset({role}),
                    district_code=hd.OWN_DISTRICT if role in ("district_regulator", "grid_worker") else None,
                    enterprise_uscc=world.uscc["E1"] if role == "enterprise_user" else None, method="session")


def call(world: SimpleNamespace, role: str, path: str) -> Any:
    return world.client.get(path, environ_base={"test.identity": identity(role, world)})


# the figures each role is owed (None: refused)
EXPECTED = {"city_regulator": hd.CITY, "dispatcher": hd.CITY, "district_regulator": hd.OWN, "grid_worker": hd.OWN,
            "enterprise_user": hd.E1}


def figures(entry: dict) -> dict:
    return {k: entry[k] for k in hd.CITY}


@pytest.mark.parametrize("role", ALL_ROLES)
def test_stats_follow_the_role_and_its_scope(world: SimpleNamespace, role: str) -> None:
    want = EXPECTED.get(role)
    for by in ("district", "category", "industry", "grid_cell", "state"):
        response = call(world, role, f"{API}/stats?by={by}")
        if want is None:
            assert response.status_code == (401 if role == "anonymous" else 403), (by, response.status_code)
            assert response.mimetype == "application/problem+json" and "groups" not in response.get_json()
            continue
        assert response.status_code == 200, (by, response.data[:300])
        body = response.get_json()
        assert figures(body["totals"]) == want, by
        assert sum(g["total"] for g in body["groups"]) == want["total"]
        assert "no-store" in response.headers["Cache-Control"]


@pytest.mark.parametrize("role", ALL_ROLES)
def test_trend_follows_the_role_and_its_scope(world: SimpleNamespace, role: str) -> None:
    response = call(world, role, f"{API}/trend?months=24")
    want = EXPECTED.get(role)
    if want is None:
        assert response.status_code == (401 if role == "anonymous" else 403)
        return
    months = response.get_json()["months"]
    assert len(months) == 24 and months[-1]["month"] == "2026-06"
    # every row the role may read was reported inside the window, except YH-T-08 (2024-05, foreign district)
    assert sum(m["reported"] for m in months) == want["total"] - (1 if want is hd.CITY else 0)


@pytest.mark.parametrize("role", ALL_ROLES)
def test_grid_heat_follows_the_role_and_its_scope(world: SimpleNamespace, role: str) -> None:
    response = call(world, role, f"{API}/grid-heat")
    if role in ("city_regulator", "dispatcher", "district_regulator", "grid_worker"):
        assert response.status_code == 200 and response.mimetype == "application/geo+json"
        features = response.get_json()["features"]
        districts = {f["properties"]["district_code"] for f in features}
        assert districts == ({hd.OWN_DISTRICT} if role in ("district_regulator", "grid_worker") else districts)
        assert len(districts) > (0 if role in ("district_regulator", "grid_worker") else 1)
        opened = {f["id"]: f["properties"]["open"] for f in features if f["properties"]["open"]}
        want = {world.cell[k]: v[0] for k, v in hd.HEAT.items()
                if role in ("city_regulator", "dispatcher") or k != "G3"}
        assert opened == want
    else:  # the enterprise user may not read grid cells; the rest may not read hidden dangers at all
        assert response.status_code == (401 if role == "anonymous" else 403)


@pytest.mark.parametrize(("query", "name"), [
    ("stats?by=colour", "by"), ("stats?from=2026-02-30", "from"), ("stats?to=06/01/2026", "to"),
    ("stats?from=2026-06-02&to=2026-06-01", "to"), ("stats?district=329902", "district"),
    ("trend?months=0", "months"), ("trend?months=abc", "months"), ("trend?months=121", "months"),
    ("grid-heat?bbox=1,2,3,4", "bbox"),
])
def test_bad_parameters_are_a_400_naming_the_parameter(world: SimpleNamespace, query: str, name: str) -> None:
    response = call(world, "city_regulator", f"{API}/{query}")
    assert response.status_code == 400, response.data[:300]
    problem = response.get_json()
    assert problem["input"] == name and problem["status"] == 400, problem


@pytest.mark.parametrize(("role", "overdue"), [("city_regulator", 3), ("dispatcher", 3), ("district_regulator", 2)])
def test_the_screen_card_is_the_overdue_figure_of_the_viewers_scope(world: SimpleNamespace, role: str,
                                                                    overdue: int) -> None:
    card = call(world, role, "/screen/kpis").get_json()["overdue_hidden_dangers"]
    stats = call(world, role, f"{API}/stats").get_json()["totals"]["overdue"]
    assert card == stats == overdue


def test_the_screen_card_follows_the_data(world: SimpleNamespace) -> None:
    with world.engine.begin() as conn:  # YH-T-01 passes its deadline; YH-T-02 is rectified and closed
        conn.execute(sa.text("UPDATE hidden_dangers SET overdue = true WHERE code = 'YH-T-01'"))
        conn.execute(sa.text("UPDATE hidden_dangers SET state = 'closed', closed_at = now() WHERE code = 'YH-T-02'"))
    try:
        assert call(world, "city_regulator", "/screen/kpis").get_json()["overdue_hidden_dangers"] == 3
        with world.engine.begin() as conn:
            conn.execute(sa.text("UPDATE hidden_dangers SET overdue = true WHERE code = 'YH-T-09'"))
        assert call(world, "city_regulator", "/screen/kpis").get_json()["overdue_hidden_dangers"] == 4
        assert call(world, "district_regulator", "/screen/kpis").get_json()["overdue_hidden_dangers"] == 2
    finally:
        with world.engine.begin() as conn:
            conn.execute(sa.text("UPDATE hidden_dangers SET overdue = false WHERE code IN ('YH-T-01', 'YH-T-09')"))
            conn.execute(sa.text("UPDATE hidden_dangers SET state = 'rectifying', closed_at = NULL "
                                 "WHERE code = 'YH-T-02'"))


def test_the_console_offers_the_plug_in_to_readers_only(world: SimpleNamespace) -> None:
    page = call(world, "district_regulator", "/").get_data(as_text=True)
    assert "static/modules/supervision.hidden_dangers/stats.js" in page
    script = call(world, "district_regulator", "/static/modules/supervision.hidden_dangers/stats.js")
    assert script.status_code == 200 and "export function init" in script.get_data(as_text=True)
    css = call(world, "district_regulator", "/static/modules/supervision.hidden_dangers/stats.css")
    assert css.status_code == 200 and css.mimetype == "text/css"
