"""Malformed input gets a precise 4xx and an audit record, never a 500 (issue 11, defect 8).

Each case is generated from what it covers: every JSON route of the url_map, every OGC process of the policy,
every layer of the registry. Requests go through the shared signed-in dispatcher (``user_client``); nothing here
writes business data (every request is refused before it could).
"""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest
import sqlalchemy as sa

from access import audit
from access.audit.chain import verify_chain
from access.policy.rules import load_policy
from core.jsonbody import MAX_DEPTH
from layers.registry import default_registry

REGISTRY = default_registry()
WRITE_METHODS = ("POST", "PUT", "PATCH")
NESTED = b"[" * 100_000 + b"]" * 100_000


@pytest.fixture(scope="module")
def anonymous(app_factory_module):  # noqa: ANN001, ANN201
    return app_factory_module.test_client()


def _new_audit(db: sa.Engine, since: int, marker: str = "") -> list[Any]:
    with db.connect() as conn:
        return list(conn.execute(sa.text("SELECT * FROM audit.audit_log WHERE id > :i AND path LIKE :m ORDER BY id"),
                                 {"i": since, "m": f"%{marker}%"}))


def _head(db: sa.Engine) -> int:
    with db.connect() as conn:
        return conn.execute(sa.text("SELECT coalesce(max(id), 0) FROM audit.audit_log")).scalar_one()


def _json_routes(app: Any) -> list[tuple[str, str]]:
    """Every Flask route taking a body (ids filled with 1, other path parts with a valid sample), and every OGC
    process execution of the policy."""
    from emergency.models import resource_layers

    samples = {"kind": next(iter(resource_layers())), "action": "unlock"}
    out = []
    for rule in app.url_map.iter_rules():
        for method in sorted(set(rule.methods) & set(WRITE_METHODS)):
            path = rule.rule
            for arg in rule.arguments:
                converter = rule._converters[arg]  # noqa: SLF001 - werkzeug keeps them there
                value = "1" if type(converter).__name__ == "RowIdConverter" else samples.get(arg, "x")
                path = path.replace(next(p for p in path.split("/") if p.endswith(f":{arg}>") or p == f"<{arg}>"),
                                    value, 1)
            out.append((method, path))
    out += [("POST", f"/ogcapi/processes/{p}/execution") for p in sorted(load_policy().processes)]
    return out


def test_deeply_nested_json_is_refused_and_recorded_on_every_json_route(app_factory_module, user_client,
                                                                        db) -> None:  # noqa: ANN001
    routes = _json_routes(app_factory_module)
    assert len(routes) > 30
    before = _head(db)
    for method, path in routes:
        response = user_client.open(path, method=method, data=NESTED, content_type="application/json")
        assert response.status_code == 400, (method, path, response.status_code, response.get_data()[:300])
        text = response.get_data(as_text=True)
        assert f"{MAX_DEPTH} levels" in text or f"{MAX_DEPTH} 层" in text, (path, text)
    records = [r for r in _new_audit(db, before) if r.action == "http.bad_input"]
    assert sorted((r.method, r.path) for r in records) == sorted(routes)
    assert {r.details["reason"] for r in records} == {"too_deep"}
    assert {r.username for r in records} == {"dispatcher"}


@pytest.mark.parametrize(("label", "body", "reason"), [
    ("NaN", b'{"title": NaN}', "not finite"),
    ("Infinity", b'{"title": -Infinity}', "not finite"),
    ("overflowing double", b'{"title": 1e400}', "not finite"),
    ("int64 overflow", b'{"title": 9223372036854775808}', "integer_overflow"),
    ("huge integer", b'{"title": ' + b"9" * 5000 + b"}", "integer_overflow"),
    ("NUL in a string", b'{"title": "a\\u0000b"}', "nul_character"),
    ("NUL in a key", b'{"ti\\u0000tle": 1}', "nul_character"),
    ("33 levels", b'{"a":' * 33 + b"1" + b"}" * 33, "too_deep"),
    ("truncated", b'{"title": "a', "syntax"),
    ("not UTF-8", b'{"title": "\xff\xfe"}', "encoding"),
])
def test_json_that_no_route_can_store_is_a_precise_400(user_client, label: str, body: bytes,  # noqa: ANN001
                                                       reason: str) -> None:
    for path in ("/api/emergency/incidents", "/api/console/spatial-query", "/api/emergency/resources/shelter"):
        response = user_client.post(path, data=body, content_type="application/json")
        assert response.status_code == 400, (label, path, response.get_data()[:300])
        problem = response.get_json()
        assert response.mimetype == "application/problem+json"
        assert problem["code"] in ("invalid_json", "invalid_input") and problem["detail"]
        if problem["code"] == "invalid_json":  # refused by the reader (the middleware's refusals carry no reason)
            assert problem.get("reason", reason) == reason, problem


