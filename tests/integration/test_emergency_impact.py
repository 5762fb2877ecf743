"""Impact analysis of an incident (辅助决策), through the API on private clones of the demo city.

* the affected population is the area-weighted zonal sum of the population raster: checked against a hand
  computation (uniform density × the zone's area by the shoelace formula) and against a cell-by-cell loop on a
  synthetic raster with uneven values and nodata, with zone edges cutting cells;
* the evacuation never puts more people in a shelter than its room, accounts for everyone, fills nearest first,
  and no route touches the affected area;
* what each zone lists equals an independent point/line-in-polygon test of every row;
* a run is stored, appears on the incident's timeline, a re-run adds a new run and keeps the old one;
* bad bodies are 4xx naming the input, and write nothing.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import rasterio
import shapely
import sqlalchemy as sa
from rasterio.transform import from_origin
from shapely.geometry import shape

from core.geo.zonal import cell_fractions
from tests.integration.emergency_support import KNOWN_WGS, scalar, writer_client

API = "/api/emergency"
CELL = (0.0007, 0.0006)  # lon, lat degrees of the synthetic raster's cells
NODATA = -9999.0


def _app_with_var(var: Path):  # noqa: ANN202
    from app import create_app

    def make(url: str):  # noqa: ANN202
        return create_app({"database": {"url": url}, "paths": {"var": str(var)},
                           "logging": {"level": "WARNING", "format": "json"}})

    return make


def _raster(var: Path, centre: tuple[float, float], values: np.ndarray) -> Path:
    """A GeoTIFF in EPSG:4490 centred on ``centre``; cell edges deliberately not aligned with it."""
    rows, cols = values.shape
    west = centre[0] - cols / 2 * CELL[0] + 0.00013
    north = centre[1] + rows / 2 * CELL[1] - 0.00007
    path = var / "data" / "population.tif"
    path.parent.mkdir(parents=True, exist_ok=True)
    with rasterio.open(path, "w", driver="GTiff", width=cols, height=rows, count=1, dtype="float32", crs="EPSG:4490",
                       transform=from_origin(west, north, *CELL), nodata=NODATA) as ds:
        ds.write(values.astype("float32"), 1)
    return path


def _intake(client, kind: str, lon: float, lat: float) -> int:  # noqa: ANN001
    response = client.post(f"{API}/incidents", json={"kind": kind, "title": "影响分析测试",
                                                     "location": {"lon": lon, "lat": lat}})
    assert response.status_code == 201, response.get_json()
    return response.get_json()["id"]


def _shoelace_deg2(ring: list[list[float]]) -> float:
    return abs(sum(x0 * y1 - x1 * y0 for (x0, y0), (x1, y1) in zip(ring[:-1], ring[1:], strict=True))) / 2.0


def _polygon_area_deg2(geometry: dict) -> float:
    polys = [geometry["coordinates"]] if geometry["type"] == "Polygon" else geometry["coordinates"]
    return sum(_shoelace_deg2(p[0]) - sum(_shoelace_deg2(h) for h in p[1:]) for p in polys)


def test_cell_fractions_by_hand() -> None:
    """A rectangle and a triangle cutting unit cells: the fractions written down by hand."""
    rect = shapely.box(0.25, 0.0, 2.5, 1.0)
    assert cell_fractions(rect, np.arange(0, 4.0), np.array([2.0, 1.0, 0.0])).tolist() == \
        [[0.0, 0.0, 0.0], [0.75, 1.0, 0.5]]
    tri = shapely.Polygon([(0, 0), (2, 0), (0, 2)])
    assert cell_fractions(tri, np.arange(0, 3.0), np.array([2.0, 1.0, 0.0])).tolist() == [[0.5, 0.0], [1.0, 0.5]]


def test_population_is_the_area_weighted_sum_of_a_uniform_raster(fresh_db: str, tmp_path: Path) -> None:
    density = 7.0  # persons per cell everywhere: the exact answer is density × zone area / cell area
    _raster(tmp_path, KNOWN_WGS, np.full((60, 60), density))
    client = writer_client(_app_with_var(tmp_path), fresh_db)
    incident = _intake(client, "explosion", *KNOWN_WGS)
    response = client.post(f"{API}/incidents/{incident}/impact", json={"tnt_kg": 50, "evacuate": False})
    assert response.status_code == 201, response.get_json()
    run = response.get_json()
    features = run["zones"]["features"]
    assert [f["id"] for f in features] == ["death", "serious_injury", "minor_injury", "glass_breakage"]
    cell_area = CELL[0] * CELL[1]
    for f in features:
        expected = density * _polygon_area_deg2(f["geometry"]) / cell_area
        got = f["properties"]["population"]["persons"]
        assert got == pytest.approx(expected, abs=0.06), f["id"]  # rounded to 0.1 person
        assert f["properties"]["population"]["cells_edge"] > 0
    total = sum(f["properties"]["population"]["persons"] for f in features)
    assert run["population"]["persons"] == pytest.approx(total, abs=0.3)
    # counting cells by their centre would give another figure: the test tells area weighting apart
    outer = shape(run["affected_area"])
    with rasterio.open(tmp_path / "data" / "population.tif") as ds:
        t = ds.transform
        cx = t.c + (np.arange(ds.width) + 0.5) * t.a
        cy = t.f + (np.arange(ds.height) + 0.5) * t.e
    gx, gy = np.meshgrid(cx, cy)
    by_centre = density * shapely.contains_xy(outer, gx, gy).sum()
    assert abs(by_centre - density * _polygon_area_deg2(run["affected_area"]) / cell_area) > 1.0


def test_population_equals_a_cell_by_cell_sum_on_uneven_values(fresh_db: str, tmp_path: Path) -> None:
    rng = np.random.default_rng(15)
    values = rng.integers(0, 400, size=(50, 60)).astype(float)
    values[20:23, 25:40] = NODATA  # a river: no people, and not -9999 of them
    path = _raster(tmp_path, KNOWN_WGS, values)
    client = writer_client(_app_with_var(tmp_path), fresh_db)
    incident = _intake(client, "explosion", *KNOWN_WGS)
    run = client.post(f"{API}/incidents/{incident}/impact", json={"tnt_kg": 40, "evacuate": False}).get_json()
    with rasterio.open(path) as ds:
        t = ds.transform
    for f in run["zones"]["features"]:
        zone = shape(f["geometry"])
        expected = 0.0
        for r in range(values.shape[0]):
            for c in range(values.shape[1]):
                if values[r, c] == NODATA:
                    continue
                x0, y0 = t.c + c * t.a, t.f + r * t.e
                cell = shapely.box(x0, y0 + t.e, x0 + t.a, y0)
                expected += values[r, c] * zone.intersection(cell).area / cell.area
        assert f["properties"]["population"]["persons"] == pytest.approx(expected, abs=0.06), f["id"]


@pytest.fixture
def plume_run(fresh_db: str, app_factory) -> dict:  # noqa: ANN001
    """A chlorine release in town with shelters made small, so that many fill up and people are left over."""
    engine = sa.create_engine(fresh_db)
    with engine.begin() as conn:
        conn.execute(sa.text("UPDATE shelters SET capacity = 40 + (id * 37) % 200, occupancy = (id * 13) % 30"))
    client = writer_client(app_factory, fresh_db)
    incident = _intake(client, "leak", *KNOWN_WGS)
    body = {"chemical": "chlorine", "release_rate_g_s": 3000, "wind_speed_m_s": 2.0, "wind_from_deg": 90,
            "stability": "D", "terrain": "urban", "max_distance_m": 8000}
    response = client.post(f"{API}/incidents/{incident}/impact", json=body)
    assert response.status_code == 201, response.get_json()
    yield {"run": response.get_json(), "engine": engine, "client": client, "incident": incident, "body": body}
    engine.dispose()


def test_evacuation_respects_capacity_and_routes_avoid_the_zone(plume_run: dict) -> None:
    run, engine = plume_run["run"], plume_run["engine"]
    evac = run["evacuation"]
    area = shape(run["affected_area"])
    with engine.connect() as conn:
        rooms = dict(conn.execute(sa.text("SELECT id, capacity - occupancy FROM shelters")).all())
        nodes = dict(conn.execute(sa.text(
            "SELECT s.resource_id, ARRAY[ST_X(v.geom), ST_Y(v.geom)] FROM resource_snaps s JOIN LATERAL ("
            "SELECT CASE WHEN r.source = s.node_id THEN ST_StartPoint(r.geom) ELSE ST_EndPoint(r.geom) END AS geom "
            "FROM roads r WHERE s.node_id IN (r.source, r.target) LIMIT 1) v ON true WHERE s.kind = 'shelter'")).all())
    assignments = evac["assignments"]
    assert evac["persons"] == math.ceil(run["population"]["persons"] - 1e-6) > 0
    assert len(assignments) >= 2 and evac["exits"] > 0  # the case is not trivial
    assert evac["assigned"] + evac["unassigned"] == evac["persons"]
    assert sum(a["persons"] for a in assignments) == evac["assigned"]
    assert len({a["shelter_id"] for a in assignments}) == len(assignments)
    for a in assignments:
        assert 0 < a["persons"] <= rooms[a["shelter_id"]]
        assert not area.intersects(shapely.Point(a["location"]))
        route = shapely.LineString(a["route"]["coordinates"])
        assert not route.intersects(area), a["shelter_id"]
        assert a["route"]["coordinates"][-1] == pytest.approx(nodes[a["shelter_id"]], abs=1e-6)
    # nearest first: every shelter but the last is full
    times = [a["travel_time_s"] for a in assignments]
    assert times == sorted(times)
    assert all(a["persons"] == rooms[a["shelter_id"]] for a in assignments[:-1])
    if evac["unassigned"]:
        assert assignments[-1]["persons"] == rooms[assignments[-1]["shelter_id"]]


def test_zones_list_exactly_what_lies_inside(plume_run: dict) -> None:
    run, engine = plume_run["run"], plume_run["engine"]
    with engine.connect() as conn:
        targets = conn.execute(sa.text("SELECT id, ST_AsBinary(geom) FROM sensitive_targets")).all()
        hazards = conn.execute(sa.text("SELECT code, ST_AsBinary(geom) FROM hazard_sources")).all()
        roads = conn.execute(sa.text("SELECT id, ST_AsBinary(geom) FROM roads")).all()
    found_any = 0
    for f in run["zones"]["features"]:
        zone, inside = shape(f["geometry"]), f["properties"]["inside"]
        for rows, layer in ((targets, "sensitive_targets"), (hazards, "hazard_sources"), (roads, "roads")):
            geoms = shapely.from_wkb([bytes(r[1]) for r in rows])
            expected = {r[0] for r, hit in zip(rows, shapely.intersects(zone, geoms), strict=True) if hit}
            assert not inside[layer]["truncated"]
            assert {i["id"] for i in inside[layer]["items"]} == expected, (f["id"], layer)
            assert inside[layer]["count"] == len(expected)
            found_any += len(expected)
    assert found_any > 0


def test_runs_are_kept_and_on_the_timeline(plume_run: dict) -> None:
    client, incident, first = plume_run["client"], plume_run["incident"], plume_run["run"]
    turned = {**plume_run["body"], "wind_from_deg": 180, "note": "风向转北"}
    second = client.post(f"{API}/incidents/{incident}/impact", json=turned)
    assert second.status_code == 201, second.get_json()
    assert second.get_json()["run"] == 2 and first["run"] == 1
    assert second.get_json()["zones"] != first["zones"]
    listed = client.get(f"{API}/incidents/{incident}/impact").get_json()["runs"]
    assert [r["run"] for r in listed] == [1, 2]
    assert [r["inputs"]["wind_from_deg"] for r in listed] == [90, 180]
    again = client.get(f"{API}/incidents/{incident}/impact/1").get_json()
    assert again["zones"] == first["zones"] and again["evacuation"] == first["evacuation"]
    history = client.get(f"{API}/incidents/{incident}").get_json()["history"]
    events = [h for h in history if h["event"] == "impact_analysed"]
    assert [e["data"]["run"] for e in events] == [1, 2]
    assert events[1]["data"]["note"] == "风向转北"
    assert client.get(f"{API}/incidents/{incident}/impact/3").status_code == 404


PLUME = {"model": "plume", "chemical": "ammonia", "release_rate_g_s": 500, "wind_speed_m_s": 3, "wind_from_deg": 45,
         "stability": "D"}
BAD = [
    ({"model": "fire"}, "model"),
    ({**PLUME, "release_rate_g_s": None}, "release_rate_g_s"),
    ({**PLUME, "release_rate_g_s": -1}, "release_rate_g_s"),
    ({**PLUME, "wind_speed_m_s": 0.1}, "wind_speed_m_s"),
    ({**PLUME, "wind_from_deg": "east"}, "wind_from_deg"),
    ({**PLUME, "stability": "Z"}, "stability"),
    ({**PLUME, "chemical": "water"}, "chemical"),
    ({**PLUME, "tnt_kg": 10}, "tnt_kg"),
    ({**PLUME, "thresholds": [{"level": "x", "ppm": 5}, {"level": "x", "ppm": 6}]}, "thresholds"),
    ({**PLUME, "thresholds": [{"level": "x", "ppm": -5}]}, "thresholds[0].ppm"),
    ({**PLUME, "hazard_source_code": "NO-SUCH", "chemical": None}, "hazard_source_code"),
    ({**PLUME, "evacuate": "yes"}, "evacuate"),
    ({**PLUME, "colour": "red"}, "colour"),
    ({"model": "explosion"}, "tnt_kg"),
    ({"model": "explosion", "tnt_kg": 10, "fuel_mass_kg": 100}, "tnt_kg"),
    ({"model": "explosion", "tnt_kg": 1e9}, "tnt_kg"),
    ({"model": "explosion", "fuel_mass_kg": 100, "heat_of_combustion_kj_kg": 1}, "heat_of_combustion_kj_kg"),
    ({"model": "explosion", "tnt_kg": 10, "thresholds_kpa": {"death": 0}}, "thresholds_kpa.death"),
    ({"model": "explosion", "tnt_kg": 10, "wind_speed_m_s": 3}, "wind_speed_m_s"),
]


def test_bad_bodies_are_4xx_naming_the_input_and_write_nothing(fresh_db: str, app_factory) -> None:  # noqa: ANN001
    client = writer_client(app_factory, fresh_db)
    incident = _intake(client, "leak", *KNOWN_WGS)
    events = scalar(fresh_db, "SELECT count(*) FROM incident_events")
    for body, name in BAD:
        response = client.post(f"{API}/incidents/{incident}/impact", json=body)
        assert response.status_code == 400, (body, response.get_json())
        problem = response.get_json()
        assert response.mimetype == "application/problem+json"
        assert problem["input"] == name, (body, problem)
    # a kind that calls for no model needs one named
    other = _intake(client, "collapse", *KNOWN_WGS)
    refused = client.post(f"{API}/incidents/{other}/impact", json={"tnt_kg": 10}).get_json()
    assert refused["input"] == "model"
    for path, body, status in ((f"{API}/incidents/999999/impact", PLUME, 404),
                               (f"{API}/incidents/{incident}/impact", [PLUME], 400)):
        assert client.post(path, json=body).status_code == status
    assert scalar(fresh_db, "SELECT count(*) FROM impact_runs") == 0
    assert scalar(fresh_db, "SELECT count(*) FROM incident_events") == events + 1  # the second intake only
    for step in ("verified", "responding", "under_control", "closed"):
        assert client.post(f"{API}/incidents/{incident}/transitions", json={"to": step}).status_code == 200
    closed = client.post(f"{API}/incidents/{incident}/impact", json=PLUME)
    assert closed.status_code == 409 and closed.get_json()["code"] == "incident_not_active"
    assert scalar(fresh_db, "SELECT count(*) FROM impact_runs") == 0


def test_the_chemical_comes_from_the_incidents_hazard_source(fresh_db: str, app_factory) -> None:  # noqa: ANN001
    """Without a chemical in the request, the plume takes the most toxic chemical of the table (lowest AEGL-2)
    that the incident enterprise's hazard sources hold, and says so."""
    from emergency.impact.chemicals import BY_CAS

    with sa.create_engine(fresh_db).connect() as conn:
        rows = conn.execute(sa.text(
            "SELECT h.code, h.enterprise_uscc, c.cas FROM hazard_source_chemicals c JOIN hazard_sources h "
            "ON h.code = c.hazard_source_code WHERE c.cas = ANY(:cas) AND h.status = 'active' ORDER BY h.code"),
            {"cas": list(BY_CAS)}).all()
        assert rows, "the demo city holds chlorine, ammonia or hydrogen sulfide somewhere"
        code, uscc = rows[0].code, rows[0].enterprise_uscc
        held = conn.execute(sa.text(
            "SELECT c.cas FROM hazard_source_chemicals c JOIN hazard_sources h ON h.code = c.hazard_source_code "
            "WHERE h.enterprise_uscc = :u AND h.status = 'active' AND c.cas = ANY(:cas)"),
            {"u": uscc, "cas": list(BY_CAS)}).scalars().all()
    worst = min((BY_CAS[c] for c in held), key=lambda c: c.levels[1].ppm)
    client = writer_client(app_factory, fresh_db)
    response = client.post(f"{API}/incidents", json={"kind": "leak", "location": {"hazard_source_code": code}})
    assert response.status_code == 201, response.get_json()
    incident = response.get_json()["id"]
    body = {"release_rate_g_s": 800, "wind_speed_m_s": 3, "wind_from_deg": 270, "stability": "D", "evacuate": False}
    run = client.post(f"{API}/incidents/{incident}/impact", json=body).get_json()
    assert run["chemical"]["cas"] == worst.cas
    assert run["chemical_source"].startswith("hazard_source:")
    assert [f["properties"]["threshold"]["ppm"] for f in run["zones"]["features"]] == \
        [lv.ppm for lv in worst.levels][:len(run["zones"]["features"])]
    assert run["release_rate_g_s"] == 800 and run["release_rate_source"] == {"kind": "request"}
    # a named hazard source is used as named
    named = client.post(f"{API}/incidents/{incident}/impact", json={**body, "hazard_source_code": code}).get_json()
    assert named["chemical_source"] == f"hazard_source:{code}"
    # without a rate, the worst case of that source's stock: all of it in 10 minutes (40 CFR 68.25)
    tonnes = scalar(fresh_db, "SELECT quantity_t FROM hazard_source_chemicals WHERE hazard_source_code = :c "
                              "AND cas = :cas", c=code, cas=worst.cas)
    rateless = {k: v for k, v in body.items() if k != "release_rate_g_s"}
    worst_case = client.post(f"{API}/incidents/{incident}/impact", json={**rateless, "hazard_source_code": code})
    assert worst_case.status_code == 201, worst_case.get_json()
    assert worst_case.get_json()["release_rate_g_s"] == pytest.approx(min(1e7, float(tonnes) * 1e6 / 600), abs=1e-3)
    assert worst_case.get_json()["release_rate_source"]["quantity_t"] == pytest.approx(float(tonnes))
    assert worst_case.get_json()["release_rate_source"]["hazard_source_code"] == code
    # a chemical named in the request has no stock behind it: the rate is required
    refused = client.post(f"{API}/incidents/{incident}/impact", json={**rateless, "chemical": worst.key})
    assert refused.status_code == 400 and refused.get_json()["input"] == "release_rate_g_s"


