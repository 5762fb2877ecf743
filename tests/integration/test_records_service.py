"""Enterprise and hazard-source records, the service on a writable clone of the demo city: validation naming the
field (USCC check characters, GB/T 4754, district from the point, inside the city, declared CRS), versions and
stale edits, deactivation, GB 18218 grading on save with a grade change as a history and a live event, and the
all-or-nothing CSV/Excel import with problems by row and column."""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import openpyxl
import pytest
import sqlalchemy as sa

from access.policy.rowscope import LayerAccess
from core.changes import Changes
from core.errors import Conflict, DomainError, InvalidInput
from core.identity import Identity
from core.uscc import make_uscc
from supervision.hazard_sources.gb18218 import assess
from supervision.records import imports, service
from supervision.records.changes import apply_change
from supervision.records.schemas import ENTERPRISE, HAZARD_SOURCE
from tests.integration.emergency_support import KNOWN_GCJ, KNOWN_WGS, scratch_database

ACCESS = LayerAccess.unrestricted()
DISTRICT = "329902"  # where KNOWN_WGS lies


def new_uscc(n: int) -> str:
    return make_uscc("329902", f"MA{n:06d}")


def enterprise(n: int, **change: Any) -> dict[str, Any]:
    return {"uscc": new_uscc(n), "name": f"档案测试化工{n}有限公司", "industry_code": "C2614", "sector": "hazchem",
            "employees": 50, "address": "临江区测试路1号", "legal_representative": "张三", "phone": "025-0000000",
            "risk_colour": "yellow", "lon": KNOWN_WGS[0], "lat": KNOWN_WGS[1], **change}


def hazard_source(code: str, uscc: str, quantity: float = 50.0, **change: Any) -> dict[str, Any]:
    # ammonia (7664-41-7, Q = 10 t): 50 t is S = 5
    return {"code": code, "name": "测试液氨储罐区", "enterprise_uscc": uscc, "exposed_population": 120,
            "chemicals": [{"cas": "7664-41-7", "quantity_t": quantity}], "lon": KNOWN_WGS[0] + 0.0005,
            "lat": KNOWN_WGS[1], **change}


@pytest.fixture(scope="module")
def engine(pg_cluster, template_url: str) -> Iterator[sa.Engine]:  # noqa: ANN001
    with scratch_database(pg_cluster, "records_service") as url:
        engine = sa.create_engine(url)
        yield engine
        engine.dispose()


@pytest.fixture
def conn(engine: sa.Engine) -> Iterator[sa.Connection]:
    with engine.connect() as conn:
        yield conn


@pytest.fixture
def published(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, dict[str, Any], Any]]:
    seen: list[tuple[str, dict[str, Any], Any]] = []
    monkeypatch.setattr("core.changes.publish", lambda t, d, scope: seen.append((t, d, scope)))
    return seen


def count(conn: sa.Connection, sql: str, **params: Any) -> Any:
    value = conn.execute(sa.text(sql), params).scalar()
    conn.rollback()
    return value


def create(conn: sa.Connection, kind: Any, data: dict[str, Any]) -> dict[str, Any]:
    return service.create_record(conn, kind, data, access=ACCESS, actor="tester")


def history_of(conn: sa.Connection, kind: Any, key: str) -> list[dict[str, Any]]:
    found = service.get_history(conn, kind, key, access=ACCESS)["entries"]
    conn.rollback()  # a read leaves the connection in a transaction; the next change opens its own
    return found


def update(conn: sa.Connection, kind: Any, key: str, data: dict[str, Any]) -> dict[str, Any]:
    return service.update_record(conn, kind, key, data, access=ACCESS, actor="tester")