def test_a_nested_sign_in_is_refused_and_recorded(anonymous, db) -> None:  # noqa: ANN001
    before = _head(db)
    response = anonymous.post("/api/auth/login", data=NESTED, content_type="application/json")
    assert response.status_code == 400 and response.mimetype == "application/problem+json"
    assert [r.action for r in _new_audit(db, before, "/api/auth/login")] == ["http.bad_input"]


def _nul_queries() -> list[str]:
    layers = [f"/ogcapi/collections/{layer.id}/items?f=json&name=a%00b" for layer in REGISTRY]
    return ["/api/emergency/incidents?status=a%00b", "/api/emergency/resources/rescue_team?q=a%00b",
            "/api/console/search?q=a%00b", "/api/console/stats?district=a%00b", *layers,
            "/ows?SERVICE=WMS&REQUEST=GetCapabilities&X=%00", "/tiles/wmts/1.0.0/WMTSCapabilities.xml?x=%00"]


@pytest.mark.parametrize("who", ["anonymous", "dispatcher"])
def test_nul_bytes_in_a_query_are_refused_once_for_every_route_and_recorded(who: str, anonymous, user_client,
                                                                           db) -> None:  # noqa: ANN001
    client = anonymous if who == "anonymous" else user_client
    before = _head(db)
    for url in _nul_queries():
        marker = uuid.uuid4().hex[:12]
        response = client.get(url + f"&probe={marker}")
        assert response.status_code == 400, (url, response.status_code, response.get_data()[:300])
        body = response.get_data(as_text=True)
        if url.startswith("/api/"):
            assert response.mimetype == "application/problem+json" and "NUL" in response.get_json()["detail"]
        elif url.startswith("/ogcapi/"):
            assert response.get_json()["code"] == "InvalidParameterValue" and "NUL" in body
        else:
            assert "ExceptionReport" in body and "NUL" in body
        [record] = _new_audit(db, before, marker)
        assert (record.action, record.outcome, record.details["where"]) == ("http.bad_input", "denied", "query")
        assert record.username == ("anonymous" if who == "anonymous" else "dispatcher")


@pytest.mark.parametrize("prefix", ["/api/emergency/incidents/", "/api/", "/ogcapi/collections/", "/ows/styles/",
                                    "/tiles/wmts/", "/auth/"])
def test_a_nul_byte_in_the_path_is_refused_and_its_record_survives(prefix: str, anonymous, db) -> None:  # noqa: ANN001
    marker = uuid.uuid4().hex[:12]
    before = _head(db)
    response = anonymous.post(f"{prefix}{marker}%00x", json={})
    assert response.status_code == 400, response.get_data()[:300]
    [record] = _new_audit(db, before, marker)
    assert record.action == "http.bad_input" and record.details["where"] == "path"
    assert record.path == f"{prefix}{marker}\ufffdx"  # the NUL kept visible, as U+FFFD


