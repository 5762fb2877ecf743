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

import math
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

import shapely
from fpdf import FPDF
from fpdf.fonts import FontFace
from shapely.geometry import shape
from shapely.geometry.base import BaseGeometry
from sqlalchemy import text
from sqlalchemy.engine import Connection

from access.policy.rowscope import LayerAccess
from core import clock
from core.pdf import FONT, document
from layers.labels import enum_label
from layers.registry import default_registry

MODEL_LABELS = {"plume": "有毒气体扩散（高斯烟羽模型）", "explosion": "爆炸冲击波（TNT 当量法）"}
STABILITY = "ABCDEF"
# zone fill colours, strongest first (red → orange → yellow → …), as in the console's impact layer
ZONE_COLOURS = ((214, 39, 40), (255, 127, 14), (255, 215, 0), (148, 103, 189), (140, 86, 75))
RED = (170, 20, 20)
MAP_W, MAP_H = 180.0, 112.0
MAX_ROWS = 15  # rows of one list printed; the rest counted ("等 N 处")
MAX_BACKDROP = 4000  # road lines drawn behind the zones


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
    _map(pdf, conn, run, access)
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


# -- the map --------------------------------------------------------------------------------------------------------
class _Frame:
    """Lon/lat → millimetres on the page: an equirectangular view (x scaled by cos φ) fitted into the map box."""

    def __init__(self, bounds: tuple[float, float, float, float], x: float, y: float, w: float, h: float) -> None:
        minx, miny, maxx, maxy = bounds
        self.k = math.cos(math.radians((miny + maxy) / 2))
        span_x, span_y = max((maxx - minx) * self.k, 1e-6), max(maxy - miny, 1e-6)
        self.scale = min(w / span_x, h / span_y)  # mm per degree of latitude
        self.cx, self.cy = (minx + maxx) / 2, (miny + maxy) / 2
        self.ox, self.oy, self.w, self.h = x + w / 2, y + h / 2, w, h

    def __call__(self, lon: float, lat: float) -> tuple[float, float]:
        return self.ox + (lon - self.cx) * self.k * self.scale, self.oy - (lat - self.cy) * self.scale

    def box(self) -> tuple[float, float, float, float]:
        """The lon/lat box the map shows."""
        half_x, half_y = self.w / 2 / (self.k * self.scale), self.h / 2 / self.scale
        return self.cx - half_x, self.cy - half_y, self.cx + half_x, self.cy + half_y

    def metres_per_mm(self) -> float:
        return 111_320.0 / self.scale


def _map(pdf: FPDF, conn: Connection, run: Mapping[str, Any], access: LayerAccess) -> None:
    x0, y0 = 15.0, pdf.get_y() + 1
    areas = [shape(f["geometry"]) for f in run["zones"]["features"]]
    evac = run.get("evacuation") or {}
    assigned = evac.get("assignments") or []
    origin = shapely.Point(run["origin"])
    parts: list[BaseGeometry] = [origin, *areas, *(shapely.Point(a["location"]) for a in assigned)]
    minx, miny, maxx, maxy = shapely.GeometryCollection(parts).bounds
    pad_x, pad_y = max((maxx - minx) * 0.08, 0.004), max((maxy - miny) * 0.08, 0.004)
    frame = _Frame((minx - pad_x, miny - pad_y, maxx + pad_x, maxy + pad_y), x0, y0, MAP_W, MAP_H)
    with pdf.rect_clip(x0, y0, MAP_W, MAP_H):
        pdf.set_fill_color(248, 248, 244)
        pdf.rect(x0, y0, MAP_W, MAP_H, style="F")
        _backdrop(pdf, conn, frame, access)
        _zones(pdf, frame, areas)
        _routes(pdf, frame, assigned)
        _points(pdf, frame, run["origin"], assigned)
    pdf.set_draw_color(60, 60, 60)
    pdf.set_line_width(0.3)
    pdf.rect(x0, y0, MAP_W, MAP_H)
    _scale_bar(pdf, frame, x0 + 4, y0 + MAP_H - 6)
    _north(pdf, x0 + MAP_W - 8, y0 + 4)
    pdf.set_y(y0 + MAP_H + 1.5)
    _legend(pdf, run)


def _backdrop(pdf: FPDF, conn: Connection, frame: _Frame, access: LayerAccess) -> None:
    minx, miny, maxx, maxy = frame.box()
    box = {"x1": minx, "y1": miny, "x2": maxx, "y2": maxy, "n": MAX_BACKDROP}
    for layer, colour, width, column in (("districts", (150, 150, 190), 0.35, "ST_Boundary(t.geom)"),
                                         ("roads", (185, 185, 185), 0.25, "t.geom")):
        if not access.can(layer):
            continue
        where, params = access.where(layer, alias="t")
        table = default_registry().get(layer).table
        rows = conn.execute(text(
            f"SELECT ST_AsBinary(ST_Intersection({column}, env.g)) AS g FROM \"{table}\" t, "
            f"(SELECT ST_MakeEnvelope(:x1, :y1, :x2, :y2, 4490) AS g) env "
            f"WHERE t.geom && env.g AND {where} LIMIT :n"), {**box, **params}).all()
        pdf.set_draw_color(*colour)
        pdf.set_line_width(width)
        for r in rows:
            for line in _lines(shapely.from_wkb(bytes(r.g))):
                pdf.polyline([frame(px, py) for px, py in line.coords])


