"""WFS/WCS XML request bodies, read for the policy gate the way MapServer reads them.

MapServer picks the service of a POST body with libxml2 (the root's ``service`` attribute, any prefix) and parses a
WFS body with GDAL's MiniXML after stripping every namespace prefix, from element *and* attribute names: a
namespace declaration ``xmlns:typeNames="x"`` becomes an attribute ``typeNames`` there. It compares names without
regard to case and takes a value from an attribute or from a child element of that name (``typename`` before
``typeNames``, the first one found). Rather than replay which candidate it would pick, the gate collects every value
that could be picked under each name and authorises all of them, so whichever one MapServer takes was checked.
Whatever cannot be read that way is refused: a body that is not UTF-8 (mapserv reads the body as a C string, so a
UTF-16 body arrives truncated at its first NUL byte), DTDs and entities, contradicting ``service`` attributes, a
stored query other than GetFeatureById, or a stored-query parameter holding markup instead of text.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from xml.parsers import expat

from mapserver.owscheck import xml_encoding_problem

BY_ID = "urn:ogc:def:query:OGC-WFS::GetFeatureById"
WFS_XML_REQUESTS = {"getcapabilities", "describefeaturetype", "getfeature", "getpropertyvalue"}
WCS_XML_REQUESTS = {"getcapabilities", "describecoverage", "getcoverage"}
_FILTER_TEXT = {"literal", "valuereference", "propertyname"}


class XmlProblem(Exception):
    """A body the gate will not pass on; ``code``/``locator`` for the OGC exception, ``audit`` for likely attacks."""

    def __init__(self, message: str, *, code: str = "InvalidParameterValue", locator: str = "request body",
                 audit: str | None = None) -> None:
        super().__init__(message)
        self.message, self.code, self.locator, self.audit = message, code, locator, audit


@dataclass
class Node:
    """An element as MapServer sees it: names without prefix, lower case; namespace declarations as attributes."""

    name: str
    attrs: list[tuple[str, str]]
    children: list[Node] = field(default_factory=list)
    texts: list[str] = field(default_factory=list)

    @property
    def text(self) -> str:
        return "".join(self.texts)

    def values(self, name: str) -> list[str]:
        """Every value MiniXML's ``CPLGetXMLValue(node, name)`` could return: attributes, then child elements."""
        return [v for k, v in self.attrs if k == name] + [c.text for c in self.children if c.name == name]

    def walk(self) -> Iterator[Node]:
        stack = [self]
        while stack:
            node = stack.pop()
            yield node
            stack.extend(reversed(node.children))


@dataclass
class XmlRequest:
    request: str                 # the root element's name, lower case
    service: str
    version: str | None
    names: list[str]             # layer (feature type, coverage) names, unprefixed, lower case
    item: str | None = None      # GetFeatureById ids
    filters: list[str] = field(default_factory=list)
    describe_all: bool = False


def _bare(name: str) -> str:
    return name.rsplit(":", 1)[-1].lower()


def parse(body: bytes) -> Node:
    """The element tree of ``body``; raises XmlProblem for anything but well-formed UTF-8 XML without a DTD."""
    if problem := xml_encoding_problem(body):
        raise XmlProblem(problem, audit="xml_encoding")
    if re.search(rb"<!(DOCTYPE|ENTITY)", body, re.I):
        # Entity definitions are how XML bombs and external-entity reads start; OGC requests never need them.
        raise XmlProblem("XML with DOCTYPE or ENTITY declarations is not accepted", audit="xml_entities")
    parser = expat.ParserCreate(encoding="UTF-8")  # no namespace processing: raw qualified names, as MiniXML
    parser.ordered_attributes = True
    parser.buffer_text = True
    parser.SetParamEntityParsing(expat.XML_PARAM_ENTITY_PARSING_NEVER)
    stack: list[Node] = []
    roots: list[Node] = []

    def start(name: str, attrs: list[str]) -> None:
        node = Node(_bare(name), [(_bare(attrs[i]), attrs[i + 1]) for i in range(0, len(attrs), 2)])
        (stack[-1].children if stack else roots).append(node)
        stack.append(node)

    def end(_name: str) -> None:
        stack.pop()

    def text(data: str) -> None:
        if stack:
            stack[-1].texts.append(data)

    def refuse(*_args: object) -> None:
        raise XmlProblem("XML with DOCTYPE or ENTITY declarations is not accepted", audit="xml_entities")

    parser.StartElementHandler, parser.EndElementHandler, parser.CharacterDataHandler = start, end, text
    parser.StartDoctypeDeclHandler = parser.EntityDeclHandler = refuse
    try:
        parser.Parse(body, True)
    except expat.ExpatError as exc:
        raise XmlProblem(f"malformed XML: {exc}") from None
    return roots[0]


