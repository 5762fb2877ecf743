"""Routing for dispatch, checked against independent computations on the same exported road edges:
networkx shortest paths (ranking), pgRouting (travel times), shapely nearest-road search (snapping), and
point-in-polygon of every network node (isochrones)."""

from __future__ import annotations

import math

import networkx as nx
import numpy as np
import pytest
import shapely
import sqlalchemy as sa
from pyproj import Transformer

from emergency.models import resource_layers
from tests.integration.emergency_support import KNOWN_GCJ, KNOWN_WGS, writer_client

KINDS = ["rescue_team", "fire_station", "hospital"]
TIME_TOL_S = 0.06  # the API rounds times to 0.1 s


@pytest.fixture(scope="module")
def network(db: sa.Engine) -> dict:
    """The road graph rebuilt independently: a networkx DiGraph (cheapest of parallel arcs) and node coordinates."""
    with db.connect() as conn:
        rows = conn.execute(sa.text(
            "SELECT id, source, target, cost_s, reverse_cost_s, ST_X(ST_StartPoint(geom)), ST_Y(ST_StartPoint(geom)), "
            "ST_X(ST_EndPoint(geom)), ST_Y(ST_EndPoint(geom)), ST_AsBinary(geom) FROM roads")).all()
    g = nx.DiGraph()
    xy: dict[int, tuple[float, float]] = {}
    for _, s, t, c, rc, sx, sy, tx, ty, _ in rows:
        xy[s], xy[t] = (sx, sy), (tx, ty)
        for a, b, w in ((s, t, c), (t, s, rc)):
            if w >= 0 and (not g.has_edge(a, b) or g[a][b]["w"] > w):
                g.add_edge(a, b, w=w)
    lines = shapely.from_wkb([bytes(r[9]) for r in rows])
    return {"graph": g, "reverse": g.reverse(copy=True), "xy": xy, "rows": rows, "lines": lines}


@pytest.fixture(scope="module")
def resources(db: sa.Engine) -> list[tuple[str, int, int, float, float]]:
    """(kind, id, snapped node, lon, lat) of every resource, as the database holds them."""
    with db.connect() as conn:
        out = []
        for kind, table in resource_layers().items():
            out += [(kind, *r) for r in conn.execute(sa.text(
                f"SELECT r.id, s.node_id, ST_X(r.geom), ST_Y(r.geom) FROM {table} r "
                f"JOIN resource_snaps s ON s.kind = '{kind}' AND s.resource_id = r.id")).all()]
        return out


def _points(network: dict, n: int, seed: int) -> list[tuple[float, float]]:
    """Seeded random points up to ~300 m beside random roads (always within the 2 km snap limit)."""
    rng = np.random.default_rng(seed)
    pts = []
    for i in rng.choice(len(network["rows"]), n, replace=False):
        p = shapely.line_interpolate_point(network["lines"][i], rng.uniform(0, 1), normalized=True)
        pts.append((p.x + rng.uniform(-0.003, 0.003), p.y + rng.uniform(-0.0027, 0.0027)))
    return pts


def _nearest(client, lon: float, lat: float, kinds: list[str], limit: int = 10, **extra: str):  # noqa: ANN001, ANN202
    query = "&".join([f"lon={lon!r}", f"lat={lat!r}", "kinds=" + ",".join(kinds), f"limit={limit}"] +
                     [f"{k}={v}" for k, v in extra.items()])
    return client.get("/api/emergency/nearest-resources?" + query)


def test_ranking_by_travel_time_equals_networkx(user_client, network: dict, resources: list) -> None:  # noqa: ANN001
    order = list(resource_layers())
    pool = [r for r in resources if r[0] in KINDS]
    for lon, lat in _points(network, 12, seed=7):
        response = _nearest(user_client, lon, lat, KINDS)
        assert response.status_code == 200, response.get_json()
        body = response.get_json()
        origin = body["origin"]["node_id"]
        times = nx.single_source_dijkstra_path_length(network["reverse"], origin, weight="w")
        expected = sorted((times[node], order.index(kind), rid) for kind, rid, node, _, _ in pool if node in times)
        got = body["resources"]
        assert len(got) == 10
        assert [g["travel_time_s"] for g in got] == pytest.approx([e[0] for e in expected[:10]], abs=TIME_TOL_S)
        cutoff = expected[9][0]
        must = {(order[k], i) for t, k, i in expected if t < cutoff - 1e-6}
        may = {(order[k], i) for t, k, i in expected if abs(t - cutoff) <= 1e-6}
        ids = {(g["kind"], g["id"]) for g in got}
        assert must <= ids <= must | may
        # Ranked by travel time, which is not the straight-line order (else this test would prove little).
        assert [g["travel_time_s"] for g in got] == sorted(g["travel_time_s"] for g in got)
        for g in got:
            route = g["route"]["coordinates"]
            node = next(r[2] for r in pool if (r[0], r[1]) == (g["kind"], g["id"]))
            assert route[0] == pytest.approx(list(network["xy"][node]), abs=1e-6)
            assert route[-1] == pytest.approx(list(network["xy"][origin]), abs=1e-6)


