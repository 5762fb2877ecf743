"""Compile a neutral :class:`~styles.Style` into MapServer 8 mapfile text: SYMBOL definitions and CLASS blocks.

MapServer picks the *first* class whose EXPRESSION matches, which is exactly the style spec's rule, so classes are
emitted in spec order. Colours are written as ``"#RRGGBB"`` and opacity as STYLE OPACITY (0–100).
"""

from __future__ import annotations

import dataclasses
import math

from layers.registry import Layer
from styles import Filter, Label, Marker, Stroke, Style, StyleClass, scale_to_zoom, zoom_to_scale

# Font aliases in the FONTSET file the mapfile generator writes.
FONT_REGULAR = "cjk"
FONT_BOLD = "cjk-bold"
# Columns of a label anchor layer (mapserver/mapfile.py): a line label's angle on screen (degrees, counter-clockwise,
# upright) and the room its line gives it (Web-Mercator metres of line per pixel of label).
LABEL_ANGLE, LABEL_ROOM = "onemap_label_angle", "onemap_label_room"
MERCATOR_RES0 = 156543.03392804097  # Web-Mercator metres per pixel at zoom 0 (256-pixel tiles)
MAX_ZOOM = 20


def q(text: str) -> str:
    """A MapServer string literal (the lexer accepts backslash escapes inside double quotes)."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _star_points(n: int = 5, inner: float = 0.38) -> str:
    pts = []
    for i in range(2 * n + 1):
        r = 0.5 if i % 2 == 0 else 0.5 * inner
        a = -math.pi / 2 + i * math.pi / n
        pts.append(f"{0.5 + r * math.cos(a):.4f} {0.5 + r * math.sin(a):.4f}")
    return " ".join(pts)


# Vector symbols use image coordinates (y grows downwards) in a unit box; MapServer scales them to SIZE pixels.
_SYMBOLS = {
    "circle": "TYPE ELLIPSE\n    FILLED TRUE\n    POINTS 1 1 END",
    "square": "TYPE VECTOR\n    FILLED TRUE\n    POINTS 0 0 1 0 1 1 0 1 0 0 END",
    "triangle": "TYPE VECTOR\n    FILLED TRUE\n    POINTS 0 1 0.5 0 1 1 0 1 END",
    "diamond": "TYPE VECTOR\n    FILLED TRUE\n    POINTS 0.5 0 1 0.5 0.5 1 0 0.5 0.5 0 END",
    "star": f"TYPE VECTOR\n    FILLED TRUE\n    POINTS {_star_points()} END",
    "hatch": "TYPE HATCH",
}


def symbol_definitions() -> str:
    """SYMBOL blocks for every marker shape and the polygon hatch, to be placed inside MAP."""
    blocks = [f"  SYMBOL\n    NAME {q(name)}\n    {body}\n  END" for name, body in _SYMBOLS.items()]
    return "\n".join(blocks) + "\n"


def _num(value: float) -> str:
    return f"{value:g}"


def _opacity(value: float) -> str:
    return f"OPACITY {round(value * 100)}"


def _literal(value: object) -> str:
    if isinstance(value, bool):
        # The PostGIS driver hands booleans to MapServer as PostgreSQL text ("t"/"f").
        return q("t" if value else "f")
    if isinstance(value, (int, float)):
        return _num(value)
    return q(str(value))


def is_numeric(layer: Layer, prop: str) -> bool:
    return prop == layer.id_field or layer.field(prop).type in ("integer", "bigint", "float")


def expression(f: Filter, numeric: bool) -> str:
    """A MapServer logical expression equivalent to ``f`` (half-open ranges, like the spec).

    ``numeric`` compares as numbers (``[grade] = 1``), otherwise as strings (``"[kind]" = "x"``): MapServer
    decides the comparison type from the operands' quoting.
    """
    operand = f"[{f.property}]" if numeric else f'"[{f.property}]"'
    if f.op == "equals":
        return f"({operand} = {_literal(f.value)})"
    if f.op == "in":
        parts = [f"({operand} = {_literal(v)})" for v in f.value]
        return parts[0] if len(parts) == 1 else "(" + " OR ".join(parts) + ")"
    lo, hi = f.value
    parts = []
    if lo is not None:
        parts.append(f"([{f.property}] >= {_num(lo)})")
    if hi is not None:
        parts.append(f"([{f.property}] < {_num(hi)})")
    return parts[0] if len(parts) == 1 else "(" + " AND ".join(parts) + ")"


def _scale_lines(lo: float | None, hi: float | None, indent: str) -> list[str]:
    out = []
    if lo is not None:
        out.append(f"{indent}MINSCALEDENOM {lo:.0f}")
    if hi is not None:
        out.append(f"{indent}MAXSCALEDENOM {hi:.0f}")
    return out


def _dash(stroke: Stroke, indent: str) -> list[str]:
    if not stroke.dash:
        return [f"{indent}LINECAP {stroke.linecap.upper()}", f"{indent}LINEJOIN {stroke.linejoin.upper()}"]
    # Round caps would swallow short gaps; dashes need butt caps to look like the spec.
    return [f"{indent}LINECAP BUTT", f"{indent}LINEJOIN {stroke.linejoin.upper()}",
            f"{indent}PATTERN {' '.join(_num(d) for d in stroke.dash)} END"]


def _line_style(stroke: Stroke, indent: str) -> list[str]:
    i2 = indent + "  "
    return [f"{indent}STYLE", f"{i2}COLOR {q(stroke.colour)}", f"{i2}WIDTH {_num(stroke.width)}",
            f"{i2}{_opacity(stroke.opacity)}", *_dash(stroke, i2), f"{indent}END"]


def _marker_style(marker: Marker, indent: str) -> list[str]:
    i2 = indent + "  "
    lines = [f"{indent}STYLE", f"{i2}SYMBOL {q(marker.shape)}", f"{i2}SIZE {_num(marker.size)}",
             f"{i2}COLOR {q(marker.fill)}", f"{i2}{_opacity(marker.opacity)}"]
    if marker.stroke is not None and marker.stroke.width > 0:
        lines += [f"{i2}OUTLINECOLOR {q(marker.stroke.colour)}", f"{i2}WIDTH {_num(marker.stroke.width)}"]
    return lines + [f"{indent}END"]


def _polygon_styles(cls: StyleClass, indent: str) -> list[str]:
    i2 = indent + "  "
    lines: list[str] = []
    if cls.fill is not None:
        lines += [f"{indent}STYLE", f"{i2}COLOR {q(cls.fill.colour)}", f"{i2}{_opacity(cls.fill.opacity)}",
                  f"{indent}END"]
        h = cls.fill.hatch
        if h is not None:
            lines += [f"{indent}STYLE", f"{i2}SYMBOL \"hatch\"", f"{i2}COLOR {q(h.colour)}",
                      f"{i2}SIZE {_num(h.spacing)}", f"{i2}WIDTH {_num(h.width)}", f"{i2}ANGLE {_num(h.angle)}",
                      f"{i2}{_opacity(h.opacity)}", f"{indent}END"]
    if cls.stroke is not None:
        s = cls.stroke
        lines += [f"{indent}STYLE", f"{i2}OUTLINECOLOR {q(s.colour)}", f"{i2}WIDTH {_num(s.width)}",
                  f"{i2}{_opacity(s.opacity)}", *_dash(s, i2), f"{indent}END"]
    return lines


def anchored_label(style: Style) -> bool:
    """Whether the style's label is drawn from an anchor point layer instead of from the shape itself.

    MapServer places a polygon's or a line's label on the geometry *clipped to the image it renders*, so each
    metatile MapProxy renders put a district's name somewhere else: cut at the metatile's edge and drawn twice
    nearby. An anchor computed once per feature in PostGIS (mapserver/mapfile.py) is the same in every render.
    """
    return style.label is not None and style.geometry in ("polygon", "line")


def _label_block(label: Label, geometry: str, indent: str, *, anchored: bool = False) -> list[str]:
    i2 = indent + "  "
    lines = [f"{indent}LABEL", f"{i2}TEXT {q('[' + label.property + ']')}",
             f"{i2}FONT {q(FONT_BOLD if label.bold else FONT_REGULAR)}", f"{i2}SIZE {_num(label.font_size)}",
             f"{i2}COLOR {q(label.colour)}", f"{i2}PRIORITY {label.priority}", f"{i2}PARTIALS FALSE"]
    if label.halo is not None and label.halo.width > 0:
        lines += [f"{i2}OUTLINECOLOR {q(label.halo.colour)}", f"{i2}OUTLINEWIDTH {_num(label.halo.width)}"]
    if anchored and (geometry == "line" or label.placement == "line"):
        lines += [f"{i2}ANGLE [{LABEL_ANGLE}]", f"{i2}POSITION CC"]
    elif geometry == "line" or label.placement == "line":
        lines += [f"{i2}ANGLE FOLLOW", f"{i2}REPEATDISTANCE 400", f"{i2}MINFEATURESIZE AUTO"]
    else:
        dx, dy = label.offset
        lines += [f"{i2}POSITION CC"]
        if dx or dy:
            lines.append(f"{i2}OFFSET {_num(dx)} {_num(dy)}")
    lines += _scale_lines(label.min_scale, label.max_scale, i2)
    return lines + [f"{indent}END"]


def compile_class(style: Style, cls: StyleClass, layer: Layer, indent: str = "    ") -> str:
    i2 = indent + "  "
    lines = [f"{indent}CLASS", f"{i2}NAME {q(cls.name)}", f"{i2}TITLE {q(cls.title_zh)}"]
    if cls.filter is not None:
        lines.append(f"{i2}EXPRESSION {expression(cls.filter, is_numeric(layer, cls.filter.property))}")
    lines += _scale_lines(cls.min_scale, cls.max_scale, i2)
    if style.geometry == "point" and cls.marker is not None:
        lines += _marker_style(cls.marker, i2)
    elif style.geometry == "line":
        if cls.casing is not None:
            lines += _line_style(cls.casing, i2)
        if cls.stroke is not None:
            lines += _line_style(cls.stroke, i2)
    else:
        lines += _polygon_styles(cls, i2)
    if style.label is not None and not anchored_label(style):
        lines += _label_block(style.label, style.geometry, i2)
    lines.append(f"{indent}END")
    return "\n".join(lines)


def label_width_sql(label: Label) -> str:
    """SQL for the pixel width a feature's label needs (CJK glyphs are one em wide; the halo on both sides)."""
    halo = label.halo.width if label.halo is not None else 0
    return f'(char_length("{label.property}") * {_num(label.font_size)} + {_num(2 * halo)})'


