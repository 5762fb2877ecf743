"""OGC API (pygeoapi at /ogcapi) on the demo city: every client sees every feature, filters agree with PostGIS."""

from __future__ import annotations

import math

import mapbox_vector_tile
import pytest
import sqlalchemy as sa

from layers.registry import default_registry


@pytest.fixture(scope="module")
def client(user_client):  # noqa: ANN001, ANN201
    return user_client  # the demo dispatcher (city-wide): anonymous callers see public layers only


def scalar(engine: sa.Engine, sql: str, **params: object) -> object:
    with engine.connect() as conn:
        return conn.execute(sa.text(sql), params).scalar_one()


def test_every_registry_layer_is_a_collection_with_its_chinese_title(client) -> None:  # noqa: ANN001
    body = client.get("/ogcapi/collections?f=json&lang=zh-CN").get_json()
    titles = {c["id"]: c["title"] for c in body["collections"]}
    for layer in default_registry():
        assert titles[layer.id] == layer.title_zh
    assert "population" in titles


@pytest.mark.parametrize("layer", list(default_registry()), ids=lambda layer: layer.id)
def test_number_matched_equals_database(client, db, layer) -> None:  # noqa: ANN001
    """Every layer, whatever its scope columns (district only, enterprise, both, none), lists and reads by id."""
    response = client.get(f"/ogcapi/collections/{layer.id}/items?f=json&limit=1")
    assert response.status_code == 200, response.data[:300]
    body = response.get_json()
    assert body["numberMatched"] == scalar(db, f'SELECT count(*) FROM "{layer.table}"')
    fid = body["features"][0]["id"]
    item = client.get(f"/ogcapi/collections/{layer.id}/items/{fid}?f=json")
    assert item.status_code == 200 and item.get_json()["id"] == fid, item.data[:300]


def test_bbox_filter_equals_postgis(client, db) -> None:  # noqa: ANN001
    bbox = (118.95, 31.95, 119.05, 32.05)
    expected = scalar(db, "SELECT count(*) FROM enterprises WHERE ST_Intersects(geom, "
                          "ST_MakeEnvelope(:a, :b, :c, :d, 4490))", a=bbox[0], b=bbox[1], c=bbox[2], d=bbox[3])
    assert expected > 0
    body = client.get("/ogcapi/collections/enterprises/items?f=json&limit=10000&bbox="
                      + ",".join(map(str, bbox))).get_json()
    assert body["numberMatched"] == expected
    assert len(body["features"]) == expected


def test_property_and_cql2_filters(client, db) -> None:  # noqa: ANN001
    reds = scalar(db, "SELECT count(*) FROM enterprises WHERE risk_colour = 'red'")
    body = client.get("/ogcapi/collections/enterprises/items?f=json&limit=1&risk_colour=red").get_json()
    assert body["numberMatched"] == reds
    cql = "risk_colour = 'red' AND employees > 100"
    expected = scalar(db, "SELECT count(*) FROM enterprises WHERE risk_colour = 'red' AND employees > 100")
    body = client.get("/ogcapi/collections/enterprises/items",
                      query_string={"f": "json", "limit": 1, "filter": cql, "filter-lang": "cql2-text"}).get_json()
    assert body["numberMatched"] == expected


def test_sortby_properties_and_paging(client) -> None:  # noqa: ANN001
    body = client.get("/ogcapi/collections/enterprises/items?f=json&limit=5&sortby=-employees"
                      "&properties=name,employees").get_json()
    employees = [f["properties"]["employees"] for f in body["features"]]
    assert employees == sorted(employees, reverse=True)
    assert set(body["features"][0]["properties"]) <= {"name", "employees", "id"}
    nxt = [link for link in body["links"] if link["rel"] == "next"]
    assert nxt and "offset=5" in nxt[0]["href"]


def test_crs_3857_output_and_bbox_crs(client, db) -> None:  # noqa: ANN001
    fid = scalar(db, "SELECT min(id) FROM hospitals")
    x, y = (scalar(db, f"SELECT ST_{c}(ST_Transform(geom, 3857)) FROM hospitals WHERE id = :i", i=fid)
            for c in ("X", "Y"))
    response = client.get(f"/ogcapi/collections/hospitals/items/{fid}?f=json"
                          "&crs=http://www.opengis.net/def/crs/EPSG/0/3857")
    assert response.status_code == 200
    assert "3857" in response.headers["Content-Crs"]
    gx, gy = response.get_json()["geometry"]["coordinates"]
    assert math.isclose(gx, x, abs_tol=0.01) and math.isclose(gy, y, abs_tol=0.01)
    # the same feature found with a bbox given in EPSG:3857
    bbox = f"{x - 50},{y - 50},{x + 50},{y + 50}"
    body = client.get("/ogcapi/collections/hospitals/items?f=json&bbox=" + bbox
                      + "&bbox-crs=http://www.opengis.net/def/crs/EPSG/0/3857").get_json()
    assert fid in [f["id"] for f in body["features"]]


