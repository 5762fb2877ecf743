"""Emergency resources: registry-driven validation, queries equal to SQL, statistics, CSV/Excel import (all or
nothing, row-and-column problems, declared CRS), depot inventory."""

from __future__ import annotations

import io
from collections.abc import Iterator

import openpyxl
import pytest
import sqlalchemy as sa
from pyproj import Transformer

from core import changes
from core.realtime import ScopeTag
from emergency.models import resource_layers
from tests.integration.emergency_support import (
    KNOWN_GCJ,
    KNOWN_WGS,
    make_app,
    scalar,
    scratch_database,
    writer_client,
)

API = "/api/emergency/resources"
TEAM = {"name": "测试救援队", "speciality": "hazchem", "members": 20, "status": "standby", "phone": "0250000000"}


@pytest.fixture(scope="module")
def scratch_db(pg_cluster, template_url: str) -> Iterator[str]:  # noqa: ANN001
    with scratch_database(pg_cluster, "em_resources") as url:
        yield url


@pytest.fixture(scope="module")
def client(demo_artifacts, scratch_db: str):  # noqa: ANN001, ANN201
    return writer_client(lambda url: make_app(demo_artifacts, url), scratch_db)


def count(url: str, table: str) -> int:
    return scalar(url, f"SELECT count(*) FROM {table}")


# -- queries (read-only, on the shared demo city) -----------------------------------------------------------------
def test_list_filters_equal_sql(user_client, demo_db: str) -> None:  # noqa: ANN001
    body = user_client.get(f"{API}/rescue_team?speciality=hazchem&limit=1000").get_json()
    assert body["type"] == "FeatureCollection"
    assert body["numberMatched"] == scalar(demo_db, "SELECT count(*) FROM rescue_teams WHERE speciality = 'hazchem'")
    assert {f["properties"]["speciality"] for f in body["features"]} == {"hazchem"}
    bbox = "118.9,31.9,119.1,32.05"
    inside = user_client.get(f"{API}/hospital?bbox={bbox}&limit=1000").get_json()
    assert inside["numberMatched"] == scalar(
        demo_db, "SELECT count(*) FROM hospitals WHERE ST_Intersects(geom, ST_MakeEnvelope(118.9, 31.9, 119.1, 32.05, "
        "4490))")
    for f in inside["features"]:
        x, y = f["geometry"]["coordinates"]
        assert 118.9 <= x <= 119.1 and 31.9 <= y <= 32.05


def test_paging_is_stable_and_complete(user_client, demo_db: str) -> None:  # noqa: ANN001
    pages = [user_client.get(f"{API}/expert?limit=70&offset={o}").get_json() for o in range(0, 300, 70)]
    ids = [f["id"] for p in pages for f in p["features"]]
    assert len(ids) == len(set(ids)) == scalar(demo_db, "SELECT count(*) FROM experts")


def test_get_and_its_snap(user_client) -> None:  # noqa: ANN001
    first = user_client.get(f"{API}/fire_station?limit=1").get_json()["features"][0]
    one = user_client.get(f"{API}/fire_station/{first['id']}").get_json()
    assert one == first and one["properties"]["road_node_id"] > 0
    assert user_client.get(f"{API}/fire_station/999999").status_code == 404


@pytest.mark.parametrize("path, field", [
    (f"{API}/helicopter", "kind"), (f"{API}/rescue_team?colour=red", "colour"),
    (f"{API}/rescue_team?members=many", "members"), (f"{API}/rescue_team?bbox=1,2,3", "bbox"),
    (f"{API}/rescue_team?limit=0", "limit"), (f"{API}/statistics?kinds=rescue_team,ufo", "kinds"),
])
def test_bad_queries_are_a_400_naming_the_input(user_client, path: str, field: str) -> None:  # noqa: ANN001
    response = user_client.get(path)
    assert response.status_code == 400
    assert response.get_json()["input"] == field