def test_the_audit_record_survives_nul_bytes_and_undecodable_text(fresh_db: str) -> None:
    engine = sa.create_engine(fresh_db)
    # WSGI hands the path over as latin-1; "\xe4\xb8\xad" is the UTF-8 of 中, "\xff" no UTF-8 at all
    environ = {"PATH_INFO": "/x\x00/\xe4\xb8\xad\xff", "QUERY_STRING": "q=%00", "REQUEST_METHOD": "GET",
               "HTTP_USER_AGENT": "probe\x00\udcff", "REMOTE_ADDR": "127.0.0.1"}
    try:
        with audit.request_context(environ, engine):
            audit.record(audit.AuditEvent("http.bad_input", "denied", object_id="a\x00b",
                                          details={"text": "\x00\udcff", "key\x00": 1}))
        with engine.connect() as conn:
            row = conn.execute(sa.text("SELECT * FROM audit.audit_log ORDER BY id DESC LIMIT 1")).one()
            assert row.path == "/x\ufffd/中\ufffd?q=%00"
            assert row.user_agent == "probe\ufffd?" and row.object_id == "a\ufffdb"
            assert row.details == {"text": "\ufffd?", "key\ufffd": 1}
            assert verify_chain(conn).ok
    finally:
        engine.dispose()


@pytest.mark.parametrize("query", ["q=a&limit=NaN", "q=a&limit=Infinity", "q=a&limit=-Infinity"])
def test_console_search_limit_must_be_a_finite_number(user_client, query: str) -> None:  # noqa: ANN001
    response = user_client.get(f"/api/console/search?{query}")
    assert response.status_code == 400 and response.get_json()["input"] == "limit"


@pytest.mark.parametrize("name", ["lon", "lat", "tolerance_m"])
def test_console_identify_numbers_must_be_finite(user_client, name: str) -> None:  # noqa: ANN001
    args = {"lon": "118.9", "lat": "32.0", "tolerance_m": "10", "layers": "hospitals", name: "NaN"}
    response = user_client.get("/api/console/identify", query_string=args)
    assert response.status_code == 400 and response.get_json()["input"] == name


def _int_routes(app: Any) -> list[str]:
    from emergency.models import resource_layers

    samples = {"kind": next(iter(resource_layers())), "layer_id": "hospitals"}
    out = []
    for rule in app.url_map.iter_rules():
        if "GET" not in rule.methods or not any(type(c).__name__ == "RowIdConverter"
                                                for c in rule._converters.values()):  # noqa: SLF001
            continue
        path = rule.rule
        for arg, converter in rule._converters.items():  # noqa: SLF001
            value = "9223372036854775808" if type(converter).__name__ == "RowIdConverter" else samples[arg]
            path = path.replace(next(p for p in path.split("/") if p.endswith(f":{arg}>") or p == f"<{arg}>"),
                                value, 1)
        out.append(path)
    return out


def test_ids_beyond_the_key_range_are_not_found_on_every_route(app_factory_module, user_client) -> None:  # noqa: ANN001
    paths = _int_routes(app_factory_module)
    assert len(paths) >= 10
    for path in paths:
        for value in ("2147483648", "9223372036854775808", "9" * 40):
            response = user_client.get(path.replace("9223372036854775808", value))
            # 403 where the gate refuses the dispatcher the whole page or module before any id is looked at
            assert response.status_code in (403, 404), (path, value, response.status_code, response.get_data()[:200])
            assert response.mimetype == "application/problem+json"


@pytest.mark.parametrize("layer", [layer.id for layer in REGISTRY])
def test_ogcapi_offset_beyond_bigint_is_a_400(user_client, layer: str) -> None:  # noqa: ANN001
    response = user_client.get(f"/ogcapi/collections/{layer}/items?f=json&offset=99999999999999999999")
    assert response.status_code == 400, response.get_data()[:300]
    assert response.get_json()["code"] == "InvalidParameterValue" and "offset" in response.get_json()["description"]


@pytest.mark.parametrize("layer", [layer.id for layer in REGISTRY if not layer.temporal_field])
def test_datetime_on_a_layer_without_time_is_a_400_naming_it(user_client, layer: str) -> None:  # noqa: ANN001
    for value in ("2025-01-01", "2025-01-01/..", "garbage"):
        response = user_client.get(f"/ogcapi/collections/{layer}/items?f=json&datetime={value}")
        assert response.status_code == 400, (value, response.get_data()[:300])
        assert "no temporal property" in response.get_json()["description"]


