"""The demo city 示范市 at scale 1: every row fits the layer registry, and the city is internally consistent.

Pure tests (no database): the invariants a user of the demo would notice — features in the district they
name, roads that route, hazard sources graded by GB 18218, nothing standing in a lake.
"""

from __future__ import annotations

from collections import Counter
from datetime import date, datetime, timedelta
from pathlib import Path

import networkx as nx
import numpy as np
import pytest
import shapely
from shapely.geometry import Point

from data.demo import SYNTHETIC_NOTICE, TABLE_ORDER, City, build_city, write_population_raster
from data.demo.enterprises import INDUSTRIES
from data.demo.frame import EXTENT, REFERENCE_DATE, geod
from data.demo.population import NODATA, TOTAL_POPULATION
from data.demo.uscc import is_valid_uscc
from layers.models import metadata
from layers.registry import Field, default_registry

POINT_LAYERS = ("enterprises", "hazard_sources", "sensors", "rescue_teams", "depots", "shelters", "experts",
                "hospitals", "fire_stations", "sensitive_targets", "incidents")
PER_SCALE = {"enterprises": 5000, "hazard_sources": 150, "sensors": 800, "rescue_teams": 60, "depots": 40,
             "shelters": 120, "experts": 300, "hospitals": 30, "fire_stations": 25, "sensitive_targets": 200,
             "incidents": 30}


@pytest.fixture(scope="module")
def city() -> City:
    return build_city()


def by(city: City, table: str, key: str) -> dict:
    return {row[key]: row for row in city.tables[table]}


def geoms(city: City, table: str) -> np.ndarray:
    return np.array([row["geom"] for row in city.tables[table]])


# -- shape of the output ------------------------------------------------------------------------------------
def test_counts_at_scale_one(city: City) -> None:
    counts = city.counts()
    assert list(counts) == list(TABLE_ORDER)
    for table, n in PER_SCALE.items():
        assert counts[table] == n, table
    assert counts["districts"] == 6
    assert 35 <= counts["subdistricts"] <= 45
    assert 370 <= counts["grid_cells"] <= 430
    assert counts["industrial_parks"] == 3
    kinds = Counter(row["kind"] for row in city.tables["water"])
    assert kinds["river"] >= 3 and 3 <= kinds["lake"] + kinds["reservoir"] <= 5
    directed = sum(1 if row["oneway"] else 2 for row in city.tables["roads"])
    assert 17_000 <= directed <= 23_000


def test_rows_carry_every_column_but_the_identity(city: City) -> None:
    tables = metadata().tables
    for name in TABLE_ORDER:
        expected = {c.name for c in tables[name].columns} - {"id"}
        if name == "depot_inventory":
            expected = expected - {"depot_id"} | {"depot_index"}
        for row in city.tables[name]:
            assert set(row) == expected, name


def _check_value(layer_id: str, f: Field, value: object) -> str | None:
    where = f"{layer_id}.{f.name}={value!r}"
    if value is None:
        return f"{where}: required" if f.required else None
    expected = {"string": str, "text": str, "integer": int, "bigint": int, "float": float, "boolean": bool,
                "datetime": datetime, "date": date}[f.type]
    if type(value) is not expected:
        return f"{where}: expected exactly {expected.__name__}, got {type(value).__name__}"
    if f.type == "datetime" and value.tzinfo is None:
        return f"{where}: naive datetime"
    if f.length is not None and len(value) > f.length:
        return f"{where}: longer than {f.length}"
    if f.enum is not None and value not in f.enum:
        return f"{where}: not in {f.enum}"
    if f.min is not None and value < f.min:
        return f"{where}: below {f.min}"
    if f.max is not None and value > f.max:
        return f"{where}: above {f.max}"
    return None