def test_statistics_equal_sql(user_client, demo_db: str) -> None:  # noqa: ANN001
    body = user_client.get(f"{API}/statistics").get_json()
    assert body["kinds"] == list(resource_layers())
    engine = sa.create_engine(demo_db)
    with engine.connect() as conn:
        for kind, table in resource_layers().items():
            expected = dict(conn.execute(sa.text(f"SELECT district_code, count(*) FROM {table} GROUP BY 1")).all())
            got = {d["code"]: d["counts"][kind] for d in body["districts"] if d["counts"][kind]}
            assert got == expected, kind
        beds = dict(conn.execute(sa.text("SELECT district_code, sum(beds) FROM hospitals GROUP BY 1")).all())
    engine.dispose()
    assert {d["code"]: d["capacity"]["hospital.beds"] for d in body["districts"] if d["capacity"].get(
        "hospital.beds")} == beds
    assert body["totals"]["counts"]["shelter"] == scalar(demo_db, "SELECT count(*) FROM shelters")


# -- create and update ---------------------------------------------------------------------------------------------
def test_create_derives_the_district_and_snaps_to_the_road(client, scratch_db: str) -> None:  # noqa: ANN001
    response = client.post(f"{API}/rescue_team", json={**TEAM, "lon": KNOWN_GCJ[0], "lat": KNOWN_GCJ[1],
                                                        "crs": "gcj02"})
    assert response.status_code == 201, response.get_json()
    feature = response.get_json()
    assert feature["geometry"]["coordinates"] == pytest.approx(list(KNOWN_WGS), abs=2e-7)
    assert feature["properties"]["district_code"] == "329902"
    assert feature["properties"]["road_node_id"] == scalar(
        scratch_db, "SELECT node_id FROM emergency_snap(ST_SetSRID(ST_MakePoint(119.0, 32.0), 4490))")


@pytest.mark.parametrize("change, field, reason", [
    ({"name": None}, "name", "required"),
    ({"speciality": "magic"}, "speciality", "not an allowed value"),
    ({"members": 0}, "members", "too small"),
    ({"members": "20"}, "members", "not an integer"),
    ({"members": 2.5}, "members", "not an integer"),
    ({"name": "队" * 101}, "name", "longer than 100 characters"),
    ({"district_code": "999999"}, "district_code", "no such district"),
    ({"district_code": "329903"}, "district_code", "district disagrees with the location"),
    ({"wings": 2}, "wings", "unknown field"),
    ({"lon": 121.47, "lat": 31.23}, "location", "outside the city"),
    ({"lon": float("inf")}, "lon", "not finite"),
])
def test_create_validates_against_the_registry(client, scratch_db: str, change: dict, field: str,  # noqa: ANN001
                                               reason: str) -> None:
    before = count(scratch_db, "rescue_teams")
    body = {**TEAM, "lon": KNOWN_WGS[0], "lat": KNOWN_WGS[1], **change}
    body = {k: v for k, v in body.items() if not (k == "name" and v is None)}
    response = client.post(f"{API}/rescue_team", json=body)
    assert response.status_code == 400
    problem = response.get_json()
    assert problem["input"] == field and problem["reason"] == reason
    assert count(scratch_db, "rescue_teams") == before


def test_update_is_partial_and_validated(client) -> None:  # noqa: ANN001
    created = client.post(f"{API}/shelter", json={"name": "测试避难场所", "kind": "outdoor", "capacity": 500,
                                                  "occupancy": 0, "lon": KNOWN_WGS[0], "lat": KNOWN_WGS[1]}).get_json()
    path = f"{API}/shelter/{created['id']}"
    updated = client.patch(path, json={"occupancy": 120})
    assert updated.status_code == 200 and updated.get_json()["properties"]["occupancy"] == 120
    assert updated.get_json()["properties"]["name"] == "测试避难场所"
    bad = client.patch(path, json={"capacity": -5})
    assert bad.status_code == 400 and bad.get_json()["input"] == "capacity"
    assert client.get(path).get_json()["properties"]["capacity"] == 500
    assert client.patch(f"{API}/shelter/999999", json={"occupancy": 1}).status_code == 404


