"""Compile a neutral :class:`~styles.Style` into an SLD 1.1.0 / Symbology Encoding 1.1 document.

Served at ``/ows/styles/<layer>.sld`` for desktop clients (QGIS: Layer Properties → Style → Load Style).
One ``se:Rule`` per style class, in order; the catch-all class becomes ``se:ElseFilter``. Labels go in a separate
rule named ``label`` because SE has no per-symbolizer scale range and labels appear later than symbols.
Element order follows the SE 1.1 XSD (Name, Description, Filter, Min/MaxScaleDenominator, symbolizers).
"""

from __future__ import annotations

from lxml import etree

from layers.registry import Layer
from styles import LABEL_FONT_FAMILY, Filter, Label, Marker, Stroke, Style, StyleClass

SLD_NS = "http://www.opengis.net/sld"
SE_NS = "http://www.opengis.net/se"
OGC_NS = "http://www.opengis.net/ogc"
XLINK_NS = "http://www.w3.org/1999/xlink"
XSI_NS = "http://www.w3.org/2001/XMLSchema-instance"
NSMAP = {None: SLD_NS, "se": SE_NS, "ogc": OGC_NS, "xlink": XLINK_NS, "xsi": XSI_NS}
SCHEMA_LOCATION = f"{SLD_NS} http://schemas.opengis.net/sld/1.1.0/StyledLayerDescriptor.xsd"
# SE well-known names; a diamond is a square turned by 45°.
WELL_KNOWN = {"circle": ("circle", 0.0), "square": ("square", 0.0), "triangle": ("triangle", 0.0),
              "star": ("star", 0.0), "diamond": ("square", 45.0)}


def _se(parent: etree._Element, tag: str, text: str | None = None, **attrs: str) -> etree._Element:
    el = etree.SubElement(parent, f"{{{SE_NS}}}{tag}", **attrs)
    if text is not None:
        el.text = text
    return el


def _num(v: float) -> str:
    return f"{v:g}"


def _svg(parent: etree._Element, name: str, value: str) -> None:
    _se(parent, "SvgParameter", value, name=name)


def _description(parent: etree._Element, title: str, abstract: str | None = None) -> None:
    desc = _se(parent, "Description")
    _se(desc, "Title", title)
    if abstract:
        _se(desc, "Abstract", abstract)


def _stroke(parent: etree._Element, stroke: Stroke) -> None:
    el = _se(parent, "Stroke")
    _svg(el, "stroke", stroke.colour)
    _svg(el, "stroke-width", _num(stroke.width))
    if stroke.opacity < 1:
        _svg(el, "stroke-opacity", _num(stroke.opacity))
    _svg(el, "stroke-linejoin", stroke.linejoin)
    _svg(el, "stroke-linecap", "butt" if stroke.dash else stroke.linecap)
    if stroke.dash:
        _svg(el, "stroke-dasharray", " ".join(_num(d) for d in stroke.dash))


def _fill(parent: etree._Element, colour: str, opacity: float) -> None:
    el = _se(parent, "Fill")
    _svg(el, "fill", colour)
    if opacity < 1:
        _svg(el, "fill-opacity", _num(opacity))


