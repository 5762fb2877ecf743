"""The console's JSON API on the demo city: layer catalogue, feature panels, search, spatial query, statistics."""

from __future__ import annotations

import csv
import io
import json

import openpyxl
import pytest
import sqlalchemy as sa

from access.policy.rowscope import LayerAccess
from access.policy.rules import Authz, load_policy
from app.console import stats
from app.console.catalog import console_catalog
from core.geo.coords import convert
from core.identity import Identity
from core.panels import register_panel_section, unregister_panel_section
from layers.registry import GROUP_TITLES, default_registry

POLICY = load_policy()
PUBLIC_LAYERS = {layer.id for layer in default_registry() if layer.access == "public"}


def access_of(role: str, **kw: object) -> LayerAccess:
    """The access of a signed-in user of ``role``, as the gate would bind it to a request."""
    who = Identity(user_id=9, username=f"test_{role}", roles=frozenset({role}), method="session", **kw)  # type: ignore[arg-type]
    return LayerAccess(Authz(POLICY, who))


def rows(engine: sa.Engine, sql: str, **params: object) -> list[sa.Row]:
    with engine.connect() as conn:
        return list(conn.execute(sa.text(sql), params))


def scalar(engine: sa.Engine, sql: str, **params: object) -> object:
    with engine.connect() as conn:
        return conn.execute(sa.text(sql), params).scalar_one()


# -- pages -------------------------------------------------------------------------------------------------------

def test_console_is_chinese_by_default_and_english_on_request(user_client) -> None:  # noqa: ANN001
    html = user_client.get("/").get_data(as_text=True)
    assert '<html lang="zh-CN">' in html and "一张图" in html and "图层" in html
    english = user_client.get("/?lang=en").get_data(as_text=True)
    assert '<html lang="en">' in english and "Layers" in english and "图层</h2>" not in english


def test_screen_page_renders_with_its_kpi_cards(user_client) -> None:  # noqa: ANN001
    html = user_client.get("/screen").get_data(as_text=True)
    for kpi in ("enterprises", "hazard_sources", "open_incidents", "alarms", "overdue_hidden_dangers"):
        assert f'data-kpi="{kpi}"' in html
    assert "已过整改期限仍未销号的隐患数" in html  # the tooltip saying what the overdue card counts


def test_service_index_moved_to_services(user_client) -> None:  # noqa: ANN001
    assert "ogcapi/collections/enterprises/items" in user_client.get("/services").get_data(as_text=True)


# -- catalogue ---------------------------------------------------------------------------------------------------

def test_layer_catalogue_follows_the_registry_groups(user_client) -> None:  # noqa: ANN001
    body = user_client.get("/api/console/layers").get_json()
    assert [g["id"] for g in body["groups"]] == [k for k in GROUP_TITLES if any(
        layer.group == k for layer in default_registry())]
    ids = [layer["id"] for g in body["groups"] for layer in g["layers"]]
    assert sorted(ids) == sorted(["basemap", *default_registry().ids])
    by_id = {layer["id"]: layer for g in body["groups"] for layer in g["layers"]}
    assert by_id["enterprises"]["render"] == "mvt" and "{z}/{y}/{x}?f=mvt" in by_id["enterprises"]["urls"]["mvt"]
    assert by_id["incidents"]["render"] == "geojson"
    assert by_id["roads"]["render"] == "raster" and by_id["roads"]["urls"]["raster"].startswith("/tiles/wmts/roads/")
    legend = by_id["enterprises"]["style"]["legend"]
    # deactivated records (supervision/records) are greyed, whatever their colour: that class comes first
    assert [item["name"] for item in legend] == ["deactivated", "red", "orange", "yellow", "blue"]
    assert legend[1]["title"]["zh-CN"] == "重大风险"


def catalogue_ids(catalog: dict) -> set[str]:
    return {layer["id"] for g in catalog["groups"] for layer in g["layers"]}


def test_layer_catalogue_lists_only_the_layers_the_caller_may_read() -> None:
    assert catalogue_ids(console_catalog("/", access=access_of("public"))) == PUBLIC_LAYERS | {"basemap"}
    own = access_of("enterprise_user", enterprise_uscc="91329902MA0XRPNH8P")
    assert catalogue_ids(console_catalog("/", access=own)) == \
        PUBLIC_LAYERS | {"basemap", "enterprises", "hazard_sources", "sensors", "incidents", "hidden_dangers",
                         "supervised_listings", "video_points"}   # its own cameras too
    district = access_of("district_regulator", district_code="329902")
    assert catalogue_ids(console_catalog("/", access=district)) == {"basemap", *default_registry().ids}
    assert catalogue_ids(console_catalog("/", access=LayerAccess(None))) == {"basemap"}  # no gate: nothing


