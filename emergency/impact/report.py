"""The situation report (辅助决策专报) of one impact analysis run, as a PDF a commander can print or send upwards.

It holds what the run holds *as the reader may see it* (:func:`emergency.impact.service.get_run`): the incident's
facts, the model and its inputs, a map of the zones with the roads, the evacuation routes and the shelters, the
zones with their area and population, what lies inside them (sensitive targets, enterprises, hazard sources — the
domino risk —, roads to close) and the shelter assignments. Population figures and the evacuation appear only for
a reader who may read them; a list the reader may not read is left out, not shown empty.

The map is drawn as vectors from the database (roads and district boundaries in the map's box, through the
reader's scope) — no basemap service, nothing fetched from outside: the report prints the same offline.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

from fpdf import FPDF
from fpdf.fonts import FontFace
from sqlalchemy.engine import Connection

from access.policy.rowscope import LayerAccess
from core import clock
from core.pdf import FONT, document
from emergency.impact.report_map import MAP_H, RED, draw_map
from layers.labels import enum_label

MODEL_LABELS = {"plume": "有毒气体扩散（高斯烟羽模型）", "explosion": "爆炸冲击波（TNT 当量法）"}
STABILITY = "ABCDEF"
# zone fill colours, strongest first (red → orange → yellow → …), as in the console's impact layer
MAX_ROWS = 15  # rows of one list printed; the rest counted ("等 N 处")


def report_pdf(conn: Connection, incident_id: int, seq: int, *, access: LayerAccess, generated_by: str) -> bytes:
    """The report of run ``seq`` of the incident as ``access`` may see it (404 as for the run itself)."""
    from emergency.impact.service import get_run
    from emergency.incidents.service import get_incident

    run = get_run(conn, incident_id, seq, access=access)
    incident = get_incident(conn, incident_id, access=access)
    return render(conn, run, incident, access=access, generated_by=generated_by, generated_at=clock.now(),
                  plans=_plans(conn, incident_id, access))


def _plans(conn: Connection, incident_id: int, access: LayerAccess) -> dict[str, Any] | None:
    """The plans that apply to the incident (activated or suggested) and its tasks, as the reader may see them;
    None for a reader who may not read plans."""
    from emergency.plans.activation import list_tasks, matching_plans

    if not access.can_module("emergency_plans"):
        return None
    return {"plans": matching_plans(conn, incident_id, access=access)["plans"],
            "tasks": list_tasks(conn, incident_id, access=access)["tasks"]}


def render(conn: Connection, run: Mapping[str, Any], incident: Mapping[str, Any], *, access: LayerAccess,
           generated_by: str, generated_at: datetime, plans: Mapping[str, Any] | None = None) -> bytes:
    """The report of ``run`` (as ``get_run`` gives it to the reader) for ``incident`` (``get_incident``'s)."""
    title = f"辅助决策专报 {incident['code']} 第{run['run']}次分析"
    pdf = document(title)
    pdf.set_auto_page_break(True, margin=18)
    pdf.set_margins(15, 15, 15)
    pdf.alias_nb_pages()
    _Footer.install(pdf, f"{incident['code']} · 第{run['run']}次影响分析 · 仅供应急指挥决策参考")
    pdf.add_page()
    _heading(pdf, incident, run, generated_by, generated_at)
    _section(pdf, "一、事件概况")
    _pairs(pdf, _facts(incident))
    _section(pdf, "二、分析模型与参数")
    _pairs(pdf, _model(run))
    for note in run.get("notes") or ():
        _para(pdf, f"说明：{note}", size=9)
    if pdf.get_y() + MAP_H + 30 > 280:  # the map's heading goes with the map
        pdf.add_page()
    _section(pdf, "三、影响范围图")
    draw_map(pdf, conn, run, access)
    _section(pdf, "四、影响区域与人口")
    _zones_table(pdf, run)
    _section(pdf, "五、影响区域内的目标")
    _inside(pdf, run)
    _section(pdf, "六、疏散安置建议")
    _evacuation(pdf, run)
    if plans is not None:
        _section(pdf, "七、应急预案与处置任务")
        _plan_actions(pdf, plans)
    return bytes(pdf.output())


class _Footer:
    """fpdf2 draws headers and footers from methods of the document: bound here to the one document."""

    @staticmethod
    def install(pdf: FPDF, line: str) -> None:
        def footer() -> None:
            pdf.set_y(-12)
            pdf.set_font(FONT, size=8)
            pdf.set_text_color(110, 110, 110)
            pdf.cell(0, 5, f"{line}　　第 {pdf.page_no()} 页 / 共 {{nb}} 页", align="C")
            pdf.set_text_color(0, 0, 0)

        pdf.footer = footer  # type: ignore[method-assign]


# -- text blocks ----------------------------------------------------------------------------------------------------
def _heading(pdf: FPDF, incident: Mapping[str, Any], run: Mapping[str, Any], by: str, at: datetime) -> None:
    pdf.set_font(FONT, size=22)
    pdf.set_text_color(*RED)
    pdf.cell(0, 12, "突发事件辅助决策专报", align="C", new_x="LMARGIN", new_y="NEXT")
    pdf.set_draw_color(*RED)
    pdf.set_line_width(0.8)
    y = pdf.get_y() + 2
    pdf.line(15, y, 195, y)
    pdf.set_text_color(0, 0, 0)
    pdf.set_font(FONT, size=10)
    pdf.set_y(y + 2)
    pdf.cell(90, 6, f"事件编号：{incident['code']}　第 {run['run']} 次影响分析")
    pdf.cell(90, 6, f"生成：{at.strftime('%Y-%m-%d %H:%M')}（{by}）", align="R", new_x="LMARGIN", new_y="NEXT")
    pdf.cell(0, 6, f"分析时间：{run['created_at'][:16].replace('T', ' ')}　分析人：{run.get('actor') or '—'}",
             new_x="LMARGIN", new_y="NEXT")
    if run.get("note"):
        _para(pdf, f"备注：{run['note']}", size=10)


def _section(pdf: FPDF, title: str) -> None:
    if pdf.get_y() > 255:
        pdf.add_page()
    pdf.ln(3)
    pdf.set_font(FONT, size=13)
    pdf.set_text_color(*RED)
    pdf.cell(0, 8, title, new_x="LMARGIN", new_y="NEXT")
    pdf.set_text_color(0, 0, 0)


def _para(pdf: FPDF, line: str, *, size: int = 10) -> None:
    pdf.set_font(FONT, size=size)
    pdf.multi_cell(0, 5.5, line, new_x="LMARGIN", new_y="NEXT")


def _pairs(pdf: FPDF, pairs: Iterable[tuple[str, str]]) -> None:
    pdf.set_font(FONT, size=10)
    for label, value in pairs:
        pdf.set_x(18)
        pdf.cell(32, 6, label)
        pdf.multi_cell(0, 6, value, new_x="LMARGIN", new_y="NEXT")


def _facts(incident: Mapping[str, Any]) -> list[tuple[str, str]]:
    level = incident.get("response_level_label") or "未定级"
    where = f"{incident.get('district_name') or '—'}（东经 {incident['lon']:.5f}°，北纬 {incident['lat']:.5f}°）"
    return [("事件名称", incident["title"]), ("事件类型", incident.get("kind_label") or incident["kind"]),
            ("发生地点", where), ("报告时间", incident["reported_at"][:16].replace("T", " ")),
            ("响应级别", str(level)), ("事件状态", incident.get("status_label") or incident["status"]),
            ("伤亡情况", f"死亡 {incident.get('deaths') or 0} 人，受伤 {incident.get('injuries') or 0} 人"),
            ("涉事企业", incident.get("enterprise_uscc") or "—")]


def _model(run: Mapping[str, Any]) -> list[tuple[str, str]]:
    p = run["inputs"]
    out = [("模型", MODEL_LABELS.get(run["model"], run["model"]))]
    if run["model"] == "plume":
        chem = run.get("chemical")
        if chem:
            source = run.get("chemical_source") or ""
            origin = f"，取自重大危险源 {source.split(':', 1)[1]}" if source.startswith("hazard_source:") else ""
            out.append(("危险化学品", f"{chem['name_zh']}（CAS {chem['cas']}）{origin}"))
        rate = run.get("release_rate_g_s", p.get("release_rate_g_s"))
        basis = run.get("release_rate_source") or {}
        if basis.get("kind") == "worst_case":
            rate_text = (f"{_num(rate)} g/s（最坏情景：{basis['hazard_source_code']} 储量 {_num(basis['quantity_t'])} t "
                         "于 10 分钟内全部释放，参照美国 EPA RMP 40 CFR 68.25）")
        else:
            rate_text = f"{_num(rate)} g/s"
        out += [("泄漏速率", rate_text),
                ("风速 / 风向", f"{_num(p.get('wind_speed_m_s'))} m/s，来自 {_num(p.get('wind_from_deg'))}°"
                                f"（{_compass(p.get('wind_from_deg'))}风）"),
                ("大气稳定度", f"{p.get('stability', '—')} 类（Pasquill–Gifford）"),
                ("下垫面", {"urban": "城市", "rural": "乡村"}.get(p.get("terrain"), str(p.get("terrain") or "—"))),
                ("释放高度", f"{_num(p.get('release_height_m', 0))} m")]
    else:
        out.append(("TNT 当量", f"{_num(run.get('tnt_kg') or p.get('tnt_kg'))} kg"))
        out.append(("阈值来源", str(run.get("thresholds_source") or "—")))
    return out


def _num(value: Any) -> str:
    if value is None:
        return "—"
    return f"{value:g}" if isinstance(value, float) else str(value)


def _compass(deg: Any) -> str:
    if not isinstance(deg, (int, float)):
        return "—"
    names = ("北", "东北", "东", "东南", "南", "西南", "西", "西北")
    return names[int(((deg % 360) + 22.5) // 45) % 8]


# -- tables ---------------------------------------------------------------------------------------------------------
def _table(pdf: FPDF, header: Sequence[str], rows: Sequence[Sequence[str]], widths: Sequence[int]) -> None:
    pdf.set_font(FONT, size=9)
    pdf.set_draw_color(150, 150, 150)
    pdf.set_line_width(0.2)
    heading = FontFace(emphasis="", fill_color=(235, 235, 235))  # the CJK font has no bold face
    with pdf.table(col_widths=widths, text_align="LEFT", line_height=5.5, first_row_as_headings=True,
                   headings_style=heading, cell_fill_mode="NONE") as table:
        for values in [header, *rows]:
            row = table.row()
            for v in values:
                row.cell(v)


def _zone_threshold(threshold: Mapping[str, Any]) -> str:
    if "overpressure_kpa" in threshold:
        return f"超压 ≥ {threshold['overpressure_kpa']:g} kPa"
    parts = []
    if threshold.get("ppm") is not None:
        parts.append(f"{threshold['ppm']:g} ppm")
    if threshold.get("mg_m3") is not None:
        parts.append(f"{threshold['mg_m3']:g} mg/m³")
    return "浓度 ≥ " + " / ".join(parts) if parts else "—"


def _zones_table(pdf: FPDF, run: Mapping[str, Any]) -> None:
    counting = run.get("population") is not None
    rows = []
    for f in run["zones"]["features"]:
        props = f["properties"]
        persons = (props.get("population") or {}).get("persons")
        rows.append([props["label_zh"], _zone_threshold(props["threshold"]), f"{props['area_km2']:.3f}",
                     f"{persons:,.0f}" if persons is not None else "—"])
    if not rows:
        _para(pdf, "模型结果未达到任何阈值：无影响区域。")
        return
    _table(pdf, ["区域", "阈值", "面积（km²）", "人口（人）"], rows, (40, 70, 30, 30))
    if counting:
        _para(pdf, f"影响总人口约 {run['population']['persons']:,.0f} 人（人口栅格按面积加权的分区统计，边缘栅格按"
                   "区域内面积比例计入）。", size=9)
    else:
        _para(pdf, "人口数据：您无权查看人口分布，未列出。", size=9)


_INSIDE_LABELS = {"sensitive_targets": "敏感目标", "enterprises": "企业", "hazard_sources": "重大危险源（多米诺风险）",
                  "roads": "需管控道路"}


def _inside(pdf: FPDF, run: Mapping[str, Any]) -> None:
    shown = False
    for layer, label in _INSIDE_LABELS.items():
        rows, total = [], 0
        for f in run["zones"]["features"]:
            found = f["properties"].get("inside", {}).get(layer)
            if found is None:
                continue
            total += found["count"]
            for item in found["items"]:
                rows.append([f["properties"]["label_zh"], *_item(layer, item)])
        if not any(layer in f["properties"].get("inside", {}) for f in run["zones"]["features"]):
            continue  # the reader may not read this layer: not listed at all
        shown = True
        pdf.set_font(FONT, size=10)
        pdf.cell(0, 7, f"{label}：{total} 处", new_x="LMARGIN", new_y="NEXT")
        if rows:
            header, widths = _ITEM_HEADERS[layer]
            _table(pdf, ["区域", *header], rows[:MAX_ROWS], widths)
            if len(rows) > MAX_ROWS:
                _para(pdf, f"……等 {len(rows)} 处，其余见系统内分析结果。", size=9)
    if not shown:
        _para(pdf, "无可显示的目标。")


_ITEM_HEADERS = {
    "sensitive_targets": (["名称", "类型", "人数"], (35, 85, 30, 30)),
    "enterprises": (["名称", "行业", "风险等级"], (35, 85, 30, 30)),
    "hazard_sources": (["名称", "编码", "等级"], (35, 85, 40, 20)),
    "roads": (["道路", "等级", "区内长度（m）"], (35, 85, 30, 30)),
}


def _item(layer: str, item: Mapping[str, Any]) -> list[str]:
    def word(field: str) -> str:
        value = item.get(field)
        return "—" if value is None else enum_label(f"{layer}.{field}", value, "zh-CN") or str(value)

    if layer == "sensitive_targets":
        return [str(item["name"]), word("kind"), str(item.get("population") or "—")]
    if layer == "enterprises":
        return [str(item["name"]), word("sector"), word("risk_colour")]
    if layer == "hazard_sources":
        return [str(item["name"]), str(item["id"]), word("grade")]
    return [str(item.get("name") or f"无名道路（#{item['id']}）"), word("road_class"),
            f"{item.get('length_inside_m') or 0:,.0f}"]


def _evacuation(pdf: FPDF, run: Mapping[str, Any]) -> None:
    evac = run.get("evacuation")
    if evac is None:
        _para(pdf, "本次分析未要求疏散建议。")
        return
    if evac.get("withheld"):
        _para(pdf, "疏散建议未列出：" + ("无影响区域。" if evac.get("reason") == "no affected area"
                                         else "您无权查看人口数据，疏散人数随之不予显示。"))
        return
    _para(pdf, f"需疏散 {evac['persons']:,} 人，已安排 {evac['assigned']:,} 人，未能安置 {evac['unassigned']:,} 人；"
               f"出口 {evac['exits']} 处，可达避难场所 {evac.get('shelters_reachable', 0)} 处。路线避开影响区域，"
               "按行车时间由近及远安排，不超过各场所剩余容量。")
    if evac.get("note"):
        _para(pdf, f"说明：{evac['note']}", size=9)
    rows = [[f"{i}", a["name"], f"{a['persons']:,}", f"{a['room']:,}", f"{a['travel_time_s'] / 60:.1f}",
             f"{a['route_length_m'] / 1000:.2f}"] for i, a in enumerate(evac["assignments"], 1)]
    if rows:
        _table(pdf, ["序号", "避难场所", "安排人数", "剩余容量", "车程（分钟）", "路线（km）"], rows,
               (12, 68, 25, 25, 25, 25))


def _plan_actions(pdf: FPDF, plans: Mapping[str, Any]) -> None:
    rows = []
    for plan in plans["plans"]:
        done, hint = plan.get("activation"), plan.get("suggestion")
        if done:
            state = f"已启动 {done['level_label']}（{_china_time(done['activated_at'])}，{done['actor'] or '—'}）"
        elif hint:
            state = f"建议启动 {hint['label']}：{hint['text']}"
        else:
            state = "适用，未达任何响应级别的启动条件"
        rows.append([plan["title"], plan["kind_label"], state])
    if not rows:
        _para(pdf, "没有适用于本事件的应急预案。")
    else:
        _table(pdf, ["预案", "类型", "响应"], rows, (70, 30, 80))
    tasks = plans["tasks"]
    if tasks:
        _table(pdf, ["序号", "处置任务", "责任", "时限", "状态"],
               [[str(t["seq"]), t["action"], t["owner_label"] or t["owner_role"] or "—", _china_time(t["due_at"]),
                 _task_state(t)] for t in tasks], (12, 88, 30, 30, 20))
        _para(pdf, f"共 {len(tasks)} 项，未完成 {sum(not t['done'] for t in tasks)} 项，"
                   f"逾期 {sum(t['overdue'] for t in tasks)} 项。", size=9)


def _task_state(task: Mapping[str, Any]) -> str:
    return "已完成" if task["done"] else "逾期" if task["overdue"] else "进行中"


def _china_time(iso: str) -> str:
    return datetime.fromisoformat(iso).astimezone(clock.CHINA).strftime("%m-%d %H:%M")


__all__ = ["render"]
