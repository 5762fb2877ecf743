"""The hazard source module's service on the demo city: the GB 18218 assessment of every stored hazard source, its
row scope, its what-if and the records it cannot grade; and the request parsing of its API (schemas)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import sqlalchemy as sa

from access.errors import Forbidden
from access.policy.rowscope import LayerAccess
from access.policy.rules import Authz, load_policy
from core.errors import Conflict, InvalidInput, NotFound
from core.identity import Identity
from supervision.hazard_sources import schemas, service
from supervision.hazard_sources.gb18218 import alpha_for_population, assess

UNRESTRICTED = LayerAccess.unrestricted()
POLICY = load_policy()


def access_of(role: str, **kw: object) -> LayerAccess:
    who = Identity(user_id=9, username=f"test_{role}", roles=frozenset({role}), method="session", **kw)  # type: ignore[arg-type]
    return LayerAccess(Authz(POLICY, who))


@pytest.fixture(scope="module")
def conn(db: sa.Engine) -> Iterator[sa.Connection]:
    with db.connect() as connection:
        yield connection
        connection.rollback()


@pytest.fixture(scope="module")
def sources(conn: sa.Connection) -> list[sa.RowMapping]:
    return list(conn.execute(sa.text(
        "SELECT code, enterprise_uscc, district_code, grade, s_value, r_value, exposed_population "
        "FROM hazard_sources ORDER BY code")).mappings())


def inventory(conn: sa.Connection, code: str) -> list[dict]:
    rows = conn.execute(sa.text("SELECT cas, chemical_name, quantity_t FROM hazard_source_chemicals "
                                "WHERE hazard_source_code = :c ORDER BY id"), {"c": code}).mappings()
    return [{"cas": r["cas"], "quantity_t": r["quantity_t"]} if r["cas"] else
            {"name": r["chemical_name"], "quantity_t": r["quantity_t"]} for r in rows]


def test_every_stored_hazard_source_is_graded_by_the_library_and_agrees_with_its_record(
        conn: sa.Connection, sources: list[sa.RowMapping]) -> None:
    assert len(sources) >= 100
    for src in sources:
        got = service.assessment(conn, src["code"], access=UNRESTRICTED)
        want = assess(inventory(conn, src["code"]), src["exposed_population"]).to_dict()
        assert got["assessment"] == want
        assert got["recorded"] == {k: src[k] for k in ("grade", "s_value", "r_value", "exposed_population")}
        assert (got["code"], got["district_code"], got["enterprise_uscc"]) == \
            (src["code"], src["district_code"], src["enterprise_uscc"])
        # the demo city is graded by the same library, so a record that disagrees is a defect of one of them
        assert got["differences"] == [] and got["what_if"] is False
        assert want["grade"] == src["grade"] and want["is_major"]


@pytest.mark.parametrize("role", ["district_regulator", "enterprise_user"])
def test_a_hazard_source_outside_the_scope_does_not_exist(conn: sa.Connection, sources: list[sa.RowMapping],
                                                          role: str) -> None:
    first = sources[0]
    if role == "district_regulator":
        access = access_of(role, district_code=first["district_code"])
        inside = {s["code"] for s in sources if s["district_code"] == first["district_code"]}
    else:
        access = access_of(role, enterprise_uscc=first["enterprise_uscc"])
        inside = {s["code"] for s in sources if s["enterprise_uscc"] == first["enterprise_uscc"]}
    assert 0 < len(inside) < len(sources)
    for src in sources:
        if src["code"] in inside:
            assert service.assessment(conn, src["code"], access=access)["code"] == src["code"]
        else:
            with pytest.raises(NotFound) as err:
                service.assessment(conn, src["code"], access=access)
            assert err.value.http_status == 404 and err.value.details == {"code": src["code"]}


def test_unknown_code_is_not_found_and_a_role_without_the_layer_is_refused(conn: sa.Connection,
                                                                          sources: list[sa.RowMapping]) -> None:
    with pytest.raises(NotFound, match="no hazard source with code HS-000000-0000"):
        service.assessment(conn, "HS-000000-0000", access=UNRESTRICTED)
    with pytest.raises(Forbidden, match="may not read layer hazard_sources"):
        service.assessment(conn, sources[0]["code"], access=access_of("grid_worker", district_code="329902"))


def test_what_if_regrades_with_another_population_and_changes_nothing(conn: sa.Connection,
                                                                      sources: list[sa.RowMapping]) -> None:
    src = next(s for s in sources if alpha_for_population(s["exposed_population"]) < 2.0)
    got = service.assessment(conn, src["code"], access=UNRESTRICTED, exposed_population=200)
    want = assess(inventory(conn, src["code"]), 200).to_dict()
    assert got["assessment"] == want and got["what_if"] is True and got["differences"] == []
    assert want["alpha"] == 2.0 and want["alpha"] != alpha_for_population(src["exposed_population"])
    assert got["recorded"]["exposed_population"] == src["exposed_population"]
    again = service.assessment(conn, src["code"], access=UNRESTRICTED)
    assert again["assessment"]["exposed_population"] == src["exposed_population"]


def test_a_record_that_disagrees_with_the_standard_is_shown(db: sa.Engine, sources: list[sa.RowMapping]) -> None:
    code = sources[0]["code"]
    with db.connect() as conn:
        conn.execute(sa.text("UPDATE hazard_sources SET grade = 5 - grade, s_value = s_value + 1 WHERE code = :c"),
                     {"c": code})
        conn.execute(sa.text("UPDATE hazard_source_chemicals SET critical_quantity_t = critical_quantity_t * 2 "
                             "WHERE id = (SELECT min(id) FROM hazard_source_chemicals WHERE hazard_source_code = :c)"),
                     {"c": code})
        got = service.assessment(conn, code, access=UNRESTRICTED)
        conn.rollback()
    fields = {d["field"] for d in got["differences"]}
    assert fields == {"s_value", "grade", "chemicals[0].critical_quantity_t"}
    assert next(d for d in got["differences"] if d["field"] == "grade")["computed"] == got["assessment"]["grade"]


@pytest.mark.parametrize(("change", "message"), [
    ("DELETE FROM hazard_source_chemicals WHERE hazard_source_code = :c", "has no chemical inventory on record"),
    ("UPDATE hazard_source_chemicals SET cas = '7732-18-5' WHERE hazard_source_code = :c",
     "cannot be graded: unknown CAS '7732-18-5'"),
])
def test_an_inventory_the_standard_cannot_grade_is_a_conflict(db: sa.Engine, sources: list[sa.RowMapping],
                                                              change: str, message: str) -> None:
    code = sources[0]["code"]
    with db.connect() as conn:
        conn.execute(sa.text(change), {"c": code})
        with pytest.raises(Conflict, match=message) as err:
            service.assessment(conn, code, access=UNRESTRICTED)
        conn.rollback()
    assert err.value.http_status == 409 and err.value.details["code"] == code


@pytest.mark.parametrize(("code", "args", "name"), [
    ("HS-329902-0001-TOO-LONG", {}, "code"),
    ("HS 329902", {}, "code"),
    ("HS-329902-0001", {"exposed_population": "many"}, "exposed_population"),
    ("HS-329902-0001", {"exposed_population": "-1"}, "exposed_population"),
    ("HS-329902-0001", {"exposed_population": "10000001"}, "exposed_population"),
    ("HS-329902-0001", {"population": "5"}, "population"),
])
def test_bad_input_names_the_input_and_what_it_allows(code: str, args: dict[str, str], name: str) -> None:
    with pytest.raises(InvalidInput) as err:
        schemas.assessment_query(code, args)
    assert err.value.http_status == 400 and err.value.input_name == name and err.value.allowed


def test_good_input_is_read() -> None:
    assert schemas.assessment_query("HS-329902-0001", {}) == schemas.AssessmentQuery("HS-329902-0001", None)
    assert schemas.assessment_query("HS-329902-0001", {"exposed_population": "120", "lang": "en"}) == \
        schemas.AssessmentQuery("HS-329902-0001", 120)
