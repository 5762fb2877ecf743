"""OGC API (pygeoapi) as a WSGI app built from a config dict — no import-time globals.

``pygeoapi.flask_app`` reads ``PYGEOAPI_CONFIG`` when imported and builds its app then, once per process. Here the
same pygeoapi API core (which returns ``(headers, status, content)`` and knows nothing of Flask) is driven by a
factory, so each OneMap app (and each test) gets its own configuration.
"""

from __future__ import annotations

import copy
import threading
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pygeoapi
import pygeoapi.api as core_api
import pygeoapi.api.coverages as coverages_api
import pygeoapi.api.itemtypes as itemtypes_api
import pygeoapi.api.processes as processes_api
import pygeoapi.api.tiles as tiles_api
from flask import Flask, Response, make_response, request
from pygeoapi.api import API, APIRequest, apply_gzip

from access.policy.rules import current_authz
from mapserver import ogcapi_checks, pygeoapi_csp, pygeoapi_l10n, pygeoapi_patches

PYGEOAPI_STATIC = Path(pygeoapi.__file__).with_name("static")


def _rebased(node: Any, old: str, new: str) -> Any:
    """``node`` (config, OpenAPI document) with every URL under ``old`` moved under ``new``."""
    if isinstance(node, str):
        return new + node[len(old):] if node.startswith(old) and node[len(old):len(old) + 1] in ("", "/", "?", "#") \
            else node
    if isinstance(node, dict):
        return {k: _rebased(v, old, new) for k, v in node.items()}
    if isinstance(node, list):
        return [_rebased(v, old, new) for v in node]
    return node


class _Bases:
    """Views of ``api`` for the public base of each request (mapserver/public_base.py).

    pygeoapi builds every link from the ``server.url`` of its configuration, fixed when the configuration was
    generated. A view is the same API with that URL -- and every URL under it in the configuration and the OpenAPI
    document -- moved to the request's base; the few bases a server sees are kept (at most ``MAX_VIEWS``).
    """

    MAX_VIEWS = 16

    def __init__(self, api: API) -> None:
        self.api = api
        self.root = api.config["server"]["url"].rstrip("/").removesuffix("/ogcapi")
        self.views: OrderedDict[str, API] = OrderedDict()
        self.lock = threading.Lock()

    def __call__(self, base_url: str) -> API:
        base_url = base_url.rstrip("/")
        if base_url == self.api.base_url:
            return self.api
        with self.lock:
            if (view := self.views.get(base_url)) is not None:
                self.views.move_to_end(base_url)
                return view
        root = base_url.removesuffix("/ogcapi")
        view = copy.copy(self.api)
        view.config = _rebased(self.api.config, self.root, root)
        view.tpl_config = _rebased(self.api.tpl_config, self.root, root)
        view.openapi = _rebased(self.api.openapi, self.root, root)
        view.base_url = base_url
        with self.lock:
            self.views[base_url] = view
            while len(self.views) > self.MAX_VIEWS:
                self.views.popitem(last=False)
        return view


def _execute(bases: _Bases, fn: Callable, *args: Any, validate: bool = True, caller_view: bool = False) -> Response:
    api = bases(request.url_root)
    if caller_view:
        api = _for_caller(api)
    api_request = APIRequest.from_flask(request, api.locales)
    if validate and not api_request.is_valid():
        headers, status, content = api.get_format_exception(api_request)
    elif problem := ogcapi_checks.check(fn, api, request.args, request.get_data(cache=True) if request.method in
                                        ("POST", "PUT") else None, args):
        headers = api_request.get_response_headers(**api.api_headers)
        headers, status, content = api.get_exception(problem[0], headers, api_request.format, *problem[1:])
    else:
        headers, status, content = fn(api, api_request, *args)
        content = apply_gzip(headers, ogcapi_checks.complete_exception(fn, status, content))
    response = make_response(content, status)
    if headers:
        response.headers = headers
    return response


def _for_caller(api: API) -> API:
    """A per-request view of ``api`` whose /collections lists only what the caller may read (the policy gate has
    already refused every other route to a hidden collection). Without the gate nothing is listed."""
    authz = current_authz()

    def keep(name: str, resource: dict[str, Any]) -> bool:
        if resource.get("type") != "collection":
            return True
        if authz is None:
            return False
        kind = "coverage" if any(p.get("type") == "coverage" for p in resource.get("providers", [])) else "layer"
        return authz.can("read", kind, name)

    view = copy.copy(api)
    view.config = {**api.config, "resources": {k: v for k, v in api.config["resources"].items() if keep(k, v)}}
    return view