@pytest.mark.parametrize("layer", [layer.id for layer in REGISTRY if layer.temporal_field])
def test_datetime_on_a_layer_with_time_must_be_rfc3339(user_client, layer: str) -> None:  # noqa: ANN001
    for value in ("garbage", "2025-13-45", "2025", "2025-02-01/2025-01-01", "a/b/c", "../x"):
        response = user_client.get(f"/ogcapi/collections/{layer}/items", query_string={"f": "json", "datetime": value})
        assert response.status_code == 400, (value, response.get_data()[:300])
    for value in ("2025-06-01", "2025-06-01T08:00:00Z", "2025-06-01T08:00:00+08:00/..", "../2025-06-01"):
        response = user_client.get(f"/ogcapi/collections/{layer}/items", query_string={"f": "json", "datetime": value})
        assert response.status_code == 200, (value, response.get_data()[:300])


@pytest.mark.parametrize(("query", "words"), [
    ("bbox=0,0,0,0", "enclose an area"),
    ("bbox=119.0,32.0,118.9,31.9", "enclose an area"),
    ("bbox=0,0,1,1", "does not overlap"),
    ("bbox=nan,31.9,118.9,32.0", "finite"),
    ("bbox=118.8,31.9,inf,32.0", "finite"),
    ("bbox=1,2,3", "four"),
    ("bbox-crs=foo&bbox=118.8,31.9,118.9,32.0", "bbox-crs"),
    ("bbox-crs=99999999&bbox=118.8,31.9,118.9,32.0", "bbox-crs"),
    ("datetime=2025-01-01", "no temporal property"),
])
def test_coverage_requests_that_cannot_be_served_are_a_400(user_client, query: str, words: str) -> None:  # noqa: ANN001
    response = user_client.get(f"/ogcapi/collections/population/coverage?f=json&{query}")
    assert response.status_code == 400, response.get_data()[:300]
    assert words in response.get_json()["description"]
    inside = user_client.get("/ogcapi/collections/population/coverage?f=json&bbox=118.8,31.9,118.9,32.0")
    assert inside.status_code == 200 and inside.get_json()["type"] == "Coverage"


def _wrong_value(kind: str) -> str:
    return {"integer": "abc", "bigint": "1.5", "float": "x", "date": "2025-13-45", "datetime": "not a time",
            "boolean": "maybe"}[kind]


TYPED = ("integer", "bigint", "float", "date", "datetime")


@pytest.mark.parametrize("layer", [layer.id for layer in REGISTRY if any(f.type in TYPED for f in layer.fields)])
def test_ogcapi_property_filters_of_the_wrong_type_are_a_400(user_client, layer: str) -> None:  # noqa: ANN001
    for field in [f for f in REGISTRY.get(layer).fields if f.type in TYPED]:
        response = user_client.get(f"/ogcapi/collections/{layer}/items",
                                   query_string={"f": "json", field.name: _wrong_value(field.type)})
        assert response.status_code == 400, (field.name, response.get_data()[:300])
        assert response.get_json()["description"].startswith("a query value does not fit its property")


@pytest.mark.parametrize("process", sorted(load_policy().processes))
def test_process_execution_bodies_of_the_wrong_shape_are_a_400(user_client, process: str) -> None:  # noqa: ANN001
    url = f"/ogcapi/processes/{process}/execution"
    for body in (b"[]", b'"x"', b"1", b'{"inputs": []}', b'{"inputs": {}, "outputs": 5}',
                 b'{"inputs": {}, "response": "stream"}', b'{"inputs": {"x": NaN}}', b'{"inputs": {"x": "\\u0000"}}',
                 json.dumps({"inputs": {}, "subscriber": {"successUri": "http://127.0.0.1:9/"}}).encode()):
        response = user_client.post(url, data=body, content_type="application/json")
        assert response.status_code == 400, (body, response.get_data()[:300])
        assert response.get_json()["code"] == "InvalidParameterValue"
