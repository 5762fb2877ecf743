"""Incident intake, the 快报/续报 timeline and the lifecycle state machine, through the REST API."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import pytest
import sqlalchemy as sa

from core import changes as history
from core.realtime import ScopeTag
from emergency.lifecycles import INCIDENT_LIFECYCLE
from tests.integration.emergency_support import (
    KNOWN_GCJ,
    KNOWN_WGS,
    make_app,
    scalar,
    scratch_database,
    sibling,
    writer_client,
)

URL = "/api/emergency/incidents"


@pytest.fixture(scope="module")
def scratch_db(pg_cluster, template_url: str) -> Iterator[str]:  # noqa: ANN001
    """Shared by the tests of this module that only add incidents of their own."""
    with scratch_database(pg_cluster, "em_incidents") as url:
        yield url


@pytest.fixture(scope="module")
def client(demo_artifacts, scratch_db: str):  # noqa: ANN001, ANN201
    return writer_client(lambda url: make_app(demo_artifacts, url), scratch_db)


@pytest.fixture
def published(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, dict[str, Any], ScopeTag]]:
    """Live events as core.realtime would receive them (after commit), with their scope tags."""
    events: list[tuple[str, dict[str, Any], ScopeTag]] = []
    lock = threading.Lock()

    def capture(event_type: str, data: dict[str, Any], scope: ScopeTag) -> None:
        with lock:
            events.append((event_type, data, scope))

    monkeypatch.setattr(history, "publish", capture)
    return events


def _intake(client, **overrides: Any):  # noqa: ANN001, ANN202
    body = {"reported_at": "2026-11-28T09:30:00+08:00", "source": "phone", "kind": "fire",
            "reporter": {"name": "张三", "phone": "13800000000"},
            "location": {"lon": KNOWN_WGS[0], "lat": KNOWN_WGS[1]},
            "casualties": {"deaths": 0, "injuries": 2}, "description": "厂房起火，有浓烟。"}
    body.update(overrides)
    return client.post(URL, json=body)


def test_intake_creates_the_incident_its_first_report_and_history(client, scratch_db: str, published) -> None:  # noqa: ANN001
    response = _intake(client)
    assert response.status_code == 201, response.get_json()
    incident = response.get_json()
    assert incident["code"].startswith("SJ20261128") and len(incident["code"]) == 13
    assert incident["status"] == "reported" and incident["allowed_transitions"] == ["verified"]
    expected = scalar(scratch_db, "SELECT code FROM districts WHERE ST_Intersects(geom, ST_SetSRID(ST_MakePoint(:x, :y), "
                      "4490))", x=KNOWN_WGS[0], y=KNOWN_WGS[1])
    assert incident["district_code"] == expected
    assert incident["injuries"] == 2
    assert [(r["seq"], r["kind"]) for r in incident["reports"]] == [(1, "first_report")]
    assert incident["reports"][0]["reporter_name"] == "张三"
    assert [h["event"] for h in incident["history"]] == ["created"]
    assert [e[0] for e in published] == ["incident.created"]
    assert published[0][1]["incident_id"] == incident["id"]
    assert published[0][1]["data"]["incident"]["lon"] == pytest.approx(KNOWN_WGS[0])
    # only those who may read an incident of 临江区 get the live event
    assert published[0][2] == ScopeTag("incidents", "329902", None)


def test_a_token_that_may_write_but_not_read_incidents_is_told_which_scope_before_anything_is_written(
        client, scratch_db: str) -> None:  # noqa: ANN001
    """The intake answers with the incident as read back: a token with ``api:write`` but without ``ogc:read`` (which
    reads of layer rows need) gets a 403 naming the scope, before the write — not a 404 for what it just made."""
    from access.authn import tokens
    from access.settings import settings_of

    engine = sa.create_engine(scratch_db)
    with engine.begin() as conn:
        user = conn.execute(sa.text("SELECT id FROM users WHERE username = 'dispatcher'")).scalar_one()
        token, _ = tokens.create(conn, settings_of(client.application.config), user, "api only",
                                 ["api:read", "api:write"], 1)
    before = scalar(engine, "SELECT count(*) FROM incidents")
    headers = {"Authorization": f"Bearer {token}"}
    body = {"kind": "leak", "title": "令牌范围", "location": {"lon": 118.80, "lat": 32.05}}
    refused = client.application.test_client().post(URL, json=body, headers=headers)
    assert refused.status_code == 403 and "ogc:read" in refused.get_json()["detail"], refused.get_json()
    assert scalar(engine, "SELECT count(*) FROM incidents") == before
    existing = scalar(engine, "SELECT min(id) FROM incidents")
    read = client.application.test_client().get(f"{URL}/{existing}", headers=headers)
    assert read.status_code == 403 and "ogc:read" in read.get_json()["detail"]
    engine.dispose()


def test_gcj02_location_is_converted_explicitly(client) -> None:  # noqa: ANN001
    incident = _intake(client, location={"lon": KNOWN_GCJ[0], "lat": KNOWN_GCJ[1], "crs": "gcj02"}).get_json()
    assert (incident["lon"], incident["lat"]) == pytest.approx(KNOWN_WGS, abs=2e-7)  # ≤ 2 cm
    raw = _intake(client, location={"lon": KNOWN_GCJ[0], "lat": KNOWN_GCJ[1]}).get_json()
    assert abs(raw["lon"] - KNOWN_WGS[0]) > 0.004  # not converted when declared CGCS2000: ~500 m apart


def test_location_by_enterprise_or_hazard_source(client, scratch_db: str) -> None:  # noqa: ANN001
    engine = sa.create_engine(scratch_db)
    with engine.connect() as conn:
        uscc, name, x, y = conn.execute(sa.text(
            "SELECT uscc, name, ST_X(geom), ST_Y(geom) FROM enterprises ORDER BY uscc LIMIT 1")).one()
        code, owner, hx, hy = conn.execute(sa.text(
            "SELECT code, enterprise_uscc, ST_X(geom), ST_Y(geom) FROM hazard_sources ORDER BY code LIMIT 1")).one()
    engine.dispose()
    by_firm = _intake(client, location={"enterprise_uscc": uscc}, kind="leak").get_json()
    assert (by_firm["lon"], by_firm["lat"]) == pytest.approx((x, y), abs=1e-7)
    assert by_firm["enterprise_uscc"] == uscc and by_firm["title"] == f"{name}泄漏事件"
    by_hazard = _intake(client, location={"hazard_source_code": code}).get_json()
    assert (by_hazard["lon"], by_hazard["lat"]) == pytest.approx((hx, hy), abs=1e-7)
    assert by_hazard["enterprise_uscc"] == owner
    unknown = _intake(client, location={"enterprise_uscc": "91000000000000000X"})
    assert unknown.status_code == 400 and unknown.get_json()["input"] == "location.enterprise_uscc"


def test_outside_the_city_is_refused_with_the_reason_and_nothing_is_written(client, scratch_db: str) -> None:  # noqa: ANN001
    before = scalar(scratch_db, "SELECT count(*) FROM incidents")
    response = _intake(client, location={"lon": 121.47, "lat": 31.23})
    assert response.status_code == 400
    body = response.get_json()
    assert body["code"] == "outside_city" and body["reason"] == "outside the city"
    english = client.post(URL, json={"kind": "fire", "location": {"lon": 121.47, "lat": 31.23}},
                          headers={"Accept-Language": "en"}).get_json()
    assert "outside the city" in english["detail"] and "no district" in english["detail"]
    assert scalar(scratch_db, "SELECT count(*) FROM incidents") == before


@pytest.mark.parametrize("location, field", [
    ({"lon": float("nan"), "lat": 32.0}, "location.lon"),
    ({"lon": "inf", "lat": 32.0}, "location.lon"),
    ({"lon": 119.0, "lat": 91.0}, "location.lat"),
    ({"lon": -181.0, "lat": 32.0}, "location.lon"),
    ({"lon": True, "lat": 32.0}, "location.lon"),
    ({"lon": 119.0}, "location.lat"),
    ({"lon": 119.0, "lat": 32.0, "crs": "EPSG:99999999"}, "location.crs"),
    ({"lon": 119.0, "lat": 32.0, "crs": "mars"}, "location.crs"),
    (None, "location"),
])
def test_bad_locations_are_a_400_naming_the_field(client, location: Any, field: str) -> None:  # noqa: ANN001
    response = _intake(client, location=location)
    assert response.status_code == 400
    assert response.get_json()["input"] == field


@pytest.mark.parametrize("overrides, field", [
    ({"kind": "meteor"}, "kind"),
    ({"reported_at": "2026-11-28T09:30:00"}, "reported_at"),  # no UTC offset: whose clock?
    ({"reported_at": "2999-01-01T00:00:00+08:00"}, "reported_at"),
    ({"response_level": 5}, "response_level"),
    ({"casualties": {"deaths": -1}}, "casualties.deaths"),
    ({"source": "pigeon"}, "source"),
    ({"colour": "red"}, "colour"),
])
def test_bad_intake_fields_are_a_400(client, overrides: dict, field: str) -> None:  # noqa: ANN001
    response = _intake(client, **overrides)
    assert response.status_code == 400
    assert response.get_json()["input"] == field


def test_response_level_accepts_roman_numerals(client) -> None:  # noqa: ANN001
    assert _intake(client, response_level="Ⅲ").get_json()["response_level"] == 3
    assert _intake(client, response_level="II").get_json()["response_level"] == 2


def test_follow_up_reports_form_an_ordered_timeline(client, published) -> None:  # noqa: ANN001
    incident = _intake(client).get_json()
    for i, injuries in enumerate((3, 5), start=2):
        response = client.post(f"{URL}/{incident['id']}/reports", json={
            "reported_at": f"2026-11-28T1{i}:00:00+08:00", "text": f"续报{i}", "casualties": {"injuries": injuries}})
        assert response.status_code == 201, response.get_json()
    body = client.get(f"{URL}/{incident['id']}").get_json()
    assert [(r["seq"], r["kind"], r["text"]) for r in body["reports"]] == [
        (1, "first_report", "厂房起火，有浓烟。"), (2, "follow_up_report", "续报2"), (3, "follow_up_report", "续报3")]
    assert body["injuries"] == 5 and body["deaths"] == 0
    assert [e[0] for e in published] == ["incident.created", "incident.report_added", "incident.report_added"]
    empty = client.post(f"{URL}/{incident['id']}/reports", json={"text": "  "})
    assert empty.status_code == 400 and empty.get_json()["input"] == "text"


def test_lifecycle_is_enforced_with_the_allowed_next_states(client, published) -> None:  # noqa: ANN001
    incident = _intake(client).get_json()
    path = f"{URL}/{incident['id']}/transitions"
    skip = client.post(path, json={"to": "closed"})
    assert skip.status_code == 409
    assert skip.get_json()["allowed"] == ["verified"] and skip.get_json()["current"] == "reported"
    assert client.post(path, json={"to": "sleeping"}).status_code == 400
    for state in ("verified", "responding", "under_control", "closed", "reviewed"):
        response = client.post(path, json={"to": state, "note": f"→{state}"})
        assert response.status_code == 200, response.get_json()
        assert response.get_json()["status"] == state
    final = client.post(path, json={"to": "reported"})
    assert final.status_code == 409 and final.get_json()["allowed"] == []
    assert client.post(f"{URL}/{incident['id']}/reports", json={"text": "迟到的续报"}).status_code == 409
    assert client.patch(f"{URL}/{incident['id']}", json={"title": "改名"}).status_code == 409
    changes = [e[1] for e in published if e[0] == "incident.status_changed"]
    assert [(c["from_status"], c["to_status"]) for c in changes] == list(zip(
        ("reported", "verified", "responding", "under_control", "closed"),
        ("verified", "responding", "under_control", "closed", "reviewed"), strict=True))
    history_rows = client.get(f"{URL}/{incident['id']}/history").get_json()["history"]
    assert [h["event"] for h in history_rows] == ["created"] + ["status_changed"] * 5


def test_the_lifecycle_is_published_as_data(user_client) -> None:  # noqa: ANN001
    body = user_client.get(f"{URL}/lifecycle").get_json()
    assert body["incident"]["transitions"] == {k: list(v) for k, v in INCIDENT_LIFECYCLE.transitions.items()}


def test_concurrent_transitions_let_exactly_one_win(client, scratch_db: str, published) -> None:  # noqa: ANN001
    """Eight dispatchers press 核实 at once: one succeeds, seven get 409, the history shows one change."""
    incident_id = _intake(client).get_json()["id"]
    clients = [sibling(client) for _ in range(8)]
    barrier = threading.Barrier(len(clients))
    codes: list[int] = []

    def press(c) -> None:  # noqa: ANN001
        barrier.wait()
        codes.append(c.post(f"{URL}/{incident_id}/transitions", json={"to": "verified"}).status_code)

    threads = [threading.Thread(target=press, args=(c,)) for c in clients]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(codes) == [200] + [409] * 7
    assert scalar(scratch_db, "SELECT count(*) FROM incident_events WHERE incident_id = :i AND event = 'status_changed'",
                  i=incident_id) == 1
    assert [e[0] for e in published].count("incident.status_changed") == 1


def test_concurrent_intakes_get_distinct_codes(client) -> None:  # noqa: ANN001
    clients = [sibling(client) for _ in range(6)]
    barrier = threading.Barrier(len(clients))
    codes: list[str] = []

    def call(c) -> None:  # noqa: ANN001
        barrier.wait()
        codes.append(_intake(c).get_json()["code"])

    threads = [threading.Thread(target=call, args=(c,)) for c in clients]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(set(codes)) == 6


def test_edits_are_recorded_with_before_and_after(client, published) -> None:  # noqa: ANN001
    incident = _intake(client).get_json()
    response = client.patch(f"{URL}/{incident['id']}", json={"response_level": "Ⅱ", "title": "某厂火灾"})
    assert response.status_code == 200
    body = response.get_json()
    assert body["response_level"] == 2 and body["response_level_label"].startswith("Ⅱ级")
    change = body["history"][-1]
    assert change["event"] == "updated"
    assert change["data"]["changes"]["response_level"] == {"from": None, "to": 2}
    assert published[-1][0] == "incident.updated"
    assert client.patch(f"{URL}/{incident['id']}", json={"status": "closed"}).status_code == 400


def test_list_filters_and_unknown_ids(user_client, demo_db: str) -> None:  # noqa: ANN001
    body = user_client.get(f"{URL}?active=true").get_json()
    active = scalar(demo_db, "SELECT count(*) FROM incidents WHERE status IN ('reported', 'verified', 'responding', "
                    "'under_control')")
    assert body["numberMatched"] == active
    assert all(f["properties"]["status"] != "closed" for f in body["features"])
    closed = user_client.get(f"{URL}?status=closed&limit=5").get_json()
    assert closed["numberReturned"] <= 5 and all(f["properties"]["status"] == "closed" for f in closed["features"])
    assert user_client.get(f"{URL}/999999").status_code == 404
    assert user_client.get(f"{URL}?colour=red").status_code == 400