def test_zone_geometry_stays_polygonal_after_snapping() -> None:
    """A difference or a repair can leave slivers (lines, points): a zone keeps only its area, and a zone thinner
    than the 1e-7° grid becomes empty rather than an invalid or non-polygonal geometry."""
    from emergency.impact.zones import _clean

    mixed = shapely.GeometryCollection([shapely.box(0, 0, 1, 1), shapely.LineString([(2, 2), (3, 3)])])
    assert _clean(mixed).equals(shapely.box(0, 0, 1, 1))
    assert _clean(shapely.box(0, 0, 1e-9, 1e-9)).is_empty
    bow = shapely.Polygon([(0, 0), (1, 1), (1, 0), (0, 1), (0, 0)])  # self-intersecting
    fixed = _clean(bow)
    assert fixed.is_valid and fixed.geom_type in ("Polygon", "MultiPolygon") and fixed.area == pytest.approx(0.5)


# -- the situation report (专报) ------------------------------------------------------------------------------------
def _pdf_text(body: bytes) -> list[str]:
    """Each page's text read back with PDFium (see test_permits: fpdf2's CMap is read by PDFium, not pypdf),
    whitespace removed (table cells and wrapped lines put breaks anywhere)."""
    import pypdfium2

    document = pypdfium2.PdfDocument(body)
    try:
        return ["".join(page.get_textpage().get_text_range().split()) for page in document]
    finally:
        document.close()


