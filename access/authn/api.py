"""The JSON sign-in API under /api/auth (used by the console, scripts and tests).

    POST /api/auth/login        {username, password, totp?, recovery_code?}
    POST /api/auth/totp         {code | recovery_code}          (after 401 totp_required)
    GET  /api/auth/totp/enrol   → {secret, otpauth_uri, qr_svg}   POST {code} → {recovery_codes}
    POST /api/auth/password     {current_password, new_password}
    POST /api/auth/logout
    GET  /api/auth/me
    GET/POST /api/auth/tokens   DELETE /api/auth/tokens/<id>

Every answer that opens a (step) session sets the cookie and returns its ``csrf_token``: the next unsafe request
on that cookie must send it as ``X-CSRF-Token``.
"""

from __future__ import annotations

from datetime import timedelta
from functools import cache
from typing import Any

from flask import Blueprint, Response, jsonify, request

from access import audit, web
from access.audit import AuditEvent
from access.authn import login, sessions, tokens, totp
from access.authn.login import Outcome
from access.authn.users import get_user, public_view
from access.errors import TooManyRequests, Unauthenticated
from core.errors import DomainError, InvalidInput
from core.identity import ROLES, Identity, current_identity

bp = Blueprint("auth_api", __name__, url_prefix="/api/auth")
bp.record_once(lambda state: web.setup(state.app))

_STEP_CODES = {"totp": (401, "totp_required", "a TOTP code (or a recovery code) is required", "请输入动态口令"),
               "enrol": (403, "totp_enrolment_required", "enrol a TOTP authenticator first: GET /api/auth/totp/enrol",
                         "请先绑定动态口令（TOTP）"),
               "password": (403, "password_change_required", "the password must be changed: POST /api/auth/password",
                            "口令已过期或须修改，请修改口令")}
_FAILURES = {"invalid": (401, "invalid_credentials", "wrong user name or password", "用户名或口令错误"),
             "invalid_code": (401, "invalid_totp", "wrong or already used code", "动态口令错误或已使用"),
             "bad_input": (400, "invalid_input", "invalid input", "输入无效")}


def _lang() -> str:
    return request.accept_languages.best_match(["zh-CN", "zh", "en"]) or "zh-CN"


def _answer(outcome: Outcome) -> Response:
    if outcome.status == "locked":
        raise TooManyRequests("too many failed attempts; try again later", "失败次数过多，请稍后重试",
                              outcome.retry_after, code="locked")
    if outcome.status in _FAILURES:
        status, code, en, zh = _FAILURES[outcome.status]
        raise DomainError(en, zh, http_status=status, code=code)
    if outcome.status == "ok":
        body: dict[str, Any] = {"status": "ok", "user": public_view(outcome.user)}
        status = 200
    else:
        status, code, en, zh = _STEP_CODES[outcome.status]
        body = {"status": outcome.status, "code": code, "detail": zh if _lang().startswith("zh") else en}
    if outcome.session is not None:
        body["csrf_token"] = outcome.session.csrf_token
    response = jsonify(body)
    response.status_code = status
    response.headers["Cache-Control"] = "no-store"
    if outcome.cookie is not None:
        response.headers["Set-Cookie"] = sessions.cookie(web.settings(), outcome.cookie)
    return response


def _credential(body: dict[str, Any], name: str, limit: int) -> str | None:
    value = body.get(name)
    if value is not None and not isinstance(value, str):
        raise InvalidInput(name, "a string")
    return value[:limit] if value else None


@bp.post("/login")
def api_login() -> Response:
    try:
        body = web.json_body()
        username = web.text_field(body, "username", max_len=200)
        password = body.get("password")
        if not isinstance(password, str) or not password:
            raise InvalidInput("password", "a non-empty string")
    except InvalidInput as exc:
        audit.record(AuditEvent("auth.login", "failed", details={"reason": "bad_request", "input": exc.input_name}))
        raise
    settings = web.settings()
    with web.transaction() as conn:
        if (old := web.step_session()) is not None:
            sessions.end(conn, old.id_hash)
        outcome = login.sign_in(conn, settings, username or "", password, web.client_ip(), web.user_agent())
        code, recovery = _credential(body, "totp", 20), _credential(body, "recovery_code", 40)
        if outcome.status == "totp" and (code or recovery):
            outcome = login.second_factor(conn, settings, outcome.session, web.client_ip(), web.user_agent(),
                                          code=code, recovery_code=recovery)
    return _answer(outcome)


def _step(stage: str | tuple[str, ...]) -> Any:
    session = web.step_session()
    if session is None or session.stage not in ((stage,) if isinstance(stage, str) else stage):
        raise Unauthenticated("no sign-in in progress: POST /api/auth/login first", "请先登录")
    return session


@bp.post("/totp")
def api_totp() -> Response:
    session = _step("totp")
    body = web.json_body()
    code, recovery = _credential(body, "code", 20), _credential(body, "recovery_code", 40)
    with web.transaction() as conn:
        outcome = login.second_factor(conn, web.settings(), session, web.client_ip(), web.user_agent(),
                                      code=code, recovery_code=recovery)
    return _answer(outcome)


