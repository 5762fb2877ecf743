"""The hidden-danger statistics service (supervision/hidden_dangers/stats.py) on a clone of the demo city holding the
hand-made hidden dangers of hidden_dangers_support: counts by every grouping, the period, the monthly trend in
China's months, the grid heat and the caller's data scope; and the parsing of the API's parameters."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, timedelta
from types import SimpleNamespace

import pytest
import sqlalchemy as sa

from access.errors import Forbidden, Unauthenticated
from access.policy.rowscope import LayerAccess
from access.policy.rules import Authz, load_policy
from core import clock
from core.errors import InvalidInput
from core.identity import ANONYMOUS, Identity
from supervision.hidden_dangers import schemas, stats
from tests.conftest import clone_database, drop_database
from tests.integration import hidden_dangers_support as hd

POLICY = load_policy()
UNRESTRICTED = LayerAccess.unrestricted()


def access_of(role: str, **kw: object) -> LayerAccess:
    who = Identity(user_id=9, username=f"test_{role}", roles=frozenset({role}), method="session", **kw)  # type: ignore[arg-type]
    return LayerAccess(Authz(POLICY, who))


@pytest.fixture(scope="module")
def world(pg_cluster, template_url: str) -> Iterator[SimpleNamespace]:  # noqa: ANN001
    url = clone_database(pg_cluster, "t_hidden_danger_stats")
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        made = hd.insert(conn)
    with engine.connect() as conn, clock.freeze(hd.NOW):
        yield SimpleNamespace(conn=conn, **vars(made))
    engine.dispose()
    drop_database(pg_cluster, "t_hidden_danger_stats")


def run(world: SimpleNamespace, access: LayerAccess = UNRESTRICTED, **args: str) -> dict:
    return stats.stats(world.conn, schemas.stats_query(args), access=access)


def figures(entry: dict) -> dict:
    return {k: entry[k] for k in (*stats.COUNTS, "rectification_rate")}


# -- counts -------------------------------------------------------------------------------------------------------

def test_city_totals_and_districts(world: SimpleNamespace) -> None:
    body = run(world, by="district")
    assert figures(body["totals"]) == hd.CITY
    by_key = {g["key"]: g for g in body["groups"]}
    assert figures(by_key[hd.OWN_DISTRICT]) == hd.OWN and figures(by_key[hd.FOREIGN_DISTRICT]) == hd.FOREIGN
    # every district of the city is listed (zeros for the others), with its name
    districts = world.conn.execute(sa.text("SELECT code, name FROM districts ORDER BY code")).all()
    assert [(g["key"], g["label"]["zh-CN"]) for g in body["groups"]] == [tuple(d) for d in districts]
    assert all(g["total"] == 0 for g in body["groups"] if g["key"] not in (hd.OWN_DISTRICT, hd.FOREIGN_DISTRICT))


def test_by_category_lists_every_category_in_the_layer_order(world: SimpleNamespace) -> None:
    body = run(world, by="category")
    assert {g["key"]: g["total"] for g in body["groups"]} == hd.CITY_BY_CATEGORY
    assert [g["key"] for g in body["groups"]] == list(hd.CITY_BY_CATEGORY)
    assert next(g for g in body["groups"] if g["key"] == "fire")["label"] == {"zh-CN": "消防安全", "en": "Fire safety"}
    assert figures(body["totals"]) == hd.CITY


@pytest.mark.parametrize(("by", "want"), [
    ("level", {"general": 8, "major": 2}),
    ("state", {"reported": 2, "rectifying": 2, "verifying": 1, "closed": 4, "dismissed": 1}),
    ("source", {"self_check": 4, "inspection": 3, "grid_patrol": 2, "complaint": 1}),
    ("industry", hd.CITY_BY_INDUSTRY),
])
def test_coded_groupings(world: SimpleNamespace, by: str, want: dict) -> None:
    body = run(world, by=by)
    assert {g["key"]: g["total"] for g in body["groups"]} == want
    assert body["totals"]["total"] == 10


def test_by_state_counts_overdue_and_listed_only_while_open(world: SimpleNamespace) -> None:
    groups = {g["key"]: g for g in run(world, by="state")["groups"]}
    assert (groups["rectifying"]["overdue"], groups["rectifying"]["listed"]) == (2, 2)
    # YH-T-10 was overdue and listed, and has been closed since
    assert (groups["closed"]["overdue"], groups["closed"]["listed"], groups["closed"]["closed"]) == (0, 0, 4)
    assert groups["closed"]["rectification_rate"] == 1.0 and groups["dismissed"]["rectification_rate"] is None


def test_by_grid_cell_most_first_with_names(world: SimpleNamespace) -> None:
    groups = run(world, by="grid_cell")["groups"]
    want = [(world.cell[c] if c else None, n) for c, n in hd.CITY_BY_CELL]
    assert [(g["key"], g["total"]) for g in groups] == want
    assert groups[0]["label"]["zh-CN"] == world.cell_name["G1"]


def test_by_industry_code_uses_the_enterprises_gbt4754_class(world: SimpleNamespace) -> None:
    codes = dict(world.conn.execute(sa.text("SELECT uscc, industry_code FROM enterprises WHERE uscc = ANY(:u)"),
                                    {"u": list(world.uscc.values())}).all())
    want: dict[str, int] = {"none": 2}
    for row in hd.ROWS:
        if row.enterprise:
            code = codes[world.uscc[row.enterprise]]
            want[code] = want.get(code, 0) + 1
    assert {g["key"]: g["total"] for g in run(world, by="industry_code")["groups"]} == want


def test_the_period_is_inclusive_days_in_china(world: SimpleNamespace) -> None:
    body = run(world, by="level", **{"from": "2026-03-01", "to": "2026-05-31"})
    assert figures(body["totals"]) == hd.SPRING
    assert (body["from"], body["to"]) == ("2026-03-01", "2026-05-31")
    # 2026-06-01 00:30 in China (31 May in UTC) belongs to June; 2026-05-01 00:30 (30 April UTC) to May
    assert run(world, **{"from": "2026-06-01", "to": "2026-06-01"})["totals"]["total"] == 1
    assert run(world, **{"from": "2026-05-01", "to": "2026-05-01"})["totals"]["total"] == 1
    assert run(world, **{"to": "2024-12-31"})["totals"]["total"] == 1
    assert run(world, **{"from": "2026-06-16"})["totals"]["total"] == 0


# -- trend --------------------------------------------------------------------------------------------------------

def test_trend_by_month_in_china(world: SimpleNamespace) -> None:
    body = stats.trend(world.conn, 24, access=UNRESTRICTED)
    assert (body["from"], body["to"], body["today"]) == ("2024-07", "2026-06", "2026-06-15")
    assert len(body["months"]) == 24
    got = {m["month"]: (m["reported"], m["closed"]) for m in body["months"] if m["reported"] or m["closed"]}
    assert got == hd.TREND
    assert [m["month"] for m in body["months"]] == sorted(m["month"] for m in body["months"])


def test_trend_follows_the_clock(world: SimpleNamespace) -> None:
    assert stats.trend(world.conn, 1, access=UNRESTRICTED)["months"] == [
        {"month": "2026-06", "reported": 2, "closed": 0}]
    with clock.travel(timedelta(days=20)):  # 5 July 2026
        body = stats.trend(world.conn, 2, access=UNRESTRICTED)
    assert body["months"] == [{"month": "2026-06", "reported": 2, "closed": 0},
                              {"month": "2026-07", "reported": 0, "closed": 0}]
    assert stats.trend(world.conn, 13, access=UNRESTRICTED)["from"] == "2025-06"


# -- grid heat ----------------------------------------------------------------------------------------------------

def test_grid_heat_counts_open_hidden_dangers_per_cell(world: SimpleNamespace) -> None:
    body = stats.grid_heat(world.conn, access=UNRESTRICTED)
    assert body["type"] == "FeatureCollection"
    cells = world.conn.execute(sa.text("SELECT count(*) FROM grid_cells")).scalar_one()
    assert len(body["features"]) == cells
    props = {f["id"]: f["properties"] for f in body["features"]}
    for key, (open_, overdue, listed) in hd.HEAT.items():
        assert (props[world.cell[key]]["open"], props[world.cell[key]]["overdue"],
                props[world.cell[key]]["listed"]) == (open_, overdue, listed)
    assert sum(p["open"] for p in props.values()) == hd.CITY["open"]  # every open one lies in a cell
    assert body["max"] == {"open": 2, "overdue": 1, "listed": 1}
    assert body["features"][0]["geometry"]["type"] in ("Polygon", "MultiPolygon")


# -- data scope ---------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("role", ["district_regulator", "grid_worker"])
def test_a_district_sees_only_its_own_district(world: SimpleNamespace, role: str) -> None:
    access = access_of(role, district_code=hd.OWN_DISTRICT)
    body = run(world, access, by="district")
    assert figures(body["totals"]) == hd.OWN
    assert [g["key"] for g in body["groups"]] == [hd.OWN_DISTRICT]
    assert {g["key"]: g["total"] for g in run(world, access, by="industry")["groups"]} == hd.OWN_BY_INDUSTRY
    trend = stats.trend(world.conn, 24, access=access)
    assert sum(m["reported"] for m in trend["months"]) == 7 and sum(m["closed"] for m in trend["months"]) == 3
    heat = stats.grid_heat(world.conn, access=access)
    assert {f["properties"]["district_code"] for f in heat["features"]} == {hd.OWN_DISTRICT}
    assert sum(f["properties"]["open"] for f in heat["features"]) == 3


def test_an_enterprise_sees_only_its_own_hidden_dangers(world: SimpleNamespace) -> None:
    access = access_of("enterprise_user", enterprise_uscc=world.uscc["E1"])
    body = run(world, access, by="district")
    assert figures(body["totals"]) == hd.E1
    assert [g["key"] for g in body["groups"]] == [hd.OWN_DISTRICT]
    assert {g["key"]: g["total"] for g in run(world, access, by="industry")["groups"]} == {
        "hazchem": 4, "fireworks": 0, "non_coal_mine": 0, "industry_trade": 0}
    # grid cells are not the enterprise's to read: their codes, not their names
    cells = run(world, access, by="grid_cell")["groups"]
    assert [(g["key"], g["label"]["zh-CN"], g["total"]) for g in cells] == [
        (world.cell["G1"], world.cell["G1"], 3), (world.cell["G2"], world.cell["G2"], 1)]
    with pytest.raises(Forbidden):
        stats.grid_heat(world.conn, access=access)


def test_city_roles_see_everything_and_others_nothing(world: SimpleNamespace) -> None:
    for role in ("city_regulator", "dispatcher"):
        assert figures(run(world, access_of(role), by="level")["totals"]) == hd.CITY
    for role in ("public", "intermediary_user", "auditor"):
        with pytest.raises(Forbidden):
            run(world, access_of(role))
        with pytest.raises(Forbidden):
            stats.trend(world.conn, 3, access=access_of(role))
    with pytest.raises(Unauthenticated):
        run(world, LayerAccess(Authz(POLICY, ANONYMOUS)))


# -- parameters ---------------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("args", "name"), [
    ({"by": "colour"}, "by"),
    ({"from": "2026-13-01"}, "from"),
    ({"from": "2026-02-30"}, "from"),
    ({"to": "yesterday"}, "to"),
    ({"from": "2026-05-01", "to": "2026-04-30"}, "to"),
    ({"district": "329902"}, "district"),
])
def test_bad_stats_parameters_are_named(args: dict, name: str) -> None:
    with pytest.raises(InvalidInput) as err:
        schemas.stats_query(args)
    assert err.value.details["input"] == name


@pytest.mark.parametrize(("args", "name"), [({"months": "0"}, "months"), ({"months": "121"}, "months"),
                                            ({"months": "two"}, "months"), ({"by": "district"}, "by")])
def test_bad_trend_parameters_are_named(args: dict, name: str) -> None:
    with pytest.raises(InvalidInput) as err:
        schemas.trend_months(args)
    assert err.value.details["input"] == name


def test_defaults() -> None:
    assert schemas.stats_query({}) == schemas.StatsQuery("district", None, None)
    assert schemas.trend_months({}) == 24
    assert schemas.stats_query({"from": "2026-01-01", "to": "2026-01-01"}).start == date(2026, 1, 1)
