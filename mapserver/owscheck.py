"""Request checks the ``/ows`` bridge runs before starting ``mapserv``, and the OGC exception bodies it sends.

MapServer validates most parameters itself, but a few mistakes it answers with an empty image or an empty
feature collection (HTTP 200) instead of an error: a bounding box outside the CRS's range, or one whose axes
are swapped (WMS 1.3.0 and WFS 2.0 use the EPSG axis order: latitude first for EPSG:4490/4326, northing first
for the CGCS2000 Gauss-Krüger zones). Those are caught here so that the client learns what it did wrong.
"""

from __future__ import annotations

import codecs
import math
import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from functools import lru_cache
from xml.sax.saxutils import escape, quoteattr

WEB_MERCATOR_HALF = 20037508.342789244
# Projected CRSs (other than Web Mercator) are only sensible near their area of use; this margin still allows a
# regional overview in one Gauss-Krüger zone but rejects a box whose easting and northing were swapped.
AREA_MARGIN_DEG = 15.0
# The only OGC key a request may repeat: WCS 2.0 KVP sends one SUBSET per axis. mapserv does not read any other
# repeated key the way a check here (or the policy gate) would -- WMS keeps the last WIDTH, WFS the first TYPENAMES
# -- so a request repeating one is refused, and what was checked is what runs.
MULTI_VALUED = frozenset({"subset"})
SERVICES = ("WMS", "WFS", "WCS")
_XML_DECLARED = re.compile(rb"""^\s*<\?xml\s[^>]*?\bencoding\s*=\s*["']([^"']*)["']""")


@dataclass(frozen=True)
class RequestProblem:
    status: int
    code: str
    locator: str | None
    message: str
    service: str | None = None
    version: str | None = None


@dataclass(frozen=True)
class _CrsInfo:
    geographic: bool
    north_first: bool  # the authority's first axis is latitude/northing
    area: tuple[float, float, float, float] | None
    code: str


@lru_cache(maxsize=128)
def _crs_info(text: str) -> _CrsInfo | None:
    t = text.strip()
    if re.search(r"CRS:?84$", t, re.I):
        return _CrsInfo(True, False, None, "OGC:CRS84")
    m = re.search(r"EPSG(?::|::|/0/|:[\d.]*:)(\d{3,6})$", t, re.I) or re.fullmatch(r"(\d{4,6})", t)
    if not m:
        return None
    from pyproj import CRS
    from pyproj.exceptions import CRSError

    try:
        crs = CRS.from_epsg(int(m.group(1)))
    except CRSError:
        return None
    first = crs.axis_info[0].direction.lower() if crs.axis_info else "east"
    area = crs.area_of_use.bounds if crs.area_of_use else None
    return _CrsInfo(crs.is_geographic, first in ("north", "south"), area, f"EPSG:{m.group(1)}")


@lru_cache(maxsize=64)
def _to_lonlat(code: str):  # noqa: ANN202 - a pyproj Transformer, imported lazily
    from pyproj import Transformer

    return Transformer.from_crs(code, "EPSG:4326", always_xy=True)


def _problem(locator: str, message: str, service: str | None, version: str | None) -> RequestProblem:
    return RequestProblem(400, "InvalidParameterValue", locator, message, service, version)


def check_bbox(values: list[float], crs_text: str, authority_order: bool) -> str | None:
    """Why ``values`` (minA, minB, maxA, maxB in the request's axis order) is not a valid box, or None."""
    if len(values) != 4 or not all(math.isfinite(v) for v in values):
        return "BBOX must be four finite numbers"
    a0, b0, a1, b1 = values
    if a0 > a1 or b0 > b1:
        return "BBOX minimum is greater than its maximum"
    info = _crs_info(crs_text)
    if info is None:
        return None  # unknown CRS: MapServer answers with its own InvalidCRS exception
    swap = authority_order and info.north_first
    (x0, x1, y0, y1) = (b0, b1, a0, a1) if swap else (a0, a1, b0, b1)
    order = "latitude,longitude" if swap and info.geographic else ("northing,easting" if swap else "x,y")
    if info.geographic:
        if not (-90 <= y0 and y1 <= 90 and -180 <= x0 and x1 <= 180):
            return (f"BBOX {values} is outside the range of {info.code} "
                    f"(axis order {order}: latitude within ±90, longitude within ±180)")
        return None
    if info.code == "EPSG:3857":
        if max(abs(x0), abs(x1), abs(y0), abs(y1)) > WEB_MERCATOR_HALF * 1.001:
            return f"BBOX {values} is outside the range of EPSG:3857 (±{WEB_MERCATOR_HALF:.0f} m)"
        return None
    try:
        lons, lats = _to_lonlat(info.code).transform([x0, x1, x0, x1], [y0, y0, y1, y1])
    except Exception:  # noqa: BLE001 - PROJ raises several kinds for absurd coordinates
        lons, lats = [math.inf], [math.inf]
    ok = all(math.isfinite(v) for v in (*lons, *lats))
    if ok and info.area is not None:
        w, s, e, n = info.area
        m = AREA_MARGIN_DEG
        ok = all(w - m <= lon <= e + m for lon in lons) and all(s - m <= lat <= n + m for lat in lats)
    if not ok:
        return (f"BBOX {values} is outside the area of {info.code} (axis order {order}); "
                "were the axes swapped?")
    return None


