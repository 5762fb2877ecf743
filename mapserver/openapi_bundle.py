"""Make pygeoapi's OpenAPI document self-contained: every external ``$ref`` becomes a local ``#/components/…`` one.

pygeoapi refers to the OGC schemas on schemas.opengis.net and GitHub, which an offline installation cannot reach.
The referenced parts are taken from the local copies in ``mapserver/ogc_schemas`` (see its README for provenance)
and embedded under ``components``, named after the document they come from (``ogcapi-features-1.Features``).
References inside an embedded part (to its own document, or relative to another file) are followed the same way,
so recursive schemas (CQL2) stay references. A reference to a document there is no local copy of fails the build:
a new pygeoapi version must not silently bring back an unreachable reference.
"""

from __future__ import annotations

import copy
import json
import posixpath
import re
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import urljoin

from core.yamlload import parse

SCHEMAS_DIR = Path(__file__).with_name("ogc_schemas")
# URL prefix → directory of its local copy
LOCAL_COPIES: dict[str, str] = {
    "https://schemas.opengis.net/": "opengis/",
    "http://schemas.opengis.net/": "opengis/",
    "https://raw.githubusercontent.com/opengeospatial/ogcapi-records/master/": "ogcapi-records/",
    "https://raw.githubusercontent.com/opengeospatial/ogcapi-coverages/refs/heads/master/": "ogcapi-coverages/",
}
COMPONENT_KINDS = ("schemas", "responses", "parameters", "examples", "requestBodies", "headers", "links",
                   "callbacks", "securitySchemes")
# the kind of component a whole file is, by the folder it sits in (OGC's modular layout)
_FOLDER_KIND = {"schemas": "schemas", "responses": "responses", "parameters": "parameters"}
_NOT_SCHEMA_KEYS = {"$defs", "definitions", "$comment", "$schema", "$id"}
# names of the documents split into one file per component (the others are named by their file)
_MODULAR = {"opengis/ogcapi/processes/part1/1.0/openapi/": "ogcapi-processes-1",
            "ogcapi-records/core/openapi/": "ogcapi-records-1"}


class BundleError(ValueError):
    """A reference that cannot be resolved from the local copies."""


@cache
def _load(relative: str) -> Any:
    path = SCHEMAS_DIR / relative
    if not path.is_file():
        raise BundleError(f"no local copy of {relative!r} in {SCHEMAS_DIR} (see its README.md)")
    text = path.read_text(encoding="utf-8")
    return json.loads(text) if path.suffix == ".json" else parse(text)


def _local(url: str) -> str | None:
    for prefix, folder in LOCAL_COPIES.items():
        if url.startswith(prefix):
            return folder + url[len(prefix):]
    return None


def _pointer(doc: Any, fragment: str, where: str) -> Any:
    node = doc
    for part in [p for p in fragment.split("/") if p]:
        part = part.replace("~1", "/").replace("~0", "~")
        if not isinstance(node, dict) or part not in node:
            raise BundleError(f"{where}: #{fragment} does not exist in the local copy")
        node = node[part]
    return node


