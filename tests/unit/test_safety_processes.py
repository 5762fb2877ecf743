"""The OGC API processes every module declares (mapserver.processes.base processors), called through execute() and through pygeoapi."""

from __future__ import annotations

import json
from http import HTTPStatus

import pytest
from pygeoapi.plugin import load_plugin
from pygeoapi.process.base import ProcessorExecuteError
from shapely.geometry import Point, shape

from core.geo.coords import wgs84_to_gcj02
from core.manifest import collect
from emergency.consequence.plume import concentration
from emergency.consequence.vce import overpressure_kpa
from emergency.processes import GaussianPlumeProcessor, VceOverpressureProcessor
from mapserver.processes.coordinates import CoordinateConvertProcessor
from supervision.hazard_sources.processes import HazardSourceGradingProcessor

PROCESSES = dict(collect(None, "processes"))  # every installed module's processes
SOURCE = {"type": "Point", "coordinates": [116.40, 39.90]}


def _run(cls, inputs: dict) -> dict:
    mimetype, result = cls({"name": cls.__name__}).execute(inputs)
    assert mimetype == "application/json"
    json.dumps(result)  # must be plain JSON, no numpy scalars
    return result


@pytest.mark.parametrize(("pid", "path"), sorted(PROCESSES.items()))
def test_processes_load_by_dotted_path_and_describe_themselves(pid: str, path: str) -> None:
    processor = load_plugin("process", {"name": path})
    meta = processor.metadata
    assert meta["id"] == pid and meta["jobControlOptions"] == ["sync-execute"]
    for name, spec in meta["inputs"].items():
        schema = spec["schema"]
        if schema.get("type") in ("number", "integer"):
            assert "minimum" in schema and "maximum" in schema, name
        assert spec["description"].strip() or spec["title"], name
    mimetype, result = processor.execute(meta["example"]["inputs"])
    assert mimetype == "application/json" and result


def test_grading_process() -> None:
    result = _run(HazardSourceGradingProcessor, {"chemicals": [{"cas": "7782-50-5", "quantity_t": 20},
                                                               {"name": "液氨", "quantity_t": 5}],
                                                 "exposed_population": 120})
    assert (result["s"], result["r"], result["is_major"], result["grade"]) == (4.5, 34.0, True, 3)
    assert [c["cas"] for c in result["chemicals"]] == ["7782-50-5", "7664-41-7"]
    assert result["rules"]


def test_grading_process_null_grade_when_not_major() -> None:
    result = _run(HazardSourceGradingProcessor, {"chemicals": [{"category": "W5.4", "quantity_t": 10}],
                                                 "exposed_population": 0})
    assert result["is_major"] is False and result["grade"] is None


def test_plume_point_mode_equals_the_library() -> None:
    result = _run(GaussianPlumeProcessor, {"release_rate_g_s": 3.0, "wind_speed_m_s": 7.0, "stability": "D",
                                           "receptor_x_m": 3000})
    assert result["concentration_g_m3"] == concentration(3.0, 7.0, 3000.0, stability="D")
    assert result["concentration_mg_m3"] == pytest.approx(result["concentration_g_m3"] * 1000)


def test_plume_derives_stability_from_the_weather() -> None:
    result = _run(GaussianPlumeProcessor, {"release_rate_g_s": 3.0, "wind_speed_m_s": 2.5, "daytime": True,
                                           "insolation": "strong", "receptor_x_m": 500})
    assert result["stability"] == "B" and "A-B" in result["stability_source"]


def test_plume_footprint_is_a_geojson_polygon_downwind_in_4490() -> None:
    result = _run(GaussianPlumeProcessor, {"mode": "footprint", "release_rate_g_s": 1000, "wind_speed_m_s": 3,
                                           "stability": "D", "source": SOURCE, "wind_direction_deg": 270,
                                           "threshold_ppm": 10, "molar_mass_g_mol": 70.9})
    assert result["type"] == "Feature" and result["geometry"]["type"] == "Polygon"
    polygon = shape(result["geometry"])
    assert polygon.is_valid
    min_lon, min_lat, max_lon, max_lat = polygon.bounds
    assert min_lon == pytest.approx(116.40, abs=1e-6) and max_lon > 116.40  # wind from the west → east
    assert 39.8 < min_lat < 39.9 < max_lat < 40.0
    assert result["properties"]["metric_crs"] == "EPSG:4548"
    assert result["properties"]["threshold_mg_m3"] == pytest.approx(29.0, abs=0.05)