def split_names(values: list[str]) -> list[str]:
    """Layer names as MapServer reads them: lists split on , space ( ), namespace prefix dropped, any case."""
    return [token.rsplit(":", 1)[-1].lower() for value in values for token in re.split(r"[,\s()]+", value) if token]


def _id_layer(identifier: str) -> str:
    """The layer of a feature id ``<layer>.<n>`` (any prefix, any case)."""
    return identifier.strip().rsplit(".", 1)[0].rsplit(":", 1)[-1].lower()


def read(body: bytes, kvp_version: str | None = None) -> XmlRequest:
    """What the XML request ``body`` asks MapServer for; raises XmlProblem when the gate cannot be sure."""
    root = parse(body)
    services = {v.strip().upper() for v in root.values("service")}
    if len(services) > 1:
        raise XmlProblem(f"contradicting service attributes {sorted(services)}", locator="service",
                         audit="ambiguous_request")
    if not services or not next(iter(services)):
        # without it mapserv answers with its HTML banner, not an OGC response
        raise XmlProblem('an XML request needs service="WFS" or service="WCS" on its root element',
                         code="MissingParameterValue", locator="service")
    service = services.pop()
    versions = root.values("version")
    out = XmlRequest(root.name, service, versions[0].strip() if versions else kvp_version, [])
    known = {"WFS": WFS_XML_REQUESTS, "WCS": WCS_XML_REQUESTS}.get(service)
    if known is None or root.name not in known:
        raise XmlProblem(f"unsupported XML request {root.name!r} for service {service!r}",
                         code="OperationNotSupported", locator="request")
    nodes = list(root.walk())
    out.filters = [n.text for n in nodes if n.name in _FILTER_TEXT]
    if root.name == "getcapabilities":
        return out
    if service == "WCS":
        out.names = split_names([v for n in nodes for key in ("coverageid", "identifier") for v in n.values(key)])
    elif root.name == "describefeaturetype":
        out.names = split_names([v for n in nodes for key in ("typename", "typenames") for v in n.values(key)])
        out.describe_all = not out.names
    else:
        out.names, out.item = _feature_names(nodes)
    out.names = list(dict.fromkeys(out.names))
    return out


def _feature_names(nodes: list[Node]) -> tuple[list[str], str | None]:
    """GetFeature/GetPropertyValue: the type names of every query, the layers of resource ids and stored queries."""
    names: list[str] = []
    stored_ids: list[str] = []
    rids: list[str] = []
    for node in nodes:
        if node.name == "query":
            names += split_names(node.values("typename") + node.values("typenames"))
        elif node.name == "resourceid":
            rids += node.values("rid")
        elif node.name == "storedquery":
            ids = node.values("id")
            if not ids or any(i.strip() != BY_ID for i in ids):
                raise XmlProblem(f"only the stored query {BY_ID} is offered", locator="StoredQuery")
            for param in node.children:
                if param.name != "parameter":
                    continue
                if param.children:
                    # mapserv pastes a parameter's markup into the stored query's template
                    raise XmlProblem("a stored query parameter must be text", locator="Parameter",
                                     audit="xml_injection")
                stored_ids += [i for i in re.split(r"[,\s]+", param.text) if i]
    # "?" stands for the type of the ResourceId in a GetFeatureById query; a rid names its layer before the dot
    names = [n for n in names if n != "?"]
    names += [_id_layer(r) for r in rids if "." in r]
    names += [_id_layer(i) for i in stored_ids]
    return names, ",".join(stored_ids) if stored_ids else None


__all__ = ["BY_ID", "Node", "XmlProblem", "XmlRequest", "parse", "read", "split_names"]