# -- create --------------------------------------------------------------------------------------------------------
def test_create_derives_district_grid_cell_and_converts_the_declared_crs(conn: sa.Connection,
                                                                       published: list) -> None:
    body = create(conn, ENTERPRISE, enterprise(1, lon=KNOWN_GCJ[0], lat=KNOWN_GCJ[1], crs="gcj02"))
    assert (body["lon"], body["lat"]) == pytest.approx(KNOWN_WGS, abs=2e-7)
    assert body["district_code"] == DISTRICT and body["status"] == "active" and body["version"] == 1
    cell = count(conn, "SELECT code FROM grid_cells WHERE ST_Intersects(geom, ST_SetSRID(ST_MakePoint(:x, :y), 4490)) "
                 "ORDER BY code LIMIT 1", x=KNOWN_WGS[0], y=KNOWN_WGS[1])
    assert body["grid_cell_code"] == cell
    assert body["industry"]["section"] == "C" and body["industry"]["division"] == "26"
    entries = history_of(conn, ENTERPRISE, body["uscc"])
    assert [(e["version"], e["action"], e["actor"], e["source"]) for e in entries] == [(1, "created", "tester", "api")]
    assert entries[0]["changes"]["name"] == {"old": None, "new": body["name"]}
    assert [(t, s.layer, s.district_code, s.enterprise_uscc) for t, _, s in published] == [
        ("record.created", "enterprises", DISTRICT, body["uscc"])]


@pytest.mark.parametrize("change, field, reason", [
    ({"uscc": new_uscc(2)[:-1] + ("0" if new_uscc(2)[-1] != "0" else "1")}, "uscc", "check character (18th) is wrong"),
    ({"uscc": "91329902MA00000"}, "uscc", "not 18 characters"),
    ({"uscc": "91329902MAI000001X"}, "uscc", "characters outside"),
    ({"industry_code": "9914"}, "industry_code", "unknown division"),
    ({"industry_code": "A2614"}, "industry_code", "section letter disagrees with the division"),
    ({"industry_code": "26X4"}, "industry_code", "not the shape of a GB/T 4754 code"),
    ({"sector": "magic"}, "sector", "not an allowed value"),
    ({"employees": 0}, "employees", "too small"),
    ({"name": "企" * 101}, "name", "longer than 100 characters"),
    ({"district_code": "329903"}, "district_code", "district disagrees with the location"),
    ({"grid_cell_code": "X"}, "grid_cell_code", "derived field"),
    ({"status": "deactivated"}, "status", "derived field"),
    ({"wings": 2}, "wings", "unknown field"),
    ({"lon": 121.47, "lat": 31.23}, "lon", "outside the city"),
    ({"crs": "EPSG:3857"}, "lon", "outside the city"),  # degrees declared as Web Mercator metres: not guessed back
    ({"crs": "tokyo"}, "crs", None),
])
def test_create_refuses_bad_values_naming_the_field(conn: sa.Connection, change: dict, field: str,
                                                    reason: str | None) -> None:
    before = count(conn, "SELECT count(*) FROM enterprises")
    with pytest.raises(InvalidInput) as caught:
        create(conn, ENTERPRISE, enterprise(2, **change))
    problem = caught.value.to_problem()
    assert problem["input"] == field and problem["status"] == 400
    if reason:
        assert reason in str(problem.get("reason")), problem
    assert count(conn, "SELECT count(*) FROM enterprises") == before


def test_a_district_label_that_disagrees_names_both_districts(conn: sa.Connection) -> None:
    with pytest.raises(InvalidInput) as caught:
        create(conn, ENTERPRISE, enterprise(3, district_code="329903"))
    details = caught.value.details
    assert (details["district_code"], details["location_district"]) == ("329903", DISTRICT)
    assert "329903" in caught.value.message_en and DISTRICT in caught.value.message_en


def test_a_duplicate_uscc_is_a_conflict(conn: sa.Connection) -> None:
    create(conn, ENTERPRISE, enterprise(4))
    with pytest.raises(Conflict) as caught:
        create(conn, ENTERPRISE, enterprise(4, name="另一家"))
    assert caught.value.code == "duplicate_record"


