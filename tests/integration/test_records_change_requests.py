"""The enterprise self-edit through the case engine: an enterprise user's change request (case type
enterprise_change) changes nothing until a regulator of its district approves it; the approval applies the changes
through the regulator's edit path (same validation, version check, history), and any refusal rolls the approval
back, leaving the request open."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import sqlalchemy as sa

from core.errors import Conflict, DomainError, InvalidInput, NotFound
from supervision.cases import service as cases
from tests.integration.cases_support import CONFIG, caller, writable_demo


@pytest.fixture(scope="module")
def db(pg_cluster, template_url) -> Iterator[sa.Engine]:  # noqa: ANN001
    yield from writable_demo(pg_cluster, "records_change_requests")


@pytest.fixture(scope="module")
def place(db: sa.Engine) -> dict[str, str]:
    with db.connect() as conn:
        row = conn.execute(sa.text(
            "SELECT e.uscc, e.district_code, e.phone FROM enterprises e WHERE NOT EXISTS (SELECT 1 FROM hazard_sources h "
            "WHERE h.enterprise_uscc = e.uscc) ORDER BY e.uscc LIMIT 1")).one()
        other = conn.execute(sa.text("SELECT min(code) FROM districts WHERE code <> :d"), {"d": row.district_code})
        return {"uscc": row.uscc, "district": row.district_code, "phone": row.phone, "other": other.scalar_one()}


def version(db: sa.Engine, uscc: str) -> int:
    with db.connect() as conn:
        return conn.execute(sa.text("SELECT coalesce(max(version), 0) FROM record_history WHERE record_kind = "
                                    "'enterprise' AND record_key = :u"), {"u": uscc}).scalar_one()


def record(db: sa.Engine, uscc: str) -> Any:
    with db.connect() as conn:
        return conn.execute(sa.text("SELECT phone, employees, status FROM enterprises WHERE uscc = :u"),
                            {"u": uscc}).one()


def submit(db: sa.Engine, place: dict[str, str], form: dict[str, Any]) -> dict[str, Any]:
    identity, access = caller("enterprise_user", uscc=place["uscc"])
    with db.connect() as conn:
        return cases.open_case(conn, {"case_type": "enterprise_change", "anchor": {"kind": "enterprise",
                                                                                    "id": place["uscc"]},
                                      "form": form}, access=access, identity=identity, config=CONFIG)


def move(db: sa.Engine, who: tuple[Any, Any], case_id: int, action: str, form: dict[str, Any] | None = None
         ) -> dict[str, Any]:
    identity, access = who
    with db.connect() as conn:
        return cases.transition(conn, case_id, {"action": action, "form": form or {}}, access=access,
                                identity=identity, config=CONFIG)


def test_a_change_request_is_applied_only_when_a_regulator_of_the_district_approves(db: sa.Engine,
                                                                                  place: dict[str, str]) -> None:
    base = version(db, place["uscc"])
    case = submit(db, place, {"version": base, "reason": "电话变更",
                              "changes": {"phone": "025-66666666", "employees": 77}})
    assert case["state"] == "submitted" and case["code"].startswith("QB-")
    assert record(db, place["uscc"]).phone == place["phone"]  # nothing changes before the approval
    assert {a["id"] for a in case["actions"]} == set()  # the enterprise user cannot decide its own request
    with pytest.raises(DomainError) as own:
        move(db, caller("enterprise_user", uscc=place["uscc"]), case["id"], "approve")
    assert own.value.http_status == 403
    with pytest.raises(NotFound):
        move(db, caller("district_regulator", district=place["other"]), case["id"], "approve")
    done = move(db, caller("district_regulator", district=place["district"], name="reviewer"), case["id"], "approve",
                {"comment": "同意"})
    assert done["state"] == "approved"
    assert (record(db, place["uscc"]).phone, record(db, place["uscc"]).employees) == ("025-66666666", 77)
    assert version(db, place["uscc"]) == base + 1
    with db.connect() as conn:
        entry = conn.execute(sa.text("SELECT actor, source, case_id, changes FROM record_history WHERE record_key = :u "
                                     "ORDER BY id DESC LIMIT 1"), {"u": place["uscc"]}).one()
    assert (entry.actor, entry.source, entry.case_id) == ("reviewer", "change_request", case["id"])
    assert entry.changes["phone"] == {"old": place["phone"], "new": "025-66666666"}


def test_a_refused_approval_rolls_back_and_leaves_the_request_open(db: sa.Engine, place: dict[str, str]) -> None:
    base = version(db, place["uscc"])
    reviewer = caller("district_regulator", district=place["district"])
    stale = submit(db, place, {"version": base, "changes": {"phone": "025-1"}})
    bad = submit(db, place, {"version": base, "changes": {"industry_code": "C9914"}})
    city = caller("city_regulator")
    # another change lands first: the first request is now based on an old version
    other = submit(db, place, {"version": base, "changes": {"employees": 78}})
    move(db, city, other["id"], "approve")
    with pytest.raises(Conflict) as conflict:
        move(db, reviewer, stale["id"], "approve")
    assert conflict.value.code == "stale_version"
    with pytest.raises(InvalidInput) as invalid:
        move(db, reviewer, bad["id"], "approve")
    assert invalid.value.input_name == "industry_code"
    for case_id in (stale["id"], bad["id"]):
        with db.connect() as conn:
            assert conn.execute(sa.text("SELECT state FROM cases WHERE id = :i"), {"i": case_id}).scalar_one() == \
                "submitted"
    assert record(db, place["uscc"]).phone != "025-1" and version(db, place["uscc"]) == base + 1
    rejected = move(db, reviewer, stale["id"], "reject", {"comment": "请按最新档案重新申请"})
    assert rejected["state"] == "rejected" and version(db, place["uscc"]) == base + 1


@pytest.mark.parametrize("form, field", [
    ({"version": 0, "changes": {"sector": "fireworks"}}, "sector"),  # a supervision classification: not the firm's
    ({"version": 0, "changes": {}}, "changes"),
    ({"changes": {"phone": "1"}}, "version"),
])
def test_the_request_form_names_the_field(db: sa.Engine, place: dict[str, str], form: dict[str, Any],
                                          field: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        submit(db, place, form)
    assert field in caught.value.input_name
