"""Flask helpers shared by the authentication and administration blueprints."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from flask import Flask, Response, current_app, jsonify, redirect, request
from sqlalchemy.engine import Connection
from werkzeug.wrappers import Response as WerkzeugResponse

from access import audit
from access.audit import CLIENT_IP_KEY, AuditEvent
from access.authn.middleware import SESSION_KEY
from access.authn.sessions import Session
from access.authn.totp_keys import TotpKeyError
from access.errors import Forbidden, TooManyRequests, Unauthenticated
from access.policy import browser
from access.settings import AuthSettings
from core.errors import DomainError, InvalidInput
from core.identity import ROLES, Identity, current_identity

log = logging.getLogger(__name__)


def setup(app: Flask) -> None:
    """Once per application (from a blueprint's ``record_once``): settings and template helpers."""
    if "ONEMAP_AUTH" in app.config:
        return
    app.config["ONEMAP_AUTH"] = AuthSettings.from_config(app.config["ONEMAP"])

    @app.context_processor
    def auth_template_helpers() -> dict[str, Any]:
        return {"csrf_token": csrf_token, "current_identity": current_identity, "role_label": role_label}

    @app.errorhandler(Unauthenticated)
    @app.errorhandler(Forbidden)
    def refused(exc: DomainError) -> WerkzeugResponse:
        # A person in a browser gets the sign-in page or an HTML page; scripts get problem+json as everywhere.
        if not request.path.startswith("/api/") and browser.wants_html(request.environ):
            if exc.http_status == 401 and browser.is_navigation(request.environ):
                return redirect(browser.login_location(browser.requested_path(request.environ)), 303)
            page = browser.page_body(exc.http_status, exc.message(_lang()), request.environ)
            return Response(page, exc.http_status, mimetype="text/html", headers={"Cache-Control": "no-store"})
        response = jsonify(exc.to_problem(_lang()))
        response.status_code, response.mimetype = exc.http_status, "application/problem+json"
        return response

    @app.errorhandler(TotpKeyError)
    def key_unavailable(exc: TotpKeyError) -> Response:
        record_key_error(exc)
        response = jsonify(exc.to_problem(_lang()))
        response.status_code, response.mimetype = exc.http_status, "application/problem+json"
        return response

    @app.errorhandler(TooManyRequests)
    def too_many(exc: TooManyRequests) -> Response:
        response = jsonify(exc.to_problem(_lang()))
        response.status_code, response.mimetype = exc.http_status, "application/problem+json"
        response.headers["Retry-After"] = str(exc.retry_after)
        return response


def _lang() -> str:
    return request.accept_languages.best_match(["zh-CN", "zh", "en"]) or "zh-CN"


def record_key_error(exc: TotpKeyError) -> None:
    """Audit a sign-in stopped by the TOTP key (after its transaction rolled back, in one of its own)."""
    try:
        audit.record(AuditEvent("auth.totp", "failed", object_type="user", object_id=exc.user_id,
                                user_id=exc.user_id, username=exc.username, details={"reason": "totp_key_error"}))
    except Exception:  # the 503 must still reach the user; the log has the cause
        log.exception("could not audit a TOTP key error")


def settings() -> AuthSettings:
    return current_app.config["ONEMAP_AUTH"]


def role_label(role: str) -> str:
    return ROLES.get(role, {}).get("zh-CN", role)


def step_session() -> Session | None:
    """The session of the request's cookie, at any stage (None when there is none or it is invalid)."""
    return request.environ.get(SESSION_KEY)


def csrf_token() -> str:
    session = step_session()
    return session.csrf_token if session else ""


def client_ip() -> str:
    return request.environ.get(CLIENT_IP_KEY) or request.remote_addr or "0.0.0.0"


def user_agent() -> str | None:
    return request.headers.get("User-Agent")


@contextmanager
def transaction() -> Iterator[Connection]:
    from core.database import engine

    with engine().begin() as conn:
        yield conn


def require_person(*roles: str) -> Identity:
    """The signed-in person (a session, not a token) holding one of ``roles`` (any role when none given).

    The policy gate decides first; this is the module's own check of 三权分立, so that a policy mistake
    cannot hand the user administration to the auditor or the audit log to the security administrator.
    """
    identity = current_identity()
    if not identity.authenticated:
        raise Unauthenticated("sign in first", "请先登录")
    if identity.method != "session" or (roles and not identity.has_role(*roles)):
        audit.record(AuditEvent("access.denied", "denied", object_type="route", object_id=request.path,
                                details={"needs": list(roles), "method": identity.method}))
        raise Forbidden("not allowed for this account", "当前账号无权执行此操作")
    return identity


def json_body() -> dict[str, Any]:
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise InvalidInput("body", "a JSON object (Content-Type: application/json)",
                           "the request body must be a JSON object", "请求体必须是 JSON 对象")
    return body


def text_field(body: Any, name: str, *, max_len: int = 200, required: bool = True) -> str | None:
    value = body.get(name)
    if value is None or value == "":
        if required:
            raise InvalidInput(name, f"a string of 1–{max_len} characters", f"'{name}' is required",
                               f"缺少 '{name}'")
        return None
    if not isinstance(value, str) or len(value) > max_len:
        raise InvalidInput(name, f"a string of at most {max_len} characters", value=None)
    return value


def safe_next(target: str | None) -> str:
    """Only same-site paths: an open redirect after sign-in is a phishing tool."""
    return browser.safe_next(target)
