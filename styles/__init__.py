"""Neutral style specs (``styles/<style>.yaml``), one per layer, validated against the layer registry.

Validation runs in stages like ``layers/registry.py``: YAML syntax, then the JSON schema, then references to the
layers that use the style (properties, value types, geometry kind). Every problem is reported at once, each
naming the file and the field. The compilers (``styles.mapserver``, ``styles.sld``, ``styles.openlayers``) only
ever see a validated :class:`Style`.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from functools import cache
from pathlib import Path
from typing import Any

from core.yamlload import YamlProblem, load_schema, read_yaml, schema_problems
from layers.registry import Layer, Registry, default_registry
from styles.model import (
    LABEL_FONT_FAMILY,
    ZOOM0_SCALE,
    Fill,
    Filter,
    Halo,
    Hatch,
    Label,
    Marker,
    Stroke,
    Style,
    StyleClass,
    Styles,
    scale_to_zoom,
    zoom_to_scale,
)

__all__ = [
    "LABEL_FONT_FAMILY", "ZOOM0_SCALE", "Fill", "Filter", "Halo", "Hatch", "Label", "Marker", "Stroke", "Style",
    "StyleClass", "StyleError", "Styles", "default_styles", "load_styles", "scale_to_zoom", "zoom_to_scale",
]

STYLES_DIR = Path(__file__).resolve().parent
SCHEMA_PATH = STYLES_DIR / "schema.yaml"

GEOMETRY_KINDS = {
    "Point": "point", "MultiPoint": "point",
    "LineString": "line", "MultiLineString": "line",
    "Polygon": "polygon", "MultiPolygon": "polygon",
}


class StyleError(Exception):
    """One or more style files are invalid; ``problems`` holds one line per problem."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("invalid styles:\n  " + "\n  ".join(problems))


# -- building ---------------------------------------------------------------------------------------------------
def _scales(doc: Mapping[str, Any]) -> tuple[float | None, float | None]:
    """(min, max) scale denominators from zooms and/or explicit scales; the stricter bound wins.

    A zoom bound sits half a level beyond the named level so that rounding in a client's scale computation
    (dpi, latitude) never hides a layer at the level the style names.
    """
    lo = doc.get("min_scale")
    hi = doc.get("max_scale")
    if "max_zoom" in doc:
        z = zoom_to_scale(doc["max_zoom"] + 0.5)
        lo = z if lo is None else max(lo, z)
    if "min_zoom" in doc:
        z = zoom_to_scale(doc["min_zoom"] - 0.5)
        hi = z if hi is None else min(hi, z)
    return lo, hi


def _stroke(doc: Mapping[str, Any] | None) -> Stroke | None:
    if doc is None:
        return None
    return Stroke(colour=doc["colour"].upper(), width=doc["width"], opacity=doc.get("opacity", 1.0),
                  dash=tuple(doc["dash"]) if "dash" in doc else None,
                  linecap=doc.get("linecap", "round"), linejoin=doc.get("linejoin", "round"))


def _filter(doc: Mapping[str, Any] | None) -> Filter | None:
    if doc is None:
        return None
    if "equals" in doc:
        return Filter(doc["property"], "equals", doc["equals"])
    if "in" in doc:
        return Filter(doc["property"], "in", tuple(doc["in"]))
    rng = doc["range"]
    return Filter(doc["property"], "range", (rng.get("min"), rng.get("max")))


def _class(doc: Mapping[str, Any]) -> StyleClass:
    marker = doc.get("marker")
    fill = doc.get("fill")
    hatch = fill.get("hatch") if fill else None
    lo, hi = _scales(doc)
    return StyleClass(
        name=doc["name"], title_zh=doc["title"]["zh-CN"], title_en=doc["title"]["en"],
        filter=_filter(doc.get("filter")),
        marker=Marker(shape=marker["shape"], size=marker["size"], fill=marker["fill"].upper(),
                      opacity=marker.get("opacity", 1.0), stroke=_stroke(marker.get("stroke"))) if marker else None,
        fill=Fill(colour=fill["colour"].upper(), opacity=fill.get("opacity", 1.0),
                  hatch=Hatch(colour=hatch["colour"].upper(), angle=hatch.get("angle", 45.0),
                              spacing=hatch.get("spacing", 8.0), width=hatch.get("width", 1.0),
                              opacity=hatch.get("opacity", 1.0)) if hatch else None) if fill else None,
        stroke=_stroke(doc.get("stroke")), casing=_stroke(doc.get("casing")),
        min_scale=lo, max_scale=hi,
    )


