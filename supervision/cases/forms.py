"""Forms: a transition's JSON Schema, checked on the server with a clear 400 naming the field.

Strings with ``format: date`` must be ISO dates; ``format: attachment`` names a file uploaded before
(``POST /api/cases/files``) by its SHA-256, which must exist.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from typing import Any

import jsonschema
from sqlalchemy import text
from sqlalchemy.engine import Connection

from core.errors import InvalidInput

_CHECKER = jsonschema.FormatChecker()


@_CHECKER.checks("date", raises=ValueError)
def _is_date(value: object) -> bool:
    if isinstance(value, str):
        if len(value) != 10:   # fromisoformat also takes 20261207 and 2026-W49-1; a form wants YYYY-MM-DD
            raise ValueError(value)
        date.fromisoformat(value)
    return True


@_CHECKER.checks("attachment")
def _is_sha256(value: object) -> bool:
    return not isinstance(value, str) or (len(value) == 64 and all(c in "0123456789abcdef" for c in value))


def attachment_fields(schema: Mapping[str, Any]) -> dict[str, bool]:
    """Form fields holding attachments: name -> is a list."""
    out = {}
    for name, prop in (schema.get("properties") or {}).items():
        if prop.get("format") == "attachment":
            out[name] = False
        elif (prop.get("items") or {}).get("format") == "attachment":
            out[name] = True
    return out


def validate(conn: Connection, schema: Mapping[str, Any], form: Any) -> dict[str, Any]:
    """The form if it is valid, else :class:`InvalidInput` naming the first wrong field (``form.<field>``)."""
    if form is None:
        form = {}
    if not isinstance(form, dict):
        raise InvalidInput("form", "a JSON object of the action's fields", value=type(form).__name__)
    validator = jsonschema.Draft202012Validator(schema, format_checker=_CHECKER)
    errors = sorted(validator.iter_errors(form), key=lambda e: (len(e.absolute_path), list(map(str, e.absolute_path))))
    if errors:
        raise _problem(schema, errors[0])
    for name, many in attachment_fields(schema).items():
        values = form.get(name)
        hashes = (values or []) if many else ([values] if values else [])
        if not hashes:
            continue
        found = set(conn.execute(text("SELECT sha256 FROM case_files WHERE sha256 = ANY(:h)"),
                                 {"h": list(hashes)}).scalars())
        missing = [h for h in hashes if h not in found]
        if missing:
            raise InvalidInput(f"form.{name}", "files uploaded with POST /api/cases/files (their sha256)",
                               value=missing[0], details={"field": name, "reason": "no such uploaded file"})
    return form


def _problem(schema: Mapping[str, Any], error: jsonschema.ValidationError) -> InvalidInput:
    path = [str(p) for p in error.absolute_path]
    if error.validator in ("required", "additionalProperties"):
        # the field the error is about sits below the object it was found in (form.on_site.0.elements)
        missing = error.message.split("'")[1] if "'" in error.message else None
        path = path + ([missing] if missing else [])
        reason = "required" if error.validator == "required" else "not a field of this form"
    else:
        reason = error.message
    field = path[0] if path else None
    prop = _prop_at(schema, path)
    title = prop.get("title") or field or "form"
    name = "form." + ".".join(path) if path else "form"
    allowed = _allowed(prop) if field else "the fields of this form"
    return InvalidInput(name, allowed, f"form field '{field}' ({title}): {reason}",
                        f"表单字段“{title}”：{_reason_zh(error, reason)}",
                        details={"field": field, "reason": reason})


def _prop_at(schema: Mapping[str, Any], path: list[str]) -> Mapping[str, Any]:
    """The schema of the field at ``path`` (object properties and array items followed down)."""
    prop: Mapping[str, Any] = schema
    for part in path:
        if part.isdigit() and isinstance(prop.get("items"), Mapping):
            prop = prop["items"]
        else:
            prop = (prop.get("properties") or {}).get(part) or {}
    return prop if path else {}


def _allowed(prop: Mapping[str, Any]) -> str:
    if "enum" in prop:
        return "one of " + ", ".join(map(str, prop["enum"]))
    if prop.get("format") == "date":
        return "a date YYYY-MM-DD"
    kind = prop.get("type", "a value")
    bounds = [f"{k} {prop[k]}" for k in ("minLength", "maxLength", "minimum", "maximum", "maxItems") if k in prop]
    return f"{kind}" + (f" ({', '.join(bounds)})" if bounds else "")


def _reason_zh(error: jsonschema.ValidationError, reason: str) -> str:
    return {"required": "必填", "not a field of this form": "不是本表单的字段"}.get(reason) or {
        "enum": "不在可选值范围内", "type": "类型不正确", "minLength": "内容过短", "maxLength": "内容过长",
        "minimum": "数值过小", "maximum": "数值过大", "format": "格式不正确", "maxItems": "数量过多",
    }.get(str(error.validator), "不符合要求")


__all__ = ["attachment_fields", "validate"]
