"""The row-scope predicate and its bind parameters agree, for every layer of the registry and every kind of scope.

A layer without an enterprise column (depots, experts, grid cells, rescue teams, sensitive targets) has no
``usccs`` parameter in its SQL; binding one anyway made SQLAlchemy raise, and OGC API items answered 500 for
every role allowed to read those layers.
"""

from __future__ import annotations

import re

import pytest
from sqlalchemy import text

from core.scope import CITY, NOTHING, Scope, scope_links
from layers.registry import default_registry

REGISTRY = default_registry()
LINKS = scope_links(REGISTRY)
SCOPES = {"city": CITY, "nothing": NOTHING, "district": Scope(districts=frozenset({"329902"})),
          "enterprise": Scope(enterprises=frozenset({"913299021014139471"})),
          "both": Scope(districts=frozenset({"329902", "329903"}), enterprises=frozenset({"913299021014139471"}))}
NAME = re.compile(r"(?<!:):([a-z_][a-z0-9_]*)")


def sql_parameters(sql: str) -> set[str]:
    return set(text(sql).compile().params)


@pytest.mark.parametrize("layer_id", sorted(LINKS))
@pytest.mark.parametrize("scope_kind", sorted(SCOPES))
@pytest.mark.parametrize(("qualifier", "prefix"), [("", "scope"), ("t.", "rs_t_layer_read")])
def test_bound_parameters_are_exactly_those_of_the_predicate(layer_id: str, scope_kind: str, qualifier: str,
                                                             prefix: str) -> None:
    link = LINKS[layer_id]
    sql, params = link.bind(SCOPES[scope_kind], qualifier, prefix)
    assert set(params) == sql_parameters(sql) == set(NAME.findall(sql))
    text(sql).bindparams(**params)  # what the OGC API feature provider does: raises on a name the SQL lacks


@pytest.mark.parametrize("layer_id", sorted(LINKS))
@pytest.mark.parametrize("scope_kind", sorted(SCOPES))
def test_write_check_binds_exactly_its_parameters(layer_id: str, scope_kind: str) -> None:
    link = LINKS[layer_id]
    sql, params = link.row_check_sql({"district_code": "329902"}, SCOPES[scope_kind], "rw")
    assert set(params) == sql_parameters(sql)
    text(sql).bindparams(**params)

