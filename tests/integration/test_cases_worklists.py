"""Work lists on the demo city's hidden dangers: 待办 holds exactly the open cases in the caller's scope that their
role can move now, and the counts (one statement) agree with the lists' totals for every list and caller."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import sqlalchemy as sa

from core import clock
from supervision.cases import service, worklists
from tests.integration.cases_support import CONFIG, caller, writable_demo

# From supervision/hidden_dangers/cases/hidden_danger.yaml, written out by hand: the states in which each role has
# a step of its own (挂牌督办 cases move only by the system, so they are on nobody's 待办).
ACTIONABLE = {"district_regulator": {"reported", "rectifying", "verifying"},
              "city_regulator": {"reported", "rectifying", "verifying"},
              "enterprise_user": {"reported", "rectifying"},
              "grid_worker": set()}


@pytest.fixture(scope="module")
def db(pg_cluster, template_url) -> Iterator[sa.Engine]:  # noqa: ANN001
    yield from writable_demo(pg_cluster, "cases_worklists")


@pytest.fixture(scope="module")
def cases(db: sa.Engine) -> list[sa.Row]:
    """The demo's cases, plus (through the engine) cases in the states the demo's open ones lack: a new report and
    a rectification reported done at the busiest enterprise, and a report in another district."""
    with db.connect() as conn:
        busiest = conn.execute(sa.text(
            "SELECT enterprise_uscc, district_code FROM cases WHERE closed_at IS NULL AND state = 'rectifying' "
            "GROUP BY 1, 2 ORDER BY count(*) DESC, 1 LIMIT 1")).one()
        elsewhere = conn.execute(sa.text("SELECT uscc FROM enterprises WHERE district_code <> :d ORDER BY uscc "
                                         "LIMIT 1"), {"d": busiest.district_code}).scalar_one()
        rectifying = conn.execute(sa.text("SELECT id FROM cases WHERE enterprise_uscc = :u AND state = 'rectifying' "
                                          "ORDER BY id LIMIT 1"), {"u": busiest.enterprise_uscc}).scalar_one()
    ent = caller("enterprise_user", uscc=busiest.enterprise_uscc, name=f"demo_ent_{busiest.enterprise_uscc[-4:]}")
    city = caller("city_regulator", name="demo_city")
    form = {"title": "安全通道被物料占用", "level": "general", "category": "site"}
    for who, uscc in ((ent, busiest.enterprise_uscc), (city, elsewhere)):
        with db.connect() as conn:
            service.open_case(conn, {"case_type": "hidden_danger", "anchor": {"kind": "enterprise", "id": uscc},
                                     "form": form}, access=who[1], identity=who[0], config=CONFIG, answer=False)
    with db.connect() as conn:
        service.transition(conn, rectifying, {"action": "submit_report", "form": {
            "completed_on": clock.today().isoformat(), "description": "已整改"}}, access=ent[1], identity=ent[0],
            config=CONFIG, answer=False)
    with db.connect() as conn:
        return conn.execute(sa.text("SELECT id, case_type, state, district_code, enterprise_uscc, closed_at "
                                    "FROM cases")).all()


def _callers(cases: list[sa.Row]) -> dict[str, tuple]:
    open_ = [c for c in cases if c.closed_at is None and c.case_type == "hidden_danger"]
    district = max({c.district_code for c in open_}, key=lambda d: sum(c.district_code == d for c in open_))
    uscc = max({c.enterprise_uscc for c in open_}, key=lambda u: (sum(c.enterprise_uscc == u for c in open_), u))
    return {"district_regulator": caller("district_regulator", district=district, name=f"demo_district_{district}"),
            "city_regulator": caller("city_regulator", name="demo_city"),
            "enterprise_user": caller("enterprise_user", uscc=uscc, name=f"demo_ent_{uscc[-4:]}"),
            "grid_worker": caller("grid_worker", district=district, name=f"demo_grid_{district}")}


def _in_scope(case: sa.Row, identity) -> bool:  # noqa: ANN001
    if "city_regulator" in identity.roles:
        return True
    if "enterprise_user" in identity.roles:
        return case.enterprise_uscc == identity.enterprise_uscc
    return case.district_code == identity.district_code


@pytest.mark.parametrize("role", sorted(ACTIONABLE))
def test_todo_is_what_the_role_can_move_in_its_scope(db: sa.Engine, cases: list[sa.Row], role: str) -> None:
    identity, access = _callers(cases)[role]
    expected = {c.id for c in cases if c.closed_at is None and c.case_type == "hidden_danger"
                and c.state in ACTIONABLE[role] and _in_scope(c, identity)}
    with db.connect() as conn:
        got = worklists.listing(conn, {"list": "todo", "limit": "500"}, access=access, identity=identity,
                                config=CONFIG)
    assert role == "grid_worker" or expected, "the demo city should give this caller something to do"
    assert {item["id"] for item in got["items"]} == expected
    assert got["total"] == len(expected)
    dues = [item["due_date"] or "9999" for item in got["items"]]
    assert dues == sorted(dues), "待办 is ordered by the nearest deadline"


@pytest.mark.parametrize("role", sorted(ACTIONABLE))
def test_counts_agree_with_the_lists(db: sa.Engine, cases: list[sa.Row], role: str) -> None:
    identity, access = _callers(cases)[role]
    with db.connect() as conn:
        counts = worklists.counts(conn, access=access, identity=identity, config=CONFIG)
        totals = {name: worklists.listing(conn, {"list": name, "limit": "1"}, access=access, identity=identity,
                                          config=CONFIG)["total"] for name in ("todo", "done", "overdue", "due_soon")}
    assert counts == totals
    if role != "grid_worker":
        assert counts["todo"] > 0
    if role in ("district_regulator", "city_regulator"):
        assert counts["done"] > 0 and counts["overdue"] > 0