def test_vce_point_and_zones() -> None:
    point = _run(VceOverpressureProcessor, {"tnt_kg": 1.0, "distance_m": 30})
    assert point["overpressure_kpa"] == overpressure_kpa(30.0, 1.0)
    zones = _run(VceOverpressureProcessor, {"mode": "zones", "fuel_mass_kg": 1000, "heat_of_combustion_kj_kg": 46_350,
                                            "source": SOURCE})
    assert zones["tnt_kg"] == pytest.approx(0.04 * 1000 * 46_350 / 4520)
    features = zones["features"]
    assert [f["properties"]["zone"] for f in features] == ["death", "serious_injury", "minor_injury",
                                                           "glass_breakage"]
    assert len(features[0]["geometry"]["coordinates"]) == 1  # disc
    assert all(len(f["geometry"]["coordinates"]) == 2 for f in features[1:])  # annuli
    centre = Point(SOURCE["coordinates"])
    assert shape(features[0]["geometry"]).contains(centre)
    assert not shape(features[1]["geometry"]).contains(centre)


def test_coordinate_convert_and_the_cgcs2000_alias() -> None:
    result = _run(CoordinateConvertProcessor, {"from": "cgcs2000", "to": "gcj02", "points": [[116.404, 39.915]]})
    assert result["points"] == [list(wgs84_to_gcj02(116.404, 39.915))]
    back = _run(CoordinateConvertProcessor, {"from": "gcj02", "to": "wgs84", "points": result["points"]})
    assert back["points"][0] == pytest.approx([116.404, 39.915], abs=1e-8)


BAD_INPUTS = [
    (GaussianPlumeProcessor, {"release_rate_g_s": 3, "wind_speed_m_s": -2, "stability": "D", "receptor_x_m": 100},
     "wind_speed_m_s", "0.5 ≤ wind_speed_m_s ≤ 30"),
    (GaussianPlumeProcessor, {"release_rate_g_s": 3, "wind_speed_m_s": 2, "stability": "G", "receptor_x_m": 100},
     "stability", "A, B, C, D, E, F"),
    (GaussianPlumeProcessor, {"release_rate_g_s": float("nan"), "wind_speed_m_s": 2, "stability": "D",
                              "receptor_x_m": 100}, "release_rate_g_s", "0 < release_rate_g_s"),
    (GaussianPlumeProcessor, {"release_rate_g_s": 3, "wind_speed_m_s": 2, "stability": "D"},
     "receptor_x_m", "0 < receptor_x_m ≤ 100000 m"),
    (GaussianPlumeProcessor, {"mode": "footprint", "release_rate_g_s": 3, "wind_speed_m_s": 2, "stability": "D",
                              "source": SOURCE, "wind_direction_deg": 90, "threshold_ppm": 5},
     "molar_mass_g_mol", "1 ≤ molar_mass_g_mol ≤ 1000"),
    (GaussianPlumeProcessor, {"release_rate_g_s": 3, "wind_speed_m_s": 2, "stabilty": "D", "receptor_x_m": 1},
     "stabilty", "declared inputs"),
    (HazardSourceGradingProcessor, {"chemicals": [{"cas": "7782-51-6", "quantity_t": 1}], "exposed_population": 3},
     "chemicals[0].cas", "close matches: 7782-50-5 (氯)"),
    (HazardSourceGradingProcessor, {"chemicals": [{"cas": "7782-50-5", "quantity_t": -4}], "exposed_population": 3},
     "chemicals[0].quantity_t", "0 ≤ chemicals[0].quantity_t"),
    (HazardSourceGradingProcessor, {"chemicals": [{"cas": "7782-50-5", "quantity_t": 4}]},
     "exposed_population", "0 ≤ exposed_population ≤ 10000000"),
    (VceOverpressureProcessor, {"tnt_kg": -1, "distance_m": 10}, "tnt_kg", "0 < tnt_kg"),
    (VceOverpressureProcessor, {"mode": "zones", "tnt_kg": 10}, "source", "GeoJSON Point"),
    (VceOverpressureProcessor, {"fuel_mass_kg": 10, "heat_of_combustion_kj_kg": 46000, "efficiency": 2,
                                "distance_m": 10}, "efficiency", "0 < efficiency ≤ 1"),
    (CoordinateConvertProcessor, {"from": "gcj02", "to": "utm", "points": [[116, 40]]}, "to", "wgs84"),
    (CoordinateConvertProcessor, {"from": "gcj02", "to": "wgs84", "points": [[116, 95]]},
     "points[0][1] (lat)", "-90 ≤"),
]