def compile_label_classes(style: Style, layer: Layer, indent: str = "    ") -> str:
    """The CLASS blocks of ``layer``'s label anchor layer: the label at the anchor, for features a class draws.

    A line's label keeps the rule it had along the line (MINFEATURESIZE AUTO: only where the line is longer than
    the label), as one class per zoom level comparing the line's length with the label's width at that zoom.
    """
    label = style.label
    assert label is not None and anchored_label(style)
    i2 = indent + "  "
    drawn = None
    if all(c.filter is not None for c in style.classes):
        exprs = [expression(c.filter, is_numeric(layer, c.filter.property)) for c in style.classes]  # type: ignore[arg-type]
        drawn = exprs[0] if len(exprs) == 1 else "(" + " OR ".join(exprs) + ")"
    if style.geometry == "polygon":
        head = [f"{indent}CLASS", *([f"{i2}EXPRESSION {drawn}"] if drawn else [])]
        return "\n".join([*head, *_label_block(label, "point", i2, anchored=True), f"{indent}END"]) + "\n"
    first = math.ceil(scale_to_zoom(label.max_scale) - 1e-9) if label.max_scale else 0
    last = math.floor(scale_to_zoom(label.min_scale) + 1e-9) if label.min_scale else MAX_ZOOM
    unbounded = dataclasses.replace(label, min_scale=None, max_scale=None)
    blocks = []
    for z in range(first, last + 1):
        room = f"([{LABEL_ROOM}] >= {MERCATOR_RES0 / 2 ** z:.6g})"
        lo = None if z == last and label.min_scale is None else (label.min_scale if z == last else zoom_to_scale(z + 0.5))
        hi = label.max_scale if z == first and label.max_scale else zoom_to_scale(z - 0.5)
        blocks += [f"{indent}CLASS", f"{i2}EXPRESSION ({room} AND {drawn})" if drawn else f"{i2}EXPRESSION {room}",
                   *_scale_lines(lo, hi, i2), *_label_block(unbounded, "line", i2, anchored=True), f"{indent}END"]
    return "\n".join(blocks) + "\n"


def compile_classes(style: Style, layer: Layer, indent: str = "    ") -> str:
    """Every CLASS block of ``layer`` drawn with ``style`` (the style loader has proved that they fit)."""
    return "\n".join(compile_class(style, cls, layer, indent) for cls in style.classes) + "\n"
