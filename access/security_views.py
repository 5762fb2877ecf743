"""Security administration (安全管理员 only — 三权分立): users, roles, temporary grants, everyone's API tokens.

Pages under /security (zh-CN forms), the same operations as JSON under /api/security. Every change is audited
inside its own transaction: the change and its record commit together or not at all.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from flask import Blueprint, Response, jsonify, make_response, redirect, render_template, request
from sqlalchemy import text
from sqlalchemy.engine import Connection
from werkzeug.wrappers import Response as WerkzeugResponse

from access import audit, web
from access.audit import AuditEvent
from access.authn import throttle, tokens, users
from access.policy import grants
from core.errors import DomainError, InvalidInput, NotFound
from core.identity import ROLES

bp = Blueprint("security", __name__)
bp.record_once(lambda state: web.setup(state.app))
ADMIN = "security_admin"


def _audit(conn: Any, action: str, object_type: str, object_id: Any, **details: Any) -> None:
    audit.record(AuditEvent(action, object_type=object_type, object_id=object_id, details=details), conn=conn)


def _opt(value: Any) -> Any:
    return None if value in (None, "") else value


def _int_or_none(name: str, value: Any) -> int | None:
    if value in (None, ""):
        return None
    try:
        return int(value)
    except (TypeError, ValueError):
        raise InvalidInput(name, "an integer", value=str(value)[:40]) from None


def _when(name: str, value: Any) -> datetime | None:
    if value in (None, ""):
        return None
    try:
        parsed = datetime.fromisoformat(str(value))
    except ValueError:
        raise InvalidInput(name, "an ISO 8601 timestamp, e.g. 2026-12-01T18:00+08:00", value=str(value)[:40]) from None
    if parsed.tzinfo is None:  # form fields (datetime-local) are Beijing time: the bureau's wall clock
        from datetime import timedelta, timezone

        parsed = parsed.replace(tzinfo=timezone(timedelta(hours=8)))
    return parsed


# -- operations shared by pages and API ---------------------------------------------------------------------------
def _create_user(conn: Any, actor: int, data: Any, roles: list[str]) -> int:
    user_id = users.create_user(
        conn, web.settings().password, username=str(data.get("username") or ""),
        display_name=str(data.get("display_name") or ""), password=str(data.get("password") or ""), roles=roles,
        actor_id=actor, district_code=_opt(data.get("district_code")), enterprise_uscc=_opt(data.get("enterprise_uscc")),
        organisation_id=_int_or_none("organisation_id", data.get("organisation_id")),
        department_id=_int_or_none("department_id", data.get("department_id")))
    _audit(conn, "user.create", "user", user_id, username=data.get("username"), roles=sorted(roles))
    return user_id


def _create_grant(conn: Any, actor: int, data: Any) -> grants.Grant:
    expires = _when("expires_at", data.get("expires_at"))
    if expires is None:
        raise InvalidInput("expires_at", "a timestamp", "a temporary grant needs an expiry", "临时授权须设定失效时间")
    grant = grants.create_grant(
        conn, user_id=_int_or_none("user_id", data.get("user_id")) or 0, granted_by=actor,
        reason=str(data.get("reason") or ""), expires_at=expires, starts_at=_when("starts_at", data.get("starts_at")),
        role=_opt(data.get("role")), permission=_opt(data.get("permission")), layer=_opt(data.get("layer")),
        module=_opt(data.get("module")), district_code=_opt(data.get("district_code")))
    _audit(conn, "grant.create", "grant", grant.id, **{k: v for k, v in grant.as_json().items() if k != "id"})
    return grant


# -- pages --------------------------------------------------------------------------------------------------------
def _page(template: str, status: int = 200, **context: Any) -> Response:
    response = make_response(render_template(template, roles=ROLES, **context), status)
    response.headers["Cache-Control"] = "no-store"
    return response


def _posted(conn: Connection, create: Callable[[Connection], Any]) -> str | None:
    """A list page's POST, in a savepoint: a refusal becomes the page's error message (nothing half-written)."""
    if request.method != "POST":
        return None
    try:
        with conn.begin_nested():
            create(conn)
    except DomainError as exc:
        return exc.message("zh")
    return None


@bp.route("/security/users", methods=["GET", "POST"])
def users_page() -> Response:
    actor = web.require_person(ADMIN)
    with web.transaction() as conn:
        error = _posted(conn, lambda c: _create_user(c, actor.user_id, request.form, request.form.getlist("roles")))
        rows = users.list_users(conn)
        orgs = conn.execute(text("SELECT id, name FROM organisations ORDER BY name")).all()
        districts = conn.execute(text("SELECT code, name FROM districts ORDER BY code")).all()
    return _page("auth/users.html", 400 if error else 200, users=rows, error=error, organisations=orgs,
                 districts=districts, policy=web.settings().password.describe_zh())


@bp.route("/security/users/<int:user_id>", methods=["GET", "POST"])
def user_page(user_id: int) -> Response:
    actor = web.require_person(ADMIN)
    error = notice = None
    with web.transaction() as conn:
        if request.method == "POST":
            try:
                with conn.begin_nested():
                    notice = _user_action(conn, actor.user_id, user_id, request.form)
            except DomainError as exc:
                error = exc.message("zh")
        user = users.get_user(conn, user_id)
        if user is None:
            raise NotFound(f"user {user_id} not found", f"用户 {user_id} 不存在")
        orgs = conn.execute(text("SELECT id, name FROM organisations ORDER BY name")).all()
        districts = conn.execute(text("SELECT code, name FROM districts ORDER BY code")).all()
    return _page("auth/user.html", 400 if error else 200, user=user, error=error, notice=notice,
                 organisations=orgs, districts=districts)


def _user_action(conn: Any, actor: int, user_id: int, form: Any) -> str:
    action = form.get("action")
    if action == "profile":
        users.update_user(conn, user_id, actor_id=actor, display_name=form.get("display_name"),
                          district_code=_opt(form.get("district_code")),
                          enterprise_uscc=_opt(form.get("enterprise_uscc")),
                          organisation_id=_int_or_none("organisation_id", form.get("organisation_id")),
                          active=form.get("active") == "on")
        _audit(conn, "user.update", "user", user_id, active=form.get("active") == "on",
               district_code=_opt(form.get("district_code")), enterprise_uscc=_opt(form.get("enterprise_uscc")))
        return "已保存"
    if action == "roles":
        roles = users.set_roles(conn, user_id, form.getlist("roles"), actor)
        _audit(conn, "user.roles", "user", user_id, roles=sorted(roles))
        return "角色已更新"
    user = users.get_user(conn, user_id)
    if user is None:
        raise NotFound(f"user {user_id} not found", f"用户 {user_id} 不存在")
    if action == "password":
        users.set_password(conn, web.settings().password, user, form.get("password", ""), by_admin=True)
        _audit(conn, "user.password_reset", "user", user_id)
        return "口令已重置，用户下次登录须修改口令"
    if action == "totp_reset":
        users.reset_totp(conn, user_id)
        _audit(conn, "user.totp_reset", "user", user_id)
        return "动态口令已重置，用户下次登录须重新绑定"
    if action == "unlock":
        throttle.unlock_account(conn, user.username)
        _audit(conn, "user.unlock", "user", user_id)
        return "已解除锁定"
    raise InvalidInput("action", "profile, roles, password, totp_reset, unlock", value=str(action)[:40])


@bp.route("/security/grants", methods=["GET", "POST"])
def grants_page() -> Response:
    actor = web.require_person(ADMIN)
    with web.transaction() as conn:
        error = _posted(conn, lambda c: _create_grant(c, actor.user_id, request.form))
        rows = grants.list_grants(conn, include_past=request.args.get("all") == "1")
        people = conn.execute(text("SELECT id, username, display_name FROM users WHERE active ORDER BY username")).all()
        districts = conn.execute(text("SELECT code, name FROM districts ORDER BY code")).all()
    return _page("auth/grants.html", 400 if error else 200, grants=rows, error=error, people=people,
                 districts=districts)


@bp.post("/security/grants/<int:grant_id>/revoke")
def revoke_grant_page(grant_id: int) -> WerkzeugResponse:
    actor = web.require_person(ADMIN)
    with web.transaction() as conn:
        grants.revoke_grant(conn, grant_id, actor.user_id)
        _audit(conn, "grant.revoke", "grant", grant_id)
    return redirect("/security/grants", 303)


@bp.get("/security/tokens")
def tokens_page() -> Response:
    web.require_person(ADMIN)
    with web.transaction() as conn:
        rows = tokens.list_tokens(conn, None)
    return _page("auth/tokens.html", tokens=rows, created=None, error=None, scopes=tokens.TOKEN_SCOPES,
                 settings=web.settings(), admin_view=True)


@bp.post("/security/tokens/<int:token_id>/revoke")
def revoke_token_page(token_id: int) -> WerkzeugResponse:
    web.require_person(ADMIN)
    with web.transaction() as conn:
        tokens.revoke(conn, token_id, None)
        _audit(conn, "token.revoke", "api_token", token_id, by="security_admin")
    return redirect("/security/tokens", 303)


# -- JSON API -----------------------------------------------------------------------------------------------------
@bp.get("/api/security/users")
def api_users() -> Response:
    web.require_person(ADMIN)
    with web.transaction() as conn:
        return jsonify(users.list_users(conn))


@bp.post("/api/security/users")
def api_create_user() -> Response:
    actor = web.require_person(ADMIN)
    body = web.json_body()
    roles = body.get("roles") or []
    if not isinstance(roles, list):
        raise InvalidInput("roles", "a list of role names")
    with web.transaction() as conn:
        user_id = _create_user(conn, actor.user_id, body, roles)
        created = users.public_view(users.get_user(conn, user_id))  # type: ignore[arg-type]
    return make_response(jsonify(created), 201)


@bp.get("/api/security/users/<int:user_id>")
def api_user(user_id: int) -> Response:
    web.require_person(ADMIN)
    with web.transaction() as conn:
        user = users.get_user(conn, user_id)
    if user is None:
        raise NotFound(f"user {user_id} not found", f"用户 {user_id} 不存在")
    return jsonify(users.public_view(user))


@bp.put("/api/security/users/<int:user_id>/roles")
def api_set_roles(user_id: int) -> Response:
    actor = web.require_person(ADMIN)
    roles = web.json_body().get("roles")
    if not isinstance(roles, list):
        raise InvalidInput("roles", "a list of role names")
    with web.transaction() as conn:
        new = users.set_roles(conn, user_id, roles, actor.user_id)
        _audit(conn, "user.roles", "user", user_id, roles=sorted(new))
    return jsonify({"id": user_id, "roles": sorted(new)})


@bp.post("/api/security/users/<int:user_id>/<any(password, totp_reset, unlock):action>")
def api_user_action(user_id: int, action: str) -> Response:
    actor = web.require_person(ADMIN)
    body = web.json_body() if action == "password" else {}
    with web.transaction() as conn:
        message = _user_action(conn, actor.user_id, user_id, {"action": action, **body})
    return jsonify({"id": user_id, "status": message})


@bp.route("/api/security/grants", methods=["GET", "POST"])
def api_grants() -> Response:
    actor = web.require_person(ADMIN)
    with web.transaction() as conn:
        if request.method == "GET":
            rows = grants.list_grants(conn, include_past=request.args.get("all") == "1")
            return jsonify([{k: (v.isoformat() if isinstance(v, datetime) else v) for k, v in r.items()} for r in rows])
        grant = _create_grant(conn, actor.user_id, web.json_body())
    return make_response(jsonify(grant.as_json()), 201)


@bp.delete("/api/security/grants/<int:grant_id>")
def api_revoke_grant(grant_id: int) -> Response:
    actor = web.require_person(ADMIN)
    with web.transaction() as conn:
        grant = grants.revoke_grant(conn, grant_id, actor.user_id)
        _audit(conn, "grant.revoke", "grant", grant_id)
    return jsonify(grant.as_json())


@bp.get("/api/security/tokens")
def api_all_tokens() -> Response:
    web.require_person(ADMIN)
    with web.transaction() as conn:
        return jsonify(tokens.list_tokens(conn, None))


@bp.delete("/api/security/tokens/<int:token_id>")
def api_revoke_any_token(token_id: int) -> Response:
    web.require_person(ADMIN)
    with web.transaction() as conn:
        record = tokens.revoke(conn, token_id, None)
        _audit(conn, "token.revoke", "api_token", token_id, by="security_admin")
    return jsonify(record)