@pytest.mark.parametrize(("cls", "inputs", "name", "allowed"), BAD_INPUTS)
def test_invalid_inputs_are_client_errors_naming_input_and_range(cls, inputs, name, allowed) -> None:
    with pytest.raises(ProcessorExecuteError) as err:
        cls({"name": "x"}).execute(inputs)
    message = str(err.value)
    assert f"'{name}'" in message and allowed in message
    assert err.value.http_status_code == HTTPStatus.BAD_REQUEST
    assert err.value.message == message  # what pygeoapi shows the client


@pytest.fixture(scope="module")
def pygeoapi_api():
    """A real pygeoapi API over the four processes with the synchronous Dummy manager."""
    from pygeoapi.api import API

    config = {
        "server": {"bind": {"host": "127.0.0.1", "port": 5000}, "url": "http://localhost:5000",
                   "mimetype": "application/json; charset=UTF-8", "encoding": "utf-8", "languages": ["en-US"],
                   "limits": {}, "map": {"url": "", "attribution": ""},
                   "manager": {"name": "Dummy", "connection": None, "output_dir": None}},
        "logging": {"level": "CRITICAL"},
        "metadata": {"identification": {"title": "t", "description": "d", "keywords": [], "terms_of_service": "",
                                        "url": ""},
                     "license": {"name": "x"}, "provider": {"name": "x"}, "contact": {"name": "x"}},
        "resources": {pid: {"type": "process", "processor": {"name": path}} for pid, path in PROCESSES.items()},
    }
    return API(config, {})


def _http(api, pid: str, inputs: dict) -> tuple[int, dict]:
    from pygeoapi.api import APIRequest
    from pygeoapi.api.processes import execute_process
    from werkzeug.test import EnvironBuilder

    request = EnvironBuilder(path=f"/processes/{pid}/execution", method="POST",
                             data=json.dumps({"inputs": inputs}), content_type="application/json").get_request()
    _, status, body = execute_process(api, APIRequest.from_flask(request, api.locales), pid)
    return int(status), json.loads(body)


def test_pygeoapi_answers_400_with_the_message_for_invalid_input(pygeoapi_api) -> None:
    status, body = _http(pygeoapi_api, "gaussian-plume", {"release_rate_g_s": 3, "wind_speed_m_s": -7,
                                                           "stability": "D", "receptor_x_m": 3000})
    assert status == 400
    assert body["code"] == "InvalidParameterValue"
    assert "wind_speed_m_s" in body["description"] and "0.5 ≤ wind_speed_m_s ≤ 30 m/s" in body["description"]


def test_pygeoapi_answers_200_for_valid_input(pygeoapi_api) -> None:
    status, body = _http(pygeoapi_api, "hazard-source-grading",
                         {"chemicals": [{"cas": "7782-50-5", "quantity_t": 20}], "exposed_population": 120})
    assert status == 200 and body["grade"] == 3


def test_pygeoapi_publishes_ranges_and_units(pygeoapi_api) -> None:
    from pygeoapi.api import APIRequest
    from pygeoapi.api.processes import describe_processes
    from werkzeug.test import EnvironBuilder

    request = EnvironBuilder(path="/processes/gaussian-plume", query_string={"f": "json"}).get_request()
    _, status, body = describe_processes(pygeoapi_api, APIRequest.from_flask(request, pygeoapi_api.locales),
                                         "gaussian-plume")
    wind = json.loads(body)["inputs"]["wind_speed_m_s"]
    assert int(status) == 200
    assert (wind["schema"]["minimum"], wind["schema"]["maximum"]) == (0.5, 30.0)
    assert wind["metadata"] == [{"title": "unit", "value": "m/s"}]
