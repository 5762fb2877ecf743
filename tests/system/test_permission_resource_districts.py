"""A resource's district is where it stands, for every resource kind and every way a resource is written.

Generated from ``emergency.models.resource_layers()`` and each kind's registry fields: create, import, import dry
run and a move by update, on the whole app behind the policy gate. The district is derived from the location
(point in the districts layer); a ``district_code`` that disagrees with it is a 400 naming both districts and
nothing is written; a location in no district is a 400; the write scope is judged on the derived district, so a
district regulator cannot place (or move) a resource outside their district whatever label they send.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import sqlalchemy as sa

from emergency.models import resource_layers
from tests.system.test_permission_matrix import FOREIGN_DISTRICT, OWN_DISTRICT, REGISTRY, build_world, call

API = "/api/emergency/resources"
KINDS = sorted(resource_layers())
OUTSIDE = (121.47, 31.23)  # Shanghai: in no district of the demo city


def attributes(kind: str, name: str) -> dict[str, Any]:
    """The required attributes of ``kind`` with valid values, from the registry (the district is left out)."""
    out: dict[str, Any] = {}
    for f in REGISTRY.get(resource_layers()[kind]).fields:
        if not f.required or f.name == "district_code":
            continue
        if f.name == "name":
            out[f.name] = name[: f.length or 100]
        elif f.enum:
            out[f.name] = f.enum[0]
        elif f.type == "integer":
            out[f.name] = max(int(f.min or 1), 1)
        elif f.type in ("number", "float", "double"):
            out[f.name] = max(float(f.min or 1.0), 1.0)
        else:
            out[f.name] = "测试"[: f.length or 2]
    return out


@pytest.fixture(scope="module")
def world(pg_cluster, template_url: str, demo_artifacts: Path,  # noqa: ANN001
          tmp_path_factory: pytest.TempPathFactory) -> Iterator[SimpleNamespace]:
    worlds = build_world(pg_cluster, demo_artifacts, tmp_path_factory, "t_permission_resource_districts")
    world = next(worlds)
    with world.engine.connect() as conn:
        world.points = {d: tuple(conn.execute(sa.text(
            "SELECT ST_X(p), ST_Y(p) FROM (SELECT ST_PointOnSurface(geom) p FROM districts WHERE code = :d) s"),
            {"d": d}).one()) for d in (OWN_DISTRICT, FOREIGN_DISTRICT)}
    yield world
    next(worlds, None)


def rows_named(world: SimpleNamespace, kind: str, name: str) -> list[Any]:
    with world.engine.connect() as conn:
        return conn.execute(sa.text(f"SELECT id, district_code, ST_X(geom) AS lon, ST_Y(geom) AS lat FROM "
                                    f"{resource_layers()[kind]} WHERE name = :n"), {"n": name}).all()


def test_every_resource_kind_has_a_district_and_a_location() -> None:
    for kind in KINDS:
        layer = REGISTRY.get(resource_layers()[kind])
        assert "district_code" in layer.field_names and layer.geometry.lower().endswith("point"), kind


@pytest.mark.parametrize("kind", KINDS)
def test_create_derives_the_district_and_refuses_a_false_label(world: SimpleNamespace, kind: str) -> None:
    foreign = world.points[FOREIGN_DISTRICT]
    name = f"区县标注测试 {kind}"
    body = {**attributes(kind, name), "lon": foreign[0], "lat": foreign[1]}
    for label in (OWN_DISTRICT, "999999"):  # a district regulator labels a foreign resource as their own
        for role in ("district_regulator", "city_regulator"):
            refused = call(world, role, f"{API}/{kind}", "POST", json={**body, "district_code": label})
            assert refused.status_code == 400, (role, label, refused.data[:300])
            problem = refused.get_json()
            assert problem["input"] == "district_code" and FOREIGN_DISTRICT in problem["detail"], problem
    scoped = call(world, "district_regulator", f"{API}/{kind}", "POST", json=body)
    assert scoped.status_code == 403 and FOREIGN_DISTRICT in scoped.get_json()["detail"], scoped.data[:300]
    outside = call(world, "city_regulator", f"{API}/{kind}", "POST",
                   json={**body, "lon": OUTSIDE[0], "lat": OUTSIDE[1]})
    assert outside.status_code == 400 and outside.get_json()["reason"] == "outside the city", outside.data[:300]
    assert rows_named(world, kind, name) == []
    created = call(world, "city_regulator", f"{API}/{kind}", "POST", json={**body, "district_code": FOREIGN_DISTRICT})
    assert created.status_code == 201, created.data[:300]
    assert [r.district_code for r in rows_named(world, kind, name)] == [FOREIGN_DISTRICT]


@pytest.mark.parametrize("dry_run", [True, False], ids=["dry_run", "import"])
@pytest.mark.parametrize("kind", KINDS)
def test_import_derives_the_district_and_refuses_a_false_label(world: SimpleNamespace, kind: str,
                                                              dry_run: bool) -> None:
    own, foreign = world.points[OWN_DISTRICT], world.points[FOREIGN_DISTRICT]
    prefix = f"区县导入测试 {kind} {dry_run}"
    header = [*attributes(kind, "x"), "district_code", "lon", "lat"]

    def csv(rows: list[tuple[str, str, tuple[float, float]]]) -> bytes:
        lines = [",".join(header)]
        for name, label, (lon, lat) in rows:
            lines.append(",".join(map(str, [*attributes(kind, name).values(), label, lon, lat])))
        return "\n".join(lines).encode()

    query = "?dry_run=true" if dry_run else ""
    ok = 200 if dry_run else 201
    # row 2 is honest and in the regulator's district; row 3 is foreign but labelled as theirs; row 4 is outside
    tricked = csv([(f"{prefix} 2", OWN_DISTRICT, own), (f"{prefix} 3", OWN_DISTRICT, foreign),
                   (f"{prefix} 4", "", OUTSIDE)])
    for role in ("district_regulator", "city_regulator"):
        answer = call(world, role, f"{API}/{kind}/import{query}", "POST", data=tricked, content_type="text/csv")
        assert answer.status_code == 400, (role, answer.data[:300])
        problems = {(p["row"], p["column"]) for p in answer.get_json()["problems"]}
        assert (3, "district_code") in problems and (4, "lon/lat") in problems, problems
    unlabelled = csv([(f"{prefix} 5", "", own), (f"{prefix} 6", "", foreign)])
    answer = call(world, "district_regulator", f"{API}/{kind}/import{query}", "POST", data=unlabelled,
                  content_type="text/csv")
    assert answer.status_code == 400, answer.data[:300]
    assert [(p["row"], p["column"]) for p in answer.get_json()["problems"]] == [(3, "lon/lat")], answer.get_json()
    assert FOREIGN_DISTRICT in answer.get_json()["problems"][0]["reason"]
    assert all(rows_named(world, kind, f"{prefix} {i}") == [] for i in range(2, 7))
    answer = call(world, "city_regulator", f"{API}/{kind}/import{query}", "POST", data=unlabelled,
                  content_type="text/csv")
    assert answer.status_code == ok, answer.data[:300]
    if not dry_run:
        assert rows_named(world, kind, f"{prefix} 6")[0].district_code == FOREIGN_DISTRICT
        assert rows_named(world, kind, f"{prefix} 5")[0].district_code == OWN_DISTRICT


@pytest.mark.parametrize("kind", KINDS)
def test_a_move_re_derives_the_district(world: SimpleNamespace, kind: str) -> None:
    own, foreign = world.points[OWN_DISTRICT], world.points[FOREIGN_DISTRICT]
    name = f"区县移动测试 {kind}"
    created = call(world, "city_regulator", f"{API}/{kind}", "POST",
                   json={**attributes(kind, name), "lon": own[0], "lat": own[1]})
    assert created.status_code == 201, created.data[:300]
    path = f"{API}/{kind}/{created.get_json()['id']}"
    move = {"lon": foreign[0], "lat": foreign[1]}
    refused = call(world, "district_regulator", path, "PATCH", json=move)
    assert refused.status_code == 403 and FOREIGN_DISTRICT in refused.get_json()["detail"], refused.data[:300]
    relabelled = call(world, "district_regulator", path, "PATCH", json={**move, "district_code": OWN_DISTRICT})
    assert relabelled.status_code == 400 and relabelled.get_json()["input"] == "district_code"
    only_label = call(world, "city_regulator", path, "PATCH", json={"district_code": FOREIGN_DISTRICT})
    assert only_label.status_code == 400 and OWN_DISTRICT in only_label.get_json()["detail"], only_label.data[:300]
    outside = call(world, "city_regulator", path, "PATCH", json={"lon": OUTSIDE[0], "lat": OUTSIDE[1]})
    assert outside.status_code == 400 and outside.get_json()["reason"] == "outside the city"
    (row,) = rows_named(world, kind, name)
    assert row.district_code == OWN_DISTRICT and (row.lon, row.lat) == pytest.approx(own, abs=1e-7)
    moved = call(world, "city_regulator", path, "PATCH", json=move)
    assert moved.status_code == 200, moved.data[:300]
    assert moved.get_json()["properties"]["district_code"] == FOREIGN_DISTRICT
    assert rows_named(world, kind, name)[0].district_code == FOREIGN_DISTRICT
