"""/healthz reports the database, PostGIS and a non-zero feature count for every registry layer."""

from __future__ import annotations

from layers.registry import default_registry
from tests.conftest import free_port


def test_healthz_reports_every_layer(demo_app) -> None:  # noqa: ANN001
    response = demo_app.test_client().get("/healthz")
    assert response.status_code == 200
    body = response.get_json()
    assert body["status"] == "ok"
    assert body["database"]["ok"] is True
    assert body["database"]["postgis"].startswith("3.")
    assert body["database"]["pgrouting"]
    assert set(body["layers"]) == set(default_registry().ids)
    assert all(count > 0 for count in body["layers"].values()), body["layers"]
    assert body["layers"]["enterprises"] == 5000


def test_healthz_without_database_is_503_json(app_factory) -> None:  # noqa: ANN001
    app = app_factory(f"postgresql://nobody:pw@127.0.0.1:{free_port()}/none")
    response = app.test_client().get("/healthz")
    assert response.status_code == 503
    body = response.get_json()
    assert body["status"] == "unavailable"
    assert "cannot connect" in body["database"]["error"]
    assert "pw@" not in body["database"]["error"]


def test_unknown_route_is_problem_json(demo_app) -> None:  # noqa: ANN001
    response = demo_app.test_client().get("/no-such-page")
    assert response.status_code == 404
    assert response.mimetype == "application/problem+json"
    assert response.get_json()["status"] == 404


def test_home_lists_services_and_every_layer(demo_app) -> None:  # noqa: ANN001
    html = demo_app.test_client().get("/services").get_data(as_text=True)
    assert "虚构城市" in html
    for layer in default_registry():
        assert f"ogcapi/collections/{layer.id}/items" in html and layer.title_zh in html
