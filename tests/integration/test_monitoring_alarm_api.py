"""The monitoring alarm API's service (supervision/monitoring/service.py, impact.py) on a clone of the demo city with
hand-made alarms: the list (active first, recently cleared, levels), one alarm, the KPIs, the caller's data scope
(the sensors layer's: a district its district, an enterprise its own), and the alarm → plume impact."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace

import pytest
import sqlalchemy as sa

from access.errors import Forbidden
from access.policy.rowscope import LayerAccess
from access.policy.rules import Authz, load_policy
from core import clock
from core.errors import Conflict, InvalidInput, NotFound
from core.identity import Identity
from core.manifest import load_document
from supervision.monitoring import impact, schemas, service
from tests.conftest import clone_database, drop_database

POLICY = load_policy()
CITY = LayerAccess.unrestricted()
NOW = datetime(2026, 11, 2, 2, 0, tzinfo=UTC)
PLUME = impact.plume_processor(None)
LABELS = service.rule_labels(load_document("supervision.monitoring:rules.yaml"))


def access_of(role: str, **kw: object) -> LayerAccess:
    who = Identity(user_id=9, username=f"test_{role}", roles=frozenset({role}), method="session", **kw)  # type: ignore[arg-type]
    return LayerAccess(Authz(POLICY, who))


def _sensor(conn: sa.Connection, unit: str, cas: str | None = None, other_district: str | None = None) -> dict:
    chem = ("AND EXISTS (SELECT 1 FROM hazard_source_chemicals c WHERE c.hazard_source_code = s.hazard_source_code "
            "AND c.cas = :cas)") if cas else ""
    district = "AND s.district_code <> :d" if other_district else ""
    return dict(conn.execute(sa.text(
        "SELECT s.code, s.district_code, h.code AS hs, h.enterprise_uscc FROM sensors s "
        "JOIN hazard_sources h ON h.code = s.hazard_source_code JOIN monitoring_sensors ms ON ms.sensor_code = s.code "
        f"WHERE s.kind = 'gas_concentration' AND s.unit = :u {chem} {district} ORDER BY s.code LIMIT 1"),
        {"u": unit, "cas": cas, "d": other_district}).mappings().one())


def _alarm(conn: sa.Connection, sensor: str, rule: str, level: int, at: datetime, *, cleared: datetime | None = None,
           kind: str = "level") -> int:
    return conn.execute(sa.text(
        "INSERT INTO monitoring_alarms (sensor_code, rule, kind, level, state, value, threshold, message, raised_at, "
        "updated_at, cleared_at) VALUES (:s, :r, :k, :l, :st, 12.5, 6.0, 'test', :at, :at, :cl) RETURNING id"),
        {"s": sensor, "r": rule, "k": kind, "l": level, "st": "cleared" if cleared else "active", "at": at,
         "cl": cleared}).scalar_one()


@pytest.fixture(scope="module")
def world(pg_cluster, template_url: str) -> Iterator[SimpleNamespace]:  # noqa: ANN001
    url = clone_database(pg_cluster, "t_monitoring_alarm_api")
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        conn.execute(sa.text("DELETE FROM monitoring_alarms"))
        toxic = _sensor(conn, "ppm", "7782-50-5")        # a chlorine holder's toxic-gas detector
        lel = _sensor(conn, "%LEL", None, toxic["district_code"])  # a combustible one in another district
        ids = {
            "toxic2": _alarm(conn, toxic["code"], "gas_level_2", 2, NOW - timedelta(minutes=5)),
            "toxic_stale": _alarm(conn, toxic["code"], "stale", 1, NOW - timedelta(minutes=50), kind="stale"),
            "lel1": _alarm(conn, lel["code"], "gas_level_1", 1, NOW - timedelta(minutes=10)),
            "lel_old": _alarm(conn, lel["code"], "gas_level_2", 2, NOW - timedelta(hours=30),
                              cleared=NOW - timedelta(hours=29)),
            "lel_recent": _alarm(conn, lel["code"], "gas_rise", 1, NOW - timedelta(hours=3),
                                 cleared=NOW - timedelta(hours=2), kind="rate"),
        }
    with engine.connect() as conn, clock.freeze(NOW):
        yield SimpleNamespace(conn=conn, toxic=toxic, lel=lel, ids=ids)
    engine.dispose()
    drop_database(pg_cluster, "t_monitoring_alarm_api")


def run(world: SimpleNamespace, access: LayerAccess = CITY, **args: str) -> list[dict]:
    body = service.list_alarms(world.conn, schemas.alarm_query(args), access=access, labels=LABELS)
    return body["alarms"]


def test_active_first_by_level_then_the_recently_cleared(world: SimpleNamespace) -> None:
    ids = world.ids
    assert [a["id"] for a in run(world)] == [ids["toxic2"], ids["lel1"], ids["toxic_stale"], ids["lel_recent"]]
    first = run(world)[0]
    assert first["sensor_code"] == world.toxic["code"] and first["hazard_source_code"] == world.toxic["hs"]
    assert first["enterprise_uscc"] == world.toxic["enterprise_uscc"] and first["enterprise_name"]
    assert (first["level"], first["state"], first["value"], first["threshold"]) == (2, "active", 12.5, 6.0)
    assert first["label"] == "有毒气体二级报警" and first["fault"] is False
    assert first["raised_at"] == (NOW - timedelta(minutes=5)).isoformat()
    assert first["case_id"] is None and first["case_url"] is None
    assert run(world)[2]["fault"] is True
    assert [a["id"] for a in run(world, state="active", level="2")] == [ids["toxic2"]]
    assert [a["id"] for a in run(world, state="cleared", cleared_within_h="48")] == [ids["lel_recent"], ids["lel_old"]]
    assert [a["id"] for a in run(world, hazard_source=world.lel["hs"])] == [ids["lel1"], ids["lel_recent"]]
    assert len(run(world, limit="1")) == 1


def test_scope_follows_the_sensors_layer(world: SimpleNamespace) -> None:
    district = access_of("district_regulator", district_code=world.toxic["district_code"])
    assert {a["sensor_code"] for a in run(world, district)} == {world.toxic["code"]}
    own = access_of("enterprise_user", enterprise_uscc=world.lel["enterprise_uscc"])
    assert {a["sensor_code"] for a in run(world, own)} == {world.lel["code"]}
    with pytest.raises(NotFound):  # another district's alarm: as if it did not exist
        service.get_alarm(world.conn, world.ids["lel1"], access=district, labels=LABELS)
    with pytest.raises(NotFound):
        service.get_alarm(world.conn, (1 << 63) + 5, access=CITY, labels=LABELS)
    assert service.get_alarm(world.conn, world.ids["lel1"], access=own, labels=LABELS)["level"] == 1
    with pytest.raises(Forbidden):
        run(world, access_of("public"))
    k = service.kpis(world.conn, access=district)
    assert (k["active_alarms"], k["active_by_level"], k["device_faults"]) == (1, {"1": 0, "2": 1}, 1)


def test_the_alarm_links_to_its_disposal_case(world: SimpleNamespace) -> None:
    # any case of the demo city stands for the alarm_disposal case the alarm loop opens
    with world.conn.begin_nested():
        case = world.conn.execute(sa.text("SELECT id, code, state FROM cases ORDER BY id LIMIT 1")).mappings().one()
        world.conn.execute(sa.text("UPDATE monitoring_alarms SET case_id = :c WHERE id = :a"),
                           {"c": case["id"], "a": world.ids["toxic2"]})
        alarm = service.get_alarm(world.conn, world.ids["toxic2"], access=CITY, labels=LABELS, root="/onemap/")
        assert (alarm["case_id"], alarm["case_code"], alarm["case_state"]) == (case["id"], case["code"], case["state"])
        assert alarm["case_url"] == f"/onemap/cases/{case['id']}"
        assert set(alarm["case_state_label"]) == {"zh-CN", "en"}
        world.conn.rollback()


def test_kpis(world: SimpleNamespace) -> None:
    k = service.kpis(world.conn, access=CITY)
    assert (k["active_alarms"], k["active_by_level"], k["device_faults"]) == (3 - 1, {"1": 1, "2": 1}, 1)
    assert set(k["sensors_by_status"]) == {"normal", "alarm", "offline"}
    levels = service.warning_levels(world.conn, access=CITY)
    if not levels["kept"]:  # until the hazard_sources layer keeps warning levels
        assert k["hazard_sources_by_warning_level"] is None and levels["hazard_sources"] == []


def test_bad_parameters_are_named() -> None:
    for args, name in (({"state": "x"}, "state"), ({"level": "3"}, "level"), ({"limit": "0"}, "limit"),
                       ({"hazard_source": "a b"}, "hazard_source"), ({"cleared_within_h": "999"}, "cleared_within_h"),
                       ({"nope": "1"}, "nope")):
        with pytest.raises(InvalidInput) as err:
            schemas.alarm_query(args)
        assert err.value.input_name == name
    for args, name in (({"wind_speed_m_s": "0.1"}, "wind_speed_m_s"), ({"wind_from_deg": "nan"}, "wind_from_deg"),
                       ({"chemical": "chlorine"}, "chemical"), ({"stability": "G"}, "stability")):
        with pytest.raises(InvalidInput) as err:
            schemas.impact_query(args)
        assert err.value.input_name == name


def test_plume_of_a_toxic_gas_alarm(world: SimpleNamespace, tmp_path: Path) -> None:
    alarm = service.get_alarm(world.conn, world.ids["toxic2"], access=CITY, labels=LABELS)
    source = service.hazard_source_of(world.conn, alarm["hazard_source_code"])
    query = schemas.impact_query({"wind_speed_m_s": "2", "wind_from_deg": "90", "release_rate_g_s": "2000"})
    body = impact.plume_impact(world.conn, alarm, source, query, access=CITY, raster=tmp_path / "none.tif",
                               processor=PLUME)
    assert body["chemical"]["cas"] == "7782-50-5"  # chlorine: the most toxic gas the source holds
    assert body["chemical"]["kind"] == "toxic" and body["wind"] == {"speed_m_s": 2.0, "from_deg": 90.0,
                                                                      "source": "entered"}
    zone = body["zone"]["geometry"]
    assert zone["type"] in ("Polygon", "MultiPolygon")
    # an easterly wind carries the gas west of the source
    xs = [p[0] for p in zone["coordinates"][0]] if zone["type"] == "Polygon" else [
        p[0] for poly in zone["coordinates"] for p in poly[0]]
    assert min(xs) < source["lon"] - 0.005 and max(xs) < source["lon"] + 0.005
    inside = world.conn.execute(sa.text(
        "SELECT count(*), COALESCE(sum(population), 0) FROM sensitive_targets "
        "WHERE ST_Intersects(geom, ST_SetSRID(ST_GeomFromGeoJSON(:g), 4490))"),
        {"g": __import__("json").dumps(zone)}).one()
    assert len(body["sensitive_targets"]) == inside[0]
    assert body["population"]["sensitive_targets"] == inside[1]
    assert body["population"]["residents"] is None  # no raster here
    # a chemical the source does not hold is refused by name
    with pytest.raises(InvalidInput):
        impact.plume_impact(world.conn, alarm, source, schemas.impact_query({"chemical": "7664-41-7"})
                            if "7664-41-7" not in {c["cas"] for c in source["chemicals"]}
                            else schemas.impact_query({"chemical": "75-44-5"}), access=CITY, raster=tmp_path / "x", processor=PLUME)


def test_residents_in_the_zone_come_from_the_population_grid(world: SimpleNamespace, demo_artifacts: Path) -> None:
    raster = demo_artifacts / "data" / "population.tif"
    source = service.hazard_source_of(world.conn, world.toxic["hs"])
    lon, lat = source["lon"], source["lat"]
    square = {"type": "Polygon", "coordinates": [[[lon - 0.02, lat - 0.02], [lon + 0.02, lat - 0.02],
                                                  [lon + 0.02, lat + 0.02], [lon - 0.02, lat + 0.02],
                                                  [lon - 0.02, lat - 0.02]]]}
    big = impact.residents(raster, square)
    small = impact.residents(raster, {"type": "Polygon", "coordinates": [[
        [lon - 0.005, lat - 0.005], [lon + 0.005, lat - 0.005], [lon + 0.005, lat + 0.005], [lon - 0.005, lat + 0.005],
        [lon - 0.005, lat - 0.005]]]})
    assert big is not None and small is not None and big >= small >= 0 and big > 0
    # a sliver thinner than a cell (a narrow plume) is no error
    sliver = {"type": "Polygon", "coordinates": [[[lon - 0.01, lat], [lon + 0.01, lat], [lon + 0.01, lat + 1e-6],
                                                  [lon - 0.01, lat + 1e-6], [lon - 0.01, lat]]]}
    assert impact.residents(raster, sliver) >= 0
    far = {"type": "Polygon", "coordinates": [[[10, 10], [10.1, 10], [10.1, 10.1], [10, 10.1], [10, 10]]]}
    assert impact.residents(raster, far) == 0


def test_plume_needs_a_gas_alarm(world: SimpleNamespace, tmp_path: Path) -> None:
    alarm = {**service.get_alarm(world.conn, world.ids["toxic2"], access=CITY, labels=LABELS),
             "sensor_kind": "temperature"}
    source = service.hazard_source_of(world.conn, alarm["hazard_source_code"])
    with pytest.raises(Conflict):
        impact.plume_impact(world.conn, alarm, source, schemas.impact_query({}), access=CITY, raster=tmp_path / "x", processor=PLUME)