# -- feature panel ------------------------------------------------------------------------------------------------

def test_enterprise_panel_has_labels_references_and_hazard_sources(user_client, db) -> None:  # noqa: ANN001
    ent_id, uscc, name, district = rows(db, """
        SELECT e.id, e.uscc, e.name, d.name FROM enterprises e JOIN districts d ON d.code = e.district_code
        WHERE EXISTS (SELECT 1 FROM hazard_sources h WHERE h.enterprise_uscc = e.uscc) ORDER BY e.id LIMIT 1""")[0]
    body = user_client.get(f"/api/console/features/enterprises/{ent_id}").get_json()
    assert body["title"] == name
    attrs = {a["name"]: a for a in body["attributes"]}
    assert attrs["uscc"]["label"]["zh-CN"] == "统一社会信用代码" and attrs["uscc"]["value"] == uscc
    assert attrs["district_code"]["ref"]["name"] == district and attrs["district_code"]["ref"]["layer"] == "districts"
    assert attrs["sector"]["text"] in ("危险化学品", "烟花爆竹", "非煤矿山", "工贸")
    sections = {s["id"]: s for s in body["sections"]}
    hazard = sections["hazard_sources"]
    expected = rows(db, "SELECT id FROM hazard_sources WHERE enterprise_uscc = :u ORDER BY grade, code", u=uscc)
    assert [r["id"] for r in hazard["content"]["rows"]] == [r.id for r in expected]
    assert hazard["content"]["link"] == {"layer": "hazard_sources", "id_key": "id"}
    assert hazard["title"] == {"zh-CN": "重大危险源", "en": "Major hazard sources"}


def test_hazard_source_and_depot_panels_list_their_records(user_client, db) -> None:  # noqa: ANN001
    hs_id, code = rows(db, "SELECT h.id, h.code FROM hazard_sources h ORDER BY h.id LIMIT 1")[0]
    body = user_client.get(f"/api/console/features/hazard_sources/{hs_id}").get_json()
    chemicals = next(s for s in body["sections"] if s["id"] == "chemicals")["content"]["rows"]
    expected = scalar(db, "SELECT count(*) FROM hazard_source_chemicals WHERE hazard_source_code = :c", c=code)
    assert len(chemicals) == expected > 0
    assert chemicals == sorted(chemicals, key=lambda r: -r["q_over_q"])
    depot_id = scalar(db, "SELECT depot_id FROM depot_inventory GROUP BY depot_id ORDER BY count(*) DESC LIMIT 1")
    body = user_client.get(f"/api/console/features/depots/{depot_id}?lang=en").get_json()
    stock = next(s for s in body["sections"] if s["id"] == "inventory")["content"]
    assert len(stock["rows"]) == scalar(db, "SELECT count(*) FROM depot_inventory WHERE depot_id = :d", d=depot_id)


def test_unknown_layer_or_feature_is_a_404_problem(user_client) -> None:  # noqa: ANN001
    for url in ("/api/console/features/nope/1", "/api/console/features/enterprises/99999999"):
        response = user_client.get(url)
        assert response.status_code == 404 and response.mimetype == "application/problem+json"


def test_a_module_adds_a_panel_section_without_touching_the_console(user_client) -> None:  # noqa: ANN001
    def inspections(feature_id: int, ctx) -> dict:  # noqa: ANN001
        return {"kind": "fields", "items": [{"label": {"zh-CN": "企业", "en": "Enterprise"},
                                             "value": ctx.attributes["uscc"]}]}

    def broken(feature_id: int, ctx) -> dict:  # noqa: ANN001
        raise RuntimeError("module bug")

    register_panel_section("enterprises", "inspections", "执法检查", "Inspections", inspections, order=5)
    register_panel_section("enterprises", "broken", "坏栏目", "Broken", broken, order=6)
    try:
        body = user_client.get("/api/console/features/enterprises/1").get_json()
    finally:
        unregister_panel_section("enterprises", "inspections")
        unregister_panel_section("enterprises", "broken")
    ids = [s["id"] for s in body["sections"]]
    assert ids[:2] == ["inspections", "broken"] and "hazard_sources" in ids
    uscc = next(a["value"] for a in body["attributes"] if a["name"] == "uscc")
    assert body["sections"][0]["content"]["items"][0]["value"] == uscc
    assert body["sections"][1]["error"] is True  # one broken module does not break the panel


