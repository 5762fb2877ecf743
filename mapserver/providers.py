"""pygeoapi providers tuned for OneMap's PostGIS tables.

Both providers apply the caller's data scope (core/scope.py) on the server: the policy gate binds the request's
authorisation to a context variable, and every query, item, write and tile is filtered by the same predicate that
MapServer and the REST API use. An item outside the scope is "not found" (404), exactly like a missing one; with
no authorisation bound (no gate in front) non-public layers yield nothing.

The stock MVT-postgresql provider transforms with a *text* CRS (``ST_Transform(geom, 'EPSG:3857')``), which on
PostGIS 3.3 re-parses the projection for every row (~17 ms/row); tiles then take seconds. Here every transform uses
integer SRIDs and the tile is built in one SQL statement with ``ST_TileEnvelope``.
"""

from __future__ import annotations

import dataclasses
import json
import logging
from functools import cache
from http import HTTPStatus
from typing import Any
from urllib.parse import quote

import pyproj
from geoalchemy2.functions import ST_Intersects, ST_MakeEnvelope
from pygeoapi.crs import CrsTransformSpec
from pygeoapi.models.provider.base import TileMatrixSetEnum
from pygeoapi.provider.base import (
    ProviderGenericError,
    ProviderInvalidQueryError,
    ProviderItemNotFoundError,
)
from pygeoapi.provider.mvt_postgresql import MVTPostgreSQLProvider
from pygeoapi.provider.sql import PostgreSQLProvider
from pygeoapi.provider.tile import ProviderTileNotFoundError
from pyproj.crs import GeographicCRS
from pyproj.crs.coordinate_system import Ellipsoidal2DCS
from pyproj.crs.enums import Ellipsoidal2DCSAxis
from sqlalchemy import text
from sqlalchemy.exc import DataError, DBAPIError
from sqlalchemy.sql.expression import and_

from access.policy.rules import current_authz
from core.scope import NOTHING, Scope, ScopeLink, scope_links
from layers.registry import default_registry

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


class ProviderScopeError(ProviderGenericError):
    """A write would put a feature outside the caller's data scope."""

    ogc_exception_code = "Forbidden"
    http_status_code = HTTPStatus.FORBIDDEN
    default_msg = "the feature lies outside your data scope (district / enterprise)"


class ProviderBadFeatureError(ProviderGenericError):
    """A feature to write is not acceptable as given (400, unlike pygeoapi's ProviderInvalidDataError: 500)."""

    ogc_exception_code = "InvalidParameterValue"
    http_status_code = HTTPStatus.BAD_REQUEST
    default_msg = "the feature cannot be stored as given"


@cache
def _links_by_table() -> dict[str, tuple[ScopeLink, str]]:
    from layers.registry import default_registry

    registry = default_registry()
    links = scope_links(registry)
    return {layer.table: (links[layer.id], layer.access) for layer in registry}


def scope_for(table: str, action: str = "read") -> tuple[ScopeLink, Scope] | None:
    """The scope predicate and the caller's scope for ``table``; None for a public layer (never filtered)."""
    link, access = _links_by_table().get(table, (ScopeLink(table, table), "restricted"))
    if access == "public":
        return None
    authz = current_authz()
    return link, (authz.scope(link.layer_id, action) if authz is not None else NOTHING)


