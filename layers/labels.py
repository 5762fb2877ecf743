"""Words for coded values, for the console, the large screen, panels and titles: the layer files' labels (per layer
and field), the dispatchable kinds' names, and the kernel's codes that belong to no layer field (core.i18n)."""

from __future__ import annotations

from typing import Any

from core.i18n import ENUM_LABELS, normalise_lang
from layers.registry import default_registry


def enum_labels(lang: str) -> dict[str, dict[str, str]]:
    """Every code's words in ``lang``: ``"layer.field"`` keys from the layer files, ``resource_kind`` from their
    ``dispatch:`` blocks, and the codes of :data:`ENUM_LABELS` (what the front-end's ``enumLabel`` reads)."""
    i = 1 if normalise_lang(lang) == "en" else 0
    registry = default_registry()
    out = registry.enum_labels(normalise_lang(lang))
    out["resource_kind"] = {kind: (layer.dispatch.label_zh, layer.dispatch.label_en)[i]  # type: ignore[union-attr]
                            for kind, layer in registry.dispatchable.items()}
    out.update({key: {str(k): v[i] for k, v in values.items()} for key, values in ENUM_LABELS.items()})
    return out


def enum_label(key: str, value: Any, lang: str) -> str | None:
    """Words for ``value`` of ``key`` (``"incidents.kind"``, ``"resource_kind"``, ``"dispatch_status"``…)."""
    return enum_labels(lang).get(key, {}).get(str(value))
