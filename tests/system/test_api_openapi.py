"""The OpenAPI documents are complete and usable offline (issue 11, defect 14).

* /api/openapi.json describes exactly the application's JSON routes: every /api route of the url_map (and
  /healthz) is in it with its methods, and it names nothing the application does not serve (docs as tests);
* pygeoapi's document at /ogcapi/openapi references nothing outside itself, and every reference resolves.
Both are valid OpenAPI 3.0 (checked against the OpenAPI 3.0 JSON Schema that pygeoapi ships).
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import jsonschema
import pygeoapi
import pytest

from mapserver.openapi_bundle import external_refs

pytestmark = pytest.mark.system
OPENAPI_30_SCHEMA = Path(pygeoapi.__file__).parent / "resources" / "schemas" / "openapi" / "openapi-3.0.x.json"
DOCUMENTED_OUTSIDE_API = ("/healthz",)


def _template(rule: str) -> str:
    return re.sub(r"<(?:[^:<>]+:)?(\w+)>", r"{\1}", rule)


def _served(app: Any) -> set[tuple[str, str]]:
    return {(_template(rule.rule), method) for rule in app.url_map.iter_rules()
            if rule.rule.startswith("/api/") or rule.rule in DOCUMENTED_OUTSIDE_API
            for method in rule.methods - {"HEAD", "OPTIONS"}}


def _documented(doc: dict[str, Any]) -> set[tuple[str, str]]:
    return {(path, method.upper()) for path, item in doc["paths"].items() for method in item
            if method in ("get", "put", "post", "delete", "patch")}


def _valid_openapi_30(doc: dict[str, Any]) -> list[str]:
    schema = json.loads(OPENAPI_30_SCHEMA.read_text(encoding="utf-8"))
    return [f"{list(e.path)}: {e.message[:200]}" for e in jsonschema.Draft4Validator(schema).iter_errors(doc)]


def _resolve(doc: dict[str, Any], ref: str) -> Any:
    node: Any = doc
    for part in ref.removeprefix("#/").split("/"):
        part = part.replace("~1", "/").replace("~0", "~")
        assert isinstance(node, dict) and part in node, f"{ref} does not resolve"
        node = node[part]
    return node


def _refs(doc: Any) -> set[str]:
    found, stack = set(), [doc]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            if isinstance(node.get("$ref"), str):
                found.add(node["$ref"])
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)
    return found


def test_every_json_route_is_documented_and_nothing_else(demo_app) -> None:  # noqa: ANN001
    response = demo_app.test_client().get("/api/openapi.json")  # anonymous: the document is public
    assert response.status_code == 200 and response.mimetype == "application/json"
    doc = response.get_json()
    served, documented = _served(demo_app), _documented(doc)
    assert len(served) > 40
    assert served - documented == set(), "routes missing from /api/openapi.json"
    assert documented - served == set(), "documented routes the application does not serve"
    assert _valid_openapi_30(doc) == []
    assert all(ref.startswith("#/") for ref in _refs(doc)) and all(_resolve(doc, r) for r in _refs(doc))


def test_the_documents_are_linked_from_the_service_index_and_the_readme(demo_app) -> None:  # noqa: ANN001
    page = demo_app.test_client().get("/services").get_data(as_text=True)
    assert 'href="api/openapi.json"' in page and 'href="ogcapi/openapi?f=json"' in page
    readme = (Path(__file__).parents[2] / "README.md").read_text(encoding="utf-8")
    assert "`/api/openapi.json`" in readme


def test_path_enums_follow_the_registry(demo_app) -> None:  # noqa: ANN001
    from emergency.models import resource_layers
    from layers.registry import default_registry

    params = demo_app.test_client().get("/api/openapi.json").get_json()["components"]["parameters"]
    assert params["layer_id"]["schema"]["enum"] == default_registry().ids
    assert params["kind"]["schema"]["enum"] == list(resource_layers())


def test_pygeoapis_document_needs_nothing_from_outside(user_client) -> None:  # noqa: ANN001
    response = user_client.get("/ogcapi/openapi?f=json")
    assert response.status_code == 200
    doc = json.loads(response.get_data())
    assert external_refs(doc) == []
    refs = _refs(doc)
    assert len(refs) > 50  # the OGC responses, parameters and schemas are referenced, now from inside
    for ref in refs:
        assert _resolve(doc, ref) is not None
    embedded = doc["components"]["responses"]["ogcapi-features-1.Features"]
    assert embedded["content"]["application/geo+json"]["schema"]["$ref"] == \
        "#/components/schemas/ogcapi-features-1.featureCollectionGeoJSON"
    assert _valid_openapi_30(doc) == []


def test_a_reference_without_a_local_copy_fails_the_build() -> None:
    from mapserver.openapi_bundle import BundleError, bundle

    doc = {"openapi": "3.0.2", "info": {"title": "t", "version": "1"},
           "paths": {"/x": {"get": {"responses": {"200": {"$ref": "https://schemas.opengis.net/nowhere.yaml"}}}}}}
    with pytest.raises(BundleError, match="nowhere.yaml"):
        bundle(doc)
    doc["paths"]["/x"]["get"]["responses"]["200"]["$ref"] = "https://example.org/other.yaml"
    with pytest.raises(BundleError, match="no local copy"):
        bundle(doc)
