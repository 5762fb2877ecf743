"""UI strings of the case pages (/cases, /cases/<id>) and of the cases console plug-in: zh-CN first, English.

One catalogue, like core/i18n.py: the templates read it and the pages embed it in their boot document; the console
plug-in, whose boot carries only the console's own strings, fetches it from ``/cases/strings`` and merges it in.
Missing English falls back to the Chinese text.
"""

from __future__ import annotations

from typing import Any

from core import i18n

STRINGS: dict[str, tuple[str, str]] = {
    "cases_title": ("案件办理", "Cases"),
    "work_list": ("工作台", "Work list"),
    "back_to_map": ("返回一张图", "Back to the map"),
    "list_todo": ("待办", "To do"),
    "list_done": ("已办", "Done"),
    "list_overdue": ("逾期", "Overdue"),
    "list_due_soon": ("临期", "Due soon"),
    "list_all": ("全部", "All"),
    "filter_type": ("案件类型", "Case type"),
    "filter_state": ("状态", "State"),
    "filter_any": ("全部", "Any"),
    "col_code": ("编号", "Code"),
    "col_type": ("类型", "Type"),
    "col_title": ("标题", "Title"),
    "col_state": ("状态", "State"),
    "col_anchor": ("对象", "Feature"),
    "col_due": ("期限", "Due"),
    "col_updated": ("更新时间", "Updated"),
    "page_prev": ("上一页", "Previous"),
    "page_next": ("下一页", "Next"),
    "page_range": ("第 {from}–{to} 条，共 {total} 条", "{from}–{to} of {total}"),
    "list_empty": ("没有案件", "No cases"),
    "loading": ("加载中…", "Loading…"),
    # case page
    "case_header": ("案件信息", "Case"),
    "anchor": ("关联对象", "Feature"),
    "anchor_enterprise": ("企业", "Enterprise"),
    "anchor_hazard_source": ("重大危险源", "Major hazard source"),
    "anchor_grid_cell": ("网格", "Grid cell"),
    "anchor_point": ("地点", "Location"),
    "show_on_map": ("在一张图中查看", "Show on the map"),
    "clocks": ("办理时限", "Deadlines"),
    "clock": ("时限", "Deadline"),
    "clock_status": ("状态", "Status"),
    "due_date": ("截止日期", "Due"),
    "warn_date": ("提醒日期", "Warning from"),
    "days_left": ("剩余", "Left"),
    "working_days_left": ("{n} 个工作日", "{n} working days"),
    "calendar_days_left": ("{n} 天", "{n} days"),
    "overdue_by": ("已逾期 {n} 个工作日", "{n} working days overdue"),
    "minutes_left": ("剩余 {n} 分钟", "{n} minutes left"),
    "overdue_by_minutes": ("已超时 {n} 分钟", "{n} minutes overdue"),
    "overdue": ("已逾期", "Overdue"),
    "due_soon": ("临期", "Due soon"),
    "clock_running": ("计时中", "Running"),
    "clock_paused": ("已暂停", "Paused"),
    "clock_met": ("按期完成", "Met"),
    "clock_breached": ("已超期", "Breached"),
    "clock_stopped": ("已停止", "Stopped"),
    "timeline": ("办理过程", "Timeline"),
    "actor": ("办理人", "By"),
    "at": ("时间", "Time"),
    "files": ("附件", "Attachments"),
    "hash": ("校验值", "Hash"),
    "documents": ("文书", "Documents"),
    "doc_title": ("文书", "Document"),
    "doc_number": ("文号", "Number"),
    "issued_at": ("签发时间", "Issued"),
    "related": ("关联案件", "Related cases"),
    "parent_case": ("上级案件", "Parent case"),
    "child_cases": ("下级案件", "Child cases"),
    "actions": ("办理", "Actions"),
    "no_actions": ("当前无可办理事项", "Nothing for you to do now"),
    "map": ("位置", "Location"),
    "no_location": ("无位置信息", "No location"),
    "stale_version": ("案件已被他人更新，请刷新后重试", "Someone else changed this case; reload and try again"),
    "reload": ("刷新", "Reload"),
    "done_action": ("已办理：{label}", "Done: {label}"),
    "case_opened": ("已发起：{code}", "Opened: {code}"),
    # forms
    "required": ("必填", "required"),
    "required_missing": ("请填写此项", "This field is required"),
    "too_short": ("至少 {n} 个字符", "At least {n} characters"),
    "too_long": ("最多 {n} 个字符", "At most {n} characters"),
    "too_small": ("不能小于 {n}", "Must be at least {n}"),
    "too_large": ("不能大于 {n}", "Must be at most {n}"),
    "not_integer": ("请输入整数", "Enter a whole number"),
    "not_number": ("请输入数字", "Enter a number"),
    "bad_pattern": ("格式不正确", "Wrong format"),
    "bad_date": ("请输入日期（YYYY-MM-DD）", "Enter a date (YYYY-MM-DD)"),
    "too_few_items": ("至少 {n} 项", "At least {n} items"),
    "too_many_items": ("最多 {n} 项", "At most {n} items"),
    "form_has_errors": ("请更正标出的项目", "Please correct the marked fields"),
    "choose": ("请选择", "Choose"),
    "yes": ("是", "Yes"),
    "upload": ("上传附件", "Upload"),
    "uploading": ("上传中…", "Uploading…"),
    "remove": ("移除", "Remove"),
    "upload_pending": ("附件仍在上传，请稍候", "Wait for the uploads to finish"),
    "submit": ("提交", "Submit"),
    "cancel": ("取消", "Cancel"),
    # console plug-in
    "todo_badge": ("待办", "To do"),
    "todo_badge_title": ("我的待办案件", "My cases to do"),
    "open_cases": ("办理中案件", "Open cases"),
    "start_case": ("发起：{label}", "Start: {label}"),
    "report_here": ("隐患上报", "Report a hidden danger"),
    "report_here_hint": ("在地图上单击隐患位置", "Click the hidden danger's location on the map"),
    "start_form_title": ("{type}：{label}", "{type}: {label}"),
    "point_at": ("位置：{lon}, {lat}（CGCS2000）", "Location: {lon}, {lat} (CGCS2000)"),
    "open_case": ("打开案件", "Open case"),
    "not_permitted": ("无权查看案件", "You may not see cases"),
}


def strings(lang: str) -> dict[str, str]:
    """The console's strings with the case strings over them, in ``lang``."""
    i = 1 if i18n.normalise_lang(lang) == "en" else 0
    return {**i18n.strings(lang), **{key: pair[i] or pair[0] for key, pair in STRINGS.items()}}


def case_strings(lang: str) -> dict[str, Any]:
    """Only the case strings (what the console plug-in adds to the console's own)."""
    i = 1 if i18n.normalise_lang(lang) == "en" else 0
    return {key: pair[i] or pair[0] for key, pair in STRINGS.items()}
