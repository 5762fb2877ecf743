"""Label anchors: one point per feature, computed in PostGIS from the whole geometry, that labels are drawn at.

MapServer places a polygon's or a line's label on the geometry clipped to the image it renders, so every metatile
MapProxy renders put a district's name somewhere else (cut at the metatile's edge, drawn twice nearby). An anchor
layer (``<layer>__labels``, written by mapserver/mapfile.py) draws the label at a point that is the same in every
render; with PARTIALS FALSE and a metatile buffer wider than any label, a label near a metatile's edge is drawn
whole, at the same pixels, by both neighbouring metatiles.
"""

from __future__ import annotations

from layers.registry import Layer
from styles import Style
from styles.mapserver import LABEL_ANGLE, LABEL_ROOM, label_width_sql

# The label anchor layer of layer "x" is "x__labels" (mapserver/mapfile.py refuses a registry id ending so).
LABEL_LAYER_SUFFIX = "__labels"


def anchor_sql(layer: Layer, style: Style, columns: str, where: str | None) -> str:
    """The sub-select of an anchor layer: one point per feature, computed from the whole, unclipped geometry.

    A polygon's anchor is the centre of its largest inscribed circle (inside even a crescent or a ring, and the
    roomiest place for the name); a line's is its midpoint, with the line's direction there as the label's angle
    (in Web Mercator, the console's grid; upright) and the room the line gives a label. ``!BOX!`` lets PostGIS use
    the table's spatial index before computing anchors (MapServer puts the image's box there). ``columns`` are the
    layer's own (the label and the style's class filters read them).
    """
    assert style.label is not None
    box = "geom && !BOX!" + (f" and {where}" if where else "")
    if style.geometry == "polygon":
        return (f"select {columns}, (ST_MaximumInscribedCircle(geom)).center as geom "
                f"from public.{_ident(layer.table)} where {box}")
    line = "ST_GeometryN(ST_LineMerge(ST_Multi(geom)), 1)"
    merc = "ST_Transform(ST_LineInterpolatePoint(l, {}), 3857)"
    screen = f"(90 - degrees(ST_Azimuth({merc.format(0.4)}, {merc.format(0.6)})))"
    return (f"select s.*, ST_LineInterpolatePoint(l, 0.5) as geom, "
            f"coalesce({screen} - 180 * ceil(({screen} - 90) / 180), 0) as {LABEL_ANGLE}, "
            f"ST_Length(ST_Transform(l, 3857)) / greatest({label_width_sql(style.label)}, 1) as {LABEL_ROOM} "
            f"from (select {columns}, {line} as l from public.{_ident(layer.table)} where {box}) as s")


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


__all__ = ["LABEL_LAYER_SUFFIX", "anchor_sql"]