def test_identify_finds_the_polygon_under_a_point(user_client, db) -> None:  # noqa: ANN001
    lon, lat, code = rows(db, "SELECT ST_X(ST_PointOnSurface(geom)), ST_Y(ST_PointOnSurface(geom)), name "
                              "FROM districts ORDER BY code LIMIT 1")[0]
    body = user_client.get(f"/api/console/identify?lon={lon}&lat={lat}&layers=districts&tolerance_m=5").get_json()
    assert [f["name"] for f in body["features"]] == [code]
    bad = user_client.get("/api/console/identify?lon=x&lat=1&layers=districts")
    assert bad.status_code == 400 and bad.get_json()["input"] == "lon"


# -- search ------------------------------------------------------------------------------------------------------

def test_search_by_uscc_name_and_address(user_client, db) -> None:  # noqa: ANN001
    ent_id, uscc, name, address = rows(db, "SELECT id, uscc, name, address FROM enterprises ORDER BY id DESC LIMIT 1")[0]
    first = user_client.get(f"/api/console/search?q={uscc.lower()}").get_json()["results"][0]
    assert (first["layer"], first["id"], first["exact"]) == ("enterprises", ent_id, True)
    by_name = user_client.get("/api/console/search", query_string={"q": name}).get_json()["results"]
    assert by_name[0]["id"] == ent_id
    by_address = user_client.get("/api/console/search", query_string={"q": address, "limit": 50}).get_json()
    assert ent_id in [r["id"] for r in by_address["results"] if r["layer"] == "enterprises"]


def test_search_treats_like_wildcards_literally(user_client) -> None:  # noqa: ANN001
    body = user_client.get("/api/console/search", query_string={"q": "%"}).get_json()
    assert body["results"] == []


@pytest.mark.parametrize("crs", ["cgcs2000", "gcj02", "bd09"])
def test_coordinate_search_converts_the_declared_datum(user_client, crs: str) -> None:  # noqa: ANN001
    body = user_client.get("/api/console/search", query_string={"q": "32°0'0\"N 119°1'30\"E", "crs": crs}).get_json()
    assert body["kind"] == "coordinate"
    [result] = body["results"]
    expected = convert(119.025, 32.0, crs, "cgcs2000")
    assert result["lon"] == pytest.approx(expected[0], abs=1e-7) and result["lat"] == pytest.approx(expected[1], abs=1e-7)
    assert result["input"] == {"lon": 119.025, "lat": 32.0, "crs": "wgs84" if crs == "cgcs2000" else crs}


def test_bad_search_input_is_a_400(user_client) -> None:  # noqa: ANN001
    assert user_client.get("/api/console/search?q=").status_code == 400
    assert user_client.get("/api/console/search?q=32,119&crs=utm").status_code == 400
    assert user_client.get("/api/console/search", query_string={"q": "119°75'E 32°N"}).status_code == 400


# -- spatial query -----------------------------------------------------------------------------------------------

QUERY_CASES = [
    ({"type": "Point", "coordinates": [119.0, 32.0]}, 1500.0),
    ({"type": "LineString", "coordinates": [[118.95, 31.97], [119.05, 32.03]]}, 300.0),
    ({"type": "Polygon", "coordinates": [[[118.98, 31.98], [119.02, 31.98], [119.02, 32.02], [118.98, 31.98]]]}, 0.0),
]


@pytest.mark.parametrize(("geometry", "buffer_m"), QUERY_CASES)
def test_spatial_query_equals_postgis_dwithin(user_client, db, geometry: dict, buffer_m: float) -> None:  # noqa: ANN001
    layers = ["enterprises", "hazard_sources", "shelters", "roads", "grid_cells"]
    body = user_client.post("/api/console/spatial-query",
                            json={"geometry": geometry, "buffer_m": buffer_m, "layers": layers}).get_json()
    got = {layer["layer"]: {f["id"] for f in layer["features"]} for layer in body["layers"]}
    for layer in layers:
        expected = {r.id for r in rows(db, f"SELECT id FROM {layer} WHERE ST_DWithin(geom::geography, "
                                           "ST_SetSRID(ST_GeomFromGeoJSON(:g), 4490)::geography, :m)",
                                       g=json.dumps(geometry), m=buffer_m)}
        assert got[layer] == expected, layer
    assert sum(map(len, got.values())) > 0
    assert body["buffer"]["type"] == "Polygon"