def test_the_report_pdf_carries_the_runs_figures_as_the_api_gives_them(plume_run: dict) -> None:
    client, incident, run = plume_run["client"], plume_run["incident"], plume_run["run"]
    response = client.get(f"{API}/incidents/{incident}/impact/{run['run']}/report")
    assert response.status_code == 200 and response.mimetype == "application/pdf"
    assert "no-store" in response.headers["Cache-Control"] and "private" in response.headers["Cache-Control"]
    pages = _pdf_text(response.get_data())
    text = "".join(pages)
    code = client.get(f"{API}/incidents/{incident}").get_json()["code"]
    assert len(pages) >= 2 and all(f"第{i}页/共{len(pages)}页" in p for i, p in enumerate(pages, 1))
    for expected in ("突发事件辅助决策专报", f"事件编号：{code}", "氯气（CAS7782-50-5）", "泄漏速率3000g/s",
                     "2m/s，来自90°（东风）", "D类", "三、影响范围图", "六、疏散安置建议"):
        assert expected in text, expected
    zones = run["zones"]["features"]
    assert len(zones) == 3
    for zone in zones:
        props = zone["properties"]
        label = "".join(props["label_zh"].split())
        assert f"{props['area_km2']:.3f}{props['population']['persons']:,.0f}" in text.split(label, 2)[2], props
    assert f"影响总人口约{run['population']['persons']:,.0f}人" in text
    evac = run["evacuation"]
    assert f"需疏散{evac['persons']:,}人，已安排{evac['assigned']:,}人，未能安置{evac['unassigned']:,}人" in text
    for a in evac["assignments"]:
        assert "".join(a["name"].split()) + f"{a['persons']:,}" in text, a["name"]
    roads = sum(z["properties"]["inside"]["roads"]["count"] for z in zones)
    assert f"需管控道路：{roads}处" in text


