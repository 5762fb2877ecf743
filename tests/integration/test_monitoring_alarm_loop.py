"""The alarm closed loop (报警处置闭环) on the real PostGIS: a raised alarm opens its case in the alarm's transaction,
escalation on minute timers (test clock, the scheduler), acknowledge → feedback → clear → close, a clear before the
acknowledgement, repeats, device faults, refusals by role and enterprise, and the hazard sources' warning levels."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

import psycopg
import pytest
import sqlalchemy as sa
import yaml

from access.errors import Forbidden
from core import clock
from core.errors import Conflict, NotFound
from core.manifest import resource
from supervision.cases import scheduler, service
from supervision.monitoring import alarms, loop
from supervision.monitoring.ingest import libpq_url
from tests.conftest import clone_database, drop_database
from tests.integration.cases_support import CONFIG, caller

RULES = yaml.safe_load(resource("supervision.monitoring:rules.yaml").read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def urls(pg_cluster: Any, template_url: str) -> Iterator[tuple[str, sa.Engine]]:
    url = clone_database(pg_cluster, "mon_loop")
    engine = sa.create_engine(url)
    yield libpq_url(url), engine
    engine.dispose()
    drop_database(pg_cluster, "mon_loop")


@pytest.fixture(scope="module")
def sources(urls: tuple[str, sa.Engine]) -> list[dict[str, Any]]:
    """Hazard sources with two combustible-gas sensors each (and their enterprise, district), unused elsewhere."""
    with psycopg.connect(urls[0]) as conn:
        rows = conn.execute(
            "SELECT h.code, h.enterprise_uscc, h.district_code, array_agg(ms.sensor_code ORDER BY ms.sensor_code) "
            "FROM hazard_sources h JOIN sensors s ON s.hazard_source_code = h.code JOIN monitoring_sensors ms ON "
            "ms.sensor_code = s.code WHERE ms.rule_set = 'combustible_gas' GROUP BY h.code, h.enterprise_uscc, h.district_code HAVING count(*) >= 2 "
            "ORDER BY h.code LIMIT 9").fetchall()
        other = conn.execute("SELECT uscc FROM enterprises ORDER BY uscc LIMIT 2").fetchall()
    assert len(rows) == 9
    out = [{"code": c, "uscc": u, "district": d, "sensors": list(s)} for c, u, d, s in rows]
    for s in out:
        s["stranger"] = next(o[0] for o in other if o[0] != s["uscc"])
    return out


@pytest.fixture
def t0() -> Iterator[datetime]:
    at = clock.now().replace(microsecond=0)
    with clock.freeze(at):
        yield at


def reading(conn: psycopg.Connection, sensor: str, value: float, at: datetime,
            pending: loop.Pending | None = None) -> dict[str, int]:
    book = alarms.RuleBook(RULES)
    book.reload(conn)
    changes = alarms.run_rules(conn, book, [(sensor, at, value, 0, True)])
    if pending is not None:
        pending.merge(changes.loop)
    return changes.counts


def case_of(conn: psycopg.Connection, sensor: str, rule: str = "gas_level_1") -> int:
    return conn.execute("SELECT case_id FROM monitoring_alarms WHERE sensor_code = %s AND rule = %s "
                        "ORDER BY id DESC LIMIT 1", (sensor, rule)).fetchone()[0]


def detail(engine: sa.Engine, case_id: int) -> dict[str, Any]:
    who, access = caller("city_regulator")
    with engine.connect() as conn:
        return service.detail(conn, case_id, access=access, identity=who)


def move(engine: sa.Engine, case_id: int, action: str, role: str, src: dict[str, Any], form: dict | None = None,
         uscc: str | None = None) -> dict[str, Any]:
    who, access = caller(role, district=src["district"], uscc=uscc or (src["uscc"] if role == "enterprise_user"
                                                                       else None))
    with engine.connect() as conn:
        return service.transition(conn, case_id, {"action": action, "form": form or {}}, access=access,
                                  identity=who, config=CONFIG)


def timeline(engine: sa.Engine, case_id: int) -> list[tuple[str, str | None, str | None]]:
    with engine.connect() as conn:
        return [(r.action, r.to_state, r.actor) for r in conn.execute(sa.text(
            "SELECT action, to_state, actor FROM case_events WHERE case_id = :id ORDER BY seq"), {"id": case_id})]


def test_a_raised_alarm_opens_one_case_in_its_transaction_and_a_repeat_none(urls: tuple, sources: list,
                                                                            t0: datetime) -> None:
    url, engine = urls
    src = sources[0]
    sensor = src["sensors"][0]
    pending = loop.Pending()
    with psycopg.connect(url) as conn:
        counts = reading(conn, sensor, 30.0, t0, pending)
        case_id = case_of(conn, sensor)
        # rolled back with the alarm: the case does not outlive the transaction that raised it
        conn.rollback()
        assert conn.execute("SELECT count(*) FROM cases WHERE id = %s", (case_id,)).fetchone()[0] == 0
        reading(conn, sensor, 30.0, t0, pending)
        case_id = case_of(conn, sensor)
        reading(conn, sensor, 32.0, t0 + timedelta(seconds=5), pending)           # a repeat
        conn.commit()
        cases = conn.execute("SELECT count(DISTINCT case_id), count(*) FROM monitoring_alarms WHERE sensor_code = %s",
                             (sensor,)).fetchone()
    assert counts["alarms_raise"] == 1 and cases == (1, 1)
    d = detail(engine, case_id)
    assert (d["case_type"], d["state"], d["anchor_kind"], d["anchor_id"]) == \
        ("alarm_disposal", "active", "hazard_source", src["code"])
    assert (d["enterprise_uscc"], d["district_code"]) == (src["uscc"], src["district"])
    assert d["data"]["sensor_code"] == sensor and d["data"]["level"] == 1 and d["data"]["escalation"] == "enterprise"
    escalations = {c["clock"]: c for c in d["clocks"]}
    assert escalations["escalate_district"]["due_at"] == (t0 + timedelta(minutes=5)).isoformat()
    assert escalations["escalate_city"]["due_at"] == (t0 + timedelta(minutes=15)).isoformat()
    assert d["due_at"] == (t0 + timedelta(minutes=5)).isoformat()
    assert timeline(engine, case_id) == [("raise", "active", None)]
    assert [e[0] for e in pending.changes.pending if e[0] == "case.opened"] == ["case.opened"] * 2  # (incl. rolled back)
    with engine.connect() as conn:
        audited = conn.execute(sa.text("SELECT count(*) FROM audit.audit_log WHERE object_type = 'case' AND "
                                       "object_id = :id AND action = 'case.raise'"), {"id": str(case_id)}).scalar()
    assert audited == 1


def test_an_unacknowledged_alarm_escalates_to_the_district_after_5_and_the_city_after_15_minutes(
        urls: tuple, sources: list, t0: datetime) -> None:
    url, engine = urls
    src = sources[1]
    with psycopg.connect(url) as conn:
        reading(conn, src["sensors"][0], 30.0, t0)
        case_id = case_of(conn, src["sensors"][0])
    seen = []
    for minutes in (4.9, 5, 14.9, 15, 60):
        with clock.freeze(t0 + timedelta(minutes=minutes)):
            scheduler.run_due(engine, CONFIG)
            d = detail(engine, case_id)
        seen.append((minutes, d["data"]["escalation"], d["overdue"]))
    assert seen == [(4.9, "enterprise", False), (5, "district", True), (14.9, "district", True),
                    (15, "city", True), (60, "city", True)]
    with engine.connect() as conn:
        rows = conn.execute(sa.text("SELECT action, results FROM case_events WHERE case_id = :id ORDER BY seq"),
                            {"id": case_id}).all()
    assert [r.action for r in rows] == ["raise", "clock.breach", "clock.warn", "clock.breach"]
    notified = [n["roles"] for r in rows for n in r.results.get("notified", ())]
    assert notified == [["enterprise_user"], ["district_regulator"], ["city_regulator", "dispatcher"]]
    assert rows[1].results["clock"]["due_at"] == (t0 + timedelta(minutes=5)).isoformat()


def test_acknowledge_feedback_clear_close_each_step_by_its_actor(urls: tuple, sources: list, t0: datetime) -> None:
    url, engine = urls
    src = sources[2]
    sensor = src["sensors"][0]
    with psycopg.connect(url) as conn:
        reading(conn, sensor, 30.0, t0)
        case_id = case_of(conn, sensor)
    assert move(engine, case_id, "acknowledge", "dispatcher", src, {"note": "已电话通知企业"})["state"] == "acknowledged"
    with clock.freeze(t0 + timedelta(minutes=20)):
        assert scheduler.run_due(engine, CONFIG) >= 0
        assert detail(engine, case_id)["data"]["escalation"] == "enterprise"   # acknowledged in time: no escalation
    d = move(engine, case_id, "feedback", "enterprise_user", src, {"cause": "法兰垫片老化泄漏", "measures": "关阀、更换垫片"})
    assert d["state"] == "handling" and d["data"]["cause"] == "法兰垫片老化泄漏"
    with pytest.raises(Conflict) as refused:     # the alarm is still active at the sensor
        move(engine, case_id, "close", "district_regulator", src, {"opinion": "同意闭环"})
    assert refused.value.code == "guard_failed"
    with psycopg.connect(url) as conn:
        reading(conn, sensor, 1.0, t0 + timedelta(minutes=21))
    assert detail(engine, case_id)["state"] == "cleared"
    d = move(engine, case_id, "close", "district_regulator", src, {"opinion": "原因清楚，措施到位，同意闭环"})
    assert d["state"] == "closed" and d["final"]
    assert timeline(engine, case_id) == [
        ("raise", "active", None), ("acknowledge", "acknowledged", "t_dispatcher"),
        ("clock.warn", "acknowledged", None),                 # 10 minutes before the feedback is due
        ("feedback", "handling", "t_enterprise_user"), ("clear", "cleared", None),
        ("close", "closed", "t_district_regulator")]
    who, access = caller("city_regulator")
    with engine.connect() as conn:
        assert service.verify_chain(conn, case_id, access=access)["ok"]
        actors = conn.execute(sa.text("SELECT action, username FROM audit.audit_log WHERE object_type = 'case' AND "
                                      "object_id = :id AND details ? 'seq' ORDER BY id"), {"id": str(case_id)}).all()
    assert [tuple(a) for a in actors] == [("case.raise", None), ("case.acknowledge", "t_dispatcher"),
                                          ("case.clock.warn", None),
                                          ("case.feedback", "t_enterprise_user"), ("case.clear", None),
                                          ("case.close", "t_district_regulator")]


def test_the_alarms_of_one_episode_of_a_sensor_are_handled_in_one_case(urls: tuple, sources: list,
                                                                      t0: datetime) -> None:
    """A leak passes 一级 then 二级: one case, acknowledged once, at the highest level; it clears with the last alarm."""
    url, engine = urls
    src = sources[8]
    sensor = src["sensors"][0]
    with psycopg.connect(url) as conn:
        reading(conn, sensor, 30.0, t0)
        case_id = case_of(conn, sensor)
    move(engine, case_id, "acknowledge", "dispatcher", src)
    with psycopg.connect(url) as conn:
        reading(conn, sensor, 60.0, t0 + timedelta(minutes=1))     # 二级 joins the acknowledged case
        assert case_of(conn, sensor, "gas_level_2") == case_id
        reading(conn, sensor, 40.0, t0 + timedelta(minutes=2))     # 二级 clears, 一级 still active
        conn.commit()
        episode = conn.execute("SELECT rule FROM monitoring_alarms WHERE case_id = %s ORDER BY id",
                               (case_id,)).fetchall()
    # 一级, then 二级 and the rapid rise (30 → 60 %LEL in a minute) of the same leak
    assert [r[0] for r in episode] == ["gas_level_1", "gas_level_2", "gas_rise"]
    d = detail(engine, case_id)
    assert d["state"] == "acknowledged" and d["data"]["level"] == 2 and "二级" in d["title"]
    assert not d["data"].get("alarm_cleared") and len(d["data"]["alarm_ids"]) == 3
    move(engine, case_id, "feedback", "enterprise_user", src, {"cause": "阀门内漏", "measures": "倒罐、更换阀门"})
    with psycopg.connect(url) as conn:
        reading(conn, sensor, 1.0, t0 + timedelta(minutes=3))      # the last alarm of the episode clears
        conn.commit()
        distinct = conn.execute("SELECT count(DISTINCT case_id) FROM monitoring_alarms WHERE sensor_code = %s",
                                (sensor,)).fetchone()[0]
    assert distinct == 1
    assert [e[0] for e in timeline(engine, case_id)] == ["raise", "acknowledge", "join_acknowledged",
                                                         "join_acknowledged", "feedback", "clear"]
    with psycopg.connect(url) as conn:
        reading(conn, sensor, 30.0, t0 + timedelta(minutes=4))     # a new episode after the clear: a new case
        conn.commit()
        assert case_of(conn, sensor) != case_id


def test_an_alarm_cleared_before_acknowledgement_must_still_be_acknowledged_and_fed_back(
        urls: tuple, sources: list, t0: datetime) -> None:
    url, engine = urls
    src = sources[3]
    sensor = src["sensors"][0]
    with psycopg.connect(url) as conn:
        reading(conn, sensor, 30.0, t0)
        case_id = case_of(conn, sensor)
        reading(conn, sensor, 1.0, t0 + timedelta(minutes=1))
    d = detail(engine, case_id)
    assert d["state"] == "active" and d["data"]["alarm_cleared"] is True
    assert [a["id"] for a in d["actions"]] == ["acknowledge"]
    with clock.freeze(t0 + timedelta(minutes=5)):        # a transient alarm nobody looked at still escalates
        scheduler.run_due(engine, CONFIG)
    assert detail(engine, case_id)["data"]["escalation"] == "district"
    move(engine, case_id, "acknowledge", "enterprise_user", src)
    with pytest.raises(Conflict) as refused:           # no feedback yet: closing is not possible
        move(engine, case_id, "close", "city_regulator", src, {"opinion": "同意"})
    assert refused.value.code == "invalid_transition"
    move(engine, case_id, "feedback", "enterprise_user", src, {"cause": "检修作业短时释放", "measures": "加强作业监护"})
    assert move(engine, case_id, "close", "city_regulator", src, {"opinion": "同意闭环"})["state"] == "closed"
    assert [e[0] for e in timeline(engine, case_id)] == ["raise", "clear_unacknowledged", "clock.breach",
                                                         "acknowledge", "feedback", "close"]


def test_the_feedback_deadline_counts_minutes_from_the_acknowledgement(urls: tuple, sources: list,
                                                                      t0: datetime) -> None:
    url, engine = urls
    src = sources[4]
    with psycopg.connect(url) as conn:
        reading(conn, src["sensors"][0], 30.0, t0)
        case_id = case_of(conn, src["sensors"][0])
    with clock.freeze(t0 + timedelta(minutes=2)):
        move(engine, case_id, "acknowledge", "district_regulator", src)
        clocks = {c["clock"]: c for c in detail(engine, case_id)["clocks"]}
    assert clocks["escalate_district"]["status"] == "met" and clocks["escalate_city"]["status"] == "met"
    assert clocks["feedback"]["due_at"] == (t0 + timedelta(minutes=32)).isoformat()
    assert clocks["feedback"]["warn_at"] == (t0 + timedelta(minutes=22)).isoformat()
    with clock.freeze(t0 + timedelta(minutes=32)):
        scheduler.run_due(engine, CONFIG)
        d = detail(engine, case_id)
    assert d["data"]["feedback_overdue"] is True and d["overdue"]
    assert {c["clock"]: c["status"] for c in d["clocks"]}["feedback"] == "breached"


def test_wrong_roles_and_other_enterprises_are_refused(urls: tuple, sources: list, t0: datetime) -> None:
    url, engine = urls
    src = sources[5]
    with psycopg.connect(url) as conn:
        reading(conn, src["sensors"][0], 30.0, t0)
        case_id = case_of(conn, src["sensors"][0])
    with pytest.raises(NotFound):        # another enterprise's alarm does not exist for its users
        move(engine, case_id, "acknowledge", "enterprise_user", src, uscc=src["stranger"])
    with pytest.raises(Forbidden):
        move(engine, case_id, "acknowledge", "grid_worker", src)
    with pytest.raises(Forbidden):       # the system clears an alarm, never a user
        move(engine, case_id, "clear_unacknowledged", "city_regulator", src)
    move(engine, case_id, "acknowledge", "enterprise_user", src)
    with pytest.raises(Forbidden):       # the feedback is the enterprise's
        move(engine, case_id, "feedback", "district_regulator", src, {"cause": "xx", "measures": "yy"})
    move(engine, case_id, "feedback", "enterprise_user", src, {"cause": "xx", "measures": "yy"})
    with pytest.raises(Forbidden):       # the enterprise does not close its own alarm
        move(engine, case_id, "close", "enterprise_user", src, {"opinion": "zz"})
    assert detail(engine, case_id)["state"] == "handling"


def test_device_faults_open_no_case_and_show_blue(urls: tuple, sources: list, t0: datetime) -> None:
    url, _engine = urls
    src = sources[6]
    sensor = src["sensors"][0]
    book = alarms.RuleBook(RULES)
    with psycopg.connect(url) as conn:
        book.reload(conn)
        conn.execute("INSERT INTO monitoring_latest (sensor_code, ts, value, quality) VALUES (%s, %s, 1, 0) "
                     "ON CONFLICT (sensor_code) DO UPDATE SET ts = excluded.ts", (sensor, t0 - timedelta(hours=1)))
        changes = alarms.sweep_stale(conn, book, t0)
        counts, pending = changes.counts, changes.loop
        row = conn.execute("SELECT case_id FROM monitoring_alarms WHERE sensor_code = %s AND rule = 'stale' AND "
                           "state = 'active'", (sensor,)).fetchone()
        level = conn.execute("SELECT warning_level FROM hazard_sources WHERE code = %s", (src["code"],)).fetchone()[0]
        conn.rollback()
    assert counts["alarms_raise"] >= 1 and row == (None,)
    assert level == "blue" and src["code"] in [w.hazard_source_code for w in pending.warning_levels]


def test_warning_levels_follow_the_active_alarms_in_their_transaction(urls: tuple, sources: list,
                                                                      t0: datetime) -> None:
    url, engine = urls
    src = sources[7]
    a, b = src["sensors"][:2]

    def level(conn: psycopg.Connection) -> str | None:
        return conn.execute("SELECT warning_level FROM hazard_sources WHERE code = %s", (src["code"],)).fetchone()[0]

    steps = []
    with psycopg.connect(url) as conn:
        for i, (sensor, value) in enumerate([(a, 30.0), (b, 30.0), (b, 1.0), (a, 60.0), (a, 30.0), (a, 1.0)]):
            pending = loop.Pending()
            reading(conn, sensor, value, t0 + timedelta(seconds=90 * (i + 1)), pending)
            changes = [(w.previous, w.level) for w in pending.warning_levels if w.hazard_source_code == src["code"]]
            steps.append((level(conn), changes))
        conn.commit()
    assert steps == [("yellow", [(None, "yellow")]),          # one level-1 gas alarm
                     ("orange", [("yellow", "orange")]),      # level-1 alarms on two sensors
                     ("yellow", [("orange", "yellow")]),      # one of them cleared
                     ("red", [("yellow", "red")]),            # a level-2 gas alarm
                     ("yellow", [("red", "yellow")]),         # back below level 2 (deadband 2): level 1 remains
                     (None, [("yellow", None)])]              # all clear
    event = pending.warning_levels[0].event()
    assert set(event) == {"hazard_source_code", "name", "level", "previous", "at", "lon", "lat"}
    with engine.connect() as conn:   # the layer row itself: what WMS/WFS, the OGC API and the console read
        assert conn.execute(sa.text("SELECT warning_level FROM hazard_sources WHERE code = :c"),
                            {"c": src["code"]}).scalar() is None


def test_through_the_broker_the_worker_opens_the_case_and_publishes_after_commit(
        urls: tuple, sources: list, mqtt_broker: Any) -> None:
    """A reading over MQTT → the ingest worker → the alarm, its case and the warning level in one commit, then the
    live events (monitoring.alarm naming the case, case.opened, monitoring.warning_level) to the subscribers."""
    from core import realtime
    from supervision.monitoring.broker import readings_topic
    from supervision.monitoring.payload import encode
    from tests.integration.monitoring_support import (
        _can_connect,
        publish,
        publisher,
        running_worker,
        wait_until,
    )

    url, engine = urls
    used = {s for src in sources for s in src["sensors"]}
    with psycopg.connect(url) as conn:
        mqtt_broker.set_gateways(conn.execute("SELECT code, enterprise_uscc FROM monitoring_gateways").fetchall())
        sensor, gateway, uscc, hs = conn.execute(
            "SELECT ms.sensor_code, g.code, g.enterprise_uscc, s.hazard_source_code FROM monitoring_sensors ms "
            "JOIN monitoring_gateways g ON g.code = ms.gateway_code JOIN sensors s ON s.code = ms.sensor_code "
            "WHERE ms.rule_set = 'combustible_gas' AND NOT (ms.sensor_code = ANY(%s)) AND NOT EXISTS (SELECT 1 FROM "
            "monitoring_alarms a JOIN sensors s2 ON s2.code = a.sensor_code WHERE s2.hazard_source_code = "
            "s.hazard_source_code) ORDER BY 1 LIMIT 1", (sorted(used),)).fetchone()
    mqtt_broker.reload()
    wait_until(lambda: _can_connect(mqtt_broker, gateway), "the broker to accept the gateways")
    events = realtime.broker().subscribe(timeout=0.2, announce=True)
    next(events)
    with running_worker(url, mqtt_broker, "test-alarm-loop") as _worker, publisher(mqtt_broker, gateway) as client:
        publish(client, readings_topic(uscc, gateway),
                encode([{"device": sensor, "ts": clock.now(), "value": 30.0, "unit": "%LEL"}]))

        def the_case() -> int | None:
            with psycopg.connect(url) as conn:
                row = conn.execute("SELECT case_id FROM monitoring_alarms WHERE sensor_code = %s AND state = 'active'",
                                   (sensor,)).fetchone()
            return row and row[0]

        case_id = wait_until(the_case, "the alarm's case")
        seen: dict[str, dict] = {}

        def arrived() -> bool:
            event = next(events)
            if event is not None and event.type in ("case.opened", "monitoring.warning_level", "monitoring.alarm"):
                seen[event.type] = {**event.data, "_scope": event.scope}
            return len(seen) == 3

        wait_until(arrived, "the live events")
    events.close()
    assert seen["case.opened"]["id"] == case_id and seen["case.opened"]["case_type"] == "alarm_disposal"
    assert (seen["monitoring.alarm"]["action"], seen["monitoring.alarm"]["case_id"]) == ("raise", case_id)
    level = seen["monitoring.warning_level"]
    assert (level["hazard_source_code"], level["level"], level["previous"]) == (hs, "yellow", None)
    assert (level["_scope"].layer, level["_scope"].enterprise_uscc) == ("hazard_sources", uscc)
    assert detail(engine, case_id)["anchor_id"] == hs