def test_spatial_query_rejects_bad_input(user_client) -> None:  # noqa: ANN001
    point = {"type": "Point", "coordinates": [119.0, 32.0]}
    cases = [
        ({"geometry": point, "buffer_m": 100, "layers": ["nope"]}, "layers"),
        ({"geometry": point, "buffer_m": 0, "layers": ["enterprises"]}, "buffer_m"),
        ({"geometry": point, "buffer_m": 1e9, "layers": ["enterprises"]}, "buffer_m"),
        ({"geometry": {"type": "Point", "coordinates": [200, 0]}, "buffer_m": 1, "layers": ["enterprises"]},
         "geometry vertex 0 lon"),
        ({"geometry": {"type": "Polygon", "coordinates": [[[0, 0], [1, 1]]]}, "buffer_m": 1, "layers": ["enterprises"]},
         "geometry"),
    ]
    for body, name in cases:
        response = user_client.post("/api/console/spatial-query", json=body)
        assert response.status_code == 400, body
        assert response.get_json()["input"] == name


def test_export_csv_and_excel_hold_every_listed_feature(user_client) -> None:  # noqa: ANN001
    query = {"geometry": {"type": "Point", "coordinates": [119.0, 32.0]}, "buffer_m": 800,
             "layers": ["enterprises", "shelters"]}
    listed = user_client.post("/api/console/spatial-query", json=query).get_json()
    counts = {layer["layer"]: layer["count"] for layer in listed["layers"]}
    assert counts["enterprises"] > 0
    response = user_client.post("/api/console/spatial-query/export?format=csv", json=query)
    assert response.status_code == 200 and "attachment" in response.headers["Content-Disposition"]
    text = response.get_data().decode("utf-8")
    assert text.startswith("\ufeff")
    table = list(csv.reader(io.StringIO(text.lstrip("\ufeff"))))
    assert table[0][:3] == ["图层", "编号", "距离(米)"] and "统一社会信用代码" in table[0]
    assert sum(1 for row in table if row and row[0] == "生产经营单位") == counts["enterprises"]
    response = user_client.post("/api/console/spatial-query/export?format=xlsx&lang=en", json=query)
    book = openpyxl.load_workbook(io.BytesIO(response.get_data()))
    assert book.sheetnames == ["Enterprises", "Shelters"]
    assert book["Enterprises"].max_row - 1 == counts["enterprises"]
    assert book["Enterprises"]["F1"].value == "USCC"
    assert user_client.post("/api/console/spatial-query/export?format=pdf", json=query).status_code == 400


def test_exported_text_cannot_run_as_a_formula() -> None:
    from app.console.spatial import _cell

    assert _cell("=HYPERLINK(\"http://x\")") == "'=HYPERLINK(\"http://x\")"
    assert _cell("@SUM(A1)") == "'@SUM(A1)" and _cell("0329-1234") == "0329-1234" and _cell(-3) == -3


# -- statistics and KPIs -------------------------------------------------------------------------------------------

def test_stats_equal_the_database(user_client, db) -> None:  # noqa: ANN001
    body = user_client.get("/api/console/stats").get_json()
    for code, sector, n in rows(db, "SELECT district_code, sector, count(*) FROM enterprises GROUP BY 1, 2"):
        assert body["enterprises_by_sector"][code][sector] == n
    for code, colour, n in rows(db, "SELECT district_code, risk_colour, count(*) FROM enterprises GROUP BY 1, 2"):
        assert body["enterprises_by_risk"][code][colour] == n
    assert body["hazard_sources_by_grade"] == {str(g): n for g, n in rows(
        db, "SELECT grade, count(*) FROM hazard_sources GROUP BY 1")}
    resources = {r["layer"]: r["count"] for r in body["resources_by_kind"]}
    assert set(resources) == {layer.id for layer in default_registry() if layer.group == "resources"}
    assert resources["shelters"] == scalar(db, "SELECT count(*) FROM shelters")
    assert len(body["districts"]) == scalar(db, "SELECT count(*) FROM districts")