def _tile_xy(lon: float, lat: float, z: int) -> tuple[int, int]:
    n = 2 ** z
    x = int((lon + 180) / 360 * n)
    y = int((1 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2 * n)
    return x, y


def test_mvt_tile_holds_the_enterprises_inside_it(client, db) -> None:  # noqa: ANN001
    z = 13
    lon, lat = (scalar(db, f"SELECT ST_{c}(geom) FROM enterprises ORDER BY id LIMIT 1") for c in ("X", "Y"))
    x, y = _tile_xy(lon, lat, z)
    response = client.get(f"/ogcapi/collections/enterprises/tiles/WebMercatorQuad/{z}/{y}/{x}?f=mvt")
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "application/vnd.mapbox-vector-tile"
    tile = mapbox_vector_tile.decode(response.data)
    expected = scalar(db, "SELECT count(*) FROM enterprises WHERE ST_Intersects(ST_Transform(geom, 3857), "
                          "ST_TileEnvelope(:z, :x, :y))", z=z, x=x, y=y)
    assert len(tile["enterprises"]["features"]) == expected > 0


@pytest.mark.parametrize("path", [
    "/ogcapi/collections/enterprises/tiles/WebMercatorQuad/30/1/1?f=mvt",
    "/ogcapi/collections/enterprises/tiles/WebMercatorQuad/3/99/99?f=mvt",
    "/ogcapi/collections/enterprises/tiles/WebMercatorQuad/a/b/c?f=mvt",
    "/ogcapi/collections/enterprises/tiles/NoSuchMatrix/3/1/1?f=mvt",
])
def test_tile_out_of_range_is_4xx(client, path: str) -> None:  # noqa: ANN001
    assert 400 <= client.get(path).status_code < 500


@pytest.mark.parametrize("query", [
    "bbox=1,2,3",
    "bbox=119.1,32.1,118.9,31.9x",
    "filter=risk_colour%20%3D%3D%3D%20'red'&filter-lang=cql2-text",
    "filter=name%20%3D%20'x'%27%3B%20DROP%20TABLE%20enterprises%3B--&filter-lang=cql2-text",
    "crs=http://www.opengis.net/def/crs/EPSG/0/9999999",
    "sortby=no_such_field",
    "limit=-1",
])
def test_bad_items_queries_are_4xx(client, db, query: str) -> None:  # noqa: ANN001
    response = client.get("/ogcapi/collections/enterprises/items?f=json&" + query)
    assert 400 <= response.status_code < 500, (query, response.status_code, response.data[:300])
    assert scalar(db, "SELECT count(*) FROM enterprises") == 5000


def test_unknown_collection_is_404(client) -> None:  # noqa: ANN001
    assert client.get("/ogcapi/collections/no_such_layer/items?f=json").status_code == 404


def test_population_coverage_is_geotiff_in_cgcs2000(client, tmp_path) -> None:  # noqa: ANN001
    import rasterio

    response = client.get("/ogcapi/collections/population/coverage?f=GTiff&subset=Long(118.9:119.0),Lat(31.9:32.0)")
    assert response.status_code == 200, response.data[:300]
    path = tmp_path / "pop.tif"
    path.write_bytes(response.data)
    with rasterio.open(path) as ds:
        assert ds.crs.to_epsg() == 4490
        assert ds.width > 10 and ds.height > 10
        assert float(ds.read(1).max()) > 0


def test_processes_are_listed(client) -> None:  # noqa: ANN001
    body = client.get("/ogcapi/processes?f=json").get_json()
    ids = {p["id"] for p in body["processes"]}
    assert {"hazard-source-grading", "gaussian-plume", "vce-overpressure", "coordinate-convert"} <= ids


def test_axis_order_follows_the_requested_crs(client, db) -> None:  # noqa: ANN001
    """EPSG:4490 and 4326 are latitude-first; CRS84 (the default) is longitude-first. PostGIS stores lon/lat."""
    fid = scalar(db, "SELECT min(id) FROM hospitals")
    lon, lat = (scalar(db, f"SELECT ST_{c}(geom) FROM hospitals WHERE id = :i", i=fid) for c in ("X", "Y"))
    default = client.get(f"/ogcapi/collections/hospitals/items/{fid}?f=json").get_json()
    assert default["geometry"]["coordinates"] == pytest.approx([lon, lat])
    for code in (4490, 4326):
        body = client.get(f"/ogcapi/collections/hospitals/items/{fid}?f=json"
                          f"&crs=http://www.opengis.net/def/crs/EPSG/0/{code}").get_json()
        assert body["geometry"]["coordinates"] == pytest.approx([lat, lon], abs=1e-6), code
    # a bbox given in EPSG:4490 is lat/lon ordered too
    bbox = f"{lat - 0.001},{lon - 0.001},{lat + 0.001},{lon + 0.001}"
    body = client.get(f"/ogcapi/collections/hospitals/items?f=json&bbox={bbox}"
                      "&bbox-crs=http://www.opengis.net/def/crs/EPSG/0/4490").get_json()
    assert fid in [f["id"] for f in body["features"]]