def test_every_row_fits_the_layer_registry(city: City) -> None:
    problems = []
    lon_min, lat_min, lon_max, lat_max = EXTENT
    from supervision.cases.registry import case_types

    by_engine = {ct.layer for ct in case_types().values()}   # case layers: rows written by the case engine
    for layer in default_registry():
        if layer.id in by_engine:
            assert layer.table not in city.tables, f"{layer.id} is the case engine's, not the city generator's"
            continue
        rows = city.tables[layer.table]
        assert rows, f"layer {layer.id} has no features"
        for row in rows:
            problems += [p for f in layer.fields if (p := _check_value(layer.id, f, row[f.name]))]
        types = Counter(g.geom_type for g in geoms(city, layer.table))
        assert set(types) == {layer.geometry}, (layer.id, types)
        x0, y0, x1, y1 = shapely.total_bounds(geoms(city, layer.table))
        assert lon_min <= x0 and x1 <= lon_max and lat_min <= y0 and y1 <= lat_max, layer.id
        assert all(g.is_valid for g in geoms(city, layer.table)), layer.id
    assert not problems, problems[:20]


def test_side_tables_fit_their_columns(city: City) -> None:
    tables = metadata().tables
    for name in ("hazard_source_chemicals", "depot_inventory"):
        for row in city.tables[name]:
            for col in tables[name].columns:
                if col.name in ("id", "depot_id"):
                    continue
                value = row[col.name]
                assert value is not None or col.nullable, (name, col.name)
                if value is not None and getattr(col.type, "length", None):
                    assert len(value) <= col.type.length, (name, col.name, value)
    assert all(r["quantity_t"] > 0 and r["critical_quantity_t"] > 0 for r in city.tables["hazard_source_chemicals"])
    n_depots = len(city.tables["depots"])
    stock = city.tables["depot_inventory"]
    assert {r["depot_index"] for r in stock} == set(range(n_depots))  # every depot holds something
    assert all(r["quantity"] >= 0 for r in stock)
    assert any(r["expiry"] is not None and r["expiry"] < REFERENCE_DATE for r in stock)  # some stock expired


def test_unique_fields_are_unique_and_foreign_keys_resolve_in_load_order(city: City) -> None:
    for layer in default_registry():
        if layer.table not in city.tables:   # a case layer: the engine writes it (test_every_row_fits_...)
            continue
        for f in layer.fields:
            if f.unique:
                values = [row[f.name] for row in city.tables[layer.table]]
                assert len(set(values)) == len(values), (layer.id, f.name)
    seen: set[str] = set()
    for name in TABLE_ORDER:
        for col in metadata().tables[name].columns:
            for fk in col.foreign_keys:
                target = fk.column.table.name
                assert target in seen, f"{name}.{col.name} is loaded before {target}"
                if col.name == "depot_id":
                    continue
                allowed = {row[fk.column.name] for row in city.tables[target]}
                missing = {row[col.name] for row in city.tables[name]} - allowed - {None}
                assert not missing, (name, col.name, sorted(missing)[:5])
        seen.add(name)


def test_same_seed_same_rows_other_seed_other_city(city: City) -> None:
    def fingerprint(c: City, table: str) -> list[tuple]:
        return [tuple(shapely.to_wkb(v) if k == "geom" else v for k, v in row.items()) for row in c.tables[table]]

    again = build_city()
    for table in TABLE_ORDER:
        assert fingerprint(again, table) == fingerprint(city, table), table
    other = build_city(seed=7)
    assert fingerprint(other, "enterprises") != fingerprint(city, "enterprises")


