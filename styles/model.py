"""The validated style model shared by the loader and the compilers (plain frozen dataclasses)."""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from layers.registry import Layer

# Scale denominator of Web-Mercator zoom 0 for 0.28 mm pixels (OGC WMTS "GoogleMapsCompatible").
ZOOM0_SCALE = 559082264.0287178
# The one font every compiler names: labels are Chinese, so it must carry CJK glyphs.
LABEL_FONT_FAMILY = "Noto Sans CJK SC"


def zoom_to_scale(zoom: float) -> float:
    """Scale denominator at a Web-Mercator zoom level (0.28 mm pixels)."""
    return ZOOM0_SCALE / 2**zoom


def scale_to_zoom(scale: float) -> float:
    return math.log2(ZOOM0_SCALE / scale)


@dataclass(frozen=True)
class Stroke:
    colour: str
    width: float
    opacity: float = 1.0
    dash: tuple[float, ...] | None = None
    linecap: str = "round"
    linejoin: str = "round"


@dataclass(frozen=True)
class Marker:
    shape: str
    size: float
    fill: str
    opacity: float = 1.0
    stroke: Stroke | None = None


@dataclass(frozen=True)
class Hatch:
    colour: str
    angle: float = 45.0
    spacing: float = 8.0
    width: float = 1.0
    opacity: float = 1.0


@dataclass(frozen=True)
class Fill:
    colour: str
    opacity: float = 1.0
    hatch: Hatch | None = None


@dataclass(frozen=True)
class Filter:
    """``op`` is ``equals`` (value: scalar), ``in`` (value: tuple) or ``range`` (value: (min|None, max|None))."""

    property: str
    op: str
    value: Any

    def matches(self, record: Mapping[str, Any]) -> bool:
        v = record.get(self.property)
        if v is None:
            return False
        match self.op:
            case "equals":
                return v == self.value
            case "in":
                return v in self.value
            case _:
                lo, hi = self.value
                return (lo is None or v >= lo) and (hi is None or v < hi)


@dataclass(frozen=True)
class Halo:
    colour: str
    width: float


@dataclass(frozen=True)
class Label:
    property: str
    font_size: float = 10.0
    colour: str = "#222222"
    bold: bool = False
    halo: Halo | None = None
    placement: str = "point"
    offset: tuple[float, float] = (0.0, 0.0)
    priority: int = 5
    min_scale: float | None = None
    max_scale: float | None = None


@dataclass(frozen=True)
class StyleClass:
    name: str
    title_zh: str
    title_en: str
    filter: Filter | None = None
    marker: Marker | None = None
    fill: Fill | None = None
    stroke: Stroke | None = None
    casing: Stroke | None = None
    min_scale: float | None = None
    max_scale: float | None = None


@dataclass(frozen=True)
class Style:
    id: str
    title_zh: str
    title_en: str
    geometry: str
    classes: tuple[StyleClass, ...]
    label: Label | None = None
    opacity: float = 1.0
    min_scale: float | None = None
    max_scale: float | None = None
    source: Path | None = field(default=None, compare=False)

    def class_for(self, record: Mapping[str, Any]) -> StyleClass | None:
        """The class a feature is drawn with: the first whose filter matches (a class without filter matches all)."""
        for cls in self.classes:
            if cls.filter is None or cls.filter.matches(record):
                return cls
        return None

    @property
    def properties(self) -> set[str]:
        """Every feature property the style reads."""
        props = {c.filter.property for c in self.classes if c.filter}
        if self.label:
            props.add(self.label.property)
        return props


@dataclass(frozen=True)
class Styles:
    """Validated styles by id, plus the layer → style lookup."""

    by_id: Mapping[str, Style]

    def __getitem__(self, style_id: str) -> Style:
        return self.by_id[style_id]

    def __iter__(self) -> Iterator[Style]:
        return iter(self.by_id.values())

    def __len__(self) -> int:
        return len(self.by_id)

    def for_layer(self, layer: Layer) -> Style:
        return self.by_id[layer.style]
