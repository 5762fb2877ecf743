"""The strings of the public complaint pages (zh-CN, the default, and English)."""

from __future__ import annotations

from typing import Any

from supervision.cases import registry

STRINGS: dict[str, dict[str, str]] = {
    "zh-CN": {
        "title": "安全生产举报投诉", "status_title": "举报办理进度查询", "lang_switch": "English",
        "intro": "发现事故隐患或安全生产违法行为，请在此举报。可匿名举报；我们依法为举报人保密。",
        "category": "举报类别", "choose": "请选择", "description": "举报内容",
        "description_hint": "请说明什么问题、在什么地方、从何时开始（至少10个字）",
        "place_name": "被举报单位或场所（选填）", "where": "位置", "map_hint": "在地图上点击选取位置（本地图坐标为 CGCS2000/WGS84）",
        "address": "地址描述", "lon": "经度", "lat": "纬度", "datum": "坐标系",
        "datum_hint": "从手机地图复制的坐标请注明坐标系", "datum_choose": "请选择坐标系",
        "datum_wgs84": "WGS84 / CGCS2000（GPS、天地图）", "datum_gcj02": "GCJ-02（高德、腾讯地图）",
        "datum_bd09": "BD-09（百度地图）", "clear_point": "清除位置", "photos": "现场照片（选填，JPEG/PNG/WebP）",
        "anonymity": "举报方式", "anonymous": "匿名举报（不留任何联系方式）", "named": "实名举报（便于核实和奖励）",
        "contact_name": "姓名", "contact_phone": "联系电话", "submit": "提交举报", "submitting": "正在提交…",
        "filed": "举报已提交登记（待受理）", "number": "举报编号", "query_code": "查询码",
        "keep": "请立即记下举报编号和查询码。查询码只显示这一次，凭二者可查询办理进度和答复（也可凭查询码申领举报奖励）。",
        "go_status": "查询办理进度", "query": "查询", "state": "办理状态", "filed_at": "举报时间",
        "reply": "答复", "no_reply": "尚未答复", "not_found": "举报编号或查询码不正确",
        "error": "提交失败", "retry_after": "请求过于频繁，请稍后再试", "to_file": "我要举报",
        "fix_field": "请修改标出的内容后重新提交",
    },
    "en": {
        "title": "Report a work-safety problem", "status_title": "Follow a complaint", "lang_switch": "中文",
        "intro": "Report an accident hazard or a work-safety violation here. You may stay anonymous; the law protects "
                 "whoever reports.",
        "category": "Category", "choose": "Choose", "description": "What is wrong",
        "description_hint": "What, where and since when (at least 10 characters)",
        "place_name": "Enterprise or place (optional)", "where": "Where",
        "map_hint": "Click the map to pick the place (this map is in CGCS2000/WGS84)",
        "address": "Address", "lon": "Longitude", "lat": "Latitude", "datum": "Datum",
        "datum_hint": "Coordinates copied from a phone map: say which datum", "datum_choose": "Choose the datum",
        "datum_wgs84": "WGS84 / CGCS2000 (GPS, Tianditu)", "datum_gcj02": "GCJ-02 (AMap, Tencent)",
        "datum_bd09": "BD-09 (Baidu)", "clear_point": "Clear the point", "photos": "Photos (optional, JPEG/PNG/WebP)",
        "anonymity": "Identity", "anonymous": "Anonymous (no contact kept)",
        "named": "Named (so that we can check with you and reward you)",
        "contact_name": "Name", "contact_phone": "Phone", "submit": "Submit", "submitting": "Submitting…",
        "filed": "Your complaint is registered", "number": "Complaint number", "query_code": "Query code",
        "keep": "Write down the number and the query code now. The code is shown only this once; with both you can "
                "follow the complaint and read the reply (and claim a reward with the code).",
        "go_status": "Follow this complaint", "query": "Look up", "state": "State", "filed_at": "Filed",
        "reply": "Reply", "no_reply": "No reply yet", "not_found": "Wrong complaint number or query code",
        "error": "Not submitted", "retry_after": "Too many requests; please try again later", "to_file": "File a complaint",
        "fix_field": "Please correct the marked fields and submit again",
    },
}
CATEGORY_EN = {"hidden_danger": "Accident hazard", "illegal_operation": "Illegal production or construction",
               "accident_concealment": "Concealed or misreported accident",
               "hazchem": "Hazardous-chemicals violation", "other": "Other"}


def strings(lang: str) -> dict[str, str]:
    return dict(STRINGS.get(lang, STRINGS["zh-CN"]))


def categories(lang: str) -> list[dict[str, Any]]:
    """The categories the case type declares (its ``file`` form), labelled in ``lang``."""
    prop = registry.get("complaint").transition("file").form["properties"]["category"]
    names = dict(zip(prop["enum"], prop.get("enumNames") or prop["enum"], strict=True))
    return [{"value": v, "label": CATEGORY_EN.get(v, v) if lang == "en" else names[v]} for v in prop["enum"]]


__all__ = ["CATEGORY_EN", "STRINGS", "categories", "strings"]
