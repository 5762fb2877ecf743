"""Demo-city invariants checked in PostGIS itself, on the loaded template (not on the generator's objects)."""

from __future__ import annotations

from pathlib import Path

import networkx as nx
import pytest
import rasterio
import sqlalchemy as sa

from data.demo.uscc import is_valid_uscc
from layers.registry import default_registry

EXPECTED_COUNTS = {
    "districts": 6, "enterprises": 5000, "hazard_sources": 150, "sensors": 800, "rescue_teams": 60, "depots": 40,
    "shelters": 120, "experts": 300, "hospitals": 30, "fire_stations": 25, "sensitive_targets": 200,
    "industrial_parks": 3,
}
POINT_LAYERS = [layer.table for layer in default_registry() if layer.geometry == "Point"]


def q(engine: sa.Engine, sql: str) -> object:
    with engine.connect() as conn:
        return conn.execute(sa.text(sql)).scalar_one()


def test_counts_as_specified(db: sa.Engine) -> None:
    for table, expected in EXPECTED_COUNTS.items():
        assert q(db, f"SELECT count(*) FROM {table}") == expected, table
    assert 35 <= q(db, "SELECT count(*) FROM subdistricts") <= 45
    assert 350 <= q(db, "SELECT count(*) FROM grid_cells") <= 450
    directed = q(db, "SELECT sum(CASE WHEN reverse_cost_s < 0 THEN 1 ELSE 2 END) FROM roads")
    assert 17_000 <= directed <= 23_000
    assert q(db, "SELECT count(*) FROM water WHERE kind = 'river'") >= 1
    assert q(db, "SELECT count(*) FROM water WHERE kind IN ('lake', 'reservoir')") >= 3
    assert q(db, "SELECT count(*) FROM incidents") > 0
    assert q(db, "SELECT count(*) FROM depot_inventory") >= 40
    assert q(db, "SELECT count(*) FROM hazard_source_chemicals") >= 150


def test_every_uscc_has_a_valid_check_digit(db: sa.Engine) -> None:
    with db.connect() as conn:
        codes = conn.execute(sa.text("SELECT uscc FROM enterprises")).scalars().all()
    assert len(codes) == len(set(codes)) == 5000
    assert all(is_valid_uscc(c) for c in codes)


def test_district_codes_follow_gb_t_2260(db: sa.Engine) -> None:
    assert q(db, "SELECT count(*) FROM districts WHERE code !~ '^[0-9]{6}$'") == 0
    assert q(db, "SELECT count(*) FROM subdistricts s WHERE left(s.code, 6) <> s.district_code") == 0


@pytest.mark.parametrize("table", POINT_LAYERS)
def test_every_point_feature_is_inside_its_district(db: sa.Engine, table: str) -> None:
    outside = q(db, f"SELECT count(*) FROM {table} t JOIN districts d ON d.code = t.district_code "
                    f"WHERE NOT ST_Within(t.geom, d.geom)")
    assert outside == 0
    assert q(db, f"SELECT count(*) FROM {table} t WHERE NOT EXISTS "
                 f"(SELECT 1 FROM districts d WHERE d.code = t.district_code)") == 0


@pytest.mark.parametrize("table", POINT_LAYERS)
def test_nothing_stands_in_water(db: sa.Engine, table: str) -> None:
    assert q(db, f"SELECT count(*) FROM {table} t JOIN water w ON ST_Intersects(t.geom, w.geom)") == 0


def test_divisions_tile_without_gaps_or_overlaps(db: sa.Engine) -> None:
    for table, parent, key in (("subdistricts", "districts", "district_code"),
                               ("grid_cells", "subdistricts", "subdistrict_code")):
        assert q(db, f"SELECT count(*) FROM {table} c JOIN {parent} p ON p.code = c.{key} "
                     f"WHERE NOT ST_CoveredBy(c.geom, ST_Buffer(p.geom, 1e-9))") == 0, table
        overlap = q(db, f"SELECT coalesce(sum(ST_Area(ST_Intersection(a.geom, b.geom))), 0) FROM {table} a "
                        f"JOIN {table} b ON a.id < b.id AND ST_Intersects(a.geom, b.geom)")
        assert overlap < 1e-9, table
        ratio = q(db, f"SELECT (SELECT sum(ST_Area(geom)) FROM {table}) / (SELECT sum(ST_Area(geom)) FROM {parent})")
        assert ratio == pytest.approx(1.0, abs=1e-6), table