def make_ogcapi_app(config: dict[str, Any], openapi: dict[str, Any], static_folder: Path | None = None) -> Flask:
    """A Flask app answering the OGC API routes of pygeoapi for ``config`` (mount it at ``/ogcapi``)."""
    pygeoapi_patches.install()
    pygeoapi_l10n.install()
    pygeoapi_csp.install()
    api = API(config, openapi)
    bases = _Bases(api)
    app = Flask("onemap.ogcapi", static_folder=str(static_folder or PYGEOAPI_STATIC), static_url_path="/static")
    app.url_map.strict_slashes = False

    def route(rule: str, fn: Callable, *, methods: tuple[str, ...] = ("GET",), validate: bool = True,
              endpoint: str | None = None) -> None:
        def view(**kwargs: Any) -> Response:
            return _execute(bases, fn, *kwargs.values(), validate=validate)

        app.add_url_rule(rule, endpoint or rule, view, methods=list(methods))

    route("/", core_api.landing_page)
    route("/openapi", core_api.openapi_)
    route("/conformance", core_api.conformance)
    route("/TileMatrixSets", tiles_api.tilematrixsets)
    route("/TileMatrixSets/<tileMatrixSetId>", tiles_api.tilematrixset)

    @app.route("/collections")
    def collections() -> Response:
        return _execute(bases, core_api.describe_collections, caller_view=True)

    route("/collections/<path:collection_id>", core_api.describe_collections)
    route("/collections/<path:collection_id>/schema", core_api.get_collection_schema)
    route("/collections/<path:collection_id>/queryables", itemtypes_api.get_collection_queryables)
    route("/collections/<path:collection_id>/coverage", coverages_api.get_collection_coverage, validate=False)
    route("/collections/<path:collection_id>/tiles", tiles_api.get_collection_tiles)
    route("/collections/<path:collection_id>/tiles/<tileMatrixSetId>", tiles_api.get_collection_tiles_metadata,
          validate=False)
    route("/collections/<path:collection_id>/tiles/<tileMatrixSetId>/metadata",
          tiles_api.get_collection_tiles_metadata, validate=False, endpoint="tiles_metadata")
    route("/collections/<path:collection_id>/tiles/<tileMatrixSetId>/<tileMatrix>/<tileRow>/<tileCol>",
          tiles_api.get_collection_tiles_data, validate=False)
    route("/processes", processes_api.describe_processes)
    route("/processes/<process_id>", processes_api.describe_processes)
    route("/processes/<process_id>/execution", processes_api.execute_process, methods=("POST",))
    route("/jobs", processes_api.get_jobs)

    @app.route("/jobs/<job_id>", methods=["GET", "DELETE"])
    def jobs(job_id: str) -> Response:
        fn = processes_api.delete_job if request.method == "DELETE" else processes_api.get_jobs
        return _execute(bases, fn, job_id)

    @app.route("/jobs/<job_id>/results")
    def job_results(job_id: str) -> Response:
        return _execute(bases, processes_api.get_job_result, job_id)

    @app.route("/collections/<path:collection_id>/items", methods=["GET", "POST", "OPTIONS"],
               provide_automatic_options=False)
    def items(collection_id: str) -> Response:
        if request.method == "POST" and request.content_type == "application/geo+json":
            return _execute(bases, itemtypes_api.manage_collection_item, "create", collection_id, validate=False)
        if request.method == "OPTIONS":
            return _execute(bases, itemtypes_api.manage_collection_item, "options", collection_id, validate=False)
        return _execute(bases, itemtypes_api.get_collection_items, collection_id, validate=False)

    @app.route("/collections/<path:collection_id>/items/<path:item_id>",
               methods=["GET", "PUT", "DELETE", "OPTIONS"], provide_automatic_options=False)
    def item(collection_id: str, item_id: str) -> Response:
        actions = {"PUT": "update", "DELETE": "delete", "OPTIONS": "options"}
        if request.method in actions:
            return _execute(bases, itemtypes_api.manage_collection_item, actions[request.method], collection_id,
                            item_id, validate=False)
        return _execute(bases, itemtypes_api.get_collection_item, collection_id, item_id)

    return app
