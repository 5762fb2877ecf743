"""SQLAlchemy tables for every registry layer, plus the few non-spatial tables the layers own.

Layer tables are derived from the registry so that a layer file is the single source of truth; the Alembic
migrations are written from this metadata and ``tests/integration/test_migrations.py`` fails when the two drift.
"""

from __future__ import annotations

import importlib
from functools import cache

from geoalchemy2 import Geometry
from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Identity,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.types import TypeEngine

from layers.registry import STORAGE_SRID, Field, Layer, Registry, default_registry

NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_N_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def _sql_type(f: Field) -> TypeEngine:
    match f.type:
        case "string":
            return String(f.length)
        case "text":
            return Text()
        case "integer":
            return Integer()
        case "bigint":
            return BigInteger()
        case "float":
            return Float(precision=53)
        case "boolean":
            return Boolean()
        case "date":
            return Date()
        case "datetime":
            return DateTime(timezone=True)
        case "json":
            return JSONB()
    raise ValueError(f"unsupported field type {f.type!r}")


def _quote(value: str | int) -> str:
    return str(value) if isinstance(value, int) else "'" + value.replace("'", "''") + "'"


def layer_table(layer: Layer, metadata: MetaData) -> Table:
    columns: list = [Column(layer.id_field, Integer, Identity(), primary_key=True)]
    constraints: list = []
    for f in layer.fields:
        args: list = []
        if f.references:
            args.append(ForeignKey(f.references))
        columns.append(Column(f.name, _sql_type(f), *args, nullable=not f.required, unique=f.unique or None,
                              comment=f.label))
        if f.enum:
            allowed = ", ".join(_quote(v) for v in f.enum)
            constraints.append(CheckConstraint(f"{f.name} IN ({allowed})", name=f"{f.name}_enum"))
        if f.min is not None:
            constraints.append(CheckConstraint(f"{f.name} >= {f.min:g}", name=f"{f.name}_min"))
        if f.max is not None:
            constraints.append(CheckConstraint(f"{f.name} <= {f.max:g}", name=f"{f.name}_max"))
    columns.append(
        Column("geom", Geometry(layer.geometry.upper(), srid=STORAGE_SRID, spatial_index=False), nullable=False)
    )
    table = Table(layer.table, metadata, *columns, *constraints, comment=layer.title_zh)
    # Indexes are declared explicitly (not by GeoAlchemy2's event hooks) so migrations render them verbatim.
    Index(f"ix_{layer.table}_geom", table.c.geom, postgresql_using="gist")
    for name in layer.searchable:
        if layer.field(name).type in ("string", "text"):
            Index(f"ix_{layer.table}_{name}_trgm", table.c[name], postgresql_using="gin",
                  postgresql_ops={name: "gin_trgm_ops"})
    for f in layer.fields:
        if f.references and not f.unique:
            Index(f"ix_{layer.table}_{f.name}", table.c[f.name])
    return table


def _extra_tables(metadata: MetaData) -> None:
    """Tables that belong to a layer but are not themselves spatial layers."""
    Table(
        "hazard_source_chemicals", metadata,
        Column("id", Integer, Identity(), primary_key=True),
        Column("hazard_source_code", String(20), ForeignKey("hazard_sources.code", ondelete="CASCADE"),
               nullable=False, index=True),
        Column("chemical_name", String(60), nullable=False, comment="危险化学品名称"),
        Column("cas", String(15), comment="CAS号"),
        Column("quantity_t", Float(precision=53), nullable=False, comment="最大储存量(吨)"),
        Column("critical_quantity_t", Float(precision=53), nullable=False, comment="临界量(吨)"),
        CheckConstraint("quantity_t > 0", name="quantity_positive"),
        CheckConstraint("critical_quantity_t > 0", name="critical_quantity_positive"),
        comment="重大危险源危险化学品",
    )
    Table(
        "depot_inventory", metadata,
        Column("id", Integer, Identity(), primary_key=True),
        Column("depot_id", Integer, ForeignKey("depots.id", ondelete="CASCADE"), nullable=False, index=True),
        Column("item", String(60), nullable=False, comment="物资名称"),
        Column("unit", String(10), nullable=False, comment="单位"),
        Column("quantity", Float(precision=53), nullable=False, comment="库存数量"),
        Column("expiry", Date, comment="有效期至"),
        # Stock can never be over-drawn: the database refuses a negative balance whatever the caller does.
        CheckConstraint("quantity >= 0", name="quantity_not_negative"),
        comment="储备物资库存",
    )


def model_modules(config: dict | None = None) -> list[str]:
    """Modules that own tables of their own (``Manifest.model_modules``), each exposing
    ``define_tables(metadata: MetaData) -> None``."""
    from core.config import load_config
    from core.manifest import collect

    return collect(config if config is not None else load_config(), "model_modules")


def build_metadata(registry: Registry, modules: list[str] | None = None) -> MetaData:
    metadata = MetaData(naming_convention=NAMING)
    for layer in registry:
        layer_table(layer, metadata)
    _extra_tables(metadata)
    for dotted in modules if modules is not None else model_modules():
        importlib.import_module(dotted).define_tables(metadata)
    return metadata


@cache
def metadata() -> MetaData:
    """Metadata of the packaged registry (built on first use)."""
    return build_metadata(default_registry())
