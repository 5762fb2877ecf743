"""Authentication as WSGI middleware, outermost: it wraps the policy gate, the Flask app and the OGC mounts.

For every request it
1. sets ``environ[ENVIRON_KEY]`` — always, overwriting anything else — to the caller's :class:`Identity`:
   ``Authorization: Bearer <token>`` or ``Basic`` (any user name, the token as password — what QGIS can send),
   else the session cookie, else ANONYMOUS. Presented but invalid credentials are answered 401 here (and
   audited): a revoked token must fail loudly, not silently fall back to the public view;
2. enforces CSRF on unsafe methods of cookie-authenticated requests (a synchronizer token kept in the session:
   ``X-CSRF-Token`` header or ``csrf_token`` form field); token and Basic requests carry no ambient credential
   and are exempt;
3. applies the rate limits (429 + Retry-After; the buckets are in the database, shared by every worker);
4. refuses, for every route, input no route can use (NUL bytes in the path or query, JSON nested too deep:
   :mod:`access.authn.badinput`) and records the attempt;
5. records every unsafe-method request with its outcome in the audit log (Flask routes and mounts alike);
6. now and then purges expired sessions and counters (:mod:`access.authn.purge`).
"""

from __future__ import annotations

import base64
import binascii
import hmac
import ipaddress
import json
import logging
import tempfile
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from sqlalchemy.exc import OperationalError
from werkzeug.formparser import parse_form_data
from werkzeug.http import parse_cookie
from werkzeug.wsgi import ClosingIterator

from access import audit
from access.audit import CLIENT_IP_KEY, AuditEvent
from access.authn import badinput, sessions, tokens
from access.authn.purge import AutoPurge
from access.authn.throttle import RateLimiter
from access.authn.users import identity_of
from access.policy.mounts import Mount, Refusal
from access.policy.refusal import respond, surface_of
from access.policy.rules import AUTHZ_ENVIRON_KEY
from access.settings import AuthSettings
from core.errors import preferred_language
from core.identity import ANONYMOUS, ENVIRON_KEY

log = logging.getLogger(__name__)

SESSION_KEY = "onemap.session"          # the Session row of a valid cookie (any stage)
UNSAFE = frozenset({"POST", "PUT", "PATCH", "DELETE"})
FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")
MAX_AUTH_HEADER = 4096
MAX_BUFFERED_FORM = 64 * 1024 * 1024    # forms larger than this must send the CSRF token as a header
_OURS = (ENVIRON_KEY, SESSION_KEY, CLIENT_IP_KEY)

StartResponse = Callable[..., Any]


def client_ip(environ: Mapping[str, Any], trusted: frozenset[str]) -> str:
    """REMOTE_ADDR, or — behind a trusted proxy — the right-most X-Forwarded-For hop that is not one of ours."""
    remote = environ.get("REMOTE_ADDR") or "0.0.0.0"
    if remote not in trusted:
        return remote
    for hop in reversed([h.strip() for h in environ.get("HTTP_X_FORWARDED_FOR", "").split(",") if h.strip()]):
        try:
            ipaddress.ip_address(hop)
        except ValueError:
            return remote  # a garbled header is not an address: fall back to the proxy's
        if hop not in trusted:
            return hop
    return remote


class _Reject(Exception):
    def __init__(self, status: int, code: str, en: str, zh: str, headers: list[tuple[str, str]] | None = None):
        super().__init__(en)
        self.status, self.code, self.en, self.zh, self.headers = status, code, en, zh, headers or []