class _Scoped:
    """Scope checks shared by the feature provider's reads and writes (needs ``table``, ``id_field``, ``_engine``)."""

    table: str
    id_field: str

    def _scope_clause(self, action: str = "read"):  # noqa: ANN202 - a SQLAlchemy clause
        scoped = scope_for(self.table, action)
        if scoped is None:
            return True
        link, scope = scoped
        sql, params = link.bind(scope)
        return text(sql).bindparams(**params)

    def _typed_id(self, identifier: Any) -> Any:
        """The identifier as the id column's Python type, or None if it cannot be one (then it is not found)."""
        try:
            kind = self.table_model.__table__.c[self.id_field].type.python_type  # type: ignore[attr-defined]
        except (AttributeError, KeyError, NotImplementedError):
            return str(identifier)
        try:
            return kind(identifier)
        except (TypeError, ValueError):
            return None

    def _in_scope(self, identifier: Any, action: str) -> bool:
        scoped = scope_for(self.table, action)
        if scoped is None:
            return True
        fid = self._typed_id(identifier)
        if fid is None:
            return False
        link, scope = scoped
        by_id = f'SELECT 1 FROM public."{self.table}" WHERE "{self.id_field}" = :fid'
        with self._engine.connect() as conn:  # type: ignore[attr-defined]
            where, params = link.bind(scope)
            inside = bool(conn.execute(text(f"SELECT EXISTS ({by_id} AND {where})"), {"fid": fid, **params}).scalar())
            if not inside:
                exists = conn.execute(text(f"SELECT EXISTS ({by_id})"), {"fid": fid}).scalar()
                authz = current_authz()
                if exists and authz is not None:  # a probe for a foreign object: audit it, answer "not found"
                    authz.audit("scope_denied", target=f"layer:{link.layer_id}", object_id=str(identifier),
                                action=action)
        return inside

    def _check_new_row(self, item: dict[str, Any], action: str) -> None:
        scoped = scope_for(self.table, action)
        if scoped is None:
            return
        link, scope = scoped
        props = item.get("properties") or {}
        sql, params = link.row_check_sql(props, scope)
        with self._engine.connect() as conn:  # type: ignore[attr-defined]
            if not conn.execute(text(sql), params).scalar():
                raise ProviderScopeError()

    @staticmethod
    def _parsed(item: Any) -> dict[str, Any]:
        """The feature as a dict (pygeoapi hands the request body over as it came)."""
        if isinstance(item, (bytes, str)):
            try:
                item = json.loads(item)
            except ValueError:
                raise ProviderBadFeatureError(user_msg="the feature is not valid JSON") from None
        if not isinstance(item, dict):
            raise ProviderBadFeatureError(user_msg="the feature must be a GeoJSON Feature object")
        if not isinstance(item.get("properties") or {}, dict):
            raise ProviderBadFeatureError(user_msg="the feature's properties must be an object")
        return item

    def _derive_district(self, item: dict[str, Any]) -> None:
        """The district of a row is the district its geometry lies in, never what the client labels it (as the REST
        API does): a disagreeing ``district_code`` is refused, a missing one filled in. The scope check then runs on
        the derived district, so a district regulator cannot file a row elsewhere under their own district."""
        link = _links_by_table().get(self.table, (None, None))[0]
        geometry = item.get("geometry")
        if link is None or link.district_column is None or geometry is None:
            return
        sql = ("SELECT code FROM public.districts WHERE ST_Covers(geom, "
               "ST_PointOnSurface(ST_SetSRID(ST_GeomFromGeoJSON(:g), :srid))) ORDER BY code LIMIT 1")
        try:
            with self._engine.connect() as conn:  # type: ignore[attr-defined]
                derived = conn.execute(text(sql), {"g": json.dumps(geometry), "srid": STORAGE_SRID}).scalar()
        except DBAPIError:
            raise ProviderBadFeatureError(user_msg="the feature's geometry is not valid GeoJSON") from None
        if derived is None:
            return  # outside every district: _check_in_city refuses it
        props = item.setdefault("properties", {})
        given = props.get(link.district_column)
        if given is not None and str(given) != derived:
            raise ProviderBadFeatureError(
                user_msg=f"{link.district_column} {given} disagrees with the location, which lies in district "
                         f"{derived}: leave it out (it is derived from the geometry) or correct the geometry")
        props[link.district_column] = derived

    def _prepared(self, item: Any) -> dict[str, Any]:
        """A feature to write, checked: inside the city, its district derived from its geometry, in the caller's
        write scope."""
        item = self._parsed(item)
        self._check_in_city(item)
        self._derive_district(item)
        self._check_new_row(item, "write")
        return item

    def _check_in_city(self, item: dict[str, Any]) -> None:
        """Refuse a geometry that lies in none of the city's districts, as the REST API does (core/geo/points.py).

        Besides being wrong, such a row would fall outside the extent every service advertises and MapServer counts
        WFS features within (mapserver/extent.py).
        """
        geometry = item.get("geometry")
        if geometry is None:
            return
        # pygeoapi stores the GeoJSON coordinates as they come (lon/lat) with the storage SRID
        sql = ("SELECT ST_CoveredBy(ST_SetSRID(ST_GeomFromGeoJSON(:g), :srid), "
               "(SELECT ST_Union(geom) FROM public.districts))")
        try:
            with self._engine.connect() as conn:  # type: ignore[attr-defined]
                inside = conn.execute(text(sql), {"g": json.dumps(geometry), "srid": STORAGE_SRID}).scalar()
        except DBAPIError:
            raise ProviderBadFeatureError(user_msg="the feature's geometry is not valid GeoJSON") from None
        if not inside:
            raise ProviderBadFeatureError(user_msg="the feature lies outside the city: its geometry must lie within "
                                                   "one of the city's districts")

    def _not_found(self, identifier: Any) -> ProviderItemNotFoundError:
        return ProviderItemNotFoundError(f"No such item: {self.id_field}={quote(str(identifier))}.")


def _data_error(exc: DataError) -> str:
    diag = getattr(getattr(exc, "orig", None), "diag", None)
    detail = getattr(diag, "message_primary", None) or str(getattr(exc, "orig", exc)).splitlines()[0]
    return f"a query value does not fit its property: {detail[:300]}"