def _label(doc: Mapping[str, Any] | None) -> Label | None:
    if doc is None:
        return None
    lo, hi = _scales(doc)
    halo = doc.get("halo")
    return Label(property=doc["property"], font_size=doc.get("font_size", 10.0),
                 colour=doc.get("colour", "#222222").upper(), bold=doc.get("bold", False),
                 halo=Halo(halo["colour"].upper(), halo["width"]) if halo else None,
                 placement=doc.get("placement", "point"), offset=tuple(doc.get("offset", (0.0, 0.0))),
                 priority=doc.get("priority", 5), min_scale=lo, max_scale=hi)


def _build(path: Path, doc: Mapping[str, Any]) -> Style:
    lo, hi = _scales(doc)
    return Style(id=doc["id"], title_zh=doc["title"]["zh-CN"], title_en=doc["title"]["en"],
                 geometry=doc["geometry"], classes=tuple(_class(c) for c in doc["classes"]),
                 label=_label(doc.get("label")), opacity=doc.get("opacity", 1.0),
                 min_scale=lo, max_scale=hi, source=path)


# -- validation stages ------------------------------------------------------------------------------------------
def _value_problem(layer: Layer, prop: str, value: Any) -> str | None:
    """Why ``value`` can never equal property ``prop`` of ``layer`` (None when it can)."""
    f = layer.field(prop)
    kind = f.type
    if kind in ("integer", "bigint"):
        ok = isinstance(value, int) and not isinstance(value, bool)
    elif kind == "float":
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
    elif kind == "boolean":
        ok = isinstance(value, bool)
    elif kind in ("string", "text", "date", "datetime"):
        ok = isinstance(value, str)
    else:
        return f"property {prop!r} is of type {kind} and cannot be styled"
    if not ok:
        return f"{value!r} does not fit {prop!r} ({kind})"
    if f.enum is not None and value not in f.enum:
        return f"{value!r} is not one of {prop!r}'s values {list(f.enum)}"
    if kind != "boolean" and isinstance(value, (int, float)):
        if (f.min is not None and value < f.min) or (f.max is not None and value > f.max):
            return f"{value!r} is outside {prop!r}'s range [{f.min}, {f.max}]"
    return None


def _check_property(where: str, layer: Layer, prop: str) -> str | None:
    if prop == layer.id_field:
        return None
    if prop in layer.field_names:
        if layer.mvt_properties is not None and prop not in layer.mvt_properties:
            # the console draws this layer from vector tiles with this very style
            return f"{where}: {prop!r} is not carried by layer {layer.id!r}'s vector tiles (add it to tiles.mvt)"
        return None
    return f"{where}: {prop!r} is not a field of layer {layer.id!r} (fields: {', '.join(layer.field_names)})"


def _check_style(style: Style, layers: list[Layer]) -> list[str]:
    name = style.source.name if style.source else style.id
    problems: list[str] = []
    if style.source and style.source.stem != style.id:
        problems.append(f"{name}: id: {style.id!r} must match the file name {style.source.stem!r}")
    for lo, hi, where in [(style.min_scale, style.max_scale, name),
                          *((c.min_scale, c.max_scale, f"{name}: classes[{i}](name={c.name})")
                            for i, c in enumerate(style.classes)),
                          *([(style.label.min_scale, style.label.max_scale, f"{name}: label")] if style.label else [])]:
        if lo is not None and hi is not None and lo >= hi:
            problems.append(f"{where}: the visible range is empty (min scale {lo:.0f} ≥ max scale {hi:.0f})")
    seen: set[str] = set()
    for i, cls in enumerate(style.classes):
        where = f"{name}: classes[{i}](name={cls.name})"
        if cls.name in seen:
            problems.append(f"{where}.name: duplicate class name")
        seen.add(cls.name)
        if cls.filter is None and i != len(style.classes) - 1:
            problems.append(f"{where}.filter: only the last class may omit its filter (it catches the rest)")
        if cls.filter and cls.filter.op == "range" and cls.filter.value == (None, None):
            problems.append(f"{where}.filter.range: needs min or max")
        problems.extend(_symbolizer_problems(where, style.geometry, cls))
    for layer in layers:
        lname = layer.source.name if layer.source else layer.id
        kind = GEOMETRY_KINDS[layer.geometry]
        if kind != style.geometry:
            problems.append(f"{name}: geometry: {style.geometry!r} cannot draw layer {layer.id!r} "
                            f"({lname}: geometry {layer.geometry})")
        if style.label:
            p = _check_property(f"{name}: label.property", layer, style.label.property)
            if p:
                problems.append(p)
        for i, cls in enumerate(style.classes):
            if cls.filter is None:
                continue
            where = f"{name}: classes[{i}](name={cls.name}).filter"
            p = _check_property(f"{where}.property", layer, cls.filter.property)
            if p:
                problems.append(p)
                continue
            if cls.filter.property == layer.id_field:
                continue
            if cls.filter.op == "range":
                if layer.field(cls.filter.property).type not in ("integer", "bigint", "float"):
                    problems.append(f"{where}.range: property {cls.filter.property!r} is not numeric")
                continue
            values = cls.filter.value if cls.filter.op == "in" else (cls.filter.value,)
            for value in values:
                p = _value_problem(layer, cls.filter.property, value)
                if p:
                    problems.append(f"{where}.{cls.filter.op}: {p}")
    return problems


