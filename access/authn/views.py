"""Sign-in pages (zh-CN, server-rendered): /auth/login (and /login), /auth/totp, /auth/enrol, /auth/password,
/auth/logout, and the caller's own API tokens at /auth/tokens. The JSON API is in :mod:`access.authn.api`.
Every step carries ``next`` (a same-site path) so that a sign-in ends on the page that asked for it."""

from __future__ import annotations

import hmac
import secrets
from urllib.parse import quote

from flask import Blueprint, Response, make_response, redirect, render_template, request
from werkzeug.wrappers import Response as WerkzeugResponse

from access import audit, web
from access.audit import AuditEvent
from access.authn import login, sessions, tokens, totp
from access.authn.login import Outcome
from access.authn.sessions import Session
from access.authn.totp_keys import TotpKeyError
from access.authn.users import get_user
from access.policy import browser
from access.settings import AuthSettings
from core.errors import DomainError
from core.identity import current_identity

bp = Blueprint("auth", __name__)
bp.record_once(lambda state: web.setup(state.app))

LOGIN_CSRF_COOKIE = "onemap_login_csrf"
STEP_PAGES = {"totp": "/auth/totp", "enrol": "/auth/enrol", "password": "/auth/password"}
MESSAGES = {
    "invalid": "用户名或口令错误",
    "invalid_code": "动态口令或恢复码错误（每个动态口令只能使用一次）",
    "locked": "失败次数过多，账号或来源地址已临时锁定，请 {wait} 秒后重试",
    "bad_input": "输入无效",
}
STATUS = {"invalid": 401, "invalid_code": 401, "locked": 429, "bad_input": 400}


def _page(template: str, status: int = 200, **context: object) -> Response:
    response = make_response(render_template(template, **context), status)
    response.headers["Cache-Control"] = "no-store"  # sign-in pages carry one-time secrets
    return response


def _step_url(stage: str, next_url: str) -> str:
    return f"{STEP_PAGES[stage]}?next={quote(next_url, safe='')}"


def _after_step(outcome: Outcome, next_url: str, template: str, **context: object) -> WerkzeugResponse:
    """Go on to the next stage (a new session cookie) or show the form again with the reason."""
    if outcome.cookie is not None:
        target = next_url if outcome.status == "ok" else _step_url(outcome.status, next_url)
        response = redirect(target, 303)
        response.headers["Set-Cookie"] = sessions.cookie(web.settings(), outcome.cookie)
        return response
    status = STATUS.get(outcome.status, 400)
    response = _page(template, status, error=MESSAGES.get(outcome.status, "输入无效").format(
        wait=outcome.retry_after), next=next_url, **context)
    if outcome.retry_after:
        response.headers["Retry-After"] = str(outcome.retry_after)
    return response


@bp.get("/login")
def login_alias() -> WerkzeugResponse:
    """The address people type; the sign-in page lives with the other steps under /auth."""
    return redirect(browser.login_location(web.safe_next(request.args.get("next"))), 303)


@bp.route("/auth/login", methods=["GET", "POST"])
def login_page() -> WerkzeugResponse:
    next_url = web.safe_next(request.values.get("next"))
    if request.method == "GET":
        # Login CSRF (double submit): a cross-site form cannot read this cookie to copy it into the field.
        token = secrets.token_urlsafe(24)
        response = _page("auth/login.html", login_csrf=token, next=next_url)
        response.set_cookie(LOGIN_CSRF_COOKIE, token, httponly=True, samesite="Lax", path="/auth/login",
                            secure=web.settings().secure_cookies)
        return response
    sent, kept = request.form.get("login_csrf", ""), request.cookies.get(LOGIN_CSRF_COOKIE, "")
    if not kept or not hmac.compare_digest(sent.encode("utf-8", "replace"), kept.encode("utf-8", "replace")):
        return _page("auth/login.html", 403, error="页面已过期，请重新打开登录页", login_csrf="", next=next_url)
    with web.transaction() as conn:
        if (old := web.step_session()) is not None:
            sessions.end(conn, old.id_hash)  # a new sign-in replaces whatever this browser had
        outcome = login.sign_in(conn, web.settings(), request.form.get("username", ""),
                                request.form.get("password", ""), web.client_ip(), web.user_agent())
    return _after_step(outcome, next_url, "auth/login.html", login_csrf=kept)


def _need_step(stage: str, next_url: str) -> WerkzeugResponse | None:
    session = web.step_session()
    if session is None or session.stage != stage:
        return redirect(browser.login_location(next_url), 303)
    return None


@bp.route("/auth/totp", methods=["GET", "POST"])
def totp_page() -> WerkzeugResponse:
    next_url = web.safe_next(request.values.get("next"))
    if (away := _need_step("totp", next_url)) is not None:
        return away
    if request.method == "GET":
        return _page("auth/totp.html", next=next_url)
    try:
        with web.transaction() as conn:
            outcome = login.second_factor(conn, web.settings(), web.step_session(), web.client_ip(),
                                          web.user_agent(), code=request.form.get("code") or None,
                                          recovery_code=request.form.get("recovery_code") or None)
    except TotpKeyError as exc:  # the server cannot check codes: say so (recovery codes still work)
        web.record_key_error(exc)
        return _page("auth/totp.html", exc.http_status, error=exc.message("zh"), next=next_url)
    return _after_step(outcome, next_url, "auth/totp.html")


