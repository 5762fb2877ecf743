"""Load and validate the layer registry (``layers/defs/*.yaml``).

Validation runs in stages, like MapProxy's loader: YAML syntax, then the JSON schema, then cross-references
between layers. Every problem found is reported at once, each naming the file and the field.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from core.yamlload import YamlProblem, load_schema, read_yaml, schema_problems

DEFS_DIR = Path(__file__).with_name("defs")
SCHEMA_PATH = Path(__file__).with_name("schema.yaml")
STORAGE_SRID = 4490

GROUP_TITLES = {
    "basemap": {"zh-CN": "底图", "en": "Basemap"},
    "supervised": {"zh-CN": "监管对象", "en": "Supervised objects"},
    "resources": {"zh-CN": "应急资源", "en": "Emergency resources"},
    "grid": {"zh-CN": "网格", "en": "Grid"},
    "monitoring": {"zh-CN": "监测", "en": "Monitoring"},
    "events": {"zh-CN": "事件", "en": "Events"},
}


class RegistryError(Exception):
    """One or more layer files are invalid; ``problems`` holds one line per problem."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("invalid layer registry:\n  " + "\n  ".join(problems))


@dataclass(frozen=True)
class Field:
    name: str
    type: str
    label: str
    label_en: str
    length: int | None = None
    required: bool = False
    unique: bool = False
    enum: tuple[str | int, ...] | None = None
    min: float | None = None
    max: float | None = None
    references: str | None = None
    # words for coded values: value -> (zh-CN, en); once given, every enum value has them (checked at load)
    labels: dict[str | int, tuple[str, str]] | None = field(default=None, compare=False, hash=False)

    def label_of(self, value: object, lang: str) -> str | None:
        pair = (self.labels or {}).get(value)  # type: ignore[call-overload]
        return None if pair is None else pair[1 if lang == "en" else 0]


@dataclass(frozen=True)
class ConsoleUse:
    """How the console and the large screen use a layer (``console:`` in the layer file)."""

    visible: bool = False  # drawn when the console opens without a permalink
    live: bool = False  # re-read when a live event arrives (and every minute)
    query: bool = False  # ticked by default in the spatial query tool
    screen: bool = False  # drawn on the command-centre large screen


@dataclass(frozen=True)
class Dispatch:
    """A layer whose features the dispatcher can send (``dispatch:`` in the layer file)."""

    kind: str  # the resource kind stored in dispatch orders (singular: rescue_team)
    order: int  # rank among kinds: the tie-breaker after travel time, and the order kinds are listed in
    label_zh: str
    label_en: str


@dataclass(frozen=True)
class Layer:
    id: str
    title_zh: str
    title_en: str
    table: str
    geometry: str
    group: str
    access: str
    style: str
    fields: tuple[Field, ...]
    id_field: str = "id"
    temporal_field: str | None = None
    editable: bool = False
    zoom_min: int = 0
    zoom_max: int = 20
    searchable: tuple[str, ...] = ()
    mvt: bool = False
    # the fields a vector tile carries besides the id (None: all of them)
    mvt_properties: tuple[str, ...] | None = None
    raster_tiles: bool = False
    # draw order inside the composited basemap tile layer (None: not part of it)
    basemap: int | None = None
    console: ConsoleUse = ConsoleUse()
    dispatch: Dispatch | None = None
    source: Path | None = field(default=None, compare=False)

    srid: int = STORAGE_SRID

    def field(self, name: str) -> Field:
        for f in self.fields:
            if f.name == name:
                return f
        raise KeyError(f"layer {self.id} has no field {name!r}")

    @property
    def field_names(self) -> list[str]:
        return [f.name for f in self.fields]