def _floats(text: str) -> list[float] | None:
    try:
        return [float(v) for v in text.split(",")]
    except ValueError:
        return None


def repeated_key(params: list[tuple[str, str]]) -> str | None:
    """The first key given twice (any case, surrounding blanks ignored) other than a multi-valued one, or None."""
    seen: set[str] = set()
    for key, _ in params:
        k = key.strip().lower()
        if k in seen and k not in MULTI_VALUED:
            return key
        seen.add(k)
    return None


def xml_encoding_problem(body: bytes) -> str | None:
    """Why ``body`` is not an XML request mapserv reads as we do, or None.

    mapserv takes the body as a C string and its parsers as UTF-8 whatever the declaration says: a UTF-16 body is cut
    at its first NUL byte (and answered with MapServer's HTML banner), another declared encoding is misread. So
    bodies must be UTF-8 (a byte-order mark is fine), and say so if they declare an encoding.
    """
    text = body[len(codecs.BOM_UTF8):] if body.startswith(codecs.BOM_UTF8) else body
    hint = "XML requests must be encoded in UTF-8"
    if b"\0" in text or text.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return f"{hint} (this body looks like UTF-16 or UTF-32)"
    try:
        text.decode("utf-8")
    except UnicodeDecodeError as exc:
        return f"{hint} (byte {exc.start} is not UTF-8)"
    if (m := _XML_DECLARED.match(text)) and m.group(1).decode("ascii", "replace").lower() not in ("utf-8", "utf8"):
        return f"{hint}, not {m.group(1).decode('ascii', 'replace')}"
    return None


def _check_xml(text: bytes, locator: str, service: str | None, version: str | None, *,
               request: bool = False) -> RequestProblem | None:
    if not request and text.lstrip()[:1] != b"<":
        return None  # a FILTER that is no XML at all: MapServer's own exception says so
    if problem := xml_encoding_problem(text):
        return _problem(locator, problem, service, version)
    if re.search(rb"<!(DOCTYPE|ENTITY)", text, re.I):
        # Entity definitions are how XML bombs and external-entity reads start; OGC requests never need them.
        return _problem(locator, "XML with DOCTYPE or ENTITY declarations is not accepted", service, version)
    try:
        root = ET.fromstring(text)
    except ET.ParseError as exc:
        return _problem(locator, f"malformed XML: {exc}", service, version)
    if request and (root.get("service") or "").strip().upper() not in ("WFS", "WCS"):
        # mapserv picks the service of a POST body from this attribute alone; without it, it answers with HTML
        return RequestProblem(400, "MissingParameterValue", "service",
                              'an XML request needs service="WFS" or service="WCS" on its root element',
                              service, version)
    return None


