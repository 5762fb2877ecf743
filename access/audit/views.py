"""The auditors' view of the audit log (安全审计员 only — 三权分立): /audit (search page), /audit/verify (the hash
chain, on demand), /api/audit (the same search as JSON). Reading the log is itself audited."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

from flask import Blueprint, Response, jsonify, make_response, render_template, request

from access import audit, web
from access.audit import OUTCOMES, AuditEvent, AuditQuery
from access.audit.chain import verify_chain
from core.errors import InvalidInput

bp = Blueprint("audit", __name__)
bp.record_once(lambda state: web.setup(state.app))
AUDITOR = "auditor"
BEIJING = timezone(timedelta(hours=8))


def _time(name: str) -> datetime | None:
    raw = request.args.get(name, "").strip()
    if not raw:
        return None
    try:
        value = datetime.fromisoformat(raw)
    except ValueError:
        raise InvalidInput(name, "ISO 8601, e.g. 2026-11-28T08:00 (Beijing time unless an offset is given)",
                           value=raw[:40]) from None
    return value if value.tzinfo else value.replace(tzinfo=BEIJING)


def _query() -> AuditQuery:
    args = request.args
    outcome = args.get("outcome") or None
    if outcome is not None and outcome not in OUTCOMES:
        raise InvalidInput("outcome", ", ".join(OUTCOMES), value=outcome[:20])
    try:
        before = int(args["before_id"]) if args.get("before_id") else None
        limit = int(args.get("limit") or 100)
    except ValueError:
        raise InvalidInput("limit", "an integer 1–1000") from None
    text_args = {k: (args.get(k) or "").strip()[:200] or None
                 for k in ("username", "action", "object_type", "object_id")}
    return AuditQuery(**text_args, outcome=outcome, since=_time("since"), until=_time("until"), before_id=before,
                      limit=limit)


def _jsonable(row: dict[str, Any]) -> dict[str, Any]:
    return {k: (v.isoformat() if isinstance(v, datetime) else v) for k, v in row.items()}


@bp.get("/audit")
def audit_page() -> Response:
    web.require_person(AUDITOR)
    error = None
    rows: list[dict[str, Any]] = []
    try:
        query = _query()
        with web.transaction() as conn:
            rows = audit.search(conn, query)
            audit.record(AuditEvent("audit.search", object_type="audit_log",
                                    details={k: v for k, v in request.args.items() if v}), conn=conn)
    except InvalidInput as exc:
        error = exc.message("zh")
    response = make_response(render_template("auth/audit.html", rows=rows, error=error, args=request.args,
                                              outcomes=OUTCOMES, beijing=BEIJING), 400 if error else 200)
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.get("/audit/verify")
def audit_verify_page() -> Response:
    web.require_person(AUDITOR)
    with web.transaction() as conn:
        report = verify_chain(conn)
        audit.record(AuditEvent("audit.verify", "success" if report.ok else "failed", object_type="audit_log",
                                object_id=report.broken_id, details={"rows": report.rows, "ok": report.ok}),
                     conn=conn)
    response = make_response(render_template("auth/message.html", title="审计日志完整性校验",
                                             message=("完整：" if report.ok else "已损坏：") + report.summary(),
                                             link="/audit"), 200 if report.ok else 409)
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.get("/api/audit")
def audit_api() -> Response:
    web.require_person(AUDITOR)
    query = _query()
    with web.transaction() as conn:
        rows = audit.search(conn, query)
        audit.record(AuditEvent("audit.search", object_type="audit_log",
                                details={k: v for k, v in request.args.items() if v}), conn=conn)
    body = {"rows": [_jsonable(r) for r in rows],
            "next_before_id": rows[-1]["id"] if len(rows) == query.limit else None}
    return jsonify(body)