def _lines(geom: BaseGeometry) -> list[Any]:
    if geom.is_empty:
        return []
    if geom.geom_type == "LineString":
        return [geom]
    if geom.geom_type in ("MultiLineString", "GeometryCollection"):
        return [g for part in geom.geoms for g in _lines(part)]
    return []


def _zones(pdf: FPDF, frame: _Frame, areas: list[BaseGeometry]) -> None:
    # each stored zone is its own ring (minus the stronger ones): filled from the whole footprint of the weakest
    # level inwards, so each level paints over the one outside it
    extents, acc = [], None
    for a in areas:
        acc = a if acc is None else shapely.union(acc, a)
        extents.append(acc)
    for i in range(len(extents) - 1, -1, -1):
        colour = ZONE_COLOURS[i % len(ZONE_COLOURS)]
        pdf.set_fill_color(*colour)
        pdf.set_draw_color(*colour)
        pdf.set_line_width(0.4)
        polygons = extents[i].geoms if extents[i].geom_type == "MultiPolygon" else [extents[i]]
        for poly in polygons:
            if poly.is_empty or poly.geom_type != "Polygon":
                continue
            points = [frame(px, py) for px, py in poly.exterior.coords]
            with pdf.local_context(fill_opacity=0.35):
                pdf.polygon(points, style="F")
            pdf.polygon(points, style="D")


def _routes(pdf: FPDF, frame: _Frame, assigned: list[Mapping[str, Any]]) -> None:
    pdf.set_draw_color(31, 119, 180)
    pdf.set_line_width(0.7)
    for a in assigned:
        coords = a.get("route", {}).get("coordinates") or []
        if len(coords) >= 2:
            pdf.polyline([frame(px, py) for px, py in coords])


def _points(pdf: FPDF, frame: _Frame, origin: Sequence[float], assigned: list[Mapping[str, Any]]) -> None:
    pdf.set_font(FONT, size=7)
    for i, a in enumerate(assigned, 1):
        px, py = frame(*a["location"])
        pdf.set_fill_color(44, 160, 44)
        pdf.set_draw_color(255, 255, 255)
        pdf.rect(px - 1.6, py - 1.6, 3.2, 3.2, style="DF")
        pdf.set_xy(px + 1.8, py - 2)
        pdf.cell(8, 4, str(i))
    px, py = frame(*origin)
    pdf.set_fill_color(*RED)
    pdf.set_draw_color(255, 255, 255)
    pdf.set_line_width(0.4)
    pdf.circle(px, py, 2.0, style="DF")


def _scale_bar(pdf: FPDF, frame: _Frame, x: float, y: float) -> None:
    target = frame.metres_per_mm() * 35  # about 35 mm long
    step = 10 ** math.floor(math.log10(target))
    metres = next(m * step for m in (5, 2, 1) if m * step <= target)
    length = metres / frame.metres_per_mm()
    pdf.set_fill_color(255, 255, 255)
    pdf.rect(x - 1.5, y - 4.5, length + 14, 7, style="F")
    pdf.set_draw_color(0, 0, 0)
    pdf.set_line_width(0.5)
    pdf.line(x, y, x + length, y)
    pdf.line(x, y - 1.2, x, y)
    pdf.line(x + length, y - 1.2, x + length, y)
    pdf.set_font(FONT, size=7)
    pdf.set_xy(x + length + 1, y - 3)
    pdf.cell(12, 4, f"{metres / 1000:g} km" if metres >= 1000 else f"{metres:g} m")


def _north(pdf: FPDF, x: float, y: float) -> None:
    pdf.set_fill_color(0, 0, 0)
    pdf.polygon([(x, y), (x - 2, y + 6), (x, y + 4.6), (x + 2, y + 6)], style="F")
    pdf.set_font(FONT, size=7)
    pdf.set_xy(x - 3, y + 6)
    pdf.cell(6, 4, "北", align="C")


def _legend(pdf: FPDF, run: Mapping[str, Any]) -> None:
    pdf.set_font(FONT, size=8)
    x = 15.0
    y = pdf.get_y()
    items = [(ZONE_COLOURS[i % len(ZONE_COLOURS)], f["properties"]["label_zh"])
             for i, f in enumerate(run["zones"]["features"])]
    items += [(RED, "事发点"), ((44, 160, 44), "避难场所（编号同第六部分）"), ((31, 119, 180), "疏散路线")]
    for colour, label in items:
        width = pdf.get_string_width(label) + 4
        if x + 4.5 + width > 195:
            x, y = 15.0, y + 5.5
        pdf.set_fill_color(*colour)
        pdf.rect(x, y + 1, 3.5, 3.5, style="F")
        pdf.set_xy(x + 4.5, y)
        pdf.cell(width, 5.5, label)
        x += 4.5 + width + 3
    pdf.set_fill_color(255, 255, 255)
    pdf.set_xy(15, y + 6)


__all__ = ["render"]
