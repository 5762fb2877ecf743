"""``/``: the one-map console, and its JSON API under ``/api/console/`` (thin: logic lives in the service modules).

Every endpoint hands the service the caller's :class:`~access.policy.rowscope.LayerAccess`: the gate only lets the
caller into the console; which layers and rows they get is decided per layer, exactly as on the OGC services.
"""

from __future__ import annotations

import datetime as dt
import math
from typing import Any

from flask import (
    Blueprint,
    Response,
    abort,
    current_app,
    jsonify,
    render_template,
    request,
    send_from_directory,
)
from flask.blueprints import BlueprintSetupState

from access import audit
from access.policy.rowscope import LayerAccess
from app.console import search, service, spatial, stats
from app.console.catalog import console_catalog
from core import i18n
from core.database import get_db
from core.errors import InvalidInput
from layers import labels

bp = Blueprint("console", __name__)


@bp.record_once
def _setup(state: BlueprintSetupState) -> None:
    """Run the declared panel-section registrations and select the live-event backend, once per app."""
    from app.console import sections
    from core import realtime_backends
    from core.manifest import collect, load

    sections.register()  # the console's own sections; each module adds its own through its manifest
    for reference in collect(state.app.config["ONEMAP"], "panel_sections"):
        load(reference)()
    realtime_backends.install(state.app.config["ONEMAP"], state.app)


def request_lang() -> str:
    """``?lang=`` wins, then Accept-Language; the default is Chinese."""
    if request.args.get("lang"):
        return i18n.normalise_lang(request.args["lang"])
    best = request.accept_languages.best_match(["zh-CN", "zh", "en"])
    return i18n.normalise_lang(best)


def app_root() -> str:
    return request.script_root.rstrip("/") + "/"


def page_boot(page: str) -> dict[str, Any]:
    """What a page's JavaScript starts from: language, strings, the caller's layer catalogue and permissions
    (``can``: ``{"modules": {name: [actions]}, "layers": {id: [actions]}}``, to show or hide actions), URLs."""
    access = LayerAccess.for_request()
    lang = i18n.normalise_lang(request.args.get("lang"))
    return {
        "page": page,
        "lang": lang,
        "strings": i18n.strings(lang),
        "enumLabels": labels.enum_labels(lang),
        "root": app_root(),
        "catalog": console_catalog(app_root(), access=access),
        "can": access.permissions(),
        "cityExtent": service.city_extent(get_db()),
    }


def float_arg(name: str, default: float | None = None) -> float:
    raw = request.args.get(name)
    if raw is None or raw == "":
        if default is None:
            raise InvalidInput(name, "a number", message_zh=f"缺少参数 {name}")
        return default
    try:
        number = float(raw)
    except ValueError:
        raise InvalidInput(name, "a number", value=raw) from None
    if not math.isfinite(number):  # float() reads "NaN" and "Infinity"; no parameter here means either
        raise InvalidInput(name, "a finite number", value=raw, details={"reason": "not finite"})
    return number


def console_scripts() -> list[str]:
    """The URLs of the console scripts of every active module (``Manifest.console_scripts``), in manifest order."""
    from core.manifest import collect, console_script_url

    return [app_root() + console_script_url(ref) for ref in collect(current_app.config["ONEMAP"], "console_scripts")]


def live_event_kinds() -> list[str]:
    """The kinds of live event (``incident`` of ``incident.created``) the active modules publish
    (``Manifest.realtime_topics``): the console re-reads its live layers when one arrives."""
    from core.manifest import collect

    return sorted({topic.split(".", 1)[0] for topic in collect(current_app.config["ONEMAP"], "realtime_topics")})


@bp.get("/")
def index() -> str:
    boot = page_boot("console")
    boot["plugins"] = console_scripts()  # main.js imports each (its plug-in interface: core/manifest.py)
    boot["liveEventKinds"] = live_event_kinds()
    return render_template("console/index.html", boot=boot, s=boot["strings"], lang=boot["lang"])


@bp.get("/static/modules/<package>/<path:filename>")
def module_static(package: str, filename: str) -> Response:
    """A module's console scripts, from its own package's ``static/`` folder. Only packages that an active manifest
    names in ``console_scripts`` are served: a package name in the URL never reaches any other folder."""
    from core.manifest import STATIC_DIR, collect, console_script_path, resource

    packages = {console_script_path(ref)[0] for ref in collect(current_app.config["ONEMAP"], "console_scripts")}
    if package not in packages:
        abort(404)
    return send_from_directory(resource(f"{package}:{STATIC_DIR}"), filename)


@bp.get("/api/console/layers")
def layers() -> Response:
    return jsonify(console_catalog(app_root(), access=LayerAccess.for_request()))


@bp.get("/api/console/features/<layer_id>/<int:feature_id>")
def feature(layer_id: str, feature_id: int) -> Response:
    return jsonify(service.feature_details(get_db(), layer_id, feature_id, request_lang(),
                                           access=LayerAccess.for_request()))


@bp.get("/api/console/identify")
def identify() -> Response:
    layers = service.parse_layer_list(request.args.get("layers"))
    hits = service.identify(get_db(), layers, float_arg("lon"), float_arg("lat"), float_arg("tolerance_m", 10.0),
                            access=LayerAccess.for_request())
    return jsonify({"features": hits})


@bp.get("/api/console/search")
def search_features() -> Response:
    limit = int(min(max(float_arg("limit", 20), 1), 100))
    return jsonify(search.search(get_db(), request.args.get("q"), request.args.get("crs"), limit,
                                 access=LayerAccess.for_request()))


@bp.post("/api/console/spatial-query")
def spatial_query() -> Response:
    return jsonify(spatial.spatial_query(get_db(), request.get_json(silent=True), request_lang(),
                                         access=LayerAccess.for_request()))


@bp.post("/api/console/spatial-query/export")
def spatial_export() -> Response:
    fmt = request.args.get("format", "csv")
    result = spatial.export(get_db(), request.get_json(silent=True), request_lang(), fmt,
                            access=LayerAccess.for_request())
    # The gate records that the console export was used; this record says what left: layers, rows, scopes.
    audit.record(action="export.features", environ=request.environ, object_type="layer",
                 object_id=",".join(result.rows), details={"source": "console.spatial_query", "format": fmt,
                                                            "rows": result.rows, "scopes": result.scopes})
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    response = Response(result.data, mimetype=result.mimetype)
    response.headers["Content-Disposition"] = f'attachment; filename="onemap-spatial-query-{stamp}.{fmt}"'
    return response


@bp.get("/api/console/stats")
def console_stats() -> Response:
    return jsonify(stats.console_stats(get_db(), request.args.get("district") or None,
                                       access=LayerAccess.for_request()))


@bp.get("/api/console/enterprise-grades")
def enterprise_grades() -> Response:
    response = jsonify(service.enterprise_grades(get_db(), access=LayerAccess.for_request()))
    # per caller now (the scope differs): a shared cache must never hand one caller's grades to another
    response.cache_control.max_age = 60
    response.cache_control.private = True
    return response