def test_enterprises_lie_in_their_grid_cell_and_park(db: sa.Engine) -> None:
    assert q(db, "SELECT count(*) FROM enterprises e JOIN grid_cells g ON g.code = e.grid_cell_code "
                 "WHERE NOT ST_Within(e.geom, g.geom)") == 0
    assert q(db, "SELECT count(*) FROM enterprises e LEFT JOIN industrial_parks p ON ST_Within(e.geom, p.geom) "
                 "WHERE e.park_code IS DISTINCT FROM p.code") == 0
    # clustered, not uniform: the parks (a small share of the area) hold a large share of hazchem firms
    share = q(db, "SELECT avg((park_code IS NOT NULL)::int) FROM enterprises WHERE sector = 'hazchem'")
    assert share > 0.4


def test_all_geometries_valid_in_cgcs2000(db: sa.Engine) -> None:
    for layer in default_registry():
        assert q(db, f"SELECT count(*) FROM {layer.table} WHERE NOT ST_IsValid(geom) OR ST_SRID(geom) <> 4490") == 0


def test_road_graph_is_strongly_connected_in_pgrouting_terms(db: sa.Engine) -> None:
    """Built from the columns pgRouting reads (source, target, cost, reverse_cost), not the generator's data."""
    with db.connect() as conn:
        rows = conn.execute(sa.text("SELECT source, target, cost_s, reverse_cost_s FROM roads")).all()
    graph = nx.DiGraph()
    for source, target, cost, reverse in rows:
        if cost >= 0:
            graph.add_edge(source, target)
        if reverse >= 0:
            graph.add_edge(target, source)
    assert nx.is_strongly_connected(graph)
    components = q(db, "SELECT count(DISTINCT component) FROM pgr_strongComponents('SELECT id, source, target, "
                       "cost_s AS cost, reverse_cost_s AS reverse_cost FROM roads')")
    assert components == 1


def test_road_geometry_matches_nodes_and_costs(db: sa.Engine) -> None:
    # every node id has one coordinate, shared by all edges that meet there
    assert q(db, "SELECT count(*) FROM (SELECT n, count(DISTINCT pt) FROM ("
                 "SELECT source AS n, ST_AsText(ST_StartPoint(geom)) AS pt FROM roads UNION ALL "
                 "SELECT target, ST_AsText(ST_EndPoint(geom)) FROM roads) s GROUP BY n HAVING count(DISTINCT pt) > 1) x"
             ) == 0
    assert q(db, "SELECT max(abs(length_m - ST_Length(geom::geography)) / length_m) FROM roads") < 1e-6
    assert q(db, "SELECT count(*) FROM roads WHERE abs(cost_s - length_m / (speed_kmh / 3.6)) > 1e-6") == 0
    assert q(db, "SELECT count(*) FROM roads WHERE oneway <> (reverse_cost_s < 0)") == 0


def test_hazard_sources_are_major_and_consistent(db: sa.Engine) -> None:
    assert q(db, "SELECT count(*) FROM hazard_sources WHERE s_value < 1 OR grade NOT BETWEEN 1 AND 4") == 0
    mismatch = q(db, "SELECT count(*) FROM hazard_sources h JOIN (SELECT hazard_source_code, "
                     "sum(quantity_t / critical_quantity_t) AS s FROM hazard_source_chemicals GROUP BY 1) c "
                     "ON c.hazard_source_code = h.code WHERE abs(c.s - h.s_value) > 1e-6 * h.s_value")
    assert mismatch == 0
    assert q(db, "SELECT count(*) FROM sensors s JOIN hazard_sources h ON h.code = s.hazard_source_code "
                 "WHERE ST_Distance(s.geom::geography, h.geom::geography) > 100") == 0


def test_population_raster_is_georeferenced_in_cgcs2000(demo_artifacts: Path, db: sa.Engine) -> None:
    with rasterio.open(demo_artifacts / "data" / "population.tif") as ds:
        assert ds.crs.to_epsg() == 4490
        assert ds.res[0] == pytest.approx(0.00105) and ds.res[1] == pytest.approx(0.0009)
        left, bottom, right, top = ds.bounds
        assert 118.6 < left < right < 119.4 and 31.7 < bottom < top < 32.3
        band = ds.read(1, masked=True)
        assert float(band.sum()) > 100_000
    # the city's districts lie inside the raster
    assert q(db, f"SELECT count(*) FROM districts WHERE NOT ST_Within(geom, "
                 f"ST_MakeEnvelope({left}, {bottom}, {right}, {top}, 4490))") == 0
