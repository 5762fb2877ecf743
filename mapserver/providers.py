"""pygeoapi providers tuned for OneMap's PostGIS tables.

The stock MVT-postgresql provider transforms with a *text* CRS (``ST_Transform(geom, 'EPSG:3857')``), which on
PostGIS 3.3 re-parses the projection for every row (~17 ms/row); tiles then take seconds. Here every transform uses
integer SRIDs and the tile is built in one SQL statement with ``ST_TileEnvelope``.
"""

from __future__ import annotations

import dataclasses
import logging
from functools import cache
from typing import Any

import pyproj
from geoalchemy2.functions import ST_Intersects, ST_MakeEnvelope
from pygeoapi.crs import CrsTransformSpec
from pygeoapi.models.provider.base import TileMatrixSetEnum
from pygeoapi.provider.mvt_postgresql import MVTPostgreSQLProvider
from pygeoapi.provider.sql import PostgreSQLProvider
from pygeoapi.provider.tile import ProviderTileNotFoundError
from pyproj.crs import GeographicCRS
from pyproj.crs.coordinate_system import Ellipsoidal2DCS
from pyproj.crs.enums import Ellipsoidal2DCSAxis
from sqlalchemy import text

LOGGER = logging.getLogger(__name__)

STORAGE_SRID = 4490
WEB_MERCATOR = 3857
MVT_EXTENT = 4096
MVT_BUFFER = 64


@cache
def _lonlat_storage_wkt() -> str:
    """EPSG:4490 with the axis order PostGIS actually stores (lon, lat)."""
    cgcs2000 = pyproj.CRS.from_epsg(STORAGE_SRID)
    return GeographicCRS(name="CGCS2000 (lon/lat)", datum=cgcs2000.datum,
                         ellipsoidal_cs=Ellipsoidal2DCS(axis=Ellipsoidal2DCSAxis.LONGITUDE_LATITUDE)).to_wkt()


class OneMapFeatureProvider(PostgreSQLProvider):
    """pygeoapi's PostgreSQL provider, made correct for a storage CRS whose authority axis order is lat/lon.

    EPSG:4490 (like 4326) is defined latitude-first, but PostGIS stores x = longitude. pygeoapi transforms a request
    bbox into the storage CRS in authority order and reads stored geometries as if they were in authority order, so
    with the stock provider every bbox query on a 4490 table returns nothing and reprojected output is swapped.
    """

    def _get_bbox_filter(self, bbox: list[float]):  # noqa: ANN202 - pygeoapi's signature
        if not bbox:
            return True
        # bbox arrives in storage-CRS authority order: [min_lat, min_lon, max_lat, max_lon]
        min_lat, min_lon, max_lat, max_lon = bbox[0], bbox[1], bbox[-2], bbox[-1]
        envelope = ST_MakeEnvelope(min_lon, min_lat, max_lon, max_lat, STORAGE_SRID)
        return ST_Intersects(envelope, getattr(self.table_model, self.geom))

    @staticmethod
    def _lonlat_source(spec: CrsTransformSpec | None) -> CrsTransformSpec:
        if spec is None:
            # pygeoapi passes no spec only when the requested CRS is the storage CRS: still swap to its lat/lon order.
            uri = f"http://www.opengis.net/def/crs/EPSG/0/{STORAGE_SRID}"
            return CrsTransformSpec(source_crs_uri=uri, source_crs_wkt=_lonlat_storage_wkt(), target_crs_uri=uri,
                                    target_crs_wkt=pyproj.CRS.from_epsg(STORAGE_SRID).to_wkt())
        return dataclasses.replace(spec, source_crs_wkt=_lonlat_storage_wkt())

    def query(self, *args: Any, crs_transform_spec: CrsTransformSpec | None = None, **kwargs: Any) -> dict:
        return super().query(*args, crs_transform_spec=self._lonlat_source(crs_transform_spec), **kwargs)

    def get(self, identifier: Any, crs_transform_spec: CrsTransformSpec | None = None, **kwargs: Any) -> dict:
        return super().get(identifier, crs_transform_spec=self._lonlat_source(crs_transform_spec), **kwargs)


class OneMapMVTProvider(MVTPostgreSQLProvider):
    """Vector tiles in WebMercatorQuad straight from PostGIS with integer-SRID transforms."""

    def get_tiling_schemes(self):  # noqa: ANN201 - pygeoapi's signature
        return [TileMatrixSetEnum.WEBMERCATORQUAD.value]

    def _tile_sql(self) -> str:
        columns = [c.name for c in self.table_model.__table__.columns if c.name != self.geom]
        cols = ", ".join(f't."{c}"' for c in columns)
        # Table and column names come from the reflected table (validated registry names), never from a request.
        return (
            f"WITH env AS (SELECT ST_TileEnvelope(:z, :x, :y) AS m), "
            f"env_storage AS (SELECT ST_Transform(m, {STORAGE_SRID}) AS s FROM env), "
            f"rows AS (SELECT ST_AsMVTGeom(ST_Transform(t.\"{self.geom}\", {WEB_MERCATOR}), env.m, "
            f"{MVT_EXTENT}, {MVT_BUFFER}, true) AS mvtgeom, {cols} "
            f"FROM \"{self.table}\" t, env, env_storage WHERE t.\"{self.geom}\" && env_storage.s) "
            f"SELECT ST_AsMVT(rows.*, :layer, {MVT_EXTENT}, 'mvtgeom', 'id') FROM rows WHERE mvtgeom IS NOT NULL"
        )

    def get_tiles(self, layer: str = "default", tileset: str | None = None, z: str | int | None = None,
                  y: str | int | None = None, x: str | int | None = None, format_: str | None = None) -> bytes | None:
        try:
            z, y, x = int(z), int(y), int(x)
        except (TypeError, ValueError):
            raise ProviderTileNotFoundError("tile indices must be integers") from None
        schemes = [s for s in self.get_tiling_schemes() if s.tileMatrixSet == tileset]
        if not schemes or z < 0 or x < 0 or y < 0 or z >= len(schemes[0].tileMatrices) \
                or not self.is_in_limits(schemes[0], z, x, y):
            raise ProviderTileNotFoundError(f"tile {tileset}/{z}/{y}/{x} is outside the tile matrix set")
        with self._engine.connect() as conn:
            data = conn.execute(text(self._tile_sql()), {"z": z, "x": x, "y": y, "layer": layer}).scalar()
        return bytes(data) if data else None
