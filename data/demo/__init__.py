"""The deterministic demo city 示范市 (a synthetic city; all data are synthetic).

    city = build_city(scale=1, seed=20261128)   # pure: rows per table, geometries in EPSG:4490
    load_city(conn, city)                        # TRUNCATE + COPY into the layer tables, one transaction
    write_population_raster(city, path)          # ~100 m resident-population GeoTIFF
"""

from data.demo.city import DEFAULT_SEED, TABLE_ORDER, City, build_city
from data.demo.frame import SYNTHETIC_NOTICE
from data.demo.load import load_city, write_population_raster

__all__ = [
    "DEFAULT_SEED",
    "SYNTHETIC_NOTICE",
    "TABLE_ORDER",
    "City",
    "build_city",
    "load_city",
    "write_population_raster",
]
