"""Every role × every records route × records of the caller's own and of a foreign district (and enterprise), on the
whole WSGI app behind the policy gate (the machinery of test_permission_matrix.py).

The expectations come from the requirement, written below as tables, not from the policy under test: records are
read by city regulators and dispatchers city-wide, by district regulators in their district and by the enterprise
user for its own enterprise; written by city regulators city-wide and district regulators in their district. Every
other role is refused (401 anonymous / 403). A record outside the caller's read scope is 404 like an unknown key; a
write the caller may not make on a record they can see, a record moved out of their district and a record created
in another district are 403 naming the district. Bad input is a 400 naming the field, a stale version a 409.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import sqlalchemy as sa

from core.identity import ROLES as ROLE_NAMES
from core.uscc import make_uscc
from tests.system.test_permission_hazard_sources import identity
from tests.system.test_permission_matrix import FOREIGN_DISTRICT, OWN_DISTRICT, build_world

pytestmark = pytest.mark.system
ALL_ROLES = ["anonymous", *ROLE_NAMES]
ALL, DISTRICT, OWN = "all", "district", "own"
READ = {"city_regulator": ALL, "dispatcher": ALL, "district_regulator": DISTRICT, "enterprise_user": OWN}
WRITE = {"city_regulator": ALL, "district_regulator": DISTRICT}
API = "/api/records"
WHICH = ["own", "foreign"]


@pytest.fixture(scope="module")
def world(pg_cluster, template_url: str, demo_artifacts: Path,  # noqa: ANN001
          tmp_path_factory: pytest.TempPathFactory) -> Iterator[SimpleNamespace]:
    worlds = build_world(pg_cluster, demo_artifacts, tmp_path_factory, "t_permission_records")
    world = next(worlds)
    own_ent, foreign_ent = world.objects[("enterprises", "own")], world.objects[("enterprises", "foreign")]
    own_hs, foreign_hs = world.objects[("hazard_sources", "own")], world.objects[("hazard_sources", "foreign")]
    with world.engine.connect() as conn:
        world.points = {d: tuple(conn.execute(sa.text(
            "SELECT ST_X(p), ST_Y(p) FROM (SELECT ST_PointOnSurface(geom) p FROM districts WHERE code = :d) s"),
            {"d": d}).one()) for d in (OWN_DISTRICT, FOREIGN_DISTRICT)}
        key = sa.text("SELECT {} FROM {} WHERE id = :i")
        world.records = {
            ("enterprises", "own"): SimpleNamespace(key=own_ent.uscc, district=OWN_DISTRICT, uscc=own_ent.uscc),
            ("enterprises", "foreign"): SimpleNamespace(key=foreign_ent.uscc, district=FOREIGN_DISTRICT,
                                                        uscc=foreign_ent.uscc),
            ("hazard-sources", "own"): SimpleNamespace(
                key=conn.execute(sa.text(key.text.format("code", "hazard_sources")), {"i": own_hs.id}).scalar_one(),
                district=OWN_DISTRICT, uscc=own_hs.uscc),
            ("hazard-sources", "foreign"): SimpleNamespace(
                key=conn.execute(sa.text(key.text.format("code", "hazard_sources")), {"i": foreign_hs.id}).scalar_one(),
                district=FOREIGN_DISTRICT, uscc=foreign_hs.uscc),
        }
    world.serial = 0
    yield world
    next(worlds, None)


def call(world: SimpleNamespace, role: str, path: str, method: str = "GET", **kw: Any) -> Any:
    return world.client.open(path, method=method, environ_base={"test.identity": identity(role, world)}, **kw)


def reading(role: str, record: SimpleNamespace, world: SimpleNamespace) -> str:
    scope = READ.get(role)
    if scope is None:
        return "denied"
    if scope == ALL or (scope == DISTRICT and record.district == OWN_DISTRICT) or (
            scope == OWN and record.uscc == world.own_uscc):
        return "ok"
    return "hidden"


def writing(role: str, record: SimpleNamespace, world: SimpleNamespace) -> str:
    scope = WRITE.get(role)
    if scope is None:
        return "denied"
    if scope == ALL or record.district == OWN_DISTRICT:
        return "ok"
    return "hidden" if reading(role, record, world) == "hidden" else "forbidden"


def check(response: Any, role: str, want: str, ok: int = 200) -> bool:
    assert response.status_code < 500, response.data[:300]
    status = {"denied": 401 if role == "anonymous" else 403, "hidden": 404, "forbidden": 403, "ok": ok}[want]
    assert response.status_code == status, (want, response.status_code, response.data[:300])
    if want == "hidden":
        assert response.get_json()["code"] == "not_found"
    return want == "ok"


def version(world: SimpleNamespace, collection: str, key: str) -> int:
    kind = "enterprise" if collection == "enterprises" else "hazard_source"
    with world.engine.connect() as conn:
        return conn.execute(sa.text("SELECT coalesce(max(version), 0) FROM record_history WHERE record_kind = :k "
                                    "AND record_key = :key"), {"k": kind, "key": key}).scalar_one()


COLLECTION_ROLE_WHICH = [pytest.param(c, r, w, id=f"{c}-{r}-{w}") for c in ("enterprises", "hazard-sources")
                         for r in ALL_ROLES for w in WHICH]


@pytest.mark.parametrize(("collection", "role", "which"), COLLECTION_ROLE_WHICH)
def test_read_and_history_follow_the_read_scope(world: SimpleNamespace, collection: str, role: str,
                                                which: str) -> None:
    record = world.records[(collection, which)]
    want = reading(role, record, world)
    if check(call(world, role, f"{API}/{collection}/{record.key}"), role, want):
        assert call(world, role, f"{API}/{collection}/{record.key}").get_json()["district_code"] == record.district
    if check(call(world, role, f"{API}/{collection}/{record.key}/history"), role, want):
        assert "entries" in call(world, role, f"{API}/{collection}/{record.key}/history").get_json()
    listing = call(world, role, f"{API}/{collection}?limit=1000&q={record.key}")
    if check(listing, role, "denied" if want == "denied" else "ok"):
        assert [i for i in listing.get_json()["items"] if i["district_code"] == record.district] != [] \
            or want == "hidden"
        if want == "hidden":
            assert listing.get_json()["total"] == 0


@pytest.mark.parametrize(("collection", "role", "which"), COLLECTION_ROLE_WHICH)
def test_edit_deactivate_reactivate_follow_the_write_scope(world: SimpleNamespace, collection: str, role: str,
                                                           which: str) -> None:
    record = world.records[(collection, which)]
    want = writing(role, record, world)
    path = f"{API}/{collection}/{record.key}"
    name = f"权限测试{role}"
    edit = call(world, role, path, "PATCH", json={"version": version(world, collection, record.key), "name": name})
    if check(edit, role, want):
        assert edit.get_json()["name"] == name
        entries = call(world, "city_regulator", f"{path}/history").get_json()["entries"]
        assert entries[-1]["actor"] == f"test_{role}" and entries[-1]["changes"]["name"]["new"] == name
    if collection == "enterprises":  # an enterprise with active hazard sources cannot be deactivated; tried below
        return
    off = call(world, role, f"{path}/deactivate", "POST", json={"version": version(world, collection, record.key)})
    if check(off, role, want):
        assert off.get_json()["status"] == "deactivated"
        on = call(world, role, f"{path}/reactivate", "POST", json={"version": version(world, collection, record.key)})
        assert on.status_code == 200 and on.get_json()["status"] == "active"


def new_enterprise(world: SimpleNamespace, district: str) -> dict[str, Any]:
    world.serial += 1
    lon, lat = world.points[district]
    return {"uscc": make_uscc(district, f"MA{world.serial:06d}"), "name": f"权限测试企业{world.serial}",
            "industry_code": "2614", "sector": "hazchem", "employees": 10, "address": "测试路", "risk_colour": "blue",
            "legal_representative": "李四", "lon": lon, "lat": lat}


ROLE_DISTRICT = [pytest.param(r, d, id=f"{r}-{'own' if d == OWN_DISTRICT else 'foreign'}")
                 for r in ALL_ROLES for d in (OWN_DISTRICT, FOREIGN_DISTRICT)]


@pytest.mark.parametrize(("role", "district"), ROLE_DISTRICT)
def test_create_and_import_only_inside_the_write_scope(world: SimpleNamespace, role: str, district: str) -> None:
    record = SimpleNamespace(district=district, uscc=None)
    want = writing(role, record, world)
    want = "forbidden" if want == "hidden" else want  # a new record is not hidden: it is refused, naming the district
    response = call(world, role, f"{API}/enterprises", "POST", json=new_enterprise(world, district))
    if check(response, role, want, ok=201):
        assert response.get_json()["district_code"] == district and response.get_json()["version"] == 1
    elif want == "forbidden":
        assert response.get_json()["district_code"] == district
    row = new_enterprise(world, district)
    header = ",".join(k for k in row)
    content = (header + "\n" + ",".join(str(v) for v in row.values()) + "\n").encode()
    imported = call(world, role, f"{API}/enterprises/import?crs=cgcs2000", "POST", data=content,
                    content_type="text/csv")
    if want == "forbidden":  # refused as a problem of the row (nothing written), naming the district
        assert imported.status_code == 422, imported.data[:300]
        assert district in imported.get_json()["problems"][0]["reason"]
    else:
        check(imported, role, want, ok=201)


def test_a_district_regulator_cannot_move_a_record_out_of_the_district(world: SimpleNamespace) -> None:
    record = world.records[("enterprises", "own")]
    lon, lat = world.points[FOREIGN_DISTRICT]
    before = version(world, "enterprises", record.key)
    response = call(world, "district_regulator", f"{API}/enterprises/{record.key}", "PATCH",
                    json={"version": before, "lon": lon, "lat": lat})
    assert response.status_code == 403, response.data[:300]
    body = response.get_json()
    assert body["district_code"] == FOREIGN_DISTRICT and FOREIGN_DISTRICT in body["detail"]
    assert version(world, "enterprises", record.key) == before
    assert any(e["event"] == "access_denied" for e in world.events if "layer:enterprises" in str(e))


def test_stale_edits_bad_input_and_blocked_deactivation_over_http(world: SimpleNamespace) -> None:
    record = world.records[("enterprises", "own")]
    path = f"{API}/enterprises/{record.key}"
    current = version(world, "enterprises", record.key)
    assert call(world, "city_regulator", path, "PATCH", json={"version": current, "phone": "1"}).status_code == 200
    stale = call(world, "city_regulator", path, "PATCH", json={"version": current, "phone": "2"})
    assert stale.status_code == 409 and stale.get_json()["current_version"] == current + 1
    for body, field in (({"version": current + 1, "industry_code": "C9914"}, "industry_code"),
                        ({"version": current + 1, "district_code": FOREIGN_DISTRICT}, "district_code"),
                        ({"phone": "3"}, "version"),
                        ({"version": current + 1, "lon": 121.47, "lat": 31.23}, "lon")):
        bad = call(world, "city_regulator", path, "PATCH", json=body)
        assert bad.status_code == 400 and bad.get_json()["input"] == field, bad.data[:300]
    bad_uscc = call(world, "city_regulator", f"{API}/enterprises", "POST",
                    json={**new_enterprise(world, OWN_DISTRICT), "uscc": "91329902MA00000100"})
    assert bad_uscc.status_code == 400 and bad_uscc.get_json()["input"] == "uscc"
    blocked = call(world, "city_regulator", f"{path}/deactivate", "POST", json={"version": current + 1})
    assert blocked.status_code == 409 and blocked.get_json()["code"] == "has_active_hazard_sources"
    assert call(world, "city_regulator", f"{API}/farms/x").status_code == 404


def test_a_dry_run_import_over_http_writes_nothing(world: SimpleNamespace) -> None:
    row = new_enterprise(world, OWN_DISTRICT)
    content = ",".join(row) + "\n" + ",".join(str(v) for v in row.values()) + "\n"
    response = call(world, "district_regulator", f"{API}/enterprises/import?dry_run=true", "POST",
                    data={"file": (io.BytesIO(content.encode()), "e.csv")}, content_type="multipart/form-data")
    assert response.status_code == 200 and response.get_json()["keys"] == [row["uscc"]]
    assert call(world, "city_regulator", f"{API}/enterprises/{row['uscc']}").status_code == 404
