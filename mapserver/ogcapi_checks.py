"""Request checks the OGC API mount runs before pygeoapi, for input pygeoapi turns into a 500.

pygeoapi passes some parameters to its providers unchecked, and the provider's failure comes back as a 500
("query error (check logs)") or an HTML error page:

* ``offset`` beyond the 64-bit range (PostgreSQL: bigint out of range);
* ``datetime`` on a collection without a temporal property, or text that is not an RFC 3339 instant/interval;
* a coverage ``bbox`` that is degenerate, not finite, or outside the raster (rasterio: shapes do not overlap),
  and a ``bbox-crs`` that is not an EPSG code (pygeoapi answers even a wrong order of corners with a 500);
* items ``bbox`` with NaN or infinite numbers (pygeoapi reads them as numbers; the query then matches nothing);
* process execution bodies that are not JSON objects of the documented shape (pygeoapi reads them with
  ``json.loads`` and calls ``.get`` on the result), and CQL2-JSON filter bodies of POST …/items that are not
  objects; both are read with the one checked reader, :mod:`core.jsonbody`.

Each check returns ``(HTTP status, OGC exception code, message)`` or None; the mount answers with pygeoapi's own
exception document, so the client gets the same format as for pygeoapi's own refusals.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path
from typing import Any

import pygeoapi.api.coverages as coverages_api
import pygeoapi.api.itemtypes as itemtypes_api
import pygeoapi.api.processes as processes_api

from core import jsonbody

Problem = tuple[int, str, str]
INVALID = "InvalidParameterValue"
_INSTANT = re.compile(r"\d{4}-\d{2}-\d{2}([Tt ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?([Zz]|[+-]\d{2}:?\d{2})?)?")


def _provider(resource: Mapping[str, Any], kind: str) -> Mapping[str, Any] | None:
    return next((p for p in resource.get("providers", []) if p.get("type") == kind), None)


def _offset(params: Mapping[str, str]) -> Problem | None:
    raw = params.get("offset")
    if raw is None or raw == "":
        return None
    try:
        value = int(raw)
    except ValueError:
        return None  # pygeoapi answers a non-integer itself (400)
    if value > jsonbody.INT64_MAX:
        return 400, INVALID, f"offset must be an integer between 0 and {jsonbody.INT64_MAX}"
    return None


def _instant(text: str) -> datetime | None:
    if not _INSTANT.fullmatch(text):
        return None
    try:
        parsed = datetime.fromisoformat(text.replace("z", "Z"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


def _datetime(collection: str, params: Mapping[str, str], has_time: bool, what: str) -> Problem | None:
    raw = params.get("datetime")
    if raw is None:
        return None
    if not has_time:
        return 400, INVALID, f"{what} {collection!r} has no temporal property: the datetime parameter cannot be used"
    allowed = ("an RFC 3339 date or date-time (2025-06-01, 2025-06-01T08:00:00Z) or an interval of two, "
               "either end open ('..'): 2025-06-01/2025-06-30, 2025-06-01/..")
    parts = raw.split("/")
    if len(parts) > 2 or not raw.strip():
        return 400, INVALID, f"datetime must be {allowed}"
    ends = []
    for part in parts:
        if len(parts) == 2 and part in ("", ".."):
            ends.append(None)
            continue
        instant = _instant(part)
        if instant is None:
            return 400, INVALID, f"datetime {part[:40]!r} is not valid: it must be {allowed}"
        ends.append(instant)
    if len(ends) == 2 and ends[0] is not None and ends[1] is not None and ends[0] > ends[1]:
        return 400, INVALID, "datetime interval: the start is after the end"
    return None


def check_items(resource: Mapping[str, Any], collection: str, params: Mapping[str, str]) -> Problem | None:
    provider = _provider(resource, "feature")
    if provider is None:
        return None  # pygeoapi's own 404/400 for collections without features
    return (_offset(params) or _finite_bbox(params)
            or _datetime(collection, params, bool(provider.get("time_field")), "collection"))


def _finite_bbox(params: Mapping[str, str]) -> Problem | None:
    # pygeoapi reads "nan" and "inf" as numbers; a NaN envelope then silently matches nothing
    raw = params.get("bbox")
    if raw is None:
        return None
    try:
        values = [float(v) for v in raw.split(",")]
    except ValueError:
        return None  # pygeoapi: "bbox values must be numbers"
    if not all(math.isfinite(v) for v in values):
        return 400, INVALID, "bbox values must be finite numbers"
    return None


@lru_cache(maxsize=8)
def _raster(path: str, mtime: float) -> tuple[tuple[float, float, float, float], int | None]:
    import rasterio

    with rasterio.open(path) as ds:
        b = ds.bounds
        return (b.left, b.bottom, b.right, b.top), (ds.crs.to_epsg() if ds.crs else None)


def _bbox_in(raster_crs: int | None, bbox_crs: int, bbox: list[float]) -> list[float]:
    if raster_crs is None or raster_crs == bbox_crs or {raster_crs, bbox_crs} <= {4326, 4490}:
        return bbox  # CGCS2000 and WGS 84 agree to well under a raster cell
    from pyproj import CRS

    from mapserver.pygeoapi_patches import cached_transformer

    t = cached_transformer(CRS.from_epsg(bbox_crs), CRS.from_epsg(raster_crs), True)
    (x1, x2), (y1, y2) = t.transform([bbox[0], bbox[2]], [bbox[1], bbox[3]])
    return [x1, y1, x2, y2]


def check_coverage(resource: Mapping[str, Any], collection: str, params: Mapping[str, str]) -> Problem | None:
    provider = _provider(resource, "coverage")
    if provider is None:
        return None
    if problem := _datetime(collection, params, False, "coverage"):
        return problem
    crs_raw = params.get("bbox-crs")
    bbox_crs = 4326
    if crs_raw is not None:
        from pyproj import CRS
        from pyproj.exceptions import CRSError

        try:
            bbox_crs = int(crs_raw) if crs_raw.isdigit() and len(crs_raw) <= 6 else -1
            CRS.from_epsg(bbox_crs)
        except (CRSError, ValueError):
            return 400, INVALID, "bbox-crs must be an EPSG code known to PROJ, e.g. 4326 (default) or 4490"
    raw = params.get("bbox")
    if raw is None:
        return None
    try:
        bbox = [float(v) for v in raw.split(",")]
    except ValueError:
        return 400, INVALID, "bbox must be four numbers: minx,miny,maxx,maxy"
    if len(bbox) != 4 or not all(math.isfinite(v) for v in bbox):
        return 400, INVALID, "bbox must be four finite numbers: minx,miny,maxx,maxy"
    if bbox[0] >= bbox[2] or bbox[1] >= bbox[3]:
        return 400, INVALID, "bbox must enclose an area: minx less than maxx and miny less than maxy"
    path = Path(str(provider.get("data", "")))
    if not path.is_file():
        return None  # pygeoapi reports a missing raster itself
    (left, bottom, right, top), raster_crs = _raster(str(path), path.stat().st_mtime)
    try:
        x1, y1, x2, y2 = _bbox_in(raster_crs, bbox_crs, bbox)
    except Exception:  # noqa: BLE001 - a box PROJ cannot transform cannot overlap the raster either
        x1 = y1 = x2 = y2 = math.nan
    if not (x1 < right and x2 > left and y1 < top and y2 > bottom):
        return 400, INVALID, (f"bbox does not overlap the coverage {collection!r}, whose extent is "
                              f"{left:.6f},{bottom:.6f},{right:.6f},{top:.6f} (EPSG:{raster_crs or 4326})")
    return None


def check_execution(data: bytes | None) -> Problem | None:
    if not data:
        return None  # pygeoapi: 400 MissingParameterValue
    try:
        body = jsonbody.loads(data)
    except jsonbody.BadJSON as exc:
        return 400, INVALID, exc.message_en
    if not isinstance(body, dict):
        return 400, INVALID, 'the execute request must be a JSON object: {"inputs": {...}}'
    for key in ("inputs", "outputs"):
        if key in body and not isinstance(body[key], dict):
            return 400, INVALID, f"'{key}' must be a JSON object"
    if body.get("response", "raw") not in ("raw", "document"):
        return 400, INVALID, "'response' must be 'raw' or 'document'"
    if "subscriber" in body:
        # pygeoapi would call the given URLs from the server when the job ends: not offered here (no outbound
        # callbacks from an offline installation, and no server-side requests to addresses a client chooses).
        return 400, INVALID, "callbacks ('subscriber') are not offered by this server"
    return None


def check_cql_json(data: bytes) -> Problem | None:
    try:
        body = jsonbody.loads(data)
    except jsonbody.BadJSON as exc:
        return 400, INVALID, exc.message_en
    if not isinstance(body, dict):
        return 400, INVALID, 'the body must be a CQL2-JSON filter expression, an object such as {"op": "=", ...}'
    return None


def check(fn: Callable, api: Any, params: Mapping[str, str], data: bytes | None, args: tuple) -> Problem | None:
    """The problem with a request to pygeoapi's ``fn`` (called with ``args``), or None."""
    if fn is processes_api.execute_process:
        return check_execution(data)
    if fn is itemtypes_api.get_collection_items and data:
        problem = check_cql_json(data)  # a POST to /items: the body is a CQL2-JSON filter
        if problem:
            return problem
    if fn not in (itemtypes_api.get_collection_items, coverages_api.get_collection_coverage) or not args:
        return None
    resource = api.config["resources"].get(args[0])
    if not isinstance(resource, Mapping):
        return None
    if fn is itemtypes_api.get_collection_items:
        return check_items(resource, args[0], params)
    return check_coverage(resource, args[0], params)




def complete_exception(fn: Callable, status: int, content: Any) -> Any:
    """pygeoapi's process manager answers a failed execution with ``{"code", "description"}``; the OGC API -
    Processes exception (RFC 7807) requires ``type``, which every other refusal of pygeoapi carries as well."""
    if fn is not processes_api.execute_process or status < 400 or not isinstance(content, (str, bytes)):
        return content
    try:
        body = json.loads(content)
    except ValueError:
        return content
    if isinstance(body, dict) and "code" in body and "type" not in body:
        return json.dumps({"type": body["code"], **body}, ensure_ascii=False)
    return content


__all__ = ["check", "check_coverage", "check_execution", "check_items", "complete_exception"]
