"""What a plan is: its JSON Schema (draft 2020-12) and the checks a schema cannot say, each a field-level 400.

Paths in errors name the field as a client addresses it: ``levels[0].triggers[1].min``. Checks beyond the schema:
a level appears once; an action's ``owner_role`` is a role of the plan's organisation; a ``chemical_quantity_t``
trigger names its chemical and no other trigger does; the owner's fields fit its level.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from functools import cache
from typing import Any

import jsonschema

from core.errors import InvalidInput
from emergency.models import PLAN_KINDS, PLAN_OWNERS, resource_layers
from emergency.plans.triggers import FACTS
from layers.registry import default_registry

KIND_LABELS = {"comprehensive": "综合应急预案", "special": "专项应急预案", "on_site": "现场处置方案",
               "card": "应急处置卡"}
CAS = r"^[0-9]{2,7}-[0-9]{2}-[0-9]$"
MAX_TIME_LIMIT_MIN = 7 * 24 * 60
_TEXT = {"type": "string", "minLength": 1}
_CHECKER = jsonschema.FormatChecker()


@_CHECKER.checks("date", raises=ValueError)
def _is_date(value: object) -> bool:
    if isinstance(value, str):
        if len(value) != 10:
            raise ValueError(value)
        date.fromisoformat(value)
    return True


@cache
def plan_schema() -> dict[str, Any]:
    """The JSON Schema of a plan body (create and update take the whole body)."""
    kinds = list(default_registry().get("incidents").field("kind").enum)
    role_id = {"type": "string", "pattern": r"^[a-z][a-z0-9_]{0,59}$"}
    trigger = {"type": "object", "additionalProperties": False, "required": ["fact", "min"], "properties": {
        "fact": {"enum": list(FACTS), "title": "条件"},
        "min": {"type": "number", "minimum": 0, "maximum": 1e9, "title": "下限（≥）"},
        "chemical": {"type": "string", "pattern": CAS, "title": "危险化学品 CAS 号"}}}
    action = {"type": "object", "additionalProperties": False, "required": ["action", "owner_role", "time_limit_min"],
              "properties": {"action": {**_TEXT, "maxLength": 500, "title": "处置措施"},
                             "owner_role": {**role_id, "title": "责任岗位"},
                             "time_limit_min": {"type": "integer", "minimum": 1, "maximum": MAX_TIME_LIMIT_MIN,
                                                "title": "时限（分钟）"}}}
    level = {"type": "object", "additionalProperties": False, "required": ["level", "triggers", "actions"],
             "properties": {"level": {"type": "integer", "minimum": 1, "maximum": 4, "title": "响应级别"},
                            "triggers": {"type": "array", "items": trigger, "maxItems": 20, "title": "启动条件"},
                            "actions": {"type": "array", "items": action, "minItems": 1, "maxItems": 100,
                                        "title": "响应措施"}}}
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "应急预案 (GB/T 29639-2020)",
        "type": "object", "additionalProperties": False,
        "required": ["title", "kind", "owner", "approved_on", "scope", "organisation", "levels"],
        "properties": {
            "title": {**_TEXT, "maxLength": 200, "title": "预案名称"},
            "kind": {"enum": list(PLAN_KINDS), "title": "预案类型"},
            "owner": {"type": "object", "additionalProperties": False, "required": ["level"], "title": "预案所属",
                      "properties": {"level": {"enum": list(PLAN_OWNERS)},
                                     "district_code": {"type": "string", "pattern": r"^[0-9]{6}$"},
                                     "enterprise_uscc": {"type": "string", "pattern": r"^[0-9A-Z]{18}$"}}},
            "approved_on": {"type": "string", "format": "date", "title": "批准/发布日期"},
            "description": {"type": "string", "maxLength": 5000, "title": "说明"},
            "scope": {"type": "object", "additionalProperties": False, "title": "适用范围",
                      "required": ["incident_kinds"],
                      "properties": {"incident_kinds": {"type": "array", "items": {"enum": kinds}, "minItems": 1,
                                                        "uniqueItems": True},
                                     "chemicals": {"type": "array", "items": {"type": "string", "pattern": CAS},
                                                   "uniqueItems": True, "maxItems": 100}}},
            "organisation": {"type": "array", "minItems": 1, "maxItems": 100, "title": "组织机构及职责",
                             "items": {"type": "object", "additionalProperties": False,
                                       "required": ["role", "name", "duties"],
                                       "properties": {"role": role_id, "name": {**_TEXT, "maxLength": 100},
                                                      "unit": {"type": "string", "maxLength": 200},
                                                      "duties": {**_TEXT, "maxLength": 2000}}}},
            "levels": {"type": "array", "items": level, "minItems": 1, "maxItems": 4, "title": "响应分级"},
            "resources": {"type": "array", "maxItems": 500, "title": "关联应急资源",
                          "items": {"type": "object", "additionalProperties": False, "required": ["kind", "id"],
                                    "properties": {"kind": {"enum": list(resource_layers())},
                                                   "id": {"type": "integer", "minimum": 1},
                                                   "task": {"type": "string", "maxLength": 500}}}},
        },
    }


def _path(parts: list[Any]) -> str:
    out = ""
    for p in parts:
        out += f"[{p}]" if isinstance(p, int) else (f".{p}" if out else str(p))
    return out


def _subschema(schema: Mapping[str, Any], parts: list[Any]) -> Mapping[str, Any]:
    node: Mapping[str, Any] = schema
    for p in parts:
        node = node.get("items", {}) if isinstance(p, int) else (node.get("properties") or {}).get(p, {})
    return node


def _allowed(prop: Mapping[str, Any]) -> str:
    if "enum" in prop:
        return "one of " + ", ".join(map(str, prop["enum"]))
    if prop.get("format") == "date":
        return "a date YYYY-MM-DD"
    if "pattern" in prop:
        return f"text matching {prop['pattern']}"
    bounds = [f"{k} {prop[k]}" for k in ("minLength", "maxLength", "minimum", "maximum", "minItems", "maxItems")
              if k in prop]
    return str(prop.get("type", "a value")) + (f" ({', '.join(bounds)})" if bounds else "")


def _problem(error: jsonschema.ValidationError) -> InvalidInput:
    parts = list(error.absolute_path)
    reason = error.message
    if error.validator in ("required", "additionalProperties") and "'" in error.message:
        parts.append(error.message.split("'")[1])
        reason = "required" if error.validator == "required" else "unknown field"
    name = _path(parts) or "body"
    prop = _subschema(plan_schema(), parts)
    title = prop.get("title") or name
    zh = {"required": "必填", "unknown field": "不是预案的字段"}.get(reason) or {
        "enum": "不在可选值范围内", "type": "类型不正确", "minLength": "不能为空", "maxLength": "内容过长",
        "minimum": "数值过小", "maximum": "数值过大", "format": "格式不正确", "pattern": "格式不正确",
        "minItems": "至少需要一项", "maxItems": "数量过多", "uniqueItems": "有重复项"}.get(str(error.validator),
                                                                                   "不符合要求")
    return InvalidInput(name, _allowed(prop) if reason != "unknown field" else "the fields of a plan",
                        f"plan field '{name}': {reason}", f"预案字段“{name}”（{title}）：{zh}",
                        details={"field": name, "reason": reason})


def _fail(name: str, allowed: str, en: str, zh: str) -> InvalidInput:
    return InvalidInput(name, allowed, f"plan field '{name}': {en}", f"预案字段“{name}”：{zh}",
                        details={"field": name, "reason": en})


def _no_nul(node: Any, parts: list[Any]) -> None:
    """PostgreSQL stores no NUL character (text nor JSONB): refuse it where it is, not as a 500 at the insert."""
    if isinstance(node, str) and "\x00" in node:
        name = _path(parts)
        raise _fail(name, "text without NUL characters", "NUL character", "含有空字符")
    items = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, list) else ()
    for key, value in items:
        _no_nul(value, [*parts, key])


def validate(body: Any) -> dict[str, Any]:
    """The plan body if valid; otherwise the first problem (fields in document order) as a 400 naming its path."""
    if not isinstance(body, dict):
        raise InvalidInput("body", "a JSON object (a plan)", value=type(body).__name__)
    validator = jsonschema.Draft202012Validator(plan_schema(), format_checker=_CHECKER)
    errors = sorted(validator.iter_errors(body), key=lambda e: (len(e.absolute_path), list(map(str, e.absolute_path))))
    if errors:
        raise _problem(errors[0])
    _no_nul(body, [])
    owner = body["owner"]
    need = {"city": (), "district": ("district_code",), "enterprise": ("enterprise_uscc",)}[owner["level"]]
    for key in ("district_code", "enterprise_uscc"):
        if key in need and key not in owner:
            raise _fail(f"owner.{key}", "required for an owner of level " + owner["level"],
                        f"required for a {owner['level']} plan", "必填")
        if key not in need and key in owner:
            raise _fail(f"owner.{key}", f"absent for an owner of level {owner['level']}",
                        f"not a field of a {owner['level']} plan", "与预案所属层级不符")
    roles: set[str] = set()
    for i, member in enumerate(body["organisation"]):
        if member["role"] in roles:  # the second mention is the mistake
            raise _fail(f"organisation[{i}].role", "a role id used once", "role listed twice", "岗位重复")
        roles.add(member["role"])
    seen: set[int] = set()
    for i, level in enumerate(body["levels"]):
        if level["level"] in seen:
            raise _fail(f"levels[{i}].level", "each of 1..4 at most once", "level listed twice", "响应级别重复")
        seen.add(level["level"])
        for j, trigger in enumerate(level["triggers"]):
            named = trigger["fact"] == "chemical_quantity_t"
            if named != ("chemical" in trigger):
                raise _fail(f"levels[{i}].triggers[{j}].chemical",
                            "a CAS number exactly when fact is chemical_quantity_t",
                            "required" if named else "only for fact chemical_quantity_t",
                            "必填" if named else "仅适用于危险化学品数量条件")
        for j, action in enumerate(level["actions"]):
            if action["owner_role"] not in roles:
                raise _fail(f"levels[{i}].actions[{j}].owner_role", "a role of organisation: " +
                            ", ".join(sorted(roles)), "not a role of the plan's organisation",
                            "不是本预案组织机构中的岗位")
    return body


__all__ = ["KIND_LABELS", "plan_schema", "validate"]
