"""Shared by the MapServer /ows tests: the city-wide bridge, request helpers, pixel and XML checks."""

from __future__ import annotations

import io
from types import SimpleNamespace
from urllib.parse import quote

import sqlalchemy as sa
from lxml import etree
from PIL import Image
from pyproj import Transformer

from layers.registry import default_registry

REGISTRY = default_registry()


def city_wide(app):  # noqa: ANN001, ANN201
    """The bare bridge serves scoped layers to nobody; these tests read as a city-level user (the policy gate
    passes the same runtime-substitution values for one)."""
    from urllib.parse import urlencode

    from core.scope import CITY
    from mapserver.mapfile import scope_params

    extra = urlencode({k: v for layer in REGISTRY for k, v in scope_params(layer.id, CITY).items()})

    def wrapped(environ, start_response):  # noqa: ANN001, ANN202
        environ["QUERY_STRING"] = "&".join(filter(None, [environ.get("QUERY_STRING"), extra]))
        return app(environ, start_response)

    return wrapped
RED, ORANGE = (0xE0, 0x20, 0x20), (0xFF, 0x8C, 0x00)
NS = {"wms": "http://www.opengis.net/wms", "wfs": "http://www.opengis.net/wfs/2.0",
      "gml": "http://www.opengis.net/gml/3.2", "xsd": "http://www.w3.org/2001/XMLSchema"}
FES_EQ = ('<fes:Filter xmlns:fes="http://www.opengis.net/fes/2.0"><fes:PropertyIsEqualTo>'
          '<fes:ValueReference>{prop}</fes:ValueReference><fes:Literal>{value}</fes:Literal>'
          "</fes:PropertyIsEqualTo></fes:Filter>")
FES_LIKE = ('<fes:Filter xmlns:fes="http://www.opengis.net/fes/2.0"><fes:PropertyIsLike wildCard="*" '
            'singleChar="." escapeChar="!"><fes:ValueReference>{prop}</fes:ValueReference>'
            "<fes:Literal>{value}</fes:Literal></fes:PropertyIsLike></fes:Filter>")


def isolated_enterprise(ows_db: sa.engine.Connection, colour: str) -> SimpleNamespace:
    """An enterprise of ``colour`` with no other enterprise within ~500 m, so its pixel is its own."""
    row = ows_db.execute(sa.text(
        "select id, name, st_x(geom), st_y(geom) from enterprises e where risk_colour = :c and not exists "
        "(select 1 from enterprises o where o.id <> e.id and st_dwithin(o.geom, e.geom, 0.005)) order by id limit 1"),
        {"c": colour}).one()
    return SimpleNamespace(id=row[0], name=row[1], lon=row[2], lat=row[3])


def get(ows: SimpleNamespace, **params: object):  # noqa: ANN201
    return ows.client.get("/", query_string="&".join(f"{k}={quote(str(v), safe=':,')}" for k, v in params.items()))


def root_name(body: bytes) -> str:
    return etree.QName(etree.fromstring(body)).localname


def assert_ogc_exception(resp, status: int = 400) -> None:  # noqa: ANN001
    assert resp.status_code == status, (resp.status_code, resp.get_data()[:500])
    assert root_name(resp.get_data()) in ("ServiceExceptionReport", "ExceptionReport")


def box(lon: float, lat: float, crs: str, half: float = 0.003, version: str = "1.3.0") -> str:
    """A bbox around lon/lat in ``crs`` and the axis order WMS ``version`` uses for it."""
    t = Transformer.from_crs("EPSG:4490", crs, always_xy=True)
    xs, ys = t.transform([lon - half, lon + half], [lat - half, lat + half])
    x0, x1, y0, y1 = min(xs), max(xs), min(ys), max(ys)
    north_first = version == "1.3.0" and crs in ("EPSG:4490", "EPSG:4326", "EPSG:4549", "EPSG:4528")
    return f"{y0},{x0},{y1},{x1}" if north_first else f"{x0},{y0},{x1},{y1}"


def png(resp) -> Image.Image:  # noqa: ANN001
    assert resp.status_code == 200 and resp.headers["Content-Type"].startswith("image/png"), resp.get_data()[:300]
    return Image.open(io.BytesIO(resp.get_data())).convert("RGBA")


def close(pixel: tuple[int, ...], rgb: tuple[int, int, int], tol: int = 12) -> bool:
    return int(pixel[3]) > 200 and all(abs(int(a) - b) <= tol for a, b in zip(pixel[:3], rgb, strict=False))


def hits(ows: SimpleNamespace, typename: str, **extra: str) -> int:
    resp = get(ows, SERVICE="WFS", VERSION="2.0.0", REQUEST="GetFeature", TYPENAMES=typename,
               RESULTTYPE="hits", **extra)
    assert resp.status_code == 200, resp.get_data()[:500]
    return int(etree.fromstring(resp.get_data()).get("numberMatched"))

