"""UI strings of the console and the large screen (zh-CN default, English), and labels of coded values.

One small catalogue: the templates and the JavaScript read the same dict (the page embeds it), so a string is
translated once. Missing English falls back to the Chinese text, which keeps a gap visible.
"""

from __future__ import annotations

from typing import Any

LANGS = ("zh-CN", "en")

STRINGS: dict[str, tuple[str, str]] = {
    # page
    "app_title": ('示范市安全生产"一张图"', "OneMap work-safety console"),
    "screen_title": ("示范市安全生产指挥中心", "Work-safety command centre"),
    "synthetic_notice": ("示范市为虚构城市，数据均为合成数据", "Synthetic demo city; all data are synthetic"),
    "lang_switch": ("English", "中文"),
    "services": ("服务目录", "Services"),
    # layer tree
    "layers": ("图层", "Layers"),
    "basemap_city": ("示范市底图（城市自有数据）", "City basemap (own data)"),
    "opacity": ("透明度", "Opacity"),
    "legend": ("图例", "Legend"),
    "visible_from_zoom": ("{z} 级以上可见", "visible from zoom {z}"),
    "toggle_layer": ("显示/隐藏图层", "Show/hide layer"),
    # modes
    "mode": ("专题", "Theme"),
    "mode_risk": ("四色风险", "Risk colours"),
    "mode_grade": ("危险源分级", "Hazard grades"),
    "no_hazard_source": ("无重大危险源", "No major hazard source"),
    "crs": ("坐标系", "CRS"),
    "crs_3857": ("Web 墨卡托", "Web Mercator"),
    "crs_4490": ("CGCS2000 经纬度", "CGCS2000 lon/lat"),
    # search
    "search": ("搜索", "Search"),
    "search_placeholder": ("企业名称、统一社会信用代码、地址或坐标", "Name, USCC, address or coordinate"),
    "search_crs": ("坐标系", "Coordinate system"),
    "no_results": ("无结果", "No results"),
    "coordinate": ("坐标", "Coordinate"),
    "ambiguous": ("坐标顺序不确定，请选择", "Ambiguous axis order: choose one"),
    # panel
    "close": ("关闭", "Close"),
    "attributes": ("属性", "Attributes"),
    "no_records": ("无记录", "No records"),
    "section_error": ("该栏目暂不可用", "This section is unavailable"),
    "other_features": ("此处其他要素", "Other features here"),
    "zoom_to": ("定位", "Zoom to"),
    # tools
    "tools": ("工具", "Tools"),
    "measure_length": ("测距", "Measure distance"),
    "measure_area": ("测面积", "Measure area"),
    "draw_point": ("画点", "Draw point"),
    "draw_line": ("画线", "Draw line"),
    "draw_polygon": ("画面", "Draw polygon"),
    "clear_drawing": ("清除", "Clear"),
    "buffer_m": ("缓冲距离（米）", "Buffer (m)"),
    "query_layers": ("查询图层", "Layers to query"),
    "run_query": ("空间查询", "Spatial query"),
    "export_csv": ("导出 CSV", "Export CSV"),
    "export_xlsx": ("导出 Excel", "Export Excel"),
    "results": ("查询结果", "Results"),
    "count": ("数量", "Count"),
    "distance_m": ("距离（米）", "Distance (m)"),
    "draw_first": ("请先在地图上绘制", "Draw on the map first"),
    "truncated": ("结果过多，仅列出前 {n} 条", "Too many results; first {n} listed"),
    "measure_hint": ("单击开始，双击结束；Esc 取消", "Click to start, double-click to finish; Esc cancels"),
    "point_hint": ("在地图上单击放置点", "Click on the map to place the point"),
    # stats
    "stats": ("统计", "Statistics"),
    "stats_risk_by_district": ("各区县企业风险分级", "Enterprises by risk colour per district"),
    "stats_sector_by_district": ("各区县企业监管行业", "Enterprises by sector per district"),
    "stats_hazard_grades": ("重大危险源等级", "Hazard sources by grade"),
    "stats_resources": ("应急资源", "Emergency resources"),
    "filter_district": ("筛选：{name}", "Filter: {name}"),
    "clear_filter": ("清除筛选", "Clear filter"),
    # status bar
    "scale": ("比例尺", "Scale"),
    "zoom": ("级别", "Zoom"),
    "permalink": ("复制链接", "Copy link"),
    "copied": ("已复制", "Copied"),
    # emergency: intake (接报), incident actions, nearest resources, dispatch (emergency/static/console.js)
    "intake": ("接报", "New incident"),
    "intake_title": ("突发事件接报", "Incident intake"),
    "intake_pick_hint": ("在地图上单击事发位置", "Click the map where it happened"),
    "pick_on_map": ("地图选点", "Pick on map"),
    "use_search_result": ("使用搜索结果", "Use search result"),
    "location": ("事发位置", "Location"),
    "location_none": ("尚未选择位置", "No location chosen yet"),
    "location_required": ("请先在地图上选择事发位置", "Choose the location on the map first"),
    "reported_at": ("接报时间", "Reported at"),
    "report_source": ("信息来源", "Source"),
    "reporter_name": ("报告人", "Reporter"),
    "reporter_phone": ("联系电话", "Phone"),
    "incident_kind": ("事件类型", "Kind"),
    "incident_title": ("事件名称", "Title"),
    "title_auto": ("留空则按地点和类型生成", "Leave empty to name it by place and kind"),
    "description": ("事件描述", "Description"),
    "casualties": ("伤亡情况", "Casualties"),
    "deaths": ("死亡", "Deaths"),
    "injuries": ("受伤", "Injured"),
    "missing": ("失踪", "Missing"),
    "response_level": ("响应级别", "Response level"),
    "not_set": ("未定", "Not set"),
    "related_enterprise": ("涉事单位统一社会信用代码（选填）", "Related enterprise USCC (optional)"),
    "submit": ("提交", "Submit"),
    "cancel": ("取消", "Cancel"),
    "intake_done": ("已接报：{code}", "Incident {code} recorded"),
    "incident_actions": ("处置", "Response"),
    "status_now": ("当前状态：{state}", "Status: {state}"),
    "move_to": ("转为“{state}”", "Move to “{state}”"),
    "final_state": ("已是最终状态", "Final state"),
    "cannot_move": ("“{from}”不能变为“{to}”。", "Cannot go from “{from}” to “{to}”."),
    "allowed_next": ("可变为：{states}", "Allowed next: {states}"),
    "follow_up": ("续报", "Follow-up report"),
    "follow_up_text": ("续报内容", "Report"),
    "follow_up_done": ("续报已提交", "Follow-up report added"),
    "nearest": ("周边资源", "Nearest resources"),
    "nearest_title": ("周边应急资源", "Nearest emergency resources"),
    "nearest_for_incident": ("事件：{title}", "Incident: {title}"),
    "nearest_for_point": ("位置：{lon}, {lat}", "Point: {lon}, {lat}"),
    "nearest_here_hint": ("右键单击地图可查询该点周边资源", "Right-click the map for the resources nearest there"),
    "resource_kinds": ("资源类型", "Resource kinds"),
    "choose_kinds": ("请至少选择一种资源类型", "Choose at least one kind of resource"),
    "limit": ("数量", "How many"),
    "find": ("查询", "Find"),
    "isochrones": ("等时圈", "Isochrones"),
    "minutes_n": ("{n} 分钟", "{n} min"),
    "straight_km": ("直线 {km} 公里", "{km} km straight"),
    "clear_routes": ("清除", "Clear"),
    "no_reachable": ("没有可到达的资源", "No reachable resource"),
    "dispatch": ("调派", "Dispatch"),
    "dispatch_task": ("任务", "Task"),
    "dispatch_task_default": ("立即赶赴现场，服从现场指挥部调度", "Go to the scene and report to the on-site command"),
    "dispatch_send": ("下达", "Send"),
    "dispatch_done": ("已调派：{name}", "Dispatched: {name}"),
    "dispatch_point_only": ("调派需从事件发起", "Dispatch starts from an incident"),
    "order_moved": ("调度指令已更新：{state}", "Dispatch order now: {state}"),
    "status_moved": ("事件状态：{state}", "Incident status: {state}"),
    "incident_changed": ("事件 {title} 有更新", "Incident {title} was updated"),
    "edit_incident": ("编辑", "Edit"),
    "save": ("保存", "Save"),
    "incident_saved": ("事件信息已保存", "Incident saved"),
    "request_material": ("申请物资", "Request material"),
    "material_depot": ("储备库（按行车时间最近）", "Depot (nearest by drive time)"),
    "material_depot_option": ("{name}（{minutes}）", "{name} ({minutes})"),
    "material_item": ("物资", "Item"),
    "material_item_available": ("{item}（可用 {n} {unit}）", "{item} ({n} {unit} available)"),
    "material_quantity": ("数量", "Quantity"),
    "material_requested": ("已申请物资：{item} {n} {unit}", "Requested: {n} {unit} of {item}"),
    "not_enough_stock": ("库存不足：可用 {n} {unit}", "Not enough stock: {n} {unit} available"),
    # screen
    "kpi_enterprises": ("生产经营单位", "Enterprises"),
    "kpi_hazard_sources": ("重大危险源", "Major hazard sources"),
    "kpi_open_incidents": ("在办突发事件", "Open incidents"),
    "kpi_alarms": ("在线监测报警（当前）", "Active sensor alarms"),
    "kpi_alarms_tip": ("当前未消除的在线监测报警数，括号内为二级/一级（数据权限范围内；设备故障另计）",
                       "Alarms not yet cleared, level 2 / level 1 below (within your data scope; device faults apart)"),
    "kpi_alarm_levels": ("二级 {l2} · 一级 {l1}", "Level 2: {l2} · level 1: {l1}"),
    "kpi_warning_levels": ("重大危险源预警", "Hazard source warnings"),
    "warning_red": ("红色", "Red"),
    "warning_orange": ("橙色", "Orange"),
    "warning_yellow": ("黄色", "Yellow"),
    "warning_blue": ("蓝色", "Blue"),
    "alarm_disposal": ("报警处置", "Alarm handling"),
    "no_alarms": ("当前无报警", "No alarms"),
    "alarm_level_2": ("二级", "L2"),
    "alarm_level_1": ("一级", "L1"),
    "alarm_cleared": ("已消除", "Cleared"),
    "alarm_no_case": ("待立案", "No case yet"),
    "tick_alarm_cleared": ("报警消除", "cleared"),
    "kpi_overdue": ("逾期未整改隐患", "Overdue hidden dangers"),
    "kpi_overdue_tip": ("已过整改期限仍未销号的隐患数（数据权限范围内）",
                        "Hidden dangers still open past their rectification deadline (within your data scope)"),
    "risk_distribution": ("企业安全风险四色分布", "Enterprise risk colours"),
    "live_events": ("实时动态", "Live events"),
    "open_incidents": ("在办事件", "Open incidents"),
    "updated_at": ("更新于", "Updated"),
    "stream_connected": ("实时通道已连接", "Live channel connected"),
    "stream_lost": ("实时通道重连中…", "Live channel reconnecting…"),
    "no_events": ("暂无实时事件", "No live events yet"),
}