def test_the_report_lists_the_plans_and_the_tasks_of_the_incident(plume_run: dict) -> None:
    """After a plan is activated, section 七 names it with its level and lists every task with its state."""
    client, incident = plume_run["client"], plume_run["incident"]
    matching = client.get(f"{API}/incidents/{incident}/plans").get_json()["plans"]
    assert matching, "the demo city's plans should cover a chlorine leak"
    plan = matching[0]
    activated = client.post(f"{API}/incidents/{incident}/plans/{plan['id']}/activate",
                            json={"level": 4, "reason": "专报测试"})
    assert activated.status_code in (200, 201), activated.get_json()
    tasks = client.get(f"{API}/incidents/{incident}/tasks").get_json()["tasks"]
    assert tasks
    done = client.patch(f"{API}/incidents/{incident}/tasks/{tasks[0]['id']}", json={"done": True})
    assert done.status_code == 200, done.get_json()
    text = "".join(_pdf_text(client.get(f"{API}/incidents/{incident}/impact/1/report").get_data()))
    section = text.split("七、应急预案与处置任务", 1)[1]
    assert "".join(plan["title"].split()) in section and "已启动Ⅳ级" in section
    for t in tasks:
        assert "".join(t["action"].split())[:12] in section, t["action"]
    assert f"共{len(tasks)}项，未完成{len(tasks) - 1}项" in section and "已完成" in section