# -- edit, versions, deactivation -----------------------------------------------------------------------------------
def test_edits_need_the_current_version_and_are_recorded_old_to_new(conn: sa.Connection) -> None:
    uscc = create(conn, ENTERPRISE, enterprise(5))["uscc"]
    with pytest.raises(InvalidInput) as missing:
        update(conn, ENTERPRISE, uscc, {"phone": "1"})
    assert missing.value.input_name == "version"
    body = update(conn, ENTERPRISE, uscc, {"version": 1, "phone": "025-1111111", "employees": 60})
    assert body["version"] == 2 and body["phone"] == "025-1111111"
    with pytest.raises(Conflict) as stale:
        update(conn, ENTERPRISE, uscc, {"version": 1, "phone": "025-2222222"})
    assert stale.value.http_status == 409 and stale.value.details["current_version"] == 2
    assert update(conn, ENTERPRISE, uscc, {"version": 2, "phone": "025-1111111"})["version"] == 2  # no change
    last = history_of(conn, ENTERPRISE, uscc)[-1]
    assert last["action"] == "updated" and last["version"] == 2
    assert last["changes"] == {"phone": {"old": "025-0000000", "new": "025-1111111"},
                               "employees": {"old": 50, "new": 60}}
    assert count(conn, "SELECT phone FROM enterprises WHERE uscc = :u", u=uscc) == "025-1111111"


def test_a_move_rederives_the_district_and_records_the_location(conn: sa.Connection) -> None:
    uscc = create(conn, ENTERPRISE, enterprise(6))["uscc"]
    x, y = conn.execute(sa.text("SELECT ST_X(p), ST_Y(p) FROM (SELECT ST_PointOnSurface(geom) p FROM districts "
                                "WHERE code = '329903') s")).one()
    conn.rollback()
    body = update(conn, ENTERPRISE, uscc, {"version": 1, "lon": x, "lat": y})
    assert body["district_code"] == "329903"
    changes = history_of(conn, ENTERPRISE, uscc)[-1]["changes"]
    assert changes["district_code"] == {"old": DISTRICT, "new": "329903"} and "location" in changes
    with pytest.raises(InvalidInput) as caught:
        update(conn, ENTERPRISE, uscc, {"version": 2, "district_code": DISTRICT})
    assert caught.value.input_name == "district_code"


def test_deactivation_keeps_the_record_and_blocks_edits_until_reactivated(conn: sa.Connection,
                                                                          published: list) -> None:
    uscc = create(conn, ENTERPRISE, enterprise(7))["uscc"]
    code = create(conn, HAZARD_SOURCE, hazard_source("HS-TEST-0007", uscc))["code"]
    with pytest.raises(Conflict) as blocked:
        service.set_status(conn, ENTERPRISE, uscc, "deactivated", {"version": 1}, access=ACCESS, actor="tester")
    assert blocked.value.details["hazard_sources"] == [code]
    service.set_status(conn, HAZARD_SOURCE, code, "deactivated", {"version": 1, "reason": "拆除"}, access=ACCESS,
                       actor="tester")
    body = service.set_status(conn, ENTERPRISE, uscc, "deactivated", {"version": 1}, access=ACCESS, actor="tester")
    assert body["status"] == "deactivated" and body["version"] == 2
    with pytest.raises(Conflict) as edit:
        update(conn, ENTERPRISE, uscc, {"version": 2, "phone": "1"})
    assert edit.value.code == "record_deactivated"
    with pytest.raises(Conflict) as again:
        service.set_status(conn, ENTERPRISE, uscc, "deactivated", {"version": 2}, access=ACCESS, actor="tester")
    assert again.value.code == "invalid_transition"
    with pytest.raises(InvalidInput):  # a hazard source of a deactivated enterprise stays deactivated
        service.set_status(conn, HAZARD_SOURCE, code, "active", {"version": 2}, access=ACCESS, actor="tester")
    body = service.set_status(conn, ENTERPRISE, uscc, "active", {"version": 2}, access=ACCESS, actor="tester")
    assert body["status"] == "active" and body["version"] == 3
    actions = [e["action"] for e in history_of(conn, ENTERPRISE, uscc)]
    assert actions == ["created", "deactivated", "reactivated"]
    hs = history_of(conn, HAZARD_SOURCE, code)[-1]
    assert hs["changes"] == {"status": {"old": "active", "new": "deactivated"}, "reason": "拆除"}
    assert [t for t, _, _ in published].count("record.deactivated") == 2