class _Bundler:
    def __init__(self, doc: dict[str, Any]) -> None:
        self.doc = doc
        self.components = doc.setdefault("components", {})
        self.names: dict[tuple[str, str], str] = {}

    def _kind_and_name(self, relative: str, fragment: str) -> tuple[str, str]:
        stem = posixpath.splitext(posixpath.basename(relative))[0]
        parts = [p for p in fragment.split("/") if p]
        if len(parts) == 3 and parts[0] == "components" and parts[1] in COMPONENT_KINDS:
            return parts[1], f"{stem}.{parts[2]}"
        if parts:  # e.g. #/$defs/booleanExpression in a JSON Schema document
            return "schemas", f"{stem}.{parts[-1]}"
        folder = posixpath.basename(posixpath.dirname(relative))
        tag = next((t for prefix, t in _MODULAR.items() if relative.startswith(prefix)), None)
        return _FOLDER_KIND.get(folder, "schemas"), f"{tag}.{stem}" if tag else stem

    def ref(self, relative: str, fragment: str) -> str:
        """The local ref for ``relative#fragment``, embedding it (and what it references) the first time."""
        key = (relative, fragment)
        if key not in self.names:
            kind, name = self._kind_and_name(relative, fragment)
            taken = self.components.setdefault(kind, {})
            base, n = name, 2
            while name in taken:  # a component of pygeoapi's own, or a same-named one from another document
                name, n = f"{base}.{n}", n + 1
            self.names[key] = f"#/components/{kind}/{name}"
            taken[name] = {}  # reserved before recursing: recursive schemas end in a ref to it
            node = copy.deepcopy(_pointer(_load(relative), fragment, relative))
            if not fragment and isinstance(node, dict):
                node = {k: v for k, v in node.items() if k not in _NOT_SCHEMA_KEYS}
            taken[name] = self.rewrite(node, relative)
        return self.names[key]

    def rewrite(self, node: Any, base: str | None) -> Any:
        """``node`` with every ``$ref`` local; ``base`` is the local copy it comes from (None: the document)."""
        if isinstance(node, list):
            return [self.rewrite(v, base) for v in node]
        if not isinstance(node, dict):
            return node
        out = {k: self.rewrite(v, base) for k, v in node.items() if k != "$ref"}
        target = node.get("$ref")
        if isinstance(target, str):
            out["$ref"] = self._resolve(target, base)
        return out

    def _resolve(self, target: str, base: str | None) -> str:
        address, _, fragment = target.partition("#")
        if not address:
            return target if base is None else self.ref(base, fragment)
        if re.match(r"^[a-z][a-z0-9+.-]*:", address, re.I):
            relative = _local(address)
            if relative is None:
                raise BundleError(f"no local copy for the external reference {target!r}")
        elif base is not None:
            relative = posixpath.normpath(urljoin(base, address))
        else:
            raise BundleError(f"relative reference {target!r} in the document itself")
        return self.ref(relative, fragment)


OAPIF1 = "https://schemas.opengis.net/ogcapi/features/part1/1.0/openapi/ogcapi-features-1.yaml"


def correct_pygeoapi(doc: dict[str, Any]) -> dict[str, Any]:
    """Fix what pygeoapi's generated document gets wrong (found by schemathesis, tests/system/test_schemathesis.py):
    ``/conformance`` is declared with the landing page's response, so every conformance declaration "violates"
    it (no ``links``); OGC API - Features declares it with ``ConformanceDeclaration``. And the tileset list of a
    collection is described by a draft schema its answers never match."""
    conformance = doc.get("paths", {}).get("/conformance", {}).get("get", {}).get("responses", {})
    if conformance.get("200", {}).get("$ref", "").endswith("/responses/LandingPage"):
        conformance["200"] = {"$ref": f"{OAPIF1}#/components/responses/ConformanceDeclaration"}
    # pygeoapi's "tiles" schema is the draft's (tileMatrixSetLinks); it answers with OGC API - Tiles 1.0
    # (OGC 20-057) tileset lists: {"links": [...], "tilesets": [...]}
    schemas = doc.get("components", {}).get("schemas", {})
    if "tileMatrixSetLinks" in schemas.get("tiles", {}).get("required", []):
        links = schemas["tiles"].get("properties", {}).get("links", {"type": "array", "items": {"type": "object"}})
        schemas["tiles"] = {"type": "object", "required": ["tilesets"], "properties": {
            "links": links,
            "tilesets": {"type": "array", "items": {"type": "object", "required": ["links"], "properties": {
                "title": {"type": "string"}, "dataType": {"type": "string"}, "crs": {"type": "string"},
                "tileMatrixSetURI": {"type": "string"}, "links": links}}}}}
    return doc


def bundle(doc: dict[str, Any]) -> dict[str, Any]:
    """A copy of the OpenAPI document ``doc`` whose references all point into itself."""
    bundler = _Bundler(copy.deepcopy(doc))
    bundler.doc["paths"] = bundler.rewrite(bundler.doc.get("paths", {}), None)
    for entries in list(bundler.components.values()):
        for name in list(entries):  # embedded ones are local already: rewriting them again changes nothing
            entries[name] = bundler.rewrite(entries[name], None)
    return bundler.doc


def external_refs(doc: Any) -> list[str]:
    """Every ``$ref`` in ``doc`` that does not point into the document itself."""
    found: list[str] = []
    stack = [doc]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            ref = node.get("$ref")
            if isinstance(ref, str) and not ref.startswith("#"):
                found.append(ref)
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)
    return found


__all__ = ["BundleError", "bundle", "correct_pygeoapi", "external_refs"]
