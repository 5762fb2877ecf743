"""Data scope (数据权限): which rows of a layer a caller may see, and the one SQL predicate that enforces it.

A :class:`Scope` is "every row", a set of districts (GB/T 2260 codes) and/or a set of enterprises (USCC). How a
layer's rows relate to districts and enterprises is read from the layer registry's references, not written by
hand: a field referencing ``districts.code`` is the district column; the ``enterprises`` table's own ``uscc``, or
a field referencing ``enterprises.uscc``, is the enterprise column; a field referencing a layer that has an
enterprise column links through it (``sensors.hazard_source_code`` → ``hazard_sources.enterprise_uscc``).

:meth:`ScopeLink.where` renders the predicate for every enforcement point from the same template — bound
parameters for pygeoapi, MVT and business modules, MapServer runtime-substitution tokens for the mapfile — so
the OGC services and the REST API can never disagree about a row. This module imports nothing from Flask or the
database and is safe to import from the mapfile generator.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

DISTRICT_KEY = "districts.code"
ENTERPRISE_KEY = "enterprises.uscc"


@dataclass(frozen=True)
class Scope:
    """Rows a caller may see: all of them, or those of ``districts`` and/or ``enterprises``. Empty: none."""

    all: bool = False
    districts: frozenset[str] = frozenset()
    enterprises: frozenset[str] = frozenset()

    def __or__(self, other: Scope) -> Scope:
        if self.all or other.all:
            return Scope(all=True)
        return Scope(districts=self.districts | other.districts, enterprises=self.enterprises | other.enterprises)

    @property
    def empty(self) -> bool:
        return not (self.all or self.districts or self.enterprises)

    def describe(self) -> str:
        if self.all:
            return "city"
        parts = [f"district {','.join(sorted(self.districts))}"] if self.districts else []
        parts += [f"enterprise {','.join(sorted(self.enterprises))}"] if self.enterprises else []
        return "; ".join(parts) or "nothing"


NOTHING = Scope()
CITY = Scope(all=True)


@dataclass(frozen=True)
class ScopeLink:
    """How the rows of one layer relate to districts and enterprises."""

    layer_id: str
    table: str
    district_column: str | None = None
    enterprise_column: str | None = None
    # (column on this table, referenced table, its key column, its enterprise column)
    via: tuple[str, str, str, str] | None = None

    @property
    def has_enterprise(self) -> bool:
        return self.enterprise_column is not None or self.via is not None

    def where(self, *, all_sql: str, districts_sql: str, usccs_sql: str, qualifier: str = "") -> str:
        """The row predicate, given SQL expressions for "all rows" (boolean) and the two text arrays."""
        q = qualifier
        parts = [all_sql]
        if self.district_column:
            parts.append(f'{q}"{self.district_column}" = ANY({districts_sql})')
        if self.enterprise_column:
            parts.append(f'{q}"{self.enterprise_column}" = ANY({usccs_sql})')
        elif self.via:
            column, table, key, enterprise = self.via
            parts.append(f'{q}"{column}" IN (SELECT v."{key}" FROM public."{table}" v '
                         f'WHERE v."{enterprise}" = ANY({usccs_sql}))')
        return "(" + " OR ".join(parts) + ")"

    def bound_sql(self, qualifier: str = "", prefix: str = "scope") -> str:
        """The predicate with ``:<prefix>_all`` and, where this layer has the column, ``:<prefix>_districts``
        and ``:<prefix>_usccs`` bind parameters (exactly those :meth:`params` returns)."""
        return self.where(all_sql=f"CAST(:{prefix}_all AS boolean)",
                          districts_sql=f"CAST(:{prefix}_districts AS text[])",
                          usccs_sql=f"CAST(:{prefix}_usccs AS text[])", qualifier=qualifier)

    def params(self, scope: Scope, prefix: str = "scope") -> dict[str, Any]:
        """The bind parameters of :meth:`bound_sql` for ``scope``: exactly the ones its SQL names.

        A layer without an enterprise (or district) column has no such parameter in its predicate, and a
        SQLAlchemy ``text().bindparams()`` of an undefined name raises; so the link, which knows its SQL, says
        which values to bind (sorted: stable SQL for caching and tests).
        """
        out: dict[str, Any] = {f"{prefix}_all": scope.all}
        if self.district_column:
            out[f"{prefix}_districts"] = sorted(scope.districts)
        if self.has_enterprise:
            out[f"{prefix}_usccs"] = sorted(scope.enterprises)
        return out

    def bind(self, scope: Scope, qualifier: str = "", prefix: str = "scope") -> tuple[str, dict[str, Any]]:
        """``(predicate, params)`` limiting this layer's rows to ``scope``."""
        return self.bound_sql(qualifier, prefix), self.params(scope, prefix)

    def row_check_sql(self, values: Mapping[str, Any], scope: Scope,
                      prefix: str = "scope") -> tuple[str, dict[str, Any]]:
        """``SELECT <bool>``: would a row with these column values be inside ``scope``? (checks writes)."""
        columns = [c for c in (self.district_column, self.enterprise_column, self.via and self.via[0]) if c]
        select = ", ".join(f'CAST(:row_{i} AS text) AS "{c}"' for i, c in enumerate(columns)) or "1 AS one"
        params = {f"row_{i}": None if values.get(c) is None else str(values.get(c)) for i, c in enumerate(columns)}
        where, scope_params = self.bind(scope, "r.", prefix)
        sql = f"SELECT EXISTS (SELECT 1 FROM (SELECT {select}) AS r WHERE {where})"
        return sql, {**params, **scope_params}


def scope_links(registry: Any) -> dict[str, ScopeLink]:
    """The :class:`ScopeLink` of every layer in ``registry``, derived from its references."""
    ent_table, ent_column = ENTERPRISE_KEY.split(".")
    direct: dict[str, ScopeLink] = {}
    for layer in registry:
        district = next((f.name for f in layer.fields if f.references == DISTRICT_KEY), None)
        if layer.table == ent_table and ent_column in layer.field_names:
            enterprise: str | None = ent_column
        else:
            enterprise = next((f.name for f in layer.fields if f.references == ENTERPRISE_KEY), None)
        direct[layer.id] = ScopeLink(layer.id, layer.table, district, enterprise)
    by_table = {link.table: link for link in direct.values()}
    links: dict[str, ScopeLink] = {}
    for layer in registry:
        link = direct[layer.id]
        if not link.has_enterprise:
            for f in layer.fields:
                table, _, key = (f.references or "").partition(".")
                target = by_table.get(table)
                if target is not None and target.enterprise_column and table != ent_table:
                    link = ScopeLink(link.layer_id, link.table, link.district_column, None,
                                     (f.name, table, key, target.enterprise_column))
                    break
        links[layer.id] = link
    return links


class RowAccess(Protocol):
    """What a module's code asks of the caller's access (``access.policy.rowscope.LayerAccess`` implements it)."""

    def can(self, layer_id: str, action: str = "read") -> bool: ...

    def where(self, layer_id: str, *, alias: str = "t", action: str = "read",
              scope: Scope | None = None) -> tuple[str, dict[str, Any]]: ...


__all__ = ["CITY", "DISTRICT_KEY", "ENTERPRISE_KEY", "NOTHING", "RowAccess", "Scope", "ScopeLink", "scope_links"]