def test_a_reader_without_population_gets_a_report_without_figures(fresh_db: str, app_factory) -> None:  # noqa: ANN001
    """The district regulator may read its district's incidents but not the population coverage: the report
    says the figures are withheld and prints none; another district's incident is a 404."""
    district = scalar(fresh_db, "SELECT district_code FROM users WHERE username = 'district_reg'")

    def inside(op: str) -> list[float]:
        return [scalar(fresh_db, f"SELECT ST_{a}(ST_PointOnSurface(geom)) FROM districts WHERE code {op} :c "
                                 "ORDER BY code LIMIT 1", c=district) for a in "XY"]

    writer = writer_client(app_factory, fresh_db)
    mine = _intake(writer, "explosion", *inside("="))
    assert writer.post(f"{API}/incidents/{mine}/impact", json={"tnt_kg": 200}).status_code == 201
    foreign = _intake(writer, "explosion", *inside("<>"))
    assert scalar(fresh_db, "SELECT district_code FROM incidents WHERE id = :i", i=foreign) != district
    assert writer.post(f"{API}/incidents/{foreign}/impact", json={"tnt_kg": 200}).status_code == 201
    reader = writer_client(app_factory, fresh_db, username="district_reg")
    response = reader.get(f"{API}/incidents/{mine}/impact/1/report")
    assert response.status_code == 200, response.get_json()
    text = "".join(_pdf_text(response.get_data()))
    assert "您无权查看人口分布，未列出" in text and "影响总人口" not in text
    assert "您无权查看人口数据，疏散人数随之不予显示" in text
    assert reader.get(f"{API}/incidents/{foreign}/impact/1/report").status_code == 404
    assert reader.get(f"{API}/incidents/{mine}/impact/2/report").status_code == 404