def check_request(params: list[tuple[str, str]], body: bytes, content_type: str, *,
                  max_size: int) -> RequestProblem | None:
    """The first problem that must stop this request before ``mapserv`` runs, or None."""
    kv: dict[str, str] = {}
    for k, v in params:
        kv.setdefault(k.strip().lower(), v)
    request = kv.get("request", "").lower()
    service = kv.get("service", "").upper() or (
        "WMS" if request in ("getmap", "getfeatureinfo", "getlegendgraphic") else None)
    version = kv.get("version") or None
    if (key := repeated_key(params)) is not None:
        return _problem(key.strip().upper(), f"parameter {key.strip().upper()} is given more than once: send each "
                        "parameter once", service, version)
    if service is not None and service not in SERVICES:
        return _problem("service", f"unknown service {service!r}: this endpoint serves {', '.join(SERVICES)}",
                        None, version)
    if "map" in kv:
        return _problem("map", "the map parameter is not accepted: this endpoint serves one fixed map",
                        service, version)
    if "mode" in kv or (not body and not request and not service):
        # mapserv's CGI modes (mode=browse, …) are no OGC interface; without SERVICE/REQUEST we would get one.
        return RequestProblem(400, "MissingParameterValue", "request",
                              "an OGC request needs SERVICE and REQUEST, e.g. SERVICE=WMS&REQUEST=GetCapabilities",
                              service, version)
    for name in ("width", "height"):
        if name in kv:
            try:
                n = int(kv[name])
            except ValueError:
                n = -1
            if not 1 <= n <= max_size:
                return _problem(name.upper(), f"{name.upper()} must be an integer from 1 to {max_size}",
                                service, version)
    for name in ("count", "maxfeatures", "startindex", "feature_count"):
        # MapServer silently ignores a malformed COUNT and returns every feature; say so instead
        if name in kv and not kv[name].strip().isdigit():
            return _problem(name.upper(), f"{name.upper()} must be a non-negative integer", service, version)
    if service == "WMS" and request in ("getmap", "getfeatureinfo") and "bbox" in kv:
        v = version or "1.3.0"
        crs = kv.get("crs") or kv.get("srs") or ""
        values = _floats(kv["bbox"])
        reason = "BBOX must be four comma-separated numbers" if values is None else \
            check_bbox(values, crs, authority_order=v.startswith("1.3"))
        if reason:
            return _problem("BBOX", reason, service, v)
    if service == "WFS" and "bbox" in kv:
        v = version or "2.0.0"
        parts = kv["bbox"].split(",")
        values = _floats(",".join(parts[:4])) if len(parts) >= 4 else None
        crs = ",".join(parts[4:]) or "urn:ogc:def:crs:EPSG::4490"
        reason = "BBOX must be minx,miny,maxx,maxy[,crs]" if values is None else \
            check_bbox(values, crs, authority_order=not v.startswith("1.0"))
        if reason:
            return _problem("BBOX", reason, service, v)
    for name in ("filter", "sld_body"):
        if name in kv:
            p = _check_xml(kv[name].encode("utf-8"), name.upper(), service, version)
            if p:
                return p
    if body and "x-www-form-urlencoded" not in content_type:
        return _check_xml(body, "request body", service or "WFS", version, request=True)
    return None


def exception_body(problem: RequestProblem) -> tuple[bytes, str]:
    """An OGC exception document in the dialect of the service asked for (WMS by default); the one place where
    OneMap writes OGC exception XML, so the one place that escapes it."""
    locator = f" locator={quoteattr(problem.locator)}" if problem.locator else ""
    text = escape(problem.message)
    service = (problem.service or "").upper()
    version = problem.version or ""
    if service in ("WFS", "WCS", "WMTS"):
        wcs2 = service == "WCS" and not version.startswith("1.")
        ns = "http://www.opengis.net/ows/2.0" if wcs2 else "http://www.opengis.net/ows/1.1"
        doc = (f'<?xml version="1.0" encoding="UTF-8"?>\n'
               f'<ows:ExceptionReport xmlns:ows="{ns}" version="{version or "2.0.0"}" xml:lang="en">\n'
               f'  <ows:Exception exceptionCode="{problem.code}"{locator}>\n'
               f"    <ows:ExceptionText>{text}</ows:ExceptionText>\n"
               f"  </ows:Exception>\n</ows:ExceptionReport>\n")
        return doc.encode("utf-8"), "text/xml; charset=UTF-8"
    if version.startswith("1.1"):
        doc = (f'<?xml version="1.0" encoding="UTF-8"?>\n<ServiceExceptionReport version="1.1.1">\n'
               f'  <ServiceException code="{problem.code}"{locator}>{text}</ServiceException>\n'
               f"</ServiceExceptionReport>\n")
        return doc.encode("utf-8"), "application/vnd.ogc.se_xml; charset=UTF-8"
    doc = (f'<?xml version="1.0" encoding="UTF-8"?>\n'
           f'<ServiceExceptionReport version="1.3.0" xmlns="http://www.opengis.net/ogc">\n'
           f'  <ServiceException code="{problem.code}"{locator}>{text}</ServiceException>\n'
           f"</ServiceExceptionReport>\n")
    return doc.encode("utf-8"), "text/xml; charset=UTF-8"