class AuthMiddleware:
    """``mounts``: the adapters of the services mounted beside Flask, for refusals in their dialect and the JSON
    bodies they read (app/mounts.py)."""

    def __init__(self, app: Callable[..., Iterable[bytes]], config: Mapping[str, Any], *,
                 mounts: Sequence[Mount] | None = None) -> None:
        self.app = app
        self.config = config
        self.mounts: tuple[Mount, ...] = tuple(mounts or ())
        self.settings = AuthSettings.from_config(config)
        self.limiter = RateLimiter(self.settings.rate_rules, lambda: self.engine)
        self.purge = AutoPurge(self.settings, lambda: self.engine)
        self._last_limit_audit: dict[tuple[str, str], float] = {}

    @property
    def engine(self):  # noqa: ANN201 - created on first use: nothing touches the database at start-up
        from core.db import get_engine

        return get_engine(dict(self.config))

    # -- the WSGI entry point ---------------------------------------------------------------------------------
    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        for key in _OURS:
            environ.pop(key, None)
        environ[ENVIRON_KEY] = ANONYMOUS
        environ[CLIENT_IP_KEY] = client_ip(environ, self.settings.trusted_proxies)
        audit.bind_request(environ, self.engine)
        self.purge()  # at most every auth.purge.every_minutes; never raises
        method = environ.get("REQUEST_METHOD", "GET").upper()
        clear_cookie = False
        try:
            self._rate_limit(environ, method, "ip")
            clear_cookie = self._authenticate(environ)
            if (bad := badinput.find(environ, self.mounts)) is not None:
                return ClosingIterator(self._refuse_input(environ, bad, start_response, clear_cookie),
                                       [audit.unbind_request])
            self._rate_limit(environ, method, "user")
            self._check_csrf(environ, method)
        except _Reject as rej:
            self._record_write(environ, method, rej.status)
            return ClosingIterator(self._reject(environ, rej, start_response, clear_cookie), [audit.unbind_request])
        except OperationalError:
            log.exception("database unavailable while authenticating")
            rej = _Reject(503, "database_unavailable", "database unavailable", "数据库不可用")
            return ClosingIterator(self._reject(environ, rej, start_response, False), [audit.unbind_request])

        recorded = False

        def start(status_line: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            nonlocal recorded
            if clear_cookie:
                headers.append(("Set-Cookie", sessions.expired_cookie(self.settings)))
            # Recorded when the status is known, before the body goes out (not at close(), which some clients
            # and test harnesses never call).
            if not recorded:
                recorded = True
                self._record_write(environ, method, int(status_line[:3]))
            return start_response(status_line, headers, exc_info)

        try:
            result = self.app(environ, start)
        except BaseException:
            if not recorded:
                self._record_write(environ, method, 500)
            audit.unbind_request()
            raise
        return ClosingIterator(result, [audit.unbind_request])

    # -- credentials --------------------------------------------------------------------------------------------
    def _authenticate(self, environ: dict[str, Any]) -> bool:
        """Resolve the caller; return True when the session cookie should be cleared."""
        header = environ.get("HTTP_AUTHORIZATION")
        if header is not None:
            self._from_authorization(environ, header)
            return False
        cookie = parse_cookie(environ).get(self.settings.cookie_name)
        if cookie is None:
            return False
        return self._from_cookie(environ, cookie)

    def _from_authorization(self, environ: dict[str, Any], header: str) -> None:
        scheme, _, value = header.strip().partition(" ")
        scheme = scheme.lower()
        challenge = ('Basic realm="OneMap", charset="UTF-8"' if scheme != "bearer"
                     else 'Bearer realm="OneMap", error="invalid_token"')
        token, why = None, None
        if len(header) > MAX_AUTH_HEADER:
            why = "oversized_header"
        elif scheme == "bearer":
            token = value.strip()
        elif scheme == "basic":
            token, why = _basic_password(value.strip())
        else:
            why = "unsupported_scheme"
        method = "token" if scheme == "bearer" else "basic"
        with self.engine.begin() as conn:
            info = None
            if token is not None:
                info, why = tokens.verify(conn, token, environ[CLIENT_IP_KEY], principal=True)
            if info is not None:
                who = info.principal
                environ[ENVIRON_KEY] = identity_of(who.user, method, token_scopes=info.scopes, token_id=info.id,
                                                   grants=who.grants)
                return
        # Recorded in a transaction of its own: the refusal below must not roll the record back.
        audit.record(AuditEvent("auth.token", "failed", details={"reason": why, "scheme": scheme[:20]}))
        raise _Reject(401, "invalid_credentials", f"invalid credentials ({why})", "凭据无效",
                      [("WWW-Authenticate", challenge)])

    def _from_cookie(self, environ: dict[str, Any], cookie: str) -> bool:
        with self.engine.begin() as conn:
            session, why = sessions.load(conn, cookie[:200], self.settings, principal=True)
            if session is None:
                audit.record(AuditEvent("auth.session", "failed", details={"reason": why}), conn=conn)
                return True
            environ[SESSION_KEY] = session
            if session.stage == "full":
                who = session.principal
                environ[ENVIRON_KEY] = identity_of(who.user, "session", session=session.id_hash[:12],
                                                   csrf_token=session.csrf_token, grants=who.grants)
        return False

    # -- CSRF ---------------------------------------------------------------------------------------------------
    def _check_csrf(self, environ: dict[str, Any], method: str) -> None:
        session = environ.get(SESSION_KEY)
        if method not in UNSAFE or session is None:
            return
        sent = environ.get("HTTP_X_CSRF_TOKEN") or _form_token(environ)
        if not sent or not hmac.compare_digest(sent.encode("utf-8", "replace"), session.csrf_token.encode()):
            audit.record(AuditEvent("auth.csrf", "denied", details={"reason": "missing" if not sent else "mismatch"}))
            raise _Reject(403, "csrf_failed", "missing or wrong CSRF token (X-CSRF-Token header or csrf_token field)",
                          "缺少或错误的 CSRF 令牌，请刷新页面后重试")

    # -- rate limits --------------------------------------------------------------------------------------------
    def _rate_limit(self, environ: dict[str, Any], method: str, key_kind: str) -> None:
        path = environ.get("SCRIPT_NAME", "") + environ.get("PATH_INFO", "")
        for rule in self.limiter.matching(method, path):
            if rule.key != key_kind:
                continue
            identity = environ[ENVIRON_KEY]
            key = f"user:{identity.user_id}" if key_kind == "user" and identity.authenticated \
                else f"ip:{environ[CLIENT_IP_KEY]}"
            wait = self.limiter.take(rule, key)
            if wait:
                self._audit_limit(rule.name, key)
                raise _Reject(429, "rate_limited", f"too many requests; retry in {wait} s",
                              f"请求过于频繁，请 {wait} 秒后重试", [("Retry-After", str(wait))])

    def _audit_limit(self, rule: str, key: str) -> None:
        # One record per client and rule per minute: a flood must not turn into a flood of audit inserts.
        now = time.monotonic()
        if now - self._last_limit_audit.get((rule, key), -1e9) < 60:
            return
        if len(self._last_limit_audit) > 10_000:
            self._last_limit_audit.clear()
        self._last_limit_audit[(rule, key)] = now
        audit.record(AuditEvent("http.rate_limited", "denied", details={"rule": rule, "key": key}))

    # -- responses ----------------------------------------------------------------------------------------------
    def _reject(self, environ: dict[str, Any], rej: _Reject, start_response: StartResponse,
                clear_cookie: bool) -> list[bytes]:
        headers = list(rej.headers)
        if clear_cookie:
            headers.append(("Set-Cookie", sessions.expired_cookie(self.settings)))
        status_line = f"{rej.status} {rej.code.replace('_', ' ').title()}"
        mount, surface = surface_of(environ, self.mounts)
        if mount is not None:  # an OGC client gets the service's own exception format
            code = "NoApplicableCode" if rej.status >= 500 else "AccessDenied"
            refusal = Refusal(rej.status, code, rej.en, rej.zh)
            return respond(start_response, environ, refusal, mount=mount, surface=surface, headers=headers,
                           status_line=status_line)
        lang_zh = preferred_language(environ.get("HTTP_ACCEPT_LANGUAGE")) != "en"
        body = json.dumps({"type": "about:blank", "title": rej.code.replace("_", " "), "status": rej.status,
                           "code": rej.code, "detail": rej.zh if lang_zh else rej.en}, ensure_ascii=False).encode()
        start_response(status_line, [("Content-Type", "application/problem+json"), ("Content-Length", str(len(body))),
                                     ("Cache-Control", "no-store"), *headers])
        return [body]

    def _refuse_input(self, environ: dict[str, Any], bad: badinput.BadInput, start_response: StartResponse,
                      clear_cookie: bool) -> list[bytes]:
        # One record for the attempt, whatever the method: a probe with a NUL byte is as telling in a GET.
        try:
            audit.record(AuditEvent("http.bad_input", "denied", details={"reason": bad.reason, "where": bad.where,
                                                                         "status": bad.status}))
        except Exception:  # the refusal must still go out; the log says the record is missing
            log.exception("could not write the audit record of a refused request")
        headers = [("Set-Cookie", sessions.expired_cookie(self.settings))] if clear_cookie else []
        return badinput.refuse(environ, bad, start_response, headers, self.mounts)

    def _record_write(self, environ: Mapping[str, Any], method: str, status: int) -> None:
        if method not in UNSAFE:
            return
        outcome = "success" if status < 400 else "denied" if status in (401, 403, 429) else "failed"
        if status >= 400 and getattr(environ.get(AUTHZ_ENVIRON_KEY), "out_of_scope", False):
            outcome = "denied"  # a write to a row outside the caller's scope, answered 404 like a missing one
        try:
            audit.record(AuditEvent(f"http.{method.lower()}", outcome, details={"status": status}))
        except Exception:  # the response is already out; losing this record must at least be loud
            log.exception("could not write the audit record of a %s request", method)


def _basic_password(value: str) -> tuple[str | None, str | None]:
    """The password of ``Basic base64(user:password)`` — QGIS sends any user name with the token."""
    try:
        decoded = base64.b64decode(value.encode("ascii"), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeError, ValueError):
        return None, "malformed_basic"
    _, colon, password = decoded.partition(":")
    if not colon:
        return None, "malformed_basic"
    return password, None


def _form_token(environ: dict[str, Any]) -> str | None:
    """The ``csrf_token`` field of a form body, read without consuming it (the body is buffered and replaced)."""
    ctype = environ.get("CONTENT_TYPE", "").split(";")[0].strip().lower()
    if ctype not in FORM_TYPES:
        return None
    try:
        length = int(environ.get("CONTENT_LENGTH") or 0)
    except ValueError:
        return None
    if length <= 0 or length > MAX_BUFFERED_FORM:
        return None
    spool = tempfile.SpooledTemporaryFile(max_size=1 << 20)
    stream, left = environ["wsgi.input"], length
    while left > 0:
        chunk = stream.read(min(left, 1 << 16))
        if not chunk:
            break
        spool.write(chunk)
        left -= len(chunk)
    spool.seek(0)
    environ["CONTENT_LENGTH"] = str(length - left)
    _, form, _ = parse_form_data(dict(environ, **{"wsgi.input": spool}), silent=True)
    spool.seek(0)
    environ["wsgi.input"] = spool  # the application reads the same bytes again
    value = form.get("csrf_token")
    return value if isinstance(value, str) else None