@dataclass(frozen=True)
class Registry:
    layers: tuple[Layer, ...]

    def __iter__(self) -> Iterator[Layer]:
        return iter(self.layers)

    def __len__(self) -> int:
        return len(self.layers)

    def __contains__(self, layer_id: object) -> bool:
        return any(layer.id == layer_id for layer in self.layers)

    def get(self, layer_id: str) -> Layer:
        for layer in self.layers:
            if layer.id == layer_id:
                return layer
        raise KeyError(f"unknown layer {layer_id!r}")

    @property
    def ids(self) -> list[str]:
        return [layer.id for layer in self.layers]

    @property
    def basemap_layers(self) -> list[str]:
        """The layers the composited basemap draws, bottom first (``basemap:`` in the layer files)."""
        return [layer.id for layer in sorted((x for x in self.layers if x.basemap is not None),
                                             key=lambda x: x.basemap or 0)]

    @property
    def dispatchable(self) -> dict[str, Layer]:
        """Resource kind -> layer, in ``dispatch.order`` (the kinds the dispatcher can send)."""
        ranked = sorted((x for x in self.layers if x.dispatch), key=lambda x: x.dispatch.order)  # type: ignore[union-attr]
        return {layer.dispatch.kind: layer for layer in ranked}  # type: ignore[union-attr]

    def enum_labels(self, lang: str) -> dict[str, dict[str, str]]:
        """``{"layer.field": {value: words}}`` for every labelled field (what the front-end's enumLabel reads)."""
        i = 1 if lang == "en" else 0
        return {f"{layer.id}.{f.name}": {str(k): v[i] for k, v in f.labels.items()}
                for layer in self.layers for f in layer.fields if f.labels}


def _mvt_properties(value: Any) -> tuple[str, ...] | None:
    """``tiles.mvt``: a list names the fields vector tiles carry; ``true`` carries them all."""
    return tuple(value) if isinstance(value, list) else None


def _build(path: Path, doc: dict[str, Any]) -> Layer:
    zoom = doc.get("zoom", {"min": 0, "max": 20})
    fields = tuple(
        Field(
            name=f["name"],
            type=f["type"],
            label=f["label"],
            label_en=f.get("label_en", f["name"]),
            length=f.get("length"),
            required=f.get("required", False),
            unique=f.get("unique", False),
            enum=tuple(f["enum"]) if "enum" in f else None,
            min=f.get("min"),
            max=f.get("max"),
            references=f.get("references"),
            labels={k: (v[0], v[1]) for k, v in f["labels"].items()} if "labels" in f else None,
        )
        for f in doc["fields"]
    )
    return Layer(
        id=doc["id"],
        title_zh=doc["title"]["zh-CN"],
        title_en=doc["title"]["en"],
        table=doc["table"],
        geometry=doc["geometry"],
        group=doc["group"],
        access=doc["access"],
        style=doc["style"],
        fields=fields,
        id_field=doc.get("id_field", "id"),
        temporal_field=doc.get("temporal_field"),
        editable=doc.get("editable", False),
        zoom_min=zoom["min"],
        zoom_max=zoom["max"],
        searchable=tuple(doc.get("searchable", ())),
        mvt=bool(doc.get("tiles", {}).get("mvt", False)),
        mvt_properties=_mvt_properties(doc.get("tiles", {}).get("mvt")),
        raster_tiles=doc.get("tiles", {}).get("raster", False),
        basemap=doc.get("basemap"),
        console=ConsoleUse(**doc.get("console", {})),
        dispatch=Dispatch(kind=d["kind"], order=d["order"], label_zh=d["label"][0], label_en=d["label"][1])
        if (d := doc.get("dispatch")) else None,
        source=path,
    )


def _check_layer(layer: Layer) -> list[str]:
    name = layer.source.name if layer.source else layer.id
    problems = []
    if layer.source and layer.source.stem != layer.id:
        problems.append(f"{name}: id: {layer.id!r} must match the file name {layer.source.stem!r}")
    seen: set[str] = set()
    for i, f in enumerate(layer.fields):
        where = f"{name}: fields[{i}](name={f.name})"
        if f.name in seen:
            problems.append(f"{where}.name: duplicate field name")
        seen.add(f.name)
        if f.name in ("id", "geom", layer.id_field):
            problems.append(f"{where}.name: {f.name!r} is reserved (id and geometry columns are implicit)")
        if f.type == "string" and f.length is None:
            problems.append(f"{where}.length: a string field needs a length")
        if f.min is not None and f.max is not None and f.min > f.max:
            problems.append(f"{where}: min {f.min} is greater than max {f.max}")
        problems.extend(_check_labels(f, where))
    for s in layer.searchable:
        if s not in seen:
            problems.append(f"{name}: searchable: {s!r} is not a field of this layer")
    for s in layer.mvt_properties or ():
        if s not in seen:
            problems.append(f"{name}: tiles.mvt: {s!r} is not a field of this layer")
    if layer.temporal_field is not None:
        if layer.temporal_field not in seen:
            problems.append(f"{name}: temporal_field: {layer.temporal_field!r} is not a field of this layer")
        elif layer.field(layer.temporal_field).type not in ("date", "datetime"):
            problems.append(f"{name}: temporal_field: {layer.temporal_field!r} must be a date or datetime field")
    if layer.zoom_min > layer.zoom_max:
        problems.append(f"{name}: zoom: min {layer.zoom_min} is greater than max {layer.zoom_max}")
    return problems