def test_stats_for_one_district(user_client, db) -> None:  # noqa: ANN001
    code = scalar(db, "SELECT code FROM districts ORDER BY code DESC LIMIT 1")
    body = user_client.get(f"/api/console/stats?district={code}").get_json()
    assert set(body["enterprises_by_risk"]) == {code}
    assert sum(body["hazard_sources_by_grade"].values()) == scalar(
        db, "SELECT count(*) FROM hazard_sources WHERE district_code = :c", c=code)
    assert user_client.get("/api/console/stats?district=999999").status_code == 400


def test_a_district_regulators_statistics_cover_their_district(db) -> None:  # noqa: ANN001
    code = scalar(db, "SELECT code FROM districts ORDER BY code LIMIT 1")
    with db.connect() as conn:
        mine = stats.console_stats(conn, access=access_of("district_regulator", district_code=code))
        city = stats.console_stats(conn, access=LayerAccess.unrestricted())
        public = stats.console_stats(conn, access=access_of("public"))
    assert set(mine["enterprises_by_risk"]) == {code} and len(city["enterprises_by_risk"]) > 1
    assert mine["enterprises_by_sector"][code] == city["enterprises_by_sector"][code]
    in_district = scalar(db, "SELECT count(*) FROM hazard_sources WHERE district_code = :c", c=code)
    assert sum(mine["hazard_sources_by_grade"].values()) == in_district < sum(city["hazard_sources_by_grade"].values())
    resources = {r["layer"]: r["count"] for r in mine["resources_by_kind"]}
    assert resources["shelters"] == scalar(db, "SELECT count(*) FROM shelters")  # public: city-wide for everybody
    assert resources["depots"] == scalar(db, "SELECT count(*) FROM depots WHERE district_code = :c", c=code)
    assert len(mine["districts"]) == len(city["districts"])  # the district list itself is public
    # the public may not read enterprises or hazard sources: no figure at all, not a zero
    assert public["enterprises_by_risk"] is None and public["hazard_sources_by_grade"] is None
    assert {r["layer"] for r in public["resources_by_kind"]} == {
        layer.id for layer in default_registry() if layer.group == "resources" and layer.access == "public"}


def test_screen_kpis_of_a_district_regulator_are_their_districts(db) -> None:  # noqa: ANN001
    code = scalar(db, "SELECT district_code FROM incidents WHERE status = ANY(:s) GROUP BY 1 ORDER BY count(*) DESC "
                      "LIMIT 1", s=list(stats.OPEN_INCIDENT_STATUSES))
    with db.connect() as conn:
        kpis = stats.screen_kpis(conn, access=access_of("district_regulator", district_code=code))
        nobody = stats.screen_kpis(conn, access=LayerAccess(None))
    assert kpis["enterprises"] == scalar(db, "SELECT count(*) FROM enterprises WHERE district_code = :c", c=code)
    assert kpis["alarms"] == scalar(db, "SELECT count(*) FROM sensors WHERE status = 'alarm' AND district_code = :c",
                                    c=code)
    ids = [row["id"] for row in kpis["open_incident_list"]]
    assert ids and scalar(db, "SELECT count(*) FROM incidents WHERE id = ANY(:i) AND district_code <> :c",
                          i=ids, c=code) == 0
    assert nobody["enterprises"] is None and nobody["open_incident_list"] is None


def test_screen_kpis_equal_the_database_and_unknowns_are_null(user_client, db) -> None:  # noqa: ANN001
    body = user_client.get("/screen/kpis").get_json()
    assert body["enterprises"] == scalar(db, "SELECT count(*) FROM enterprises")
    assert body["hazard_sources"] == scalar(db, "SELECT count(*) FROM hazard_sources")
    assert body["alarms"] == scalar(db, "SELECT count(*) FROM sensors WHERE status = 'alarm'") > 0
    assert body["open_incidents"] == scalar(db, "SELECT count(*) FROM incidents WHERE status NOT IN ('closed', 'reviewed')")
    assert len(body["open_incident_list"]) == min(20, body["open_incidents"])
    assert body["overdue_hidden_dangers"] == scalar(
        db, "SELECT count(*) FROM hidden_dangers WHERE overdue AND state IN ('reported', 'rectifying', 'verifying')")


def test_enterprise_grades_are_the_most_dangerous_hazard_source(user_client, db) -> None:  # noqa: ANN001
    body = user_client.get("/api/console/enterprise-grades").get_json()
    assert body == {u: g for u, g in rows(db, "SELECT enterprise_uscc, min(grade) FROM hazard_sources GROUP BY 1")}
