"""Permit certificates: issued by a permit case's effect, looked up within a caller's scope, revoked, verified.

A certificate is issued inside the transaction of the case's ``issue_certificate`` step (the engine runs the effect
``issue_permit_certificate``): its number comes from core/docnumbers (gapless: a rolled-back issue leaves no hole),
it is valid for 3 years from the day of issue (China), and the case's data records the number. Its status is
``revoked`` once revoked, else ``expired`` after ``valid_to``, else ``valid``: computed, never stored, so it cannot go
stale.

The public verification (:func:`verification`) answers for a certificate number with its status; only a *valid*
certificate shows whose it is and until when (the public register of 行政许可法 第四十条). A revoked or expired one
shows the number and the status, nothing else.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, timedelta
from functools import cache
from typing import Any
from urllib.parse import quote

from sqlalchemy import text
from sqlalchemy.engine import Connection

from access.policy.rowscope import LayerAccess
from core import clock as core_clock
from core.docnumbers import DocumentType, issue
from core.errors import Conflict, DomainError, InvalidInput, NotFound
from core.identity import Identity
from core.manifest import resource
from core.yamlload import parse
from supervision.cases.engine import EffectContext, scope_sql

MODULE = "permits"
VALID_YEARS = 3
MAX_NUMBER = 60
KINDS_FILE = "supervision.permits:kinds.yaml"
STATUS_LABELS = {"valid": {"zh-CN": "有效", "en": "Valid"}, "revoked": {"zh-CN": "已撤销", "en": "Revoked"},
                 "expired": {"zh-CN": "已过期", "en": "Expired"}}
VERIFY_PATH = "/verify/permits/"


@cache
def kinds() -> dict[str, dict[str, Any]]:
    """The certificate kinds (``kinds.yaml``): title, number (as a document type), validity, certificate lines."""
    raw = parse(resource(KINDS_FILE).read_text(encoding="utf-8"))
    return {kid: {**k, "doc_type": DocumentType(f"permits.{kid}", k["number"])} for kid, k in raw.items()}


def valid_to(valid_from: date, years: int = VALID_YEARS) -> date:
    """The last day of a validity of ``years`` years from ``valid_from`` (29 February ends on 28 February)."""
    try:
        end = valid_from.replace(year=valid_from.year + years)
    except ValueError:
        end = valid_from.replace(year=valid_from.year + years, day=28)
    return end - timedelta(days=1)


def status_of(row: Mapping[str, Any], today: date | None = None) -> str:
    if row["revoked_at"] is not None:
        return "revoked"
    return "expired" if (today or core_clock.today()) > row["valid_to"] else "valid"


def verification_url(base_url: str, number: str) -> str:
    """The public page that verifies ``number`` (what the certificate's QR code holds)."""
    return base_url.rstrip("/") + VERIFY_PATH + quote(number, safe="")


# -- issuing (a case effect) -----------------------------------------------------------------------------------
def issue_certificate(ctx: EffectContext, spec: Mapping[str, Any]) -> None:
    """The effect ``issue_permit_certificate: {kind: <case type>}``: the certificate of the case's enterprise."""
    kind = spec.get("kind") if isinstance(spec, Mapping) else None
    if kind not in kinds():
        raise DomainError(f"case type {ctx.case_type.id}: unknown certificate kind {kind!r}",
                          f"案件类型 {ctx.case_type.id} 配置错误：未知的证书类型 {kind!r}")
    case = ctx.case
    enterprise = ctx.conn.execute(text("SELECT name FROM enterprises WHERE uscc = :u"),
                                  {"u": case.get("enterprise_uscc")}).first()
    if enterprise is None:
        raise Conflict("the case's enterprise is not on record: no certificate can be issued to it",
                       "该案件的企业不在档案中，无法发证", code="no_enterprise")
    scope = str(ctx.form.get("scope") or case["data"].get("business_scope") or "").strip()
    if not scope:
        raise InvalidInput("form.scope", "the permitted scope (许可范围)", details={"reason": "required"})
    today = core_clock.today()
    unit = str(ctx.config.get("issuing_unit", "示应急"))
    number = issue(ctx.conn, kinds()[kind]["doc_type"], unit, today, subject=f"case:{case['id']}").number
    until = valid_to(today, int(kinds()[kind].get("valid_years", VALID_YEARS)))
    ctx.conn.execute(text(
        "INSERT INTO permit_certificates (number, kind, case_id, enterprise_uscc, enterprise_name, district_code, "
        "scope, business_mode, issuer, valid_from, valid_to, issued_at, issued_by) VALUES (:n, :k, :c, :u, :name, "
        ":d, :scope, :mode, :issuer, :f, :t, :at, :by)"),
        {"n": number, "k": kind, "c": case["id"], "u": case["enterprise_uscc"], "name": enterprise.name,
         "d": case["district_code"], "scope": scope, "mode": case["data"].get("business_mode"), "issuer": unit,
         "f": today, "t": until, "at": ctx.now, "by": ctx.identity.username if ctx.identity else None})
    certificate = {"number": number, "valid_from": today.isoformat(), "valid_to": until.isoformat()}
    ctx.case["data"] = {**ctx.case["data"], "certificate": certificate}
    ctx.results["certificate"] = certificate


# -- reading ---------------------------------------------------------------------------------------------------
_COLUMNS = ("c.number, c.kind, c.case_id, c.enterprise_uscc, c.enterprise_name, c.district_code, c.scope, "
            "c.business_mode, c.issuer, c.valid_from, c.valid_to, c.issued_at, c.issued_by, c.revoked_at, "
            "c.revoked_by, c.revoke_reason")


def _not_found(number: str) -> NotFound:
    shown = number if len(number) <= MAX_NUMBER else number[:MAX_NUMBER] + "…"
    return NotFound(f"no certificate numbered {shown}", f"不存在编号为 {shown} 的证书", details={"number": shown})


def _row(conn: Connection, number: str, where: str = "TRUE", params: Mapping[str, Any] | None = None,
         lock: bool = False) -> Mapping[str, Any] | None:
    if not number or len(number) > MAX_NUMBER:
        return None
    return conn.execute(text(f"SELECT {_COLUMNS} FROM permit_certificates c WHERE c.number = :n AND {where}"
                             + (" FOR UPDATE" if lock else "")), {**(params or {}), "n": number}).mappings().first()


def as_json(row: Mapping[str, Any]) -> dict[str, Any]:
    out = {k: (v.isoformat() if hasattr(v, "isoformat") else v) for k, v in row.items()}
    out["status"] = status_of(row)
    out["title"] = dict(kinds()[row["kind"]]["title"]) if row["kind"] in kinds() else {"zh-CN": row["kind"],
                                                                                    "en": row["kind"]}
    return out


def get(conn: Connection, number: str, *, access: LayerAccess) -> dict[str, Any]:
    """A certificate the caller may read (their district's, their own enterprise's, or any for the city); a
    certificate outside the scope does not exist for them (404)."""
    where, params = scope_sql(access.module_scope(MODULE, "read"))
    row = _row(conn, number, where, params)
    if row is None:
        raise _not_found(number)
    return as_json(row)


def revoke(conn: Connection, number: str, body: Any, *, access: LayerAccess, identity: Identity) -> dict[str, Any]:
    """Revoke (撤销/吊销) a valid certificate, with a reason; a revoked one stays revoked (409)."""
    if not isinstance(body, dict):
        raise InvalidInput("body", "a JSON object {reason}")
    reason = body.get("reason")
    if not isinstance(reason, str) or not 2 <= len(reason.strip()) <= 1000:
        raise InvalidInput("reason", "the reason for revoking (2–1000 characters)", value=reason,
                           details={"reason": "required" if reason is None else "invalid"})
    unknown = sorted(set(body) - {"reason"})
    if unknown:
        raise InvalidInput(unknown[0], "no such field (only 'reason')", details={"reason": "unknown field"})
    where, params = scope_sql(access.module_scope(MODULE, "write"))
    with conn.begin():
        row = _row(conn, number, where, params, lock=True)
        if row is None:
            raise _not_found(number)
        if row["revoked_at"] is not None:
            raise Conflict(f"certificate {number} was already revoked", f"证书 {number} 已被撤销",
                           code="already_revoked")
        conn.execute(text("UPDATE permit_certificates SET revoked_at = :at, revoked_by = :by, revoke_reason = :r "
                          "WHERE number = :n"),
                     {"at": core_clock.now(), "by": identity.username, "r": reason.strip(), "n": number})
        from flask import has_request_context

        from access.audit import record

        record(conn=conn, action="permit.revoke", identity=identity, environ=None if has_request_context() else {},
               object_type="permit_certificate", object_id=number, details={"reason": reason.strip()})
        row = _row(conn, number)
    return as_json(row)


def verification(conn: Connection, number: str) -> dict[str, Any]:
    """What anyone may learn of a certificate number: its status; the holder and validity only while valid."""
    row = _row(conn, number)
    if row is None:
        raise _not_found(number)
    status = status_of(row)
    out: dict[str, Any] = {"number": row["number"], "status": status, "status_label": dict(STATUS_LABELS[status])}
    if status == "valid":
        out.update(title=dict(kinds()[row["kind"]]["title"]) if row["kind"] in kinds() else None,
                   holder=row["enterprise_name"], valid_from=row["valid_from"].isoformat(),
                   valid_to=row["valid_to"].isoformat())
    return out


__all__ = ["MODULE", "kinds", "as_json", "get", "issue_certificate", "revoke", "status_of", "valid_to",
           "verification", "verification_url"]
