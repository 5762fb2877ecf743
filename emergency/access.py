"""The caller's data scope inside the emergency module: the rules of :mod:`access.policy.rowscope`, said once here.

* Reads use each layer's read scope: an incident or resource outside it does not exist for the caller (404 by id,
  absent from lists, statistics and nearest-resource answers). Public resource kinds are never filtered.
* Writes (intake, edits, transitions, dispatch, material requests, resource edits, imports, restocking) need the
  module's write scope (``policy.yaml``: city for city regulators and dispatchers, their district(s) for a district
  regulator), and the row must lie inside it before and after the change. A row the caller cannot see is 404; a
  row they can see but not change (a public resource of another district) and a new row in another district
  are 403, saying which district and what their scope is.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy.engine import Connection

from access.policy.rowscope import LayerAccess
from core.errors import DomainError
from core.realtime import ScopeTag
from core.scope import Scope

MODULE = "emergency"
INCIDENTS = "incidents"


def write_scope(access: LayerAccess) -> Scope:
    """The rows the caller may change through the emergency module."""
    return access.module_scope(MODULE, "write")


def check_write(conn: Connection, access: LayerAccess, layer_id: str, values: Mapping[str, Any], *,
                what_en: str, what_zh: str, creating: bool = False) -> None:
    """403 unless a row of ``layer_id`` with ``values`` (its district / enterprise columns) lies in the write scope."""
    scope = write_scope(access)
    if access.allows_values(conn, layer_id, values, scope=scope):
        return
    raise refusal(access, layer_id, values.get("district_code"), what_en, what_zh, scope, creating=creating)


def refusal(access: LayerAccess, layer_id: str, district: str | None, what_en: str, what_zh: str, scope: Scope,
            *, creating: bool = False) -> DomainError:
    """The audited 403 for a write outside the caller's scope (naming the district and the scope)."""
    where_en = f"in district {district}" if district else "outside your districts"
    where_zh = f"区县 {district} 的" if district else "本辖区以外的"
    verb_en, verb_zh = ("create", "新建") if creating else ("change", "修改")
    return access.refuse(
        f"layer:{layer_id}", "write", reason=f"row outside the write scope ({scope.describe()})",
        message_en=f"you may not {verb_en} {what_en} {where_en}: your data scope is {scope.describe()}",
        message_zh=f"无权{verb_zh}{where_zh}{what_zh}（您的数据范围：{_describe_zh(scope)}）",
        details={"layer": layer_id, "district_code": district, "scope": scope.describe()})


def _describe_zh(scope: Scope) -> str:
    if scope.all:
        return "全市"
    parts = [f"区县 {'、'.join(sorted(scope.districts))}"] if scope.districts else []
    parts += [f"企业 {'、'.join(sorted(scope.enterprises))}"] if scope.enterprises else []
    return "；".join(parts) or "无"


def tag(layer_id: str, row: Mapping[str, Any]) -> ScopeTag:
    """The scope tag of a live event about ``row`` of ``layer_id``."""
    return ScopeTag(layer_id, row.get("district_code"), row.get("enterprise_uscc"))


__all__ = ["INCIDENTS", "MODULE", "check_write", "refusal", "tag", "write_scope"]
