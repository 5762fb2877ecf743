"""Compile a neutral :class:`~styles.Style` into the JSON style description the web console interprets.

The ``rules`` use OpenLayers' flat-style vocabulary, so the console can hand them to a vector layer almost
verbatim: ``{"filter": <OL expression>, "else": bool, "style": {"circle-radius": …}}``. Zoom limits are plain
numbers (``minZoom`` inclusive, ``maxZoom`` inclusive) rather than expressions, because OL's canvas renderer
evaluates rule filters per feature and a zoom test there costs a lookup per feature per frame.
Hatch patterns have no flat-style key; they are described under ``hatch`` for the console to paint.
"""

from __future__ import annotations

import math
from typing import Any

from layers.registry import Layer, Registry
from styles import LABEL_FONT_FAMILY, Filter, Label, Marker, Stroke, Style, StyleClass, Styles, scale_to_zoom

# OL RegularShape parameters per marker shape (radius is set from the spec's size).
SHAPES: dict[str, dict[str, float]] = {
    "square": {"shape-points": 4, "shape-angle": math.pi / 4},
    "diamond": {"shape-points": 4, "shape-angle": 0.0},
    "triangle": {"shape-points": 3, "shape-angle": 0.0},
    "star": {"shape-points": 5, "shape-angle": 0.0},
}


def colour(hex_colour: str, opacity: float = 1.0) -> str:
    """``#RRGGBB`` as a CSS colour OL accepts, with alpha when translucent."""
    if opacity >= 1:
        return hex_colour
    r, g, b = (int(hex_colour[i:i + 2], 16) for i in (1, 3, 5))
    return f"rgba({r},{g},{b},{round(opacity, 3)})"


def expression(f: Filter) -> list[Any]:
    """An OpenLayers expression (``["==", ["get", prop], value]`` …) equivalent to ``f``."""
    get = ["get", f.property]
    if f.op == "equals":
        return ["==", get, f.value]
    if f.op == "in":
        parts = [["==", get, v] for v in f.value]
        return parts[0] if len(parts) == 1 else ["any", *parts]
    lo, hi = f.value
    parts = ([[">=", get, lo]] if lo is not None else []) + ([["<", get, hi]] if hi is not None else [])
    return parts[0] if len(parts) == 1 else ["all", *parts]


def _zooms(lo_scale: float | None, hi_scale: float | None) -> dict[str, float]:
    """Scale denominators back to inclusive zoom levels (the loader put bounds half a level outside)."""
    out: dict[str, float] = {}
    if hi_scale is not None:
        out["minZoom"] = round(scale_to_zoom(hi_scale) + 0.5, 2)
    if lo_scale is not None:
        out["maxZoom"] = round(scale_to_zoom(lo_scale) - 0.5, 2)
    return out


def _stroke(s: Stroke, prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {f"{prefix}stroke-color": colour(s.colour, s.opacity), f"{prefix}stroke-width": s.width,
                           f"{prefix}stroke-line-cap": "butt" if s.dash else s.linecap,
                           f"{prefix}stroke-line-join": s.linejoin}
    if s.dash:
        out[f"{prefix}stroke-line-dash"] = list(s.dash)
    return out


def _marker(m: Marker) -> dict[str, Any]:
    prefix = "circle-" if m.shape == "circle" else "shape-"
    out: dict[str, Any] = {f"{prefix}radius": m.size / 2, f"{prefix}fill-color": colour(m.fill, m.opacity)}
    if m.shape == "star":
        out["shape-radius2"] = round(m.size / 2 * 0.38, 2)
    out.update(SHAPES.get(m.shape, {}))
    if m.stroke is not None and m.stroke.width > 0:
        out[f"{prefix}stroke-color"] = colour(m.stroke.colour, m.stroke.opacity)
        out[f"{prefix}stroke-width"] = m.stroke.width
    return out


def symbolizer(style: Style, cls: StyleClass) -> dict[str, Any]:
    """The flat style for one class (without the label)."""
    if style.geometry == "point" and cls.marker is not None:
        return _marker(cls.marker)
    out: dict[str, Any] = {}
    if cls.fill is not None:
        out["fill-color"] = colour(cls.fill.colour, cls.fill.opacity)
    if cls.stroke is not None:
        out.update(_stroke(cls.stroke))
    return out


def _label_style(label: Label, geometry: str) -> dict[str, Any]:
    weight = "bold " if label.bold else ""
    out: dict[str, Any] = {
        "text-value": ["get", label.property],
        "text-font": f'{weight}{label.font_size:g}px "{LABEL_FONT_FAMILY}", sans-serif',
        "text-fill-color": label.colour,
        "text-offset-x": label.offset[0],
        "text-offset-y": label.offset[1],
    }
    if label.halo is not None and label.halo.width > 0:
        out["text-stroke-color"] = label.halo.colour
        out["text-stroke-width"] = label.halo.width
    if geometry == "line" or label.placement == "line":
        out["text-placement"] = "line"
    return out


def compile_openlayers(style: Style, layer: Layer) -> dict[str, Any]:
    """JSON-ready description: layer metadata, ordered ``rules``, ``label`` and ``legend`` entries."""
    rules = []
    legend = []
    for cls in style.classes:
        rule: dict[str, Any] = {"name": cls.name, "title": {"zh-CN": cls.title_zh, "en": cls.title_en}}
        if cls.filter is not None:
            rule["filter"] = expression(cls.filter)
        else:
            rule["else"] = True
        rule.update(_zooms(cls.min_scale, cls.max_scale))
        rule["style"] = symbolizer(style, cls)
        if cls.casing is not None:
            # Drawn first, underneath: the console renders ``casing`` as a second style for the same rule.
            rule["casing"] = _stroke(cls.casing)
        if cls.fill is not None and cls.fill.hatch is not None:
            h = cls.fill.hatch
            rule["hatch"] = {"color": colour(h.colour, h.opacity), "angle": h.angle, "spacing": h.spacing,
                             "width": h.width}
        rules.append(rule)
        legend.append({"name": cls.name, "title": {"zh-CN": cls.title_zh, "en": cls.title_en},
                       "geometry": style.geometry, "style": rule["style"],
                       **({"hatch": rule["hatch"]} if "hatch" in rule else {})})
    style_zoom = _zooms(style.min_scale, style.max_scale)
    out: dict[str, Any] = {
        "layer": layer.id,
        "style": style.id,
        "geometry": style.geometry,
        "title": {"zh-CN": layer.title_zh, "en": layer.title_en},
        "styleTitle": {"zh-CN": style.title_zh, "en": style.title_en},
        "opacity": style.opacity,
        # the registry's zoom range narrowed by the style's own, as the mapfile does
        "minZoom": max(layer.zoom_min, style_zoom.get("minZoom", layer.zoom_min)),
        "maxZoom": min(layer.zoom_max, style_zoom.get("maxZoom", layer.zoom_max)),
        "rules": rules,
        "legend": legend,
    }
    if style.label is not None:
        out["label"] = {"property": style.label.property, "priority": style.label.priority,
                        **_zooms(style.label.min_scale, style.label.max_scale),
                        "style": _label_style(style.label, style.geometry)}
    return out


def compile_all(registry: Registry, styles: Styles) -> dict[str, dict[str, Any]]:
    """Every layer's description by layer id, e.g. for one ``/api/styles.json`` the console loads at start."""
    return {layer.id: compile_openlayers(styles.for_layer(layer), layer) for layer in registry}
