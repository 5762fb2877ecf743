"""MapServer's capabilities documents (WMS, WFS, WCS) cut down to what the caller may read.

Rewritten to list only the layers and coverages the caller may read, so QGIS never offers a layer that would
answer 403.
"""

from __future__ import annotations

from typing import Any

from lxml import etree

# Comments go: MapServer writes notes for the administrator there (its version and build options, a warning for each
# hidden label layer, mapserver/labels.py), nothing a client needs.
_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, huge_tree=True,
                          remove_comments=True)
_NAME_CHILD = {"Layer": ("Name",), "FeatureType": ("Name",), "CoverageSummary": ("CoverageId", "Identifier"),
               "CoverageOfferingBrief": ("name",)}


def _local(tag: Any) -> str:
    return etree.QName(tag).localname if isinstance(tag, str) else ""


def _name_of(element: Any) -> str | None:
    for child in element:
        if _local(child.tag) in _NAME_CHILD[_local(element.tag)]:
            return (child.text or "").strip().rsplit(":", 1)[-1].lower()
    return None


def filter_capabilities(body: bytes, visible: set[str] | frozenset[str], everything: bool) -> bytes:
    """``body`` with every layer, feature type and coverage outside ``visible`` removed.

    A WMS group layer (one holding other layers, e.g. the map's root "onemap") is kept for its children, but its
    name is dropped unless the caller may read every layer: requesting it would draw them all.
    Raises ValueError if ``body`` is not XML (the gate then refuses rather than pass it on unfiltered).
    """
    try:
        root = etree.fromstring(body, _PARSER)
    except etree.XMLSyntaxError as exc:
        raise ValueError(f"capabilities are not XML: {exc}") from None
    doomed, nameless = [], []
    for element in root.iter():
        tag = _local(element.tag)
        if tag not in _NAME_CHILD:
            continue
        name = _name_of(element)
        is_group = tag == "Layer" and any(_local(c.tag) == "Layer" for c in element)
        if is_group:
            if name is not None and not everything:
                nameless.append(element)
        elif name is not None and name not in visible:
            doomed.append(element)
    for element in doomed:
        element.getparent().remove(element)
    for element in nameless:
        for child in list(element):
            if _local(child.tag) == "Name":
                element.remove(child)
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")


__all__ = ["filter_capabilities"]