@bp.route("/auth/enrol", methods=["GET", "POST"])
def enrol_page() -> WerkzeugResponse:
    next_url = web.safe_next(request.values.get("next"))
    session = web.step_session()
    if session is None or session.stage not in ("enrol", "full"):
        return redirect(browser.login_location(next_url), 303)
    settings = web.settings()
    try:
        return _enrol(session, settings, next_url)
    except TotpKeyError as exc:
        web.record_key_error(exc)
        return _page("auth/message.html", exc.http_status, title="动态口令暂不可用", message=exc.message("zh"),
                     link=None)


def _enrol(session: Session, settings: AuthSettings, next_url: str) -> WerkzeugResponse:
    with web.transaction() as conn:
        user = get_user(conn, session.user_id)
        if user is None or (session.stage == "full" and user.totp_enrolled):
            return redirect("/", 303)
        enrolment = totp.start_enrolment(conn, user.id, user.username, settings.totp_issuer, settings.totp_keys)
        if request.method == "GET":
            return _page("auth/enrol.html", enrolment=enrolment, next=next_url)
        outcome, codes = login.enrol(conn, settings, session, request.form.get("code", ""), web.client_ip(),
                                     web.user_agent())
    if not codes:
        return _after_step(outcome, next_url, "auth/enrol.html", enrolment=enrolment)
    target = next_url if outcome.status == "ok" else _step_url(outcome.status, next_url)
    response = _page("auth/recovery_codes.html", codes=codes, target=target)
    if outcome.cookie:
        response.headers["Set-Cookie"] = sessions.cookie(settings, outcome.cookie)
    return response


@bp.route("/auth/password", methods=["GET", "POST"])
def password_page() -> WerkzeugResponse:
    next_url = web.safe_next(request.values.get("next"))
    session = web.step_session()
    if session is None or session.stage not in ("password", "full"):
        return redirect(browser.login_location("/auth/password"), 303)
    policy = web.settings().password
    if request.method == "GET":
        return _page("auth/password.html", next=next_url, policy=policy.describe_zh(), forced=session.stage != "full")
    try:
        with web.transaction() as conn:
            outcome = login.change_password(conn, web.settings(), session, request.form.get("current_password", ""),
                                            request.form.get("new_password", ""), web.client_ip(), web.user_agent())
    except DomainError as exc:
        return _page("auth/password.html", exc.http_status, error=exc.message("zh"), next=next_url,
                     policy=policy.describe_zh(), forced=session.stage != "full")
    if outcome.status == "ok" and outcome.cookie is None:
        return _page("auth/message.html", title="口令已修改", message="口令已修改，其他设备上的登录已失效。", link=next_url)
    return _after_step(outcome, next_url, "auth/password.html", policy=policy.describe_zh(),
                       forced=session.stage != "full")


@bp.post("/auth/logout")
def logout_page() -> WerkzeugResponse:
    session = web.step_session()
    if session is not None:
        with web.transaction() as conn:
            login.sign_out(conn, session)
    response = redirect("/auth/login", 303)
    response.headers["Set-Cookie"] = sessions.expired_cookie(web.settings())
    return response


# -- the caller's own API tokens -----------------------------------------------------------------------------------
@bp.route("/auth/tokens", methods=["GET", "POST"])
def tokens_page() -> WerkzeugResponse:
    identity = web.require_person()
    created = error = None
    with web.transaction() as conn:
        if request.method == "POST":
            try:
                days = int(request.form.get("days") or web.settings().token_default_days)
                created, _ = tokens.create(conn, web.settings(), identity.user_id, request.form.get("name", ""),
                                           request.form.getlist("scopes"), days)
                audit.record(AuditEvent("token.create", object_type="api_token",
                                                    details={"name": request.form.get("name", "")[:100]}), conn=conn)
            except (DomainError, ValueError) as exc:
                error = exc.message("zh") if isinstance(exc, DomainError) else "有效天数须为整数"
        rows = tokens.list_tokens(conn, identity.user_id)
    return _page("auth/tokens.html", 400 if error else 200, tokens=rows, created=created, error=error,
                 scopes=tokens.TOKEN_SCOPES, settings=web.settings(), admin_view=False)


@bp.post("/auth/tokens/<int:token_id>/revoke")
def revoke_own_token(token_id: int) -> WerkzeugResponse:
    identity = web.require_person()
    with web.transaction() as conn:
        tokens.revoke(conn, token_id, identity.user_id)
        audit.record(AuditEvent("token.revoke", object_type="api_token", object_id=token_id), conn=conn)
    return redirect("/auth/tokens", 303)


@bp.get("/auth/me")
def me_page() -> WerkzeugResponse:
    identity = current_identity()
    if not identity.authenticated:
        return redirect(browser.login_location("/auth/me"), 303)
    return _page("auth/me.html", identity=identity)