# -- hazard sources: GB 18218 on save ------------------------------------------------------------------------------
def test_a_hazard_source_is_graded_on_save_and_a_grade_change_is_an_event(conn: sa.Connection,
                                                                          published: list) -> None:
    uscc = create(conn, ENTERPRISE, enterprise(8))["uscc"]
    body = create(conn, HAZARD_SOURCE, hazard_source("HS-TEST-0008", uscc, 12.0))
    library = assess([{"cas": "7664-41-7", "quantity_t": 12.0}], 120)
    assert (body["grade"], body["s_value"], body["r_value"]) == (library.grade, library.s, library.r)
    assert body["chemicals"] == [{"chemical_name": library.chemicals[0].name_zh, "cas": "7664-41-7",
                                  "quantity_t": 12.0, "critical_quantity_t": 10.0}]
    bigger = assess([{"cas": "7664-41-7", "quantity_t": 900.0}], 120)
    assert bigger.grade != library.grade  # the test means a grade change
    published.clear()
    body = update(conn, HAZARD_SOURCE, "HS-TEST-0008", {"version": 1,
                                                        "chemicals": [{"cas": "7664-41-7", "quantity_t": 900.0}]})
    assert body["grade"] == bigger.grade and body["version"] == 2
    entries = history_of(conn, HAZARD_SOURCE, "HS-TEST-0008")
    assert [e["action"] for e in entries] == ["created", "updated", "regraded"]
    assert entries[-1]["changes"]["grade"] == {"old": library.grade, "new": bigger.grade}
    assert entries[1]["changes"]["chemicals"]["new"][0]["quantity_t"] == 900.0
    assert [t for t, _, _ in published] == ["record.updated", "record.regraded"]
    assert published[-1][2].enterprise_uscc == uscc
    # the assessment API of the hazard-source module agrees with what was stored
    from supervision.hazard_sources.service import assessment
    assert assessment(conn, "HS-TEST-0008", access=ACCESS)["differences"] == []
    conn.rollback()


@pytest.mark.parametrize("change, field", [
    ({"chemicals": [{"cas": "7664-41-7", "quantity_t": 1.0}]}, "chemicals"),  # S = 0.1: not a major hazard source
    ({"chemicals": [{"cas": "1-11-1", "quantity_t": 1.0}]}, "chemicals[0].cas"),
    ({"chemicals": []}, "chemicals"),
    ({"chemicals": [{"cas": "7664-41-7"}]}, "chemicals[0].quantity_t"),
    ({"grade": 1}, "grade"),
    ({"enterprise_uscc": new_uscc(999)}, "enterprise_uscc"),
    ({"exposed_population": -1}, "exposed_population"),
    ({"code": "HS 1"}, "code"),
])
def test_hazard_source_problems_name_the_field(conn: sa.Connection, change: dict, field: str) -> None:
    uscc = count(conn, "SELECT min(uscc) FROM enterprises WHERE district_code = :d", d=DISTRICT)
    with pytest.raises(InvalidInput) as caught:
        create(conn, HAZARD_SOURCE, {**hazard_source("HS-TEST-0100", uscc), **change})
    assert caught.value.input_name == field
    assert count(conn, "SELECT count(*) FROM hazard_sources WHERE code IN ('HS-TEST-0100', 'HS 1')") == 0


# -- import ---------------------------------------------------------------------------------------------------------
HEADER = ["统一社会信用代码", "单位名称", "industry_code", "sector", "employees", "address", "legal_representative",
          "risk_colour", "经度", "纬度"]


def _row(n: int, **change: Any) -> list[Any]:
    values = {**enterprise(n), **change}
    return [values["uscc"], values["name"], values["industry_code"], values["sector"], values["employees"],
            values["address"], values["legal_representative"], values["risk_colour"], values["lon"], values["lat"]]


def _csv(rows: list[list[Any]]) -> bytes:
    return "\n".join(",".join(str(c) for c in r) for r in [HEADER, *rows]).encode("utf-8-sig")