def test_straight_line_order_differs_from_travel_time_order_somewhere(user_client, network: dict) -> None:  # noqa: ANN001
    """Guards the ranking test: on this city, straight-line and drive-time rankings really do disagree."""
    differs = 0
    for lon, lat in _points(network, 12, seed=7):
        got = _nearest(user_client, lon, lat, KINDS).get_json()["resources"]
        distances = [g["distance_m"] for g in got]
        differs += distances != sorted(distances)
    assert differs > 0


def test_distance_is_geodesic_straight_line(user_client, network: dict) -> None:  # noqa: ANN001
    lon, lat = _points(network, 1, seed=3)[0]
    for g in _nearest(user_client, lon, lat, KINDS).get_json()["resources"]:
        x, y = g["location"]
        p1, p2 = math.radians(lat), math.radians(y)
        h = math.sin((p2 - p1) / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(math.radians(x - lon) / 2) ** 2
        haversine = 2 * 6371008.8 * math.asin(math.sqrt(h))
        assert g["distance_m"] == pytest.approx(haversine, rel=0.005)  # sphere vs ellipsoid: < 0.5 %


def test_travel_times_agree_with_pgrouting(user_client, db: sa.Engine, network: dict, resources: list) -> None:  # noqa: ANN001
    by_key = {(k, i): node for k, i, node, _, _ in resources}
    edges = "SELECT id, source, target, cost_s AS cost, reverse_cost_s AS reverse_cost FROM roads"
    with db.connect() as conn:
        for lon, lat in _points(network, 3, seed=11):
            body = _nearest(user_client, lon, lat, ["fire_station"], limit=4).get_json()
            for g in body["resources"]:
                cost = conn.execute(sa.text("SELECT agg_cost FROM pgr_dijkstraCost(:e, :s, :t, true)"),
                                    {"e": edges, "s": by_key[(g["kind"], g["id"])],
                                     "t": body["origin"]["node_id"]}).scalar()
                assert g["travel_time_s"] == pytest.approx(cost or 0.0, abs=TIME_TOL_S)


def test_resources_snap_to_the_nearer_end_of_the_nearest_road(network: dict, resources: list) -> None:
    """Independently: nearest road by shapely in the Gauss-Krüger zone (metres), then its nearer end node."""
    to_gk = Transformer.from_crs("EPSG:4490", "EPSG:4549", always_xy=True)
    lines = shapely.transform(network["lines"], lambda xy: np.column_stack(to_gk.transform(xy[:, 0], xy[:, 1])))
    tree = shapely.STRtree(lines)
    rows = network["rows"]
    for _, _, node, lon, lat in resources:
        p = shapely.Point(*to_gk.transform(lon, lat))
        near = tree.query(p.buffer(shapely.distance(lines[tree.nearest(p)], p) + 0.05))
        best = min(shapely.distance(lines[near], p))
        ends = set()
        for k in near[shapely.distance(lines[near], p) <= best + 0.05]:  # ties within 5 cm: either road is fine
            start, end = shapely.get_point(lines[k], 0), shapely.get_point(lines[k], -1)
            d0, d1 = shapely.distance(start, p), shapely.distance(end, p)
            ends |= {rows[k][1]} if d0 < d1 - 0.05 else {rows[k][2]} if d1 < d0 - 0.05 else {rows[k][1], rows[k][2]}
        assert node in ends


def test_unknown_kinds_are_a_400_listing_the_allowed(user_client) -> None:  # noqa: ANN001
    response = _nearest(user_client, *KNOWN_WGS, ["rescue_team", "helicopter"])
    assert response.status_code == 400
    body = response.get_json()
    assert body["unknown"] == ["helicopter"]
    assert body["allowed_kinds"] == list(resource_layers())


@pytest.mark.parametrize("lon, lat", [("nan", "32"), ("inf", "32"), ("119", "-inf"), ("119", "95"),
                                      ("200", "32"), ("abc", "32")])
def test_bad_coordinates_are_a_400(user_client, lon: str, lat: str) -> None:  # noqa: ANN001
    response = user_client.get(f"/api/emergency/nearest-resources?lon={lon}&lat={lat}")
    assert response.status_code == 400
    assert response.get_json()["input"] in ("lon", "lat")


def test_a_point_far_from_any_road_is_refused_with_the_distance(user_client) -> None:  # noqa: ANN001
    response = _nearest(user_client, 121.0, 30.0, KINDS)
    assert response.status_code == 422
    body = response.get_json()
    assert body["code"] == "no_road_within_limit"
    assert "2000 m" in body["detail"] or "2000 米" in body["detail"]
    assert body["nearest_road_m"] > 2000


def test_the_snap_limit_is_a_parameter(user_client, network: dict) -> None:  # noqa: ANN001
    lon, lat = _points(network, 1, seed=5)[0]
    snap = _nearest(user_client, lon, lat, KINDS).get_json()["origin"]["snap_m"]
    assert snap > 1.0
    refused = _nearest(user_client, lon, lat, KINDS, snap_limit_m=str(snap / 2))
    assert refused.status_code == 422 and refused.get_json()["snap_limit_m"] == pytest.approx(snap / 2)
    assert _nearest(user_client, lon, lat, KINDS, snap_limit_m=str(snap + 1)).status_code == 200


def test_gcj02_input_is_converted_before_snapping(user_client) -> None:  # noqa: ANN001
    wgs = _nearest(user_client, *KNOWN_WGS, KINDS).get_json()
    gcj = _nearest(user_client, *KNOWN_GCJ, KINDS, crs="gcj02").get_json()
    raw = _nearest(user_client, *KNOWN_GCJ, KINDS).get_json()
    assert gcj["origin"]["lon"] == pytest.approx(KNOWN_WGS[0], abs=1e-8)
    assert gcj["origin"]["lat"] == pytest.approx(KNOWN_WGS[1], abs=1e-8)
    assert gcj["resources"] == wgs["resources"]
    assert raw["origin"]["node_id"] != wgs["origin"]["node_id"]  # unconverted, it lands ~540 m away


@pytest.mark.parametrize("direction", ["to", "from"])
def test_isochrones_contain_exactly_the_reachable_nodes(user_client, network: dict, direction: str) -> None:  # noqa: ANN001
    """Every network node reachable within T is strictly inside the T-minute polygon, every other node outside.
    Tolerance: nodes whose time is within 1 ms of T are not judged (none occur on the demo city)."""
    graph = network["reverse"] if direction == "to" else network["graph"]
    node_ids = np.array(list(network["xy"]))
    xy = np.array([network["xy"][n] for n in node_ids])
    for lon, lat in _points(network, 3, seed=21 if direction == "to" else 22):
        response = user_client.get(f"/api/emergency/isochrones?lon={lon!r}&lat={lat!r}&minutes=3,8,15"
                                   f"&direction={direction}")
        assert response.status_code == 200, response.get_json()
        body = response.get_json()
        assert body["type"] == "FeatureCollection" and len(body["features"]) == 3
        times = nx.single_source_dijkstra_path_length(graph, body["origin"]["node_id"], weight="w")
        t = np.array([times.get(n, np.inf) for n in node_ids])
        for feature in body["features"]:
            polygon = shapely.geometry.shape(feature["geometry"])
            assert polygon.is_valid
            limit = feature["properties"]["seconds"]
            judged = np.abs(t - limit) > 1e-3
            inside = shapely.contains_xy(polygon, xy[:, 0], xy[:, 1])
            assert np.array_equal(inside[judged], (t <= limit)[judged])
            assert feature["properties"]["reached_nodes"] == int((t <= limit).sum())
            assert 0 < inside.sum() < len(node_ids)


def test_bad_isochrone_parameters_are_a_400(user_client) -> None:  # noqa: ANN001
    base = f"/api/emergency/isochrones?lon={KNOWN_WGS[0]}&lat={KNOWN_WGS[1]}"
    for extra in ("&minutes=0", "&minutes=5,nan", "&minutes=500", "&minutes=x", "&direction=sideways",
                  "&minutes=1,2,3,4,5,6,7,8,9"):
        assert user_client.get(base + extra).status_code == 400, extra


def test_snaps_and_graph_follow_changes(app_factory, fresh_db: str) -> None:  # noqa: ANN001
    """A new resource is routable at once; moving it re-snaps it; a slower road changes the times."""
    client = writer_client(app_factory, fresh_db)
    created = client.post("/api/emergency/resources/fire_station", json={
        "name": "测试消防站", "kind": "small", "vehicles": 2, "personnel": 6, "lon": KNOWN_WGS[0], "lat": KNOWN_WGS[1]})
    assert created.status_code == 201, created.get_json()
    new_id = created.get_json()["id"]
    first = _nearest(client, *KNOWN_WGS, ["fire_station"], limit=3).get_json()
    assert (first["resources"][0]["kind"], first["resources"][0]["id"]) == ("fire_station", new_id)
    assert first["resources"][0]["travel_time_s"] == 0.0
    moved = client.patch(f"/api/emergency/resources/fire_station/{new_id}", json={"lon": 119.164, "lat": 31.9157})
    assert moved.status_code == 200
    assert new_id not in [r["id"] for r in _nearest(client, *KNOWN_WGS, ["fire_station"], limit=3)
                          .get_json()["resources"]]
    # Make every road 10× slower: the cached graph must be dropped and every time scaled.
    before = _nearest(client, *KNOWN_WGS, ["fire_station"], limit=3).get_json()["resources"]
    engine = sa.create_engine(fresh_db)
    with engine.begin() as conn:
        conn.execute(sa.text("UPDATE roads SET cost_s = cost_s * 10, reverse_cost_s = CASE WHEN reverse_cost_s < 0 "
                             "THEN reverse_cost_s ELSE reverse_cost_s * 10 END"))
    engine.dispose()
    after = _nearest(client, *KNOWN_WGS, ["fire_station"], limit=3).get_json()["resources"]
    assert [a["id"] for a in after] == [b["id"] for b in before]
    assert [a["travel_time_s"] for a in after] == pytest.approx([10 * b["travel_time_s"] for b in before], abs=1.0)
