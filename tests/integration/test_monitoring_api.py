"""The monitoring API (supervision/monitoring/views.py, readings.py) through the whole app and its gate, signed in as
the demo users on a clone of the demo city: a sensor's latest value, its trend per range from the aggregates with
its set points, a hazard source's sensors, the caller's data scope, and bad input."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

import pytest
import sqlalchemy as sa

from core import clock
from tests.conftest import clone_database, drop_database
from tests.integration.auth_support import make_app, sign_in

NOW = datetime(2026, 12, 7, 6, 30, 20, tzinfo=UTC)


def _buckets(conn: sa.Connection, table: str, code: str, start: datetime, step: timedelta, count: int,
             base: float) -> None:
    for i in range(count):
        conn.execute(sa.text(f"INSERT INTO {table} (sensor_code, bucket, n, total, min_value, max_value) "
                             "VALUES (:c, :b, 4, :t, :lo, :hi)"),
                     {"c": code, "b": start + i * step, "t": 4 * (base + i), "lo": base + i - 1, "hi": base + i + 1})


@pytest.fixture(scope="module")
def world(pg_cluster, template_url: str, demo_artifacts) -> Iterator[SimpleNamespace]:  # noqa: ANN001
    url = clone_database(pg_cluster, "t_monitoring_api")
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        # the enterprise user is bound to an enterprise of the demo district that has sensors
        from access.demo import DEMO_DISTRICT
        user_district = DEMO_DISTRICT
        user_uscc, own_code, own_source = conn.execute(sa.text(
            "SELECT h.enterprise_uscc, s.code, s.hazard_source_code FROM sensors s "
            "JOIN hazard_sources h ON h.code = s.hazard_source_code WHERE s.district_code = :d "
            "ORDER BY s.code LIMIT 1"), {"d": DEMO_DISTRICT}).one()
        conn.execute(sa.text("UPDATE users SET enterprise_uscc = :u WHERE username = 'enterprise'"), {"u": user_uscc})
        own = (own_code, own_source)
        gas = conn.execute(sa.text(
            "SELECT s.code FROM sensors s JOIN monitoring_sensors ms ON ms.sensor_code = s.code "
            "WHERE ms.rule_set = 'combustible_gas' AND s.district_code <> :d ORDER BY s.code LIMIT 1"),
            {"d": user_district}).scalar_one()
        minute = NOW.replace(second=0)
        hour = NOW.replace(minute=0, second=0)
        # the hour: 90 minutes of buckets, of which the last 60 are in range; a day and a week of hours (+ older)
        _buckets(conn, "monitoring_agg_1m", gas, minute - timedelta(minutes=89), timedelta(minutes=1), 90, 10.0)
        _buckets(conn, "monitoring_agg_1h", gas, hour - timedelta(hours=199), timedelta(hours=1), 200, 5.0)
        conn.execute(sa.text("INSERT INTO monitoring_latest (sensor_code, ts, value, quality) VALUES (:c, :t, 31.5, 0)"),
                     {"c": gas, "t": NOW - timedelta(seconds=5)})
        conn.execute(sa.text("INSERT INTO monitoring_alarms (sensor_code, rule, kind, level, value, threshold, message, "
                             "raised_at, updated_at) VALUES (:c, 'gas_level_1', 'level', 1, 31.5, 25, 'x', :t, :t)"),
                     {"c": gas, "t": NOW - timedelta(seconds=5)})
    app = make_app(url, demo_artifacts)
    with clock.freeze(NOW):
        yield SimpleNamespace(url=url, app=app, gas=gas, own=own[0], own_source=own[1], uscc=user_uscc,
                              clients={})
    engine.dispose()
    drop_database(pg_cluster, "t_monitoring_api")


def client_of(world: SimpleNamespace, username: str):  # noqa: ANN201
    """One signed-in client per demo user for the module (a TOTP code is accepted once)."""
    if username not in world.clients:
        world.clients[username] = world.app.test_client()
        sign_in(world.clients[username], username)
    return world.clients[username]


def test_a_sensor_with_its_latest_value_alarm_and_set_points(world: SimpleNamespace) -> None:
    body = client_of(world, "dispatcher").get(f"/api/monitoring/sensors/{world.gas}").get_json()
    assert body["code"] == world.gas and body["unit"] == "%LEL" and body["kind"] == "gas_concentration"
    assert body["latest"]["value"] == 31.5 and body["latest"]["ts"].endswith("Z")
    assert [(a["rule"], a["level"]) for a in body["alarms"]] == [("gas_level_1", 1)]
    # the combustible-gas set points of rules.yaml: 二级 50 %LEL over 一级 25 %LEL
    assert [(p["rule"], p["level"], p["value"]) for p in body["set_points"]] == [("gas_level_2", 2, 50.0),
                                                                                 ("gas_level_1", 1, 25.0)]


@pytest.mark.parametrize(("range_name", "count", "step", "first_avg"),
                         [("hour", 60, 60, 40.0), ("day", 24, 3600, 181.0), ("week", 168, 3600, 37.0)])
def test_series_per_range_from_the_aggregates(world: SimpleNamespace, range_name: str, count: int, step: int,
                                              first_avg: float) -> None:
    response = client_of(world, "city_reg").get(f"/api/monitoring/sensors/{world.gas}/series?range={range_name}")
    assert response.status_code == 200 and response.headers["Cache-Control"].startswith(("no-store", "private"))
    body = response.get_json()
    points = body["points"]
    assert body["range"] == range_name and body["bucket_seconds"] == step and len(points) == count
    assert points[0]["avg"] == first_avg and points[0]["min"] == first_avg - 1 and points[0]["max"] == first_avg + 1
    last = datetime.fromisoformat(points[-1]["t"])  # the current bucket is the last one
    assert last == NOW.replace(second=0, **({} if range_name == "hour" else {"minute": 0}))
    assert datetime.fromisoformat(body["to"]) - datetime.fromisoformat(body["from"]) == timedelta(seconds=count * step)
    assert body["sensor"]["set_points"][0]["value"] == 50.0


def test_a_sensor_without_readings_has_an_empty_series(world: SimpleNamespace) -> None:
    body = client_of(world, "dispatcher").get(f"/api/monitoring/sensors/{world.own}/series?range=week").get_json()
    assert body["points"] == [] and body["sensor"]["latest"] is None


def test_bad_range_and_unknown_parameters_are_400_with_a_precise_message(world: SimpleNamespace) -> None:
    client = client_of(world, "dispatcher")
    response = client.get(f"/api/monitoring/sensors/{world.gas}/series?range=month", headers={"Accept-Language": "en"})
    assert response.status_code == 400 and response.mimetype == "application/problem+json"
    problem = response.get_json()
    assert problem["input"] == "range" and problem["allowed"] == "hour, day, week" and "'month'" in problem["detail"]
    response = client.get(f"/api/monitoring/sensors/{world.gas}/series?ranges=day")
    assert response.status_code == 400 and response.get_json()["input"] == "ranges"


@pytest.mark.parametrize("code", ["NOPE-GA01", "x" * 300, "a b", "HS' OR 1=1"])
def test_unknown_sensors_and_hazard_sources_are_404(world: SimpleNamespace, code: str) -> None:
    client = client_of(world, "dispatcher")
    for path in (f"/api/monitoring/sensors/{code}", f"/api/monitoring/sensors/{code}/series",
                 f"/api/monitoring/hazard-sources/{code}/sensors"):
        response = client.get(path)
        assert response.status_code == 404, path
        assert response.mimetype == "application/problem+json"


def test_a_hazard_source_lists_its_sensors_with_their_latest_values(world: SimpleNamespace) -> None:
    with sa.create_engine(world.url).connect() as conn:
        source, expected = conn.execute(sa.text(
            "SELECT s.hazard_source_code, array_agg(s.code ORDER BY s.code) FROM sensors s "
            "WHERE s.hazard_source_code = (SELECT hazard_source_code FROM sensors WHERE code = :c) GROUP BY 1"),
            {"c": world.gas}).one()
    body = client_of(world, "dispatcher").get(f"/api/monitoring/hazard-sources/{source}/sensors").get_json()
    assert body["hazard_source"]["code"] == source
    assert [s["code"] for s in body["sensors"]] == expected
    gas = next(s for s in body["sensors"] if s["code"] == world.gas)
    assert gas["latest"]["value"] == 31.5


def test_the_scope_of_each_role(world: SimpleNamespace) -> None:
    enterprise = client_of(world, "enterprise")
    assert enterprise.get(f"/api/monitoring/sensors/{world.own}").status_code == 200
    # another enterprise's sensor (in another district) does not exist for the enterprise user nor the district
    assert enterprise.get(f"/api/monitoring/sensors/{world.gas}").status_code == 404
    assert enterprise.get(f"/api/monitoring/sensors/{world.gas}/series?range=day").status_code == 404
    body = enterprise.get(f"/api/monitoring/hazard-sources/{world.own_source}/sensors").get_json()
    assert body["sensors"] and all(s["enterprise_uscc"] == world.uscc for s in body["sensors"])
    district = client_of(world, "district_reg")
    assert district.get(f"/api/monitoring/sensors/{world.gas}").status_code == 404
    assert district.get(f"/api/monitoring/sensors/{world.own}").status_code == 200
    # roles without the monitoring module: refused at the gate; anonymous: 401
    assert client_of(world, "grid_worker").get(f"/api/monitoring/sensors/{world.own}").status_code == 403
    assert world.app.test_client().get(f"/api/monitoring/sensors/{world.own}").status_code == 401
