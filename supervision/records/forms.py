"""What the console's record forms are built from (no Flask): a JSON Schema of the fields a person edits, with the
registry's Chinese and English labels and enum words, and the UI strings of the records console plug-in.

The schema says what the registry says (type, length, enum, minimum); the service checks it again, with the checks
the registry cannot state (GB/T 4754 industry codes, the USCC check characters), and its refusals name the field.
"""

from __future__ import annotations

from typing import Any

from core import i18n
from layers.registry import Field
from supervision.records.schemas import ENTERPRISE, Kind

# the district is derived from the location, the inventory needs its own editor (the API takes it as a list)
NOT_IN_FORM = ("district_code", "chemicals")
LOCATION = {
    "lon": {"type": "number", "title": {"zh-CN": "经度", "en": "Longitude"}, "minimum": -180, "maximum": 180},
    "lat": {"type": "number", "title": {"zh-CN": "纬度", "en": "Latitude"}, "minimum": -90, "maximum": 90},
}


def field_schema(f: Field) -> dict[str, Any]:
    """One registry field as a JSON Schema property (titles and enum words as {zh-CN, en} pairs)."""
    types = {"integer": "integer", "bigint": "integer", "float": "number", "boolean": "boolean"}
    out: dict[str, Any] = {"type": types.get(f.type, "string"), "title": {"zh-CN": f.label, "en": f.label_en}}
    if out["type"] == "string" and f.length:
        out["maxLength"] = f.length
    if f.required and out["type"] == "string":
        out["minLength"] = 1
    if f.enum:
        out["enum"] = list(f.enum)
        if f.labels:
            out["x-enum-labels"] = {str(v): {"zh-CN": zh, "en": en} for v, (zh, en) in f.labels.items()}
    if f.min is not None:
        out["minimum"] = f.min
    if f.max is not None:
        out["maximum"] = f.max
    return out


def edit_schema(kind: Kind) -> dict[str, Any]:
    """The JSON Schema (type object) of an edit or a create of ``kind``: its writable fields, then the location."""
    layer = kind.layer
    names = [n for n in kind.writable if n not in NOT_IN_FORM]
    props = {n: field_schema(layer.field(n)) for n in names}
    required = [n for n in names if layer.field(n).required]
    return {
        "type": "object",
        "title": {"zh-CN": kind.label_zh, "en": kind.label_en},
        "x-key": kind.key,
        "x-key-schema": field_schema(layer.field(kind.key)),
        "properties": {**props, **LOCATION},
        "required": required,
        "x-order": [*names, "lon", "lat"],
        "x-location-crs": "cgcs2000",
        "x-collection": "enterprises" if kind is ENTERPRISE else "hazard-sources",
    }


STRINGS: dict[str, tuple[str, str]] = {
    "rec_edit": ("编辑", "Edit"),
    "rec_deactivate": ("停用", "Deactivate"),
    "rec_reactivate": ("启用", "Reactivate"),
    "rec_history": ("变更历史", "History"),
    "rec_request_change": ("申请变更", "Request a change"),
    "rec_new_enterprise": ("新增企业", "New enterprise"),
    "rec_import": ("导入", "Import"),
    "rec_records": ("档案管理", "Records"),
    "rec_edit_title": ("编辑{kind}：{name}", "Edit {kind}: {name}"),
    "rec_new_title": ("新增企业", "New enterprise"),
    "rec_change_title": ("企业信息变更申请：{name}", "Change request: {name}"),
    "rec_saved": ("已保存（版本 {version}）", "Saved (version {version})"),
    "rec_unchanged": ("没有修改", "Nothing changed"),
    "rec_created": ("已新增：{name}", "Created: {name}"),
    "rec_confirm_deactivate": ("确定停用{kind}“{name}”吗？", "Deactivate the {kind} “{name}”?"),
    "rec_confirm_reactivate": ("确定启用{kind}“{name}”吗？", "Reactivate the {kind} “{name}”?"),
    "rec_reason": ("原因（可选）", "Reason (optional)"),
    "rec_confirm": ("确定", "Confirm"),
    "rec_deactivated": ("已停用", "Deactivated"),
    "rec_reactivated": ("已启用", "Reactivated"),
    "rec_history_empty": ("暂无变更记录", "No changes on record"),
    "rec_col_at": ("时间", "Time"),
    "rec_col_actor": ("操作人", "By"),
    "rec_col_action": ("操作", "Action"),
    "rec_col_changes": ("变更内容", "Changes"),
    "rec_action_created": ("新建", "Created"),
    "rec_action_updated": ("修改", "Updated"),
    "rec_action_regraded": ("重新分级", "Regraded"),
    "rec_action_deactivated": ("停用", "Deactivated"),
    "rec_action_reactivated": ("启用", "Reactivated"),
    "rec_location": ("位置", "Location"),
    "rec_pick_point": ("在地图上单击企业位置", "Click the enterprise's location on the map"),
    "rec_pick_on_map": ("在地图上选点", "Pick on the map"),
    "rec_change_reason": ("变更原因", "Reason for the change"),
    "rec_request_sent": ("已提交变更申请：{code}", "Change request submitted: {code}"),
    "rec_import_title": ("导入{kind}", "Import {kind}"),
    "rec_import_kind": ("档案类别", "Kind of record"),
    "rec_import_file": ("文件（.csv / .xlsx）", "File (.csv / .xlsx)"),
    "rec_import_crs": ("坐标系", "Coordinate system"),
    "rec_dry_run": ("检查", "Check"),
    "rec_do_import": ("导入", "Import"),
    "rec_dry_run_ok": ("检查通过：{n} 条记录可导入", "Check passed: {n} records can be imported"),
    "rec_imported": ("已导入 {n} 条记录", "{n} records imported"),
    "rec_import_errors": ("文件有 {n} 处错误，未导入任何记录", "{n} problems in the file; nothing imported"),
    "rec_col_row": ("行", "Row"),
    "rec_col_column": ("列", "Column"),
    "rec_col_problem": ("问题", "Problem"),
    "rec_choose_file": ("请选择文件", "Choose a file"),
    "rec_forbidden": ("无权修改此档案", "You may not change this record"),
    "rec_kind_enterprise": ("企业", "enterprise"),
    "rec_kind_hazard_source": ("重大危险源", "hazard source"),
}


def ui_strings(lang: str) -> dict[str, str]:
    """The records plug-in's strings in ``lang`` (English falls back to the Chinese text)."""
    i = 1 if i18n.normalise_lang(lang) == "en" else 0
    return {key: pair[i] or pair[0] for key, pair in STRINGS.items()}


__all__ = ["STRINGS", "edit_schema", "field_schema", "ui_strings"]
