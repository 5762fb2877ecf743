"""The live event types the emergency module publishes (core.realtime), for the console and the large screen."""

EVENT_TYPES: dict[str, str] = {
    "incident.created": "接报：新事件",
    "incident.updated": "事件信息修改（含响应级别）",
    "incident.status_changed": "事件状态变更",
    "incident.report_added": "续报",
    "incident.dispatch_ordered": "下达调度指令",
    "incident.dispatch_status_changed": "调度指令状态变更",
    "incident.material_requested": "物资调用",
    "incident.impact_analysed": "影响分析（辅助决策）",
    "incident.plan_activated": "启动应急预案（生成处置任务）",
    "incident.task_done": "处置任务完成",
    "incident.task_reopened": "处置任务重新打开",
    "resource.changed": "应急资源新增/修改/导入",
}