@bp.route("/totp/enrol", methods=["GET", "POST"])
def api_enrol() -> Response:
    session = _step(("enrol", "full"))
    settings = web.settings()
    with web.transaction() as conn:
        user = get_user(conn, session.user_id)
        if user is None or (session.stage == "full" and user.totp_enrolled):
            raise DomainError("already enrolled", "已绑定动态口令", http_status=409, code="already_enrolled")
        if request.method == "GET":
            e = totp.start_enrolment(conn, user.id, user.username, settings.totp_issuer, settings.totp_keys)
            response = jsonify({"secret": e.secret, "otpauth_uri": e.uri, "qr_svg": e.svg})
            response.headers["Cache-Control"] = "no-store"
            return response
        code = _credential(web.json_body(), "code", 20) or ""
        outcome, codes = login.enrol(conn, settings, session, code, web.client_ip(), web.user_agent())
    response = _answer(outcome)
    if codes:
        body = response.get_json()
        body["recovery_codes"] = codes  # shown once; only their hashes are kept
        response.set_data(jsonify(body).get_data())
    return response


@bp.post("/password")
def api_password() -> Response:
    session = _step(("password", "full"))
    body = web.json_body()
    current, new = body.get("current_password"), body.get("new_password")
    if not isinstance(current, str) or not isinstance(new, str):
        raise InvalidInput("new_password", "current_password and new_password as strings")
    with web.transaction() as conn:
        outcome = login.change_password(conn, web.settings(), session, current, new, web.client_ip(),
                                        web.user_agent())
    return _answer(outcome)


@bp.post("/logout")
def api_logout() -> Response:
    session = web.step_session()
    response = jsonify({"status": "signed_out" if session else "no_session"})
    if session is not None:  # a token-authenticated call has no session here and leaves the cookie alone
        with web.transaction() as conn:
            login.sign_out(conn, session)
        response.headers["Set-Cookie"] = sessions.expired_cookie(web.settings())
    return response


@cache
def _policy() -> Any:
    from access.policy.rules import load_policy

    return load_policy()


def permissions_summary(identity: Identity) -> dict[str, Any] | None:
    """What the console may show, per kind of target: the names the policy lets this caller read."""
    try:
        policy = _policy()
    except Exception:  # a broken policy denies everything anyway (the gate refuses to start); /me still answers
        return None
    grants = identity.attributes.get("grants", ())
    return {kind: sorted(policy.visible(identity, kind, grants=grants))
            for kind in ("layer", "coverage", "process", "module", "page", "service")}


@bp.get("/me")
def api_me() -> Response:
    identity = current_identity()
    if not identity.authenticated:
        raise Unauthenticated("not signed in", "未登录")
    with web.transaction() as conn:
        user = get_user(conn, identity.user_id)
        left = totp.recovery_codes_left(conn, identity.user_id)
    assert user is not None
    settings = web.settings()
    expires = (user.password_changed_at + timedelta(days=settings.password.rotation_days)
               if settings.password.rotation_days else None)
    grants = [g.as_json() for g in identity.attributes.get("grants", ())]
    body = {
        "user_id": identity.user_id, "username": identity.username,
        "display_name": identity.attributes.get("display_name"),
        "roles": [{"name": r, "label": ROLES[r]["zh-CN"], "label_en": ROLES[r]["en"]} for r in sorted(identity.roles)],
        "district_code": identity.district_code, "enterprise_uscc": identity.enterprise_uscc,
        "organisation_id": identity.attributes.get("organisation_id"),
        "method": identity.method,
        "token_scopes": sorted(identity.token_scopes) if identity.token_scopes is not None else None,
        "grants": grants,
        "totp_enrolled": user.totp_enrolled, "recovery_codes_left": left,
        "password_expires_at": expires.isoformat() if expires else None,
        "csrf_token": identity.attributes.get("csrf_token"),
        "permissions": permissions_summary(identity),
    }
    response = jsonify(body)
    response.headers["Cache-Control"] = "no-store"
    return response


# -- own tokens --------------------------------------------------------------------------------------------------
@bp.get("/tokens")
def api_tokens() -> Response:
    identity = web.require_person()
    with web.transaction() as conn:
        return jsonify(tokens.list_tokens(conn, identity.user_id))


@bp.post("/tokens")
def api_create_token() -> Response:
    identity = web.require_person()
    body = web.json_body()
    scopes = body.get("scopes")
    if not isinstance(scopes, list) or not all(isinstance(s, str) for s in scopes):
        raise InvalidInput("scopes", ", ".join(tokens.TOKEN_SCOPES))
    with web.transaction() as conn:
        token, record = tokens.create(conn, web.settings(), identity.user_id, web.text_field(body, "name", max_len=100),
                                      scopes, body.get("days"))
        audit.record(AuditEvent("token.create", object_type="api_token", object_id=record["id"],
                                details={"scopes": record["scopes"], "expires_at": record["expires_at"]}), conn=conn)
    response = jsonify({**record, "token": token})
    response.status_code = 201
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.delete("/tokens/<int:token_id>")
def api_revoke_token(token_id: int) -> Response:
    identity = web.require_person()
    with web.transaction() as conn:
        record = tokens.revoke(conn, token_id, identity.user_id)
        audit.record(AuditEvent("token.revoke", object_type="api_token", object_id=token_id), conn=conn)
    return jsonify(record)
