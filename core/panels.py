"""Feature side-panel sections: the one hook through which business modules add tabs to the console.

A module registers a section for a layer; when a user opens a feature of that layer, the console calls every
provider registered for it and renders what they return, generically. The console knows nothing of hidden
dangers, permits or inspections: those modules add their own sections without touching it::

    from core.panels import register_panel_section, table

    def _inspections(feature_id: int, ctx: PanelContext) -> dict | None:
        rows = ctx.conn.execute(text("SELECT ... WHERE enterprise_id = :id"), {"id": feature_id}).mappings()
        return table([("inspected_on", "检查日期", "Date"), ("result", "结论", "Result")], rows)

    register_panel_section("enterprises", "inspections", "执法检查", "Inspections", _inspections, order=40)

Data scope. The console has already checked that the caller may read the feature itself (a feature outside
the caller's scope never reaches a provider). Rows of *other* layers that a section lists are the provider's
job: filter them with ``ctx.access`` (:class:`core.scope.RowAccess`, a :class:`access.policy.rowscope.LayerAccess`), exactly as a business endpoint
would, and declare them in ``requires`` so that the whole section is left out for a caller who may not read
that layer at all (an empty table would claim "no records")::

    def _incidents(feature_id: int, ctx: PanelContext) -> dict:
        scope, params = ctx.access.where("incidents", alias="i")
        rows = ctx.conn.execute(text(f"SELECT i.id, i.title FROM incidents i WHERE i.enterprise_uscc = :u "
                                     f"AND {scope}"), {**params, "u": ctx.attributes["uscc"]}).mappings()
        return table([("title", "事件", "Incident")], rows, link_layer="incidents")

    register_panel_section("enterprises", "incidents", "突发事件", "Incidents", _incidents, requires=("incidents",))

Records that belong to the feature itself and are no layer of their own (a hazard source's chemicals, a depot's
stock) need no filter beyond the feature's.

What a provider may return (rendered by ``app/static/console/panel.js``):

* ``None`` or an empty table: the section shows "无记录 / No records";
* ``{"kind": "table", "columns": [{"key", "label": {"zh-CN", "en"}}], "rows": [{...}],
  "link": {"layer": <layer id>, "id_key": <row key holding the feature id>}}`` — a row opens that feature
  (rows of mixed layers: ``{"layer_key": <row key holding the layer id>, "id_key": ...}``; a null id: no link);
* ``{"kind": "fields", "items": [{"label": {"zh-CN", "en"}, "value": ...}]}`` — label/value pairs;
* ``{"kind": "text", "text": "..."}``;
* any other JSON value: shown as a generic key/value tree.

Registration is declared, not scanned: a module lists its ``register`` function in its manifest (``Manifest.panel_sections``)
and the console calls it when the application is built. Registering the same (layer, section) again replaces it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.engine import Connection

from core.jsonbody import json_value
from core.scope import RowAccess

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PanelContext:
    """What a provider gets besides the feature id: the request's database connection, UI language, the
    feature's attributes and the caller's :class:`RowAccess` (filter every linked row with it)."""

    conn: Connection
    lang: str = "zh-CN"
    layer_id: str = ""
    attributes: Mapping[str, Any] = field(default_factory=dict)
    access: RowAccess = field(kw_only=True)


Provider = Callable[[int, PanelContext], Any]


@dataclass(frozen=True)
class PanelSection:
    layer_id: str
    section_id: str
    title_zh: str
    title_en: str
    provider: Provider
    order: int = 50
    requires: tuple[str, ...] = ()   # layers whose rows the section lists


_SECTIONS: dict[tuple[str, str], PanelSection] = {}


def register_panel_section(layer_id: str, section_id: str, title_zh: str, title_en: str, provider: Provider,
                           *, order: int = 50, requires: Iterable[str] = ()) -> PanelSection:
    """Add (or replace) section ``section_id`` on the panel of every feature of ``layer_id``.

    ``provider(feature_id, ctx)`` returns JSON-ready content (see the module docstring); ``order`` sorts
    the sections (lower first); ``requires`` names the layers whose rows it lists — the section is left out
    for a caller who may not read one of them. The layer must exist in the registry when the panel is built,
    not now, so a module may register before the registry is loaded.
    """
    if not layer_id or not section_id:
        raise ValueError("layer_id and section_id are required")
    if not callable(provider):
        raise TypeError(f"provider of {layer_id}/{section_id} is not callable")
    section = PanelSection(layer_id, section_id, title_zh, title_en, provider, order, tuple(requires))
    _SECTIONS[(layer_id, section_id)] = section
    return section


def unregister_panel_section(layer_id: str, section_id: str) -> None:
    _SECTIONS.pop((layer_id, section_id), None)


def sections_for(layer_id: str) -> list[PanelSection]:
    return sorted((s for s in _SECTIONS.values() if s.layer_id == layer_id), key=lambda s: (s.order, s.section_id))


def render_sections(layer_id: str, feature_id: int, ctx: PanelContext) -> list[dict[str, Any]]:
    """Every section of the feature the caller may see; a failing provider becomes an error entry instead of
    breaking the panel."""
    out = []
    for section in sections_for(layer_id):
        if not all(ctx.access.can(required) for required in section.requires):
            continue
        entry: dict[str, Any] = {"id": section.section_id, "title": {"zh-CN": section.title_zh, "en": section.title_en}}
        try:
            entry["content"] = section.provider(feature_id, ctx)
        except Exception:  # noqa: BLE001 - one broken module must not hide the feature's other records
            log.exception("panel section failed", extra={"layer": layer_id, "section": section.section_id,
                                                         "feature": feature_id})
            entry["content"] = None
            entry["error"] = True
        out.append(entry)
    return out


def table(columns: Iterable[tuple[str, str, str]], rows: Iterable[Mapping[str, Any]], *,
          link_layer: str | None = None, id_key: str = "id") -> dict[str, Any]:
    """Build table content from ``(key, label_zh, label_en)`` columns and mapping rows."""
    content: dict[str, Any] = {
        "kind": "table",
        "columns": [{"key": k, "label": {"zh-CN": zh, "en": en}} for k, zh, en in columns],
        "rows": [_jsonable(dict(r)) for r in rows],
    }
    if link_layer:
        content["link"] = {"layer": link_layer, "id_key": id_key}
    return content


def _jsonable(row: dict[str, Any]) -> dict[str, Any]:
    return {k: json_value(v) for k, v in row.items()}