class OneMapFeatureProvider(_Scoped, PostgreSQLProvider):
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
        try:
            return super().query(*args, crs_transform_spec=self._lonlat_source(crs_transform_spec), **kwargs)
        except DataError as exc:
            # A filter value that does not fit its column (beds=false, a date that is not one, an integer beyond
            # the column's range): PostgreSQL's SQLSTATE class 22 is the client's mistake, so a 400 naming it.
            raise ProviderInvalidQueryError(user_msg=_data_error(exc)) from None

    def _get_cql_filters(self, filterq: Any) -> Any:
        try:
            return super()._get_cql_filters(filterq)
        except Exception as exc:  # noqa: BLE001 - pygeofilter raises KeyError, TypeError, NotImplementedError…
            raise ProviderInvalidQueryError(
                user_msg=f"the filter cannot be applied to this collection ({type(exc).__name__}: "
                         f"{str(exc)[:200]}); see its queryables for the property names and types") from None

    def _get_property_filters(self, properties: list) -> Any:
        # pygeoapi ANDs each filter group into the query (and its count): the scope rides on the property filters
        return and_(super()._get_property_filters(properties), self._scope_clause("read"))

    def get(self, identifier: Any, crs_transform_spec: CrsTransformSpec | None = None, **kwargs: Any) -> dict:
        if not self._in_scope(identifier, "read"):
            raise self._not_found(identifier)
        feature = super().get(identifier, crs_transform_spec=self._lonlat_source(crs_transform_spec), **kwargs)
        scoped = scope_for(self.table, "read")
        if scoped is not None:  # pygeoapi's prev/next links would name the neighbouring ids of foreign rows
            feature["prev"], feature["next"] = self._neighbours(identifier, *scoped)
        return feature

    def _neighbours(self, identifier: Any, link: ScopeLink, scope: Scope) -> tuple[Any, Any]:
        column, (where, params) = f'"{self.id_field}"', link.bind(scope)
        sql = (f'SELECT (SELECT max({column}) FROM public."{self.table}" WHERE {column} < :fid AND {where}), '
               f'(SELECT min({column}) FROM public."{self.table}" WHERE {column} > :fid AND {where})')
        with self._engine.connect() as conn:
            prev, nxt = conn.execute(text(sql), {"fid": self._typed_id(identifier), **params}).one()
        return (identifier if prev is None else prev), (identifier if nxt is None else nxt)

    def create(self, item: Any) -> Any:
        return super().create(json.dumps(self._prepared(item)))  # pygeoapi parses the body itself

    def update(self, identifier: Any, item: Any) -> bool:
        if not self._in_scope(identifier, "write"):
            raise self._not_found(identifier)
        return super().update(identifier, json.dumps(self._prepared(item)))

    def delete(self, identifier: Any) -> bool:
        if not self._in_scope(identifier, "write"):
            raise self._not_found(identifier)
        return super().delete(identifier)


class OneMapMVTProvider(MVTPostgreSQLProvider):
    """Vector tiles in WebMercatorQuad straight from PostGIS with integer-SRID transforms."""

    def get_tiling_schemes(self):  # noqa: ANN201 - pygeoapi's signature
        return [TileMatrixSetEnum.WEBMERCATORQUAD.value]

    def _tile_sql(self, scope_where: str = "true") -> str:
        columns = [c.name for c in self.table_model.__table__.columns if c.name != self.geom]
        layer = next((x for x in default_registry() if x.table == self.table), None)
        if layer is not None and layer.mvt_properties is not None:  # only what the map needs, not every column
            columns = [c for c in columns if c == layer.id_field or c in layer.mvt_properties]
        cols = ", ".join(f't."{c}"' for c in columns)
        # Table and column names come from the reflected table (validated registry names), never from a request.
        return (
            f"WITH env AS (SELECT ST_TileEnvelope(:z, :x, :y) AS m), "
            f"env_storage AS (SELECT ST_Transform(m, {STORAGE_SRID}) AS s FROM env), "
            f"rows AS (SELECT ST_AsMVTGeom(ST_Transform(t.\"{self.geom}\", {WEB_MERCATOR}), env.m, "
            f"{MVT_EXTENT}, {MVT_BUFFER}, true) AS mvtgeom, {cols} "
            f"FROM \"{self.table}\" t, env, env_storage WHERE t.\"{self.geom}\" && env_storage.s AND {scope_where}) "
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
        scoped = scope_for(self.table, "read")
        where, params = ("true", {}) if scoped is None else scoped[0].bind(scoped[1], "t.")
        with self._engine.connect() as conn:
            data = conn.execute(text(self._tile_sql(where)), {"z": z, "x": x, "y": y, "layer": layer,
                                                              **params}).scalar()
        return bytes(data) if data else None
