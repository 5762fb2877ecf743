"""The map of the situation report (emergency/impact/report.py): the zones (strongest on top), the roads and district
lines of the map's box from PostGIS through the reader's scope, the evacuation routes, the numbered shelters, a scale
bar, a north arrow and the legend — vectors only, nothing fetched from outside, so the report prints offline."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import shapely
from fpdf import FPDF
from shapely.geometry import shape
from shapely.geometry.base import BaseGeometry
from sqlalchemy import text
from sqlalchemy.engine import Connection

from access.policy.rowscope import LayerAccess
from core.pdf import FONT
from layers.registry import default_registry

# zone fill colours, strongest first (red → orange → yellow → …), as in the console's impact layer
ZONE_COLOURS = ((214, 39, 40), (255, 127, 14), (255, 215, 0), (148, 103, 189), (140, 86, 75))
RED = (170, 20, 20)
MAP_W, MAP_H = 180.0, 112.0
MAX_BACKDROP = 4000  # road lines drawn behind the zones


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


def draw_map(pdf: FPDF, conn: Connection, run: Mapping[str, Any], access: LayerAccess) -> None:
    """The map at the current position, full width, with its legend below."""
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


__all__ = ["MAP_H", "RED", "ZONE_COLOURS", "draw_map"]