def run_import(conn: sa.Connection, kind: Any, name: str, content: bytes, **kw: Any) -> dict[str, Any]:
    return imports.import_records(conn, kind, name, content, "wgs84", access=ACCESS, actor="importer", **kw)


def test_an_import_with_bad_rows_writes_nothing_and_lists_row_and_column(conn: sa.Connection) -> None:
    before = count(conn, "SELECT count(*) FROM enterprises")
    content = _csv([_row(20), _row(21, industry_code="9999"), _row(22), _row(23, lon=121.47, lat=31.23),
                    _row(20, name="重复")])
    with pytest.raises(DomainError) as caught:
        run_import(conn, ENTERPRISE, "a.csv", content)
    problem = caught.value.to_problem()
    assert problem["status"] == 422 and problem["problem_count"] == 3
    assert [(p["row"], p["column"]) for p in problem["problems"]] == [(3, "industry_code"), (5, "经度"),
                                                                     (6, "统一社会信用代码")]
    assert count(conn, "SELECT count(*) FROM enterprises") == before
    assert count(conn, "SELECT count(*) FROM record_history WHERE actor = 'importer'") == 0


def test_a_dry_run_checks_everything_and_writes_nothing_then_the_import_writes_all(conn: sa.Connection) -> None:
    before = count(conn, "SELECT count(*) FROM enterprises")
    content = _csv([_row(30), _row(31)])
    dry = run_import(conn, ENTERPRISE, "b.csv", content, dry_run=True)
    assert dry == {"dry_run": True, "rows": 2, "imported": 0, "keys": [new_uscc(30), new_uscc(31)]}
    assert count(conn, "SELECT count(*) FROM enterprises") == before
    done = run_import(conn, ENTERPRISE, "b.csv", content)
    assert done["imported"] == 2 and count(conn, "SELECT count(*) FROM enterprises") == before + 2
    assert count(conn, "SELECT count(*) FROM record_history WHERE actor = 'importer' AND source = 'import'") == 2


def test_an_excel_import_of_hazard_sources_grades_each_row(conn: sa.Connection) -> None:
    uscc = create(conn, ENTERPRISE, enterprise(40))["uscc"]
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(["code", "name", "enterprise_uscc", "exposed_population", "危险化学品", "lon", "lat"])
    sheet.append(["HS-TEST-0401", "液氨罐区", uscc, 120, "7664-41-7:50", KNOWN_WGS[0], KNOWN_WGS[1]])
    sheet.append(["HS-TEST-0402", "氯气库", uscc, 30, "液氯:20；7664-41-7:5", KNOWN_WGS[0], KNOWN_WGS[1]])
    sheet.append(["HS-TEST-0403", "坏行", uscc, 30, "7664-41-7", KNOWN_WGS[0], KNOWN_WGS[1]])
    buffer = io.BytesIO()
    book.save(buffer)
    with pytest.raises(DomainError) as caught:
        run_import(conn, HAZARD_SOURCE, "c.xlsx", buffer.getvalue())
    assert [(p["row"], p["column"]) for p in caught.value.details["problems"]] == [(4, "危险化学品")]
    sheet.delete_rows(4)
    buffer = io.BytesIO()
    book.save(buffer)
    assert run_import(conn, HAZARD_SOURCE, "c.xlsx", buffer.getvalue())["imported"] == 2
    grades = dict(conn.execute(sa.text("SELECT code, grade FROM hazard_sources WHERE code LIKE 'HS-TEST-040%'")).all())
    conn.rollback()
    assert grades["HS-TEST-0401"] == assess([{"cas": "7664-41-7", "quantity_t": 50.0}], 120).grade
    assert grades["HS-TEST-0402"] == assess([{"name": "液氯", "quantity_t": 20.0},
                                             {"cas": "7664-41-7", "quantity_t": 5.0}], 30).grade


def test_an_import_header_problem_is_reported_before_any_row(conn: sa.Connection) -> None:
    with pytest.raises(DomainError) as caught:
        run_import(conn, ENTERPRISE, "d.csv", b"uscc,colour\n1,2\n")
    columns = {p["column"] for p in caught.value.details["problems"]}
    assert {"colour", "name", "lon", "lat"} <= columns