# -- divisions ------------------------------------------------------------------------------------------------
def test_divisions_tile_the_city_without_gaps_or_overlaps(city: City) -> None:
    boundary = city.boundary
    for table in ("districts", "subdistricts", "grid_cells"):
        parts = geoms(city, table)
        assert shapely.coverage_is_valid(parts), table  # no overlaps, neighbours share exact edges
        assert shapely.union_all(parts).symmetric_difference(boundary).area < 1e-12, table
        assert abs(sum(g.area for g in parts) - boundary.area) < 1e-10, table
    districts = by(city, "districts", "code")
    subs = by(city, "subdistricts", "code")
    assert sorted(districts) == [f"3299{i:02d}" for i in range(2, 8)]
    for code, sub in subs.items():
        assert len(code) == 9 and code.startswith(sub["district_code"])
        assert sub["name"].endswith(("街道", "镇"))
        assert districts[sub["district_code"]]["geom"].covers(sub["geom"])
    for cell in city.tables["grid_cells"]:
        assert cell["code"].startswith(cell["subdistrict_code"])
        assert subs[cell["subdistrict_code"]]["district_code"] == cell["district_code"]
        assert subs[cell["subdistrict_code"]]["geom"].covers(cell["geom"])
    for park in city.tables["industrial_parks"]:
        assert districts[park["district_code"]]["geom"].contains(park["geom"])
    total = sum(d["population"] for d in districts.values())
    assert abs(total - TOTAL_POPULATION) < 0.01 * TOTAL_POPULATION


def test_point_features_lie_in_their_district_on_dry_land(city: City) -> None:
    districts = by(city, "districts", "code")
    water = shapely.union_all(geoms(city, "water"))
    shapely.prepare(water)
    for table in POINT_LAYERS:
        for row in city.tables[table]:
            assert districts[row["district_code"]]["geom"].contains(row["geom"]), (table, row)
        assert not shapely.intersects(water, geoms(city, table)).any(), table
    cells = by(city, "grid_cells", "code")
    parks = by(city, "industrial_parks", "code")
    for firm in city.tables["enterprises"]:
        assert cells[firm["grid_cell_code"]]["geom"].contains(firm["geom"])
        inside = [code for code, park in parks.items() if park["geom"].contains(firm["geom"])]
        assert inside == ([firm["park_code"]] if firm["park_code"] else [])


# -- roads ------------------------------------------------------------------------------------------------------
def test_road_graph_is_strongly_connected(city: City) -> None:
    graph = nx.DiGraph()
    for road in city.tables["roads"]:
        graph.add_edge(road["source"], road["target"])
        if not road["oneway"]:
            graph.add_edge(road["target"], road["source"])
    assert nx.is_strongly_connected(graph)
    assert sum(r["oneway"] for r in city.tables["roads"]) > 100  # one-way streets exist and were kept


def test_road_lines_start_and_end_on_their_nodes(city: City) -> None:
    at: dict[int, tuple[float, float]] = {}
    for road in city.tables["roads"]:
        coords = shapely.get_coordinates(road["geom"])
        for node, xy in ((road["source"], tuple(coords[0])), (road["target"], tuple(coords[-1]))):
            assert at.setdefault(node, xy) == xy, node
        assert road["source"] != road["target"]
    assert sorted(at) == list(range(1, len(at) + 1))  # pgRouting vertex ids 1..n
    assert len(set(at.values())) == len(at)  # one node per location: no topology building needed


def test_road_costs_follow_geodesic_length_and_speed(city: City) -> None:
    lengths = geod().line_lengths
    for road in city.tables["roads"][::7]:
        lon, lat = shapely.get_coordinates(road["geom"]).T
        assert road["length_m"] == pytest.approx(float(np.sum(lengths(lon, lat))), rel=1e-9)
        assert road["cost_s"] == pytest.approx(road["length_m"] / (road["speed_kmh"] / 3.6))
        assert road["reverse_cost_s"] == (-1.0 if road["oneway"] else road["cost_s"])


def test_no_road_in_a_lake_and_only_arterials_bridge_the_river(city: City) -> None:
    lines = geoms(city, "roads")
    classes = np.array([r["road_class"] for r in city.tables["roads"]])
    for water in city.tables["water"]:
        hit = shapely.intersects(water["geom"], lines)
        if water["kind"] != "river":
            assert not hit.any(), water["name"]
        elif water["name"] == "示范江":
            assert hit.any() and set(classes[hit]) <= {"motorway", "trunk", "primary", "secondary"}


