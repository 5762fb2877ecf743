"""OneMap application factory."""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from typing import Any

from flask import Flask, Response, g, jsonify, request
from flask.json.provider import DefaultJSONProvider
from sqlalchemy.exc import OperationalError
from werkzeug.exceptions import HTTPException

from core.config import load_config
from core.errors import DomainError
from core.logs import configure_logging

log = logging.getLogger("onemap")

# The application's own pages and APIs; every module adds its blueprints through its manifest (core/manifest.py).
APP_BLUEPRINTS = (
    "app.health:bp",
    "app.apidoc:bp",
    "app.home:bp",
    "app.console.views:bp",
    "app.console.events:bp",
    "app.screen.views:bp",
)


class _RequestJSONProvider(DefaultJSONProvider):
    """``request.get_json()`` everywhere reads bodies through the one checked reader (core.jsonbody)."""

    ensure_ascii = False  # Chinese stays readable in JSON answers

    def loads(self, s: str | bytes, **kwargs: Any) -> Any:
        from core import jsonbody

        return jsonbody.loads(s)


def _problem(problem: dict[str, Any]) -> Response:
    response = jsonify(problem)
    response.status_code = problem["status"]
    response.mimetype = "application/problem+json"
    return response


def _lang() -> str:
    return request.accept_languages.best_match(["zh-CN", "zh", "en"]) or "zh-CN"


def _register_error_handlers(app: Flask) -> None:
    @app.errorhandler(DomainError)
    def domain_error(exc: DomainError) -> Response:
        return _problem(exc.to_problem(_lang()))

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException) -> Response:
        return _problem({"type": "about:blank", "title": exc.name, "status": exc.code or 500,
                         "detail": exc.description, "code": (exc.name or "error").lower().replace(" ", "_")})

    @app.errorhandler(OperationalError)
    def database_lost(exc: OperationalError) -> Response:
        # The server went away (restart, fail-over, network) or gave up on the statement: the transaction did not
        # commit (a commit that failed is not acknowledged), so the client may try again — a 503, not a 500.
        reason = str(exc.orig).strip().splitlines()[0] if exc.orig is not None else type(exc).__name__
        log.warning("database unavailable during a request: %s", reason,
                    extra={"path": request.path, "request_id": g.get("request_id")})
        response = _problem({"type": "about:blank", "title": "Service Unavailable", "status": 503,
                             "detail": "数据库暂时不可用，请稍后重试" if _lang() != "en" else
                             "the database is unavailable for the moment; try again shortly",
                             "code": "database_unavailable", "request_id": g.get("request_id")})
        response.headers["Retry-After"] = "5"
        return response

    @app.errorhandler(Exception)
    def unexpected(exc: Exception) -> Response:
        # Never leak a traceback to the client; the log has it, tied to the request id.
        log.exception("unhandled error", extra={"path": request.path, "request_id": g.get("request_id")})
        return _problem({"type": "about:blank", "title": "Internal Server Error", "status": 500,
                         "detail": "internal error; see the server log", "code": "internal_error",
                         "request_id": g.get("request_id")})


def _register_request_log(app: Flask) -> None:
    @app.before_request
    def start_timer() -> None:
        g.started = time.perf_counter()
        g.request_id = request.headers.get("X-Request-Id") or f"{time.time_ns():x}"

    @app.after_request
    def log_request(response: Response) -> Response:
        started = g.get("started")
        log.info("request", extra={
            "method": request.method, "path": request.path, "status": response.status_code,
            "ms": round((time.perf_counter() - started) * 1000, 1) if started else None,
            "remote": request.remote_addr, "request_id": g.get("request_id"),
        })
        response.headers["X-Request-Id"] = g.get("request_id", "")
        return response


def create_app(config: Mapping[str, Any] | None = None) -> Flask:
    """Build the WSGI application. ``config`` holds overrides on top of defaults, file and environment."""
    settings = load_config(overrides=config)
    configure_logging(settings["logging"]["level"], settings["logging"]["format"])
    app = Flask(__name__)
    from app.converters import RowIdConverter

    app.url_map.converters["int"] = RowIdConverter  # before any route: path ids are 32-bit keys
    app.config["ONEMAP"] = settings
    app.json = _RequestJSONProvider(app)
    _register_error_handlers(app)
    _register_request_log(app)

    from app import mounts
    from core import database
    from core.manifest import collect, load

    database.init_app(app)
    for reference in (*APP_BLUEPRINTS, *collect(settings, "blueprints")):
        app.register_blueprint(load(reference))
    mounts.mount_services(app, settings)
    # One policy decides every request, Flask routes and OGC mounts alike; authentication wraps around this.
    from access.policy.gate import PolicyGate
    from access.policy.rules import load_policy

    gate_mounts = app.extensions["onemap.gate_mounts"]  # each mount's adapter: how the gate reads and refuses it
    app.wsgi_app = PolicyGate(app.wsgi_app, load_policy(config=settings), settings=settings,  # type: ignore[method-assign]
                              mounts=gate_mounts)
    # Authentication is outermost: it sets environ["onemap.identity"] for the gate on every request (and answers
    # 401 to bad credentials, CSRF, rate limits, and audits every write, mounts included).
    from access.authn.middleware import AuthMiddleware

    app.wsgi_app = AuthMiddleware(app.wsgi_app, settings, mounts=gate_mounts)  # type: ignore[method-assign]
    from app.compress import Gzip

    app.wsgi_app = Gzip(app.wsgi_app, prefixes=("/ogcapi", "/ows"))  # type: ignore[method-assign]
    # Outermost: the security headers go on every response, the mounts' and every error included.
    from access import security_headers

    security_headers.init_app(app)
    return app
