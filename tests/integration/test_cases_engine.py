"""The case engine on the demo city: a hidden danger from report to closure, its deadlines, the escalation to
挂牌督办 by the timer worker (exactly once), pauses of a permit-like clock, the hash chain and refusals."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import date

import pytest
import sqlalchemy as sa

from core import clock
from core.errors import Conflict, InvalidInput, NotFound
from supervision.cases import scheduler, service
from tests.integration.cases_support import CONFIG, at, caller, use_toy_types, writable_demo


@pytest.fixture(scope="module")
def db(pg_cluster, template_url) -> Iterator[sa.Engine]:  # noqa: ANN001
    use_toy_types()
    yield from writable_demo(pg_cluster, "cases_engine")


@pytest.fixture(scope="module")
def place(db: sa.Engine) -> dict:
    with db.connect() as conn:
        row = conn.execute(sa.text("SELECT uscc, district_code FROM enterprises ORDER BY uscc LIMIT 1")).one()
    return {"uscc": row.uscc, "district": row.district_code}


def _open(db: sa.Engine, who, body: dict) -> dict:  # noqa: ANN001
    identity, access = who
    with db.connect() as conn:
        return service.open_case(conn, body, access=access, identity=identity, config=CONFIG)


def _move(db: sa.Engine, who, case_id: int, action: str, form: dict | None = None, **kw) -> dict:  # noqa: ANN001, ANN003
    identity, access = who
    with db.connect() as conn:
        return service.transition(conn, case_id, {"action": action, "form": form or {}, **kw}, access=access,
                                  identity=identity, config=CONFIG)


def _report(db: sa.Engine, place: dict, level: str = "general") -> dict:
    who = caller("enterprise_user", uscc=place["uscc"])
    return _open(db, who, {"case_type": "hidden_danger", "anchor": {"kind": "enterprise", "id": place["uscc"]},
                           "form": {"title": "储罐区防火堤破损", "level": level, "category": "hazchem"}})


def test_a_hidden_danger_goes_from_report_to_closure(db: sa.Engine, place: dict) -> None:
    ent = caller("enterprise_user", uscc=place["uscc"])
    district = caller("district_regulator", district=place["district"])
    with clock.freeze(at("2026-09-28 10:00")):   # a Monday before the National Day holiday
        case = _report(db, place)
        assert case["state"] == "reported" and case["code"].startswith("YH-2026-")
        assert case["data"]["source"] == "self_check"
        plan = next(c for c in case["clocks"] if c["clock"] == "plan")
        # 5 working days after Mon 28 Sep 2026: 29 and 30 Sep, then 1–7 Oct is the National Day holiday,
        # then Thu 8, Fri 9 and Sat 10 Oct (a 调休 working Saturday in the 2026 schedule)
        assert plan["due_date"] == "2026-10-10"
        case = _move(db, ent, case["id"], "submit_plan", {"rectify_by": "2026-10-20", "measures": "更换防火堤",
                                                          "responsible_person": "张三"}, version=case["version"])
        assert case["state"] == "rectifying"
        rectify = next(c for c in case["clocks"] if c["clock"] == "rectify")
        assert rectify["due_date"] == "2026-10-20" and rectify["warn_date"] == "2026-10-15"
        case = _move(db, ent, case["id"], "submit_report", {"completed_on": "2026-10-18", "description": "已修复"})
        verify = next(c for c in case["clocks"] if c["clock"] == "verify")
        # 10 calendar days after 28 Sep end on Thu 8 Oct, a working day (no roll past the holiday needed)
        assert verify["due_date"] == "2026-10-08"
        case = _move(db, district, case["id"], "accept", {"opinion": "合格"})
    assert case["state"] == "closed" and case["closed_at"]
    with db.connect() as conn:
        row = conn.execute(sa.text("SELECT state, overdue, level FROM hidden_dangers WHERE case_id = :id"),
                           {"id": case["id"]}).one()
        assert tuple(row) == ("closed", False, "general")
        identity, access = district
        check = service.verify_chain(conn, case["id"], access=access)
    assert check == {"ok": True, "events": 4, "head_hash": check["head_hash"]}


def test_refusals_say_why(db: sa.Engine, place: dict) -> None:
    other = "329901" if place["district"] != "329901" else "329902"
    case = _report(db, place)
    with pytest.raises(NotFound):
        _move(db, caller("district_regulator", district=other), case["id"], "dismiss", {"reason": "不是隐患"})
    with pytest.raises(Exception) as refused:
        _move(db, caller("grid_worker", district=place["district"]), case["id"], "dismiss", {"reason": "不是隐患"})
    assert refused.value.http_status == 403
    with pytest.raises(Conflict) as wrong_state:
        _move(db, caller("district_regulator", district=place["district"]), case["id"], "accept", {"opinion": "好"})
    assert wrong_state.value.code == "invalid_transition"
    with pytest.raises(Conflict) as stale:
        _move(db, caller("district_regulator", district=place["district"]), case["id"], "dismiss",
              {"reason": "不是隐患"}, version=case["version"] - 1)
    assert stale.value.code == "stale_version"
    with pytest.raises(InvalidInput) as bad_form:
        _move(db, caller("district_regulator", district=place["district"]), case["id"], "order_rectification",
              {"rectify_by": "2026-13-01", "requirements": "整改"})
    assert bad_form.value.details["field"] == "rectify_by"
    with pytest.raises(Conflict) as guard:
        _move(db, caller("district_regulator", district=place["district"]), case["id"], "order_rectification",
              {"rectify_by": "2020-01-01", "requirements": "整改"})
    assert guard.value.code == "guard_failed"
    with db.connect() as conn:   # nothing of the refused moves was written
        n = conn.execute(sa.text("SELECT count(*) FROM case_events WHERE case_id = :id"), {"id": case["id"]}).scalar()
    assert n == 1


def test_overdue_rectification_is_listed_once_and_lifted_by_verification(db: sa.Engine, place: dict) -> None:
    district = caller("district_regulator", district=place["district"])
    city = caller("city_regulator")
    with clock.freeze(at("2026-11-02 09:00")):
        case = _report(db, place, level="major")
        case = _move(db, district, case["id"], "order_rectification", {"rectify_by": "2026-11-10",
                                                                       "requirements": "限期整改"})
        number = case["data"]["documents"]["rectification_order"]
        assert number.startswith("示应急隐改〔2026〕") and number.endswith("号")
    # the worker was down from 9 to 20 November: both timers (warning, breach) fire once when it runs, twice over
    later = at("2026-11-20 08:00")
    results: list[int] = []
    threads = [threading.Thread(target=lambda: results.append(scheduler.run_due(db, CONFIG, now=later)))
               for _ in range(3)]
    with clock.freeze(later):
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert scheduler.run_due(db, CONFIG, now=later) == 0
    with db.connect() as conn:
        children = conn.execute(sa.text("SELECT id, state, data FROM cases WHERE parent_id = :p"),
                                {"p": case["id"]}).all()
        breaches = conn.execute(sa.text("SELECT count(*) FROM case_events WHERE case_id = :p AND action = "
                                        "'clock.breach'"), {"p": case["id"]}).scalar()
        listed = conn.execute(sa.text("SELECT overdue, listed FROM hidden_dangers WHERE case_id = :p"),
                              {"p": case["id"]}).one()
    assert breaches == 1 and len(children) == 1 and children[0].state == "listed"
    assert children[0].data["documents"]["listing_notice"].startswith("示应急督〔2026〕")
    assert tuple(listed) == (True, True)
    with clock.freeze(at("2026-11-21 10:00")):
        _move(db, caller("enterprise_user", uscc=place["uscc"]), case["id"], "submit_report",
              {"completed_on": "2026-11-21", "description": "已整改"})
        with pytest.raises(Conflict):   # a major hidden danger is verified by the city
            _move(db, district, case["id"], "accept", {"opinion": "合格"})
        closed = _move(db, city, case["id"], "accept", {"opinion": "合格"})
    assert closed["state"] == "closed" and closed["children"][0]["state"] == "lifted"


def test_a_paused_clock_resumes_where_it_stood(db: sa.Engine, place: dict) -> None:
    ent = caller("enterprise_user", uscc=place["uscc"])
    city = caller("city_regulator")
    with clock.freeze(at("2026-03-02 10:00")):   # Monday
        case = _open(db, ent, {"case_type": "toy_permit", "anchor": {"kind": "enterprise", "id": place["uscc"]},
                               "form": {"title": "经营许可"}})
        due = next(c for c in case["clocks"] if c["clock"] == "decision")["due_date"]
        assert due == "2026-03-30"   # 20 working days after 2 March (no holiday in March 2026)
    with clock.freeze(at("2026-03-04 10:00")):
        case = _move(db, city, case["id"], "ask_correction")
        decision = next(c for c in case["clocks"] if c["clock"] == "decision")
        assert decision["status"] == "paused" and decision["due_date"] is None
    with clock.freeze(at("2026-03-11 10:00")):   # a week later the applicant corrects
        case = _move(db, ent, case["id"], "correct")
    decision = next(c for c in case["clocks"] if c["clock"] == "decision")
    # 5–11 March stood still: 5 working days (5, 6, 9, 10, 11) more
    # 3, 4 March, then 12 March on: 16 more working days to 3 April; 4–6 April is Qingming: Tue 7 April
    assert decision["status"] == "running" and decision["due_date"] == "2026-04-07"
    with clock.freeze(at("2026-03-12 10:00")):
        case = _move(db, city, case["id"], "extend")
    decision = next(c for c in case["clocks"] if c["clock"] == "decision")
    # 10 more working days after Tue 7 April (Qingming, 4–6 April, already lay inside the first 20):
    # 8, 9, 10, 13, 14, 15, 16, 17, 20, 21 April
    assert decision["due_date"] == date(2026, 4, 21).isoformat()


def test_a_move_that_fails_half_way_writes_nothing(db: sa.Engine, place: dict, monkeypatch) -> None:  # noqa: ANN001
    from supervision.cases import engine

    case = _report(db, place)
    boom = RuntimeError("disk full")

    def fail(ctx) -> None:  # noqa: ANN001
        raise boom

    monkeypatch.setattr(engine, "project", fail)
    with pytest.raises(RuntimeError):
        _move(db, caller("district_regulator", district=place["district"]), case["id"], "dismiss",
              {"reason": "不构成隐患"})
    with db.connect() as conn:
        state, version = conn.execute(sa.text("SELECT state, version FROM cases WHERE id = :id"),
                                      {"id": case["id"]}).one()
        events = conn.execute(sa.text("SELECT count(*) FROM case_events WHERE case_id = :id"),
                              {"id": case["id"]}).scalar()
    assert (state, version, events) == ("reported", case["version"], 1)


def test_sixteen_concurrent_orders_take_sixteen_consecutive_numbers(db: sa.Engine, place: dict) -> None:
    district = caller("district_regulator", district=place["district"])
    with clock.freeze(at("2026-12-01 09:00")):
        cases = [_report(db, place)["id"] for _ in range(16)]
        numbers: list[str] = []
        errors: list[Exception] = []

        def order(case_id: int) -> None:
            try:
                done = _move(db, district, case_id, "order_rectification",
                             {"rectify_by": "2026-12-20", "requirements": "限期整改"})
                numbers.append(done["data"]["documents"]["rectification_order"])
            except Exception as exc:  # noqa: BLE001 - collected and asserted below
                errors.append(exc)

        threads = [threading.Thread(target=order, args=(c,)) for c in cases]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    assert not errors
    seqs = sorted(int(n.split("〕")[1].rstrip("号")) for n in numbers)
    assert seqs == list(range(seqs[0], seqs[0] + 16))


def test_attachments_are_checked_by_content_and_size(db: sa.Engine, place: dict, tmp_path) -> None:  # noqa: ANN001
    import io

    from core.errors import DomainError
    from supervision.cases import files

    config = {**CONFIG, "files_dir": str(tmp_path), "max_file_bytes": 2048}
    png = b"\x89PNG\r\n\x1a\n" + b"\0" * 100
    with db.connect() as conn, conn.begin():
        stored = files.store(conn, config, io.BytesIO(png), name="a.png", uploaded_by="t")
        assert stored["media_type"] == "image/png" and (tmp_path / stored["sha256"][:2]).is_dir()
        with pytest.raises(InvalidInput) as wrong:
            files.store(conn, config, io.BytesIO(b"MZ\x90\x00 not a picture"), name="photo.jpg", uploaded_by="t")
        assert wrong.value.details["reason"] == "type not accepted"
        with pytest.raises(DomainError) as big:
            files.store(conn, config, io.BytesIO(png + b"\0" * 4096), name="big.png", uploaded_by="t")
        assert big.value.http_status == 413
    who = caller("grid_worker", district=place["district"])
    with pytest.raises(InvalidInput) as missing:
        _open(db, who, {"case_type": "hidden_danger", "anchor": {"kind": "enterprise", "id": place["uscc"]},
                        "form": {"title": "配电箱未接地", "level": "general", "category": "electrical",
                                 "photos": ["a" * 64]}})
    assert missing.value.details["field"] == "photos"
    case = _open(db, who, {"case_type": "hidden_danger", "anchor": {"kind": "enterprise", "id": place["uscc"]},
                           "form": {"title": "配电箱未接地", "level": "general", "category": "electrical",
                                    "photos": [stored["sha256"]]}})
    assert case["files"] == [{"sha256": stored["sha256"], "field": "photos", "size": len(png),
                              "media_type": "image/png", "seq": 1}]
    assert case["data"]["source"] == "grid_patrol"


def test_a_case_on_a_point_takes_its_district_and_grid_from_the_place(db: sa.Engine, place: dict) -> None:
    with db.connect() as conn:
        lon, lat, district, grid = conn.execute(sa.text(
            "SELECT ST_X(ST_PointOnSurface(geom)), ST_Y(ST_PointOnSurface(geom)), district_code, code "
            "FROM grid_cells ORDER BY code LIMIT 1")).one()
    case = _open(db, caller("city_regulator"), {
        "case_type": "hidden_danger", "anchor": {"kind": "point", "lon": lon, "lat": lat},
        "form": {"title": "路边违规堆放危化品", "level": "major", "category": "hazchem"}})
    assert (case["district_code"], case["grid_cell_code"]) == (district, grid)
    with pytest.raises(InvalidInput) as outside:
        _open(db, caller("city_regulator"), {"case_type": "hidden_danger",
                                             "anchor": {"kind": "point", "lon": 100.0, "lat": 30.0},
                                             "form": {"title": "城外", "level": "general", "category": "other"}})
    assert outside.value.code == "outside_city"


def test_the_chain_check_ignores_other_records_about_the_case(db: sa.Engine, place: dict) -> None:
    from access.audit import record

    case = _report(db, place)
    with db.connect() as conn, conn.begin():   # a refusal about the case, recorded as the gate does
        record(conn=conn, action="access.access_denied", outcome="denied", object_type="case",
               object_id=case["id"], details={"reason": "role"}, environ={})
    identity, access = caller("city_regulator")
    with db.connect() as conn:
        assert service.verify_chain(conn, case["id"], access=access)["ok"] is True


def test_an_altered_event_breaks_the_chain_check(db: sa.Engine, place: dict, pg_cluster) -> None:  # noqa: ANN001
    from tests.integration.auth_support import superuser_url

    case = _report(db, place)
    with pytest.raises(sa.exc.DBAPIError), db.begin() as conn:   # the application cannot rewrite history
        conn.execute(sa.text("UPDATE case_events SET form = '{}' WHERE case_id = :c"), {"c": case["id"]})
    admin = sa.create_engine(superuser_url(pg_cluster, db.url.render_as_string(hide_password=False)))
    with admin.begin() as conn:   # someone with the server's keys switches the guard off and edits the report
        conn.execute(sa.text("ALTER TABLE case_events DISABLE TRIGGER case_events_append_only"))
        conn.execute(sa.text("UPDATE case_events SET form = jsonb_set(form, '{level}', '\"general\"') || "
                             "'{\"title\": \"改写\"}' WHERE case_id = :c"), {"c": case["id"]})
        conn.execute(sa.text("ALTER TABLE case_events ENABLE TRIGGER case_events_append_only"))
    admin.dispose()
    identity, access = caller("city_regulator")
    with db.connect() as conn:
        check = service.verify_chain(conn, case["id"], access=access)
    assert check["ok"] is False and check["broken_seq"] == 1 and "altered" in check["reason"]