# -- supervised objects -----------------------------------------------------------------------------------------
def test_enterprises_have_valid_codes_and_a_realistic_mix(city: City) -> None:
    firms = city.tables["enterprises"]
    assert all(is_valid_uscc(f["uscc"]) and f["uscc"][2:8] == f["district_code"] for f in firms)
    codes = {s: {o[0] for o in options} for s, options in INDUSTRIES.items()}
    assert all(f["industry_code"] in codes[f["sector"]] for f in firms)
    sectors = Counter(f["sector"] for f in firms)
    assert sectors.most_common(1)[0][0] == "industry_trade" and 0.08 < sectors["hazchem"] / len(firms) < 0.2
    colours = Counter(f["risk_colour"] for f in firms)
    for colour, share in {"red": 0.03, "orange": 0.12, "yellow": 0.35, "blue": 0.50}.items():
        assert abs(colours[colour] / len(firms) - share) < 0.03, colours
    in_parks = [f for f in firms if f["park_code"] and f["sector"] == "hazchem"]
    hot = sum(f["risk_colour"] in ("red", "orange") for f in in_parks) / len(in_parks)
    assert hot > 2 * (colours["red"] + colours["orange"]) / len(firms)
    employees = np.array([f["employees"] for f in firms])
    assert employees.min() >= 1 and np.mean(employees) > 1.3 * np.median(employees)  # right-skewed
    assert all(f["name"].startswith("示范市") and f["phone"].startswith("0329-") for f in firms)
    assert all(f["address"].startswith(by(city, "districts", "code")[f["district_code"]]["name"]) for f in firms[:200])


def test_enterprises_cluster_in_parks_and_along_roads(city: City) -> None:
    firms = city.tables["enterprises"]
    parks_area = sum(p["geom"].area for p in city.tables["industrial_parks"])
    in_parks = sum(f["park_code"] is not None for f in firms) / len(firms)
    assert in_parks > 5 * parks_area / city.boundary.area
    hazchem = [f for f in firms if f["sector"] == "hazchem"]
    assert sum(f["park_code"] is not None for f in hazchem) / len(hazchem) > 0.4
    tree = shapely.STRtree(geoms(city, "roads"))
    _, dist = tree.query_nearest(geoms(city, "enterprises"), return_distance=True)
    assert np.mean(dist < 0.0008) > 0.9  # ~80 m: almost every firm fronts a road


def test_hazard_sources_are_major_and_graded_by_gb18218(city: City) -> None:
    from supervision.hazard_sources.gb18218 import assess, list_table1_chemicals

    table1 = {(c["name_zh"], c["cas"]): c["critical_quantity_t"] for c in list_table1_chemicals()}
    stock: dict[str, list[dict]] = {}
    for row in city.tables["hazard_source_chemicals"]:
        assert table1[(row["chemical_name"], row["cas"])] == row["critical_quantity_t"]
        stock.setdefault(row["hazard_source_code"], []).append(row)
    firms = by(city, "enterprises", "uscc")
    grades = Counter()
    for hs in city.tables["hazard_sources"]:
        items = [{"cas": r["cas"], "quantity_t": r["quantity_t"]} if r["cas"] else
                 {"name": r["chemical_name"], "quantity_t": r["quantity_t"]} for r in stock[hs["code"]]]
        result = assess(items, hs["exposed_population"])
        assert hs["s_value"] >= 1.0 and result.is_major
        assert (hs["s_value"], hs["r_value"], hs["grade"]) == pytest.approx((result.s, result.r, result.grade))
        firm = firms[hs["enterprise_uscc"]]
        assert firm["sector"] == "hazchem" and firm["risk_colour"] in ("orange", "red")
        assert geod().inv(*hs["geom"].coords[0], *firm["geom"].coords[0])[2] < 200
        grades[hs["grade"]] += 1
    assert set(grades) == {1, 2, 3, 4} and grades[4] > grades[1]
    parked = sum(firms[h["enterprise_uscc"]]["park_code"] is not None for h in city.tables["hazard_sources"])
    assert parked / len(city.tables["hazard_sources"]) > 0.5