# -- import --------------------------------------------------------------------------------------------------------
def _csv(rows: list[list[object]], encoding: str = "utf-8") -> bytes:
    return "\n".join(",".join("" if c is None else str(c) for c in r) for r in rows).encode(encoding)


def _post_file(client, kind: str, name: str, content: bytes, **query: str):  # noqa: ANN001, ANN202
    qs = "&".join(f"{k}={v}" for k, v in query.items())
    return client.post(f"{API}/{kind}/import?{qs}", data={"file": (io.BytesIO(content), name)},
                       content_type="multipart/form-data")


def test_csv_import_with_chinese_headers_and_gcj02(client, scratch_db: str) -> None:  # noqa: ANN001
    before = count(scratch_db, "hospitals")
    content = _csv([["医院名称", "医院等级", "床位数", "经度", "纬度"],
                    ["测试医院甲", "grade2", 300, KNOWN_GCJ[0], KNOWN_GCJ[1]],
                    [None, None, None, None, None],
                    ["测试医院乙", "grade1", "50", 119.13, 32.08]], encoding="gb18030")
    response = _post_file(client, "hospital", "医院.csv", content, crs="gcj02")
    assert response.status_code == 201, response.get_json()
    body = response.get_json()
    assert body["imported"] == 2 and count(scratch_db, "hospitals") == before + 2
    x, y = scalar(scratch_db, "SELECT ARRAY[ST_X(geom), ST_Y(geom)] FROM hospitals WHERE id = :i", i=body["ids"][0])
    assert (x, y) == pytest.approx(KNOWN_WGS, abs=2e-7)


def test_import_reports_every_bad_row_and_writes_nothing(client, scratch_db: str) -> None:  # noqa: ANN001
    before = count(scratch_db, "rescue_teams")
    content = _csv([
        ["name", "speciality", "members", "status", "lon", "lat"],
        ["好队一", "fire", 10, "standby", 119.0, 32.0],      # row 2: fine
        ["坏队二", "fire", "abc", "standby", 119.0, 32.0],   # row 3: members not a number
        ["坏队三", "wizardry", 10, "standby", 119.0, 32.0],  # row 4: speciality not allowed
        ["坏队四", "fire", 10, "standby", 121.47, 31.23],    # row 5: outside the city
        ["坏队五", "fire", 10, "standby", "nan", 32.0],      # row 6: coordinate not finite
        ["好队六", "fire", 10, "standby", 119.01, 32.01],    # row 7: fine
    ])
    response = _post_file(client, "rescue_team", "teams.csv", content)
    assert response.status_code == 400
    body = response.get_json()
    assert body["code"] == "import_rejected" and body["imported"] == 0 and body["rows"] == 6
    problems = {(p["row"], p["column"]) for p in body["problems"]}
    assert problems == {(3, "members"), (4, "speciality"), (5, "lon/lat"), (6, "lon")}
    assert "outside the city" in next(p["reason"] for p in body["problems"] if p["row"] == 5)
    assert count(scratch_db, "rescue_teams") == before  # the good rows were not written either