# Labels of the codes that belong to no layer field (a layer field's words are ``labels`` in its layer file;
# :func:`enum_label` reads them as ``"layer.field"``). The resource kinds are the ``dispatch:`` blocks.
ENUM_LABELS: dict[str, dict[str | int, tuple[str, str]]] = {
    "report_source": {"phone": ("电话报告", "Phone call"), "sensor": ("在线监测报警", "Sensor alarm"),
                      "enterprise": ("企业报告", "Enterprise"), "public": ("群众报告", "Member of the public"),
                      "government": ("政府部门", "Government"), "media": ("媒体", "Media"), "other": ("其他", "Other")},
    "report_kind": {"first_report": ("快报", "First report"), "follow_up_report": ("续报", "Follow-up report")},
    "dispatch_status": {"dispatched": ("已下达", "Ordered"), "en_route": ("出发途中", "En route"),
                        "on_scene": ("已到达现场", "On scene"), "returned": ("已归队", "Returned")},
    "incident_event": {"created": ("接报", "Intake"), "updated": ("信息修改", "Edited"),
                       "status_changed": ("状态变更", "Status changed"), "report_added": ("续报", "Report added"),
                       "dispatch_ordered": ("下达调度指令", "Dispatch ordered"),
                       "dispatch_status_changed": ("调度指令状态变更", "Dispatch order status"),
                       "material_requested": ("物资调用", "Material requested"),
                       "impact_analysed": ("影响分析", "Impact analysis"),
                       "plan_activated": ("启动应急预案", "Plan activated"),
                       "task_done": ("处置任务完成", "Task done"),
                       "task_reopened": ("处置任务重新打开", "Task reopened")},
    "plan_kind": {"comprehensive": ("综合应急预案", "Comprehensive plan"), "special": ("专项应急预案", "Special plan"),
                  "on_site": ("现场处置方案", "On-site procedure"), "card": ("应急处置卡", "Response card")},
}


def normalise_lang(value: str | None) -> str:
    """``en``/``en-US``… → ``en``; anything else (including nothing) → the default ``zh-CN``."""
    return "en" if value and value.lower().startswith("en") else "zh-CN"


def strings(lang: str) -> dict[str, str]:
    i = 1 if normalise_lang(lang) == "en" else 0
    return {key: pair[i] or pair[0] for key, pair in STRINGS.items()}


def t(key: str, lang: str, **params: Any) -> str:
    text = strings(lang).get(key, key)
    return text.format(**params) if params else text