# -- the enterprise self-edit: the effect an approved change request runs -------------------------------------------
def approval(conn: sa.Connection, uscc: str, data: dict[str, Any], identity: Any = None) -> SimpleNamespace:
    """What the case engine hands an effect (supervision.cases.engine.EffectContext), inside the approval's
    transaction; its ``changes`` declare only the engine's own event types, as the engine's do."""
    case = {"id": 4242, "code": "QB-2026-000001", "case_type": "enterprise_change", "state": "approved",
            "anchor_kind": "enterprise", "anchor_id": uscc, "district_code": DISTRICT, "enterprise_uscc": uscc,
            "data": data}
    return SimpleNamespace(conn=conn, case=case, form={}, identity=identity,
                           changes=Changes(event_types=("case.transition", "case.notice")), now=None)


def test_an_approved_change_request_is_applied_like_a_regulators_edit(conn: sa.Connection) -> None:
    uscc = create(conn, ENTERPRISE, enterprise(50))["uscc"]
    approver = Identity(user_id=77, username="district_reviewer", roles=frozenset({"district_regulator"}),
                        district_code=DISTRICT, method="session")
    with conn.begin():
        ctx = approval(conn, uscc, {"version": 1, "changes": {"phone": "025-5555555", "employees": 80}}, approver)
        apply_change(ctx, {})
    assert [t for t, _, _ in ctx.changes.pending] == ["record.updated"]  # handed to the engine's unit of work
    last = history_of(conn, ENTERPRISE, uscc)[-1]
    assert (last["action"], last["actor"], last["source"], last["case_id"]) == (
        "updated", "district_reviewer", "change_request", 4242)
    assert last["changes"]["phone"] == {"old": "025-0000000", "new": "025-5555555"}
    # the same checks as a regulator's edit: a bad value names the field, a stale request is a conflict, and the
    # approver's scope holds (a district regulator cannot approve a move out of the district)
    for data, error, field in (({"version": 2, "changes": {"industry_code": "C9999"}}, InvalidInput, "industry_code"),
                               ({"version": 1, "changes": {"phone": "1"}}, Conflict, None)):
        with pytest.raises(error) as caught, conn.begin():
            apply_change(approval(conn, uscc, data, approver), {})
        assert field is None or caught.value.input_name == field
    x, y = conn.execute(sa.text("SELECT ST_X(p), ST_Y(p) FROM (SELECT ST_PointOnSurface(geom) p FROM districts "
                                "WHERE code = '329903') s")).one()
    conn.rollback()
    with pytest.raises(DomainError) as refused, conn.begin():
        apply_change(approval(conn, uscc, {"version": 2, "changes": {"lon": x, "lat": y}}, approver), {})
    assert refused.value.http_status == 403 and refused.value.details["district_code"] == "329903"
    assert count(conn, "SELECT district_code FROM enterprises WHERE uscc = :u", u=uscc) == DISTRICT
    assert history_of(conn, ENTERPRISE, uscc)[-1]["version"] == 2


def test_the_sample_import_files_go_in(conn: sa.Connection) -> None:
    """data/samples/records_*.{csv,xlsx}: the files a user starts from import into the demo city as they are."""
    samples = Path(__file__).resolve().parents[2] / "data" / "samples"
    enterprises = (samples / "records_enterprises.csv").read_bytes()
    sources = (samples / "records_hazard_sources.xlsx").read_bytes()
    assert run_import(conn, ENTERPRISE, "records_enterprises.csv", enterprises, dry_run=True)["rows"] == 3
    assert run_import(conn, ENTERPRISE, "records_enterprises.csv", enterprises)["imported"] == 3
    done = run_import(conn, HAZARD_SOURCE, "records_hazard_sources.xlsx", sources)
    assert done["imported"] == 2
    grades = conn.execute(sa.text("SELECT grade FROM hazard_sources WHERE code = ANY(:c)"), {"c": done["keys"]}).all()
    conn.rollback()
    assert all(1 <= g <= 4 for (g,) in grades) and len(grades) == 2