def _literal(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return _num(value) if isinstance(value, float) else str(value)


def _comparison(parent: etree._Element, op: str, prop: str, value: object) -> None:
    el = etree.SubElement(parent, f"{{{OGC_NS}}}{op}")
    etree.SubElement(el, f"{{{OGC_NS}}}PropertyName").text = prop
    etree.SubElement(el, f"{{{OGC_NS}}}Literal").text = _literal(value)


def _filter(parent: etree._Element, f: Filter) -> None:
    el = etree.SubElement(parent, f"{{{OGC_NS}}}Filter")
    if f.op == "equals":
        _comparison(el, "PropertyIsEqualTo", f.property, f.value)
    elif f.op == "in":
        target = etree.SubElement(el, f"{{{OGC_NS}}}Or") if len(f.value) > 1 else el
        for v in f.value:
            _comparison(target, "PropertyIsEqualTo", f.property, v)
    else:
        lo, hi = f.value
        target = etree.SubElement(el, f"{{{OGC_NS}}}And") if lo is not None and hi is not None else el
        if lo is not None:
            _comparison(target, "PropertyIsGreaterThanOrEqualTo", f.property, lo)
        if hi is not None:
            _comparison(target, "PropertyIsLessThan", f.property, hi)


def _scales(rule: etree._Element, lo: float | None, hi: float | None) -> None:
    if lo is not None:
        _se(rule, "MinScaleDenominator", f"{lo:.0f}")
    if hi is not None:
        _se(rule, "MaxScaleDenominator", f"{hi:.0f}")


def _merge(outer: tuple[float | None, float | None], inner: tuple[float | None, float | None]) \
        -> tuple[float | None, float | None]:
    lo = max((v for v in (outer[0], inner[0]) if v is not None), default=None)
    hi = min((v for v in (outer[1], inner[1]) if v is not None), default=None)
    return lo, hi


def _point(rule: etree._Element, marker: Marker) -> None:
    sym = _se(rule, "PointSymbolizer")
    graphic = _se(sym, "Graphic")
    mark = _se(graphic, "Mark")
    name, rotation = WELL_KNOWN[marker.shape]
    _se(mark, "WellKnownName", name)
    _fill(mark, marker.fill, 1.0)
    if marker.stroke is not None and marker.stroke.width > 0:
        _stroke(mark, marker.stroke)
    if marker.opacity < 1:
        _se(graphic, "Opacity", _num(marker.opacity))
    # A square turned by 45° needs a larger box to keep the diamond's height equal to ``size``.
    size = marker.size / 2**0.5 if rotation else marker.size
    _se(graphic, "Size", _num(round(size, 2)))
    if rotation:
        _se(graphic, "Rotation", _num(rotation))


def _polygon(rule: etree._Element, cls: StyleClass) -> None:
    if cls.fill is not None:
        sym = _se(rule, "PolygonSymbolizer")
        _fill(sym, cls.fill.colour, cls.fill.opacity)
        if cls.fill.hatch is None and cls.stroke is not None:
            _stroke(sym, cls.stroke)
        h = cls.fill.hatch
        if h is not None:
            # QGIS reads a GraphicFill of "horline" marks as a line-pattern fill (its own SLD export does this).
            hatch = _se(rule, "PolygonSymbolizer")
            fill = _se(hatch, "Fill")
            graphic = _se(_se(fill, "GraphicFill"), "Graphic")
            mark = _se(graphic, "Mark")
            _se(mark, "WellKnownName", "horline")
            _stroke(mark, Stroke(colour=h.colour, width=h.width, opacity=h.opacity))
            _se(graphic, "Size", _num(h.spacing))
            _se(graphic, "Rotation", _num(-h.angle))
            if cls.stroke is not None:
                _stroke(hatch, cls.stroke)
    elif cls.stroke is not None:
        _stroke(_se(rule, "PolygonSymbolizer"), cls.stroke)


def _line(rule: etree._Element, cls: StyleClass) -> None:
    for stroke in (cls.casing, cls.stroke):
        if stroke is not None:
            _stroke(_se(rule, "LineSymbolizer"), stroke)


def _text(rule: etree._Element, label: Label, geometry: str) -> None:
    sym = _se(rule, "TextSymbolizer")
    lab = _se(sym, "Label")
    etree.SubElement(lab, f"{{{OGC_NS}}}PropertyName").text = label.property
    font = _se(sym, "Font")
    _svg(font, "font-family", LABEL_FONT_FAMILY)
    _svg(font, "font-size", _num(label.font_size))
    _svg(font, "font-weight", "bold" if label.bold else "normal")
    placement = _se(sym, "LabelPlacement")
    if geometry == "line" or label.placement == "line":
        lp = _se(placement, "LinePlacement")
        _se(lp, "IsAligned", "true")
    else:
        pp = _se(placement, "PointPlacement")
        anchor = _se(pp, "AnchorPoint")
        _se(anchor, "AnchorPointX", "0.5")
        _se(anchor, "AnchorPointY", "0.5")
        dx, dy = label.offset
        if dx or dy:
            disp = _se(pp, "Displacement")
            _se(disp, "DisplacementX", _num(dx))
            _se(disp, "DisplacementY", _num(-dy))  # spec offsets are screen pixels, y down; SE's y is up
    if label.halo is not None and label.halo.width > 0:
        halo = _se(sym, "Halo")
        _se(halo, "Radius", _num(label.halo.width))
        _fill(halo, label.halo.colour, 1.0)
    _fill(sym, label.colour, 1.0)


def compile_sld(style: Style, layer: Layer) -> bytes:
    """SLD 1.1 for ``layer`` drawn with ``style`` (UTF-8 bytes with an XML declaration)."""
    root = etree.Element(f"{{{SLD_NS}}}StyledLayerDescriptor", nsmap=NSMAP, version="1.1.0")
    root.set(f"{{{XSI_NS}}}schemaLocation", SCHEMA_LOCATION)
    named = etree.SubElement(root, f"{{{SLD_NS}}}NamedLayer")
    _se(named, "Name", layer.id)
    user = etree.SubElement(named, f"{{{SLD_NS}}}UserStyle")
    _se(user, "Name", style.id)
    _description(user, style.title_zh, style.title_en)
    fts = _se(user, "FeatureTypeStyle")
    layer_range = (style.min_scale, style.max_scale)
    for cls in style.classes:
        rule = _se(fts, "Rule")
        _se(rule, "Name", cls.name)
        _description(rule, cls.title_zh, cls.title_en)
        if cls.filter is not None:
            _filter(rule, cls.filter)
        else:
            _se(rule, "ElseFilter")
        _scales(rule, *_merge(layer_range, (cls.min_scale, cls.max_scale)))
        if style.geometry == "point" and cls.marker is not None:
            _point(rule, cls.marker)
        elif style.geometry == "line":
            _line(rule, cls)
        else:
            _polygon(rule, cls)
    if style.label is not None:
        rule = _se(fts, "Rule")
        _se(rule, "Name", "label")
        _description(rule, f"{style.title_zh}注记", f"{style.title_en} labels")
        _scales(rule, *_merge(layer_range, (style.label.min_scale, style.label.max_scale)))
        _text(rule, style.label, style.geometry)
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=True)