def _symbolizer_problems(where: str, geometry: str, cls: StyleClass) -> list[str]:
    problems = []
    if geometry == "point":
        if cls.marker is None:
            problems.append(f"{where}.marker: a point style class needs a marker")
        for key in ("fill", "stroke", "casing"):
            if getattr(cls, key) is not None:
                problems.append(f"{where}.{key}: not used for points (put it in the marker)")
    elif geometry == "line":
        if cls.stroke is None:
            problems.append(f"{where}.stroke: a line style class needs a stroke")
        for key in ("marker", "fill"):
            if getattr(cls, key) is not None:
                problems.append(f"{where}.{key}: not used for lines")
    else:
        if cls.fill is None and cls.stroke is None:
            problems.append(f"{where}: a polygon style class needs a fill or a stroke")
        for key in ("marker", "casing"):
            if getattr(cls, key) is not None:
                problems.append(f"{where}.{key}: not used for polygons")
    return problems


def load_styles(registry: Registry | None = None, styles_dir: Path | str | None = None) -> Styles:
    """Load every ``*.yaml`` style (except the schema) and check it against ``registry`` or raise StyleError."""
    registry = registry if registry is not None else default_registry()
    directory = Path(styles_dir) if styles_dir is not None else STYLES_DIR
    if not directory.is_dir():
        raise StyleError([f"{directory}: style directory not found"])
    problems: list[str] = []
    styles: dict[str, Style] = {}
    for path in sorted(p for p in directory.glob("*.yaml") if p.name != SCHEMA_PATH.name):
        try:
            doc = read_yaml(path)
        except YamlProblem as exc:
            problems.append(str(exc))
            continue
        found = schema_problems(path, doc, load_schema(SCHEMA_PATH))
        if found:
            problems.extend(found)
            continue
        style = _build(path, doc)
        if style.id in styles:
            problems.append(f"{path.name}: id: {style.id!r} is already declared in {styles[style.id].source}")
            continue
        styles[style.id] = style
    users: dict[str, list[Layer]] = {}
    for layer in registry:
        if layer.style not in styles:
            lname = layer.source.name if layer.source else layer.id
            if not any(p.startswith(f"{layer.style}.yaml:") for p in problems):
                problems.append(f"{lname}: style: {layer.style!r} has no style file {layer.style}.yaml in {directory}")
            continue
        users.setdefault(layer.style, []).append(layer)
    for style in styles.values():
        problems.extend(_check_style(style, users.get(style.id, [])))
    if problems:
        raise StyleError(problems)
    return Styles(styles)


def styles_dir() -> Path:
    """``ONEMAP_STYLES_DIR`` when set (a deployment's own styles, beside its ``ONEMAP_LAYERS_DIR``), else packaged."""
    return Path(os.environ.get("ONEMAP_STYLES_DIR") or STYLES_DIR)


@cache
def default_styles() -> Styles:
    """The styles in :func:`styles_dir` checked against the default registry, loaded once per process on first use."""
    return load_styles(default_registry(), styles_dir())