def test_sensors_watch_their_hazard_source(city: City) -> None:
    sources = by(city, "hazard_sources", "code")
    units = {"gas_concentration": {"%LEL", "ppm"}, "tank_level": {"m"}, "temperature": {"°C"}, "pressure": {"MPa"}}
    for s in city.tables["sensors"]:
        assert s["unit"] in units[s["kind"]]
        assert s["alarm_low"] is None or s["alarm_low"] < s["alarm_high"]
        hs = sources[s["hazard_source_code"]]
        assert geod().inv(*s["geom"].coords[0], *hs["geom"].coords[0])[2] <= 100
    status = Counter(s["status"] for s in city.tables["sensors"])
    assert status["alarm"] >= 3 and status["offline"] >= 5 and status["normal"] > 0.9 * len(city.tables["sensors"])


def test_incidents_cover_the_past_year(city: City) -> None:
    incidents = city.tables["incidents"]
    now = datetime.combine(REFERENCE_DATE, datetime.max.time()).astimezone()
    assert all(now - timedelta(days=366) <= i["reported_at"] <= now for i in incidents)
    assert len({i["kind"] for i in incidents}) >= 5
    assert any(i["enterprise_uscc"] for i in incidents)
    assert any(i["status"] in ("reported", "verified", "responding", "under_control") for i in incidents)
    assert any(i["status"] in ("closed", "reviewed") for i in incidents)


def test_resources_are_labelled_synthetic_and_reachable(city: City) -> None:
    assert "示范市" in SYNTHETIC_NOTICE and "synthetic" in SYNTHETIC_NOTICE
    for table in ("districts", "industrial_parks", "enterprises", "rescue_teams", "shelters", "hospitals",
                  "fire_stations", "sensitive_targets"):
        assert all(row["name"].startswith("示范市") for row in city.tables[table]), table
    assert all(w["name"].startswith("示范") for w in city.tables["water"])
    tree = shapely.STRtree(geoms(city, "roads"))
    for table in ("rescue_teams", "shelters", "hospitals", "fire_stations"):
        _, dist = tree.query_nearest(geoms(city, table), return_distance=True)
        assert np.all(dist < 0.0025), table  # within ~250 m of a road


# -- population raster -------------------------------------------------------------------------------------------
def test_population_raster(city: City, tmp_path: Path) -> None:
    import rasterio

    path = tmp_path / "population.tif"
    write_population_raster(city, path)
    with rasterio.open(path) as src:
        assert src.crs.to_epsg() == 4490
        assert src.nodata == NODATA and src.dtypes[0] == "float32"
        assert src.profile["compress"] == "deflate" and src.profile["tiled"]
        assert src.res == pytest.approx((0.00105, 0.0009))
        left, bottom, right, top = src.bounds
        x0, y0, x1, y1 = city.extent
        assert left <= x0 and bottom <= y0 and right >= x1 and top >= y1
        values = src.read(1)
        people = values[values != NODATA]
        assert people.min() >= 0 and abs(people.sum() - TOTAL_POPULATION) < 0.001 * TOTAL_POPULATION
        for lake in (w for w in city.tables["water"] if w["kind"] != "river"):
            p = lake["geom"].representative_point()
            assert next(src.sample([(p.x, p.y)]))[0] == 0, lake["name"]
        centre = Point(np.mean([d["geom"].centroid.x for d in city.tables["districts"][:1]]),
                       np.mean([d["geom"].centroid.y for d in city.tables["districts"][:1]]))
        assert next(src.sample([(centre.x, centre.y)]))[0] > np.median(people)  # denser downtown


@pytest.mark.slow
def test_scale_multiplies_points_and_roads(city: City) -> None:
    double = build_city(scale=2)
    for table, n in PER_SCALE.items():
        assert len(double.tables[table]) == 2 * n, table
    assert len(double.tables["districts"]) == 6 and len(double.tables["grid_cells"]) == len(city.tables["grid_cells"])
    ratio = len(double.tables["roads"]) / len(city.tables["roads"])
    assert ratio == pytest.approx(2.0, abs=0.3)