def _check_labels(f: Field, where: str) -> list[str]:
    """Labels name only values the field can hold, and, once a field has labels, every enum value has words.

    A field without labels stays valid (its codes are shown as they are), so a deployment's own layer files keep
    loading; the packaged ones word every code (tests/unit/test_registry.py)."""
    problems = []
    labels = f.labels or {}
    if f.enum:
        if labels:
            problems += [f"{where}.labels: {v!r} has no label" for v in f.enum if v not in labels]
        problems += [f"{where}.labels: {k!r} is not one of enum" for k in labels if k not in f.enum]
    elif labels and f.type not in ("integer", "bigint"):
        problems.append(f"{where}.labels: only an enum or an integer field can have labels")
    else:
        for k in labels:
            if not isinstance(k, int) or (f.min is not None and k < f.min) or (f.max is not None and k > f.max):
                problems.append(f"{where}.labels: {k!r} is not a value of this field (min {f.min}, max {f.max})")
    return problems


def _check_references(layers: list[Layer]) -> list[str]:
    by_table = {layer.table: layer for layer in layers}
    problems = []
    ids: dict[str, str] = {}
    kinds: dict[str, str] = {}
    for layer in layers:
        if layer.dispatch is None:
            continue
        name = layer.source.name if layer.source else layer.id
        if layer.dispatch.kind in kinds:
            problems.append(f"{name}: dispatch.kind: {layer.dispatch.kind!r} is already declared in "
                            f"{kinds[layer.dispatch.kind]}")
        kinds[layer.dispatch.kind] = name
    for layer in layers:
        name = layer.source.name if layer.source else layer.id
        if layer.id in ids:
            problems.append(f"{name}: id: {layer.id!r} is already declared in {ids[layer.id]}")
        ids[layer.id] = name
        for i, f in enumerate(layer.fields):
            if not f.references:
                continue
            table, column = f.references.split(".")
            target = by_table.get(table)
            where = f"{name}: fields[{i}](name={f.name}).references"
            if target is None:
                problems.append(f"{where}: no layer has table {table!r}")
            elif column not in target.field_names:
                problems.append(f"{where}: layer {target.id!r} has no field {column!r}")
            elif not target.field(column).unique:
                problems.append(f"{where}: {f.references} must be declared unique to be referenced")
    return problems


def load_registry(defs_dir: Path | str | None = None) -> Registry:
    """Load every ``*.yaml`` in ``defs_dir`` (default: the packaged registry) or raise RegistryError."""
    directory = Path(defs_dir) if defs_dir is not None else DEFS_DIR
    if not directory.is_dir():
        raise RegistryError([f"{directory}: layer directory not found"])
    problems: list[str] = []
    layers: list[Layer] = []
    files = sorted(directory.glob("*.yaml"))
    if not files:
        problems.append(f"{directory}: no layer files (*.yaml)")
    for path in files:
        try:
            doc = read_yaml(path)
        except YamlProblem as exc:
            problems.append(str(exc))
            continue
        found = schema_problems(path, doc, load_schema(SCHEMA_PATH))
        if found:
            problems.extend(found)
            continue
        layer = _build(path, doc)
        problems.extend(_check_layer(layer))
        layers.append(layer)
    problems.extend(_check_references(layers))
    if problems:
        raise RegistryError(problems)
    return Registry(tuple(layers))


def layers_dir() -> Path:
    """``ONEMAP_LAYERS_DIR`` when set (a deployment's own layer files), else the packaged registry."""
    return Path(os.environ.get("ONEMAP_LAYERS_DIR") or DEFS_DIR)


@cache
def default_registry() -> Registry:
    """The registry in :func:`layers_dir`, loaded once per process on first use."""
    return load_registry(layers_dir())


def check_config(config: dict) -> list[str]:
    """Stage 3 of the configuration check (declared in layers/manifest.py): the layer registry loads."""
    try:
        default_registry()
    except RegistryError as exc:
        return [f"layer registry: {p}" for p in exc.problems]
    return []
