"""The city's extent: the box every OGC service advertises for every vector layer, and MapServer counts within.

It is the lon/lat box (EPSG:4490) of every row of every registry layer -- the districts, i.e. the city's boundary,
included -- read from the database when the service configurations are built, widened by ``EXTENT_MARGIN``.

It is a bound, not only a view of today's rows: every write path refuses a geometry that lies in no district
(incidents and resources through the REST API and the importer: ``core/geo/points.py`` ``district_of``; OGC API
transactions: ``mapserver/providers.py``), so rows added at run time stay inside it. That matters: MapServer takes a
layer's advertised extent as the implicit filter when it counts WFS features (``RESULTTYPE=hits``, numberMatched),
so a box that missed a row would drop it from every count. The margin also absorbs MapServer printing the box with
15 significant digits. Desktop clients zoom to this box ("zoom to layer"), so it is the city, not the world.

Why the database and not a configured box: the data decides where the city is (a rebuilt demo city, another seed, a
deployment's own districts), and the box goes into the build digest, so a changed city regenerates the files.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping
from typing import Any

import sqlalchemy as sa

from core.db import database_url, safe_url
from layers.registry import Registry

log = logging.getLogger(__name__)

Extent = tuple[float, float, float, float]
# Degrees added on every side (about 5 km): rows on the city's edge stay inside after MapServer's rounding.
EXTENT_MARGIN = 0.05
# China's CGCS2000 extent; used only when the database cannot tell us the city's extent.
CHINA_EXTENT: Extent = (73.5, 18.0, 135.1, 53.6)


def city_extent(config: Mapping[str, Any], registry: Registry) -> Extent | None:
    """The city's box with its margin, rounded outwards to 1e-6°; None if the database is empty or unreachable."""
    url = database_url(dict(config))
    union = " union all ".join(f'select geom from public."{layer.table}"' for layer in registry)
    engine = sa.create_engine(url, connect_args={"connect_timeout": 5})
    try:
        with engine.connect() as conn:
            row = conn.execute(sa.text(
                f"select st_xmin(e), st_ymin(e), st_xmax(e), st_ymax(e) from (select st_extent(geom) as e "
                f"from ({union}) as g) as x")).one()
    except sa.exc.SQLAlchemyError as exc:
        reason = str(getattr(exc, "orig", exc)).strip().splitlines()[0]
        log.warning("cannot read the city's extent from %s (%s); using China's", safe_url(url), reason)
        return None
    finally:
        engine.dispose()
    if row[0] is None:
        return None
    m = EXTENT_MARGIN
    return (_down(row[0] - m), _down(row[1] - m), _up(row[2] + m), _up(row[3] + m))


def _down(v: float) -> float:
    return math.floor(v * 1e6) / 1e6


def _up(v: float) -> float:
    return math.ceil(v * 1e6) / 1e6


def extent_text(extent: Extent) -> str:
    """``minx miny maxx maxy`` as MapServer's ``*_extent`` metadata takes it (lon/lat, x first)."""
    return " ".join(f"{v:.6f}" for v in extent)


__all__ = ["CHINA_EXTENT", "EXTENT_MARGIN", "Extent", "city_extent", "extent_text"]
