"""Bad input on every route, as an anonymous caller and as a signed-in city-wide dispatcher: never a 5xx, and every
4xx is a well-formed error of its surface (problem+json on the REST API and pages, an OGC API exception on
/ogcapi, an OGC exception report on /ows). Routes are generated from the application (see bad_input_support).

One app per module on a private clone of the demo city: a value that is odd but allowed (a long description, null
for an optional field) may be stored, and the shared demo city must not change under the other modules.
Every layer's OGC API items under every role are the layer matrix's (test_layer_protocol_matrix.py); here one
sample collection stands for the route.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import pytest

from tests.system.bad_input_support import (
    BAD_VALUES,
    EACH_PARAM_VALUES,
    HUGE,
    INT64_OVER,
    ROLES,
    SESSION_ENDING,
    Route,
    error_body_problem,
    flask_routes,
    ogcapi_routes,
    ows_routes,
    tiles_routes,
    walk_app,
    walk_clients,
)

pytestmark = pytest.mark.system
BODY_METHODS = {"POST", "PUT", "PATCH", "DELETE"}


@pytest.fixture(scope="module")
def scratch_db(pg_cluster, template_url: str) -> Iterator[str]:  # noqa: ANN001
    from tests.conftest import clone_database, drop_database

    yield clone_database(pg_cluster, "t_bad_input_routes")
    drop_database(pg_cluster, "t_bad_input_routes")


@pytest.fixture(scope="module")
def app(scratch_db: str, demo_artifacts):  # noqa: ANN001, ANN201
    return walk_app(scratch_db, demo_artifacts)


@pytest.fixture(scope="module")
def clients(app) -> dict[str, Any]:  # noqa: ANN001
    return walk_clients(app)


@pytest.fixture(scope="module")
def routes(app, clients) -> list[Route]:  # noqa: ANN001
    anonymous = clients["anonymous"]
    api_doc = anonymous.get("/api/openapi.json").get_json()
    ogc_doc = json.loads(clients["dispatcher"].get("/ogcapi/openapi?f=json").get_data())
    found = [*flask_routes(app, api_doc), *ogcapi_routes(app, ogc_doc), *ows_routes(), *tiles_routes()]
    assert len({r.id for r in found}) > 100  # the inventory is generated, not a handful of examples
    return found


def _send(client: Any, route: Route, *, path: str | None = None, query: Any = None, body: bytes | None = None,
          content_type: str = "application/json") -> Any:
    query = {**route.fixed_query, **(query or {})} if not isinstance(query, str) else query
    response = client.open(path or route.path, method=route.method, query_string=query, data=body,
                           content_type=content_type if body is not None else None,
                           headers={"Accept": "application/json"})
    if response.status_code >= 400:
        response.get_data()
    return response


def _judge(failures: list[str], route: Route, what: str, response: Any, exact: int | None = None) -> None:
    status = response.status_code
    try:
        if status >= 500 or (exact is not None and status != exact):
            # never read an answer that may not end (an event stream that accepted the request)
            streaming = (response.headers.get("Content-Type") or "").startswith("text/event-stream")
            shown = response.headers.get("Content-Type") if streaming else response.get_data()[:200]
            failures.append(f"{route.id} [{what}]: {status} {shown!r}")
        elif status >= 400 and (problem := error_body_problem(route.surface, response)):
            failures.append(f"{route.id} [{what}]: {status} {problem}")
    finally:
        response.close()


def _run_for(role: str, routes: list[Route]) -> Iterator[Route]:
    for route in routes:
        if role == "dispatcher" and (route.method, route.path) in SESSION_ENDING:
            continue
        yield route


@pytest.mark.parametrize("role", ROLES)
def test_nul_bytes_in_path_and_query_are_refused_on_every_route(clients, routes, role: str) -> None:  # noqa: ANN001
    client, failures = clients[role], []
    for route in _run_for(role, routes):
        _judge(failures, route, "NUL in query", _send(client, route, query={"q": "a\x00b"}), exact=400)
        for template, sample in route.string_slots:
            path = template.format(quote(sample[:1] + "\x00" + sample[1:]))
            _judge(failures, route, "NUL in path", _send(client, route, path=path), exact=400)
    assert not failures, "\n".join(failures)


@pytest.mark.parametrize("role", ROLES)
def test_odd_numbers_strings_and_ids_never_get_a_5xx(clients, routes, role: str) -> None:  # noqa: ANN001
    client, failures = clients[role], []
    for route in _run_for(role, routes):
        params = list(route.params)
        _judge(failures, route, "unknown parameter", _send(client, route, query={"__unknown__": "1"}))
        for value in BAD_VALUES:  # every declared parameter at once
            _judge(failures, route, f"all={value[:12]}", _send(client, route, query={p: value for p in params}))
        # the overflowing values one parameter at a time (nothing else fails first), on the JSON APIs and pages;
        # the OGC mounts get them all at once above (each of their requests starts a service: time is bounded)
        for param in params if route.surface in ("rest", "page") else ():
            for value in EACH_PARAM_VALUES:
                _judge(failures, route, f"{param}={value[:12]}", _send(client, route, query={param: value}))
        for template in route.int_slots:
            for value in (INT64_OVER, "2147483648"):
                _judge(failures, route, f"id {value[:12]}", _send(client, route, path=template.format(value)))
        for template, _sample in route.string_slots:
            _judge(failures, route, "huge path segment", _send(client, route, path=template.format(quote(HUGE))))
    assert not failures, "\n".join(failures)


def _bodies(route: Route) -> Iterator[tuple[str, bytes, str, int | None]]:
    """(label, body, content type, exact status or None)."""
    yield "nested 100000", b"[" * 100_000 + b"]" * 100_000, "application/json", 400
    yield "nested 40", b'{"a":' * 40 + b"1" + b"}" * 40, "application/json", 400
    for label, text in (("NaN", '{"x": NaN}'), ("Infinity", '{"x": -Infinity}'), ("1e400", '{"x": 1e400}'),
                        ("int64+", f'{{"x": {INT64_OVER}}}'), ("NUL", '{"x": "a\\u0000b"}'),
                        ("truncated", '{"x": '), ("array", "[]"), ("string", '"x"'), ("number", "1"),
                        ("null", "null"), ("true", "true"), ("utf-16", None)):
        yield label, (text.encode() if text is not None else '{"x": 1}'.encode("utf-16")), "application/json", None
    for prop in route.body_props:
        for wrong in ({}, [], HUGE, (1 << 63) - 1):  # NaN, NUL, null, … per body above, in field "x"
            yield f"{prop}={json.dumps(wrong)[:12]}", json.dumps({prop: wrong}).encode(), "application/json", None
    fields = ("name", "username", "password", "code", "days", "scopes", "roles", "current_password",
              "new_password", "display_name", "note")
    for value in ("a\x00b", HUGE):
        form = "&".join(f"{f}={quote(value)}" for f in fields)
        yield f"form {value[:8]!r}", form.encode(), "application/x-www-form-urlencoded", None


@pytest.mark.parametrize("role", ROLES)
def test_malformed_bodies_never_get_a_5xx(clients, routes, role: str) -> None:  # noqa: ANN001
    client, failures = clients[role], []
    for route in _run_for(role, routes):
        if route.method not in BODY_METHODS:
            continue
        for label, body, content_type, exact in _bodies(route):
            if exact is not None and route.surface in ("ows", "tiles"):
                exact = None  # JSON is not what these speak: any 4xx of theirs will do
            _judge(failures, route, label, _send(client, route, body=body, content_type=content_type), exact)
    assert not failures, "\n".join(failures)