def test_an_import_announces_each_district_to_its_own_viewers(client, scratch_db: str,  # noqa: ANN001
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    published: list[tuple[str, dict, ScopeTag]] = []
    monkeypatch.setattr(changes, "publish", lambda event_type, data, scope: published.append((event_type, data, scope)))
    points = {d: scalar(scratch_db, "SELECT ARRAY[ST_X(p), ST_Y(p)] FROM (SELECT ST_PointOnSurface(geom) p "
                        "FROM districts WHERE code = :d) s", d=d) for d in ("329902", "329903")}
    content = _csv([["name", "level", "beds", "lon", "lat"],
                    ["分区医院甲", "grade2", 80, *points["329902"]],
                    ["分区医院乙", "grade2", 90, *points["329903"]],
                    ["分区医院丙", "grade1", 40, *points["329902"]]])
    response = _post_file(client, "hospital", "h.csv", content)
    assert response.status_code == 201, response.get_json()
    ids = response.get_json()["ids"]
    assert [(e[0], e[1]["ids"], e[2]) for e in published] == [
        ("resource.changed", [ids[0], ids[2]], ScopeTag("hospitals", "329902")),
        ("resource.changed", [ids[1]], ScopeTag("hospitals", "329903"))]


def test_import_header_problems(client) -> None:  # noqa: ANN001
    body = _post_file(client, "rescue_team", "t.csv", _csv([["name", "colour", "lon"], ["x", "red", 119]])).get_json()
    assert {(p["row"], p["column"]) for p in body["problems"]} >= {(1, "colour"), (1, "lat"), (1, "speciality")}


def test_excel_import_in_a_projected_crs(client, scratch_db: str) -> None:  # noqa: ANN001
    to_gk = Transformer.from_crs("EPSG:4490", "EPSG:4549", always_xy=True)
    x, y = to_gk.transform(*KNOWN_WGS)
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(["Name", "Kind", "Vehicles", "Personnel", "x", "y"])
    sheet.append(["测试消防站", "standard", 6, 30, x, y])
    buffer = io.BytesIO()
    book.save(buffer)
    response = _post_file(client, "fire_station", "stations.xlsx", buffer.getvalue(), crs="EPSG:4549")
    assert response.status_code == 201, response.get_json()
    new_id = response.get_json()["ids"][0]
    lon, lat = scalar(scratch_db, "SELECT ARRAY[ST_X(geom), ST_Y(geom)] FROM fire_stations WHERE id = :i", i=new_id)
    assert (lon, lat) == pytest.approx(KNOWN_WGS, abs=1e-8)


def test_import_dry_run_and_bad_files(client, scratch_db: str) -> None:  # noqa: ANN001
    before = count(scratch_db, "experts")
    good = _csv([["姓名", "专业领域", "经度", "纬度"], ["李四", "fire", 119.0, 32.0]])
    dry = _post_file(client, "expert", "e.csv", good, dry_run="true")
    assert dry.status_code == 200 and dry.get_json()["dry_run"] and count(scratch_db, "experts") == before
    assert _post_file(client, "expert", "e.xls", b"\xd0\xcf\x11\xe0").status_code == 400
    assert _post_file(client, "expert", "e.xlsx", b"PK\x03\x04 broken").status_code == 400
    assert _post_file(client, "expert", "e.csv", good, crs="EPSG:0").status_code == 400


# -- depot inventory -------------------------------------------------------------------------------------------------
def test_inventory_view_restock_and_stocktake(client, scratch_db: str) -> None:  # noqa: ANN001
    depot = scalar(scratch_db, "SELECT min(id) FROM depots")
    path = f"{API}/depot/{depot}/inventory"
    lines = client.get(path).get_json()["items"]
    assert len(lines) == scalar(scratch_db, "SELECT count(*) FROM depot_inventory WHERE depot_id = :d", d=depot)
    added = client.post(path, json={"item": "测试物资", "unit": "箱", "quantity": 40, "expiry": "2030-01-01"})
    assert added.status_code == 201
    line = added.get_json()["id"]
    assert client.patch(f"{path}/{line}", json={"quantity": 35}).get_json()["quantity"] == 35
    for bad in ({"quantity": -1}, {"quantity": "lots"}, {"expiry": "soon"}, {"colour": "red"}):
        response = client.patch(f"{path}/{line}", json=bad)
        assert response.status_code == 400, bad
    assert client.post(path, json={"item": "测试物资", "unit": "箱", "quantity": float("nan")}).status_code == 400
    assert client.get(f"{API}/depot/999999/inventory").status_code == 404
