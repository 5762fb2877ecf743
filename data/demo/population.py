"""Resident population on a ~100 m lon/lat grid, and the GeoTIFF writer.

Pixels are 0.00105° × 0.0009° (≈ 99.0 m east-west × 99.8 m north-south at 32°N); the grid starts at the
north-west corner of the city extent and covers it (572 × 445 pixels). Residents follow the urbanness field
(raised to a power so that they concentrate in centres), almost vanish inside chemical parks, are zero on
water, and the grid is nodata outside the city boundary.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import shapely

from data.demo.frame import EXTENT, SYNTHETIC_NOTICE, to_metric_xy
from data.demo.geography import Geography

PIXEL_DEG = (0.00105, 0.0009)  # (lon, lat)
NODATA = -9999.0
TOTAL_POPULATION = 3_200_000


@dataclass
class PopulationGrid:
    values: np.ndarray  # (rows, cols) float32 persons per pixel; NODATA outside the city
    west: float
    north: float
    dx: float = PIXEL_DEG[0]
    dy: float = PIXEL_DEG[1]

    @property
    def shape(self) -> tuple[int, int]:
        return self.values.shape

    def centres(self) -> tuple[np.ndarray, np.ndarray]:
        rows, cols = self.shape
        lon = self.west + (np.arange(cols) + 0.5) * self.dx
        lat = self.north - (np.arange(rows) + 0.5) * self.dy
        return np.meshgrid(lon, lat)

    def index(self, lon: np.ndarray, lat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        col = np.floor((np.asarray(lon) - self.west) / self.dx).astype(int)
        row = np.floor((self.north - np.asarray(lat)) / self.dy).astype(int)
        return row, col

    def sum_within(self, lon: np.ndarray, lat: np.ndarray, radius_m: float) -> np.ndarray:
        """Residents in the pixels whose centres lie within ``radius_m`` of each point."""
        lon, lat = np.asarray(lon, dtype=float), np.asarray(lat, dtype=float)
        rows, cols = self.shape
        px, py = to_metric_xy(lon, lat)
        r0, c0 = self.index(lon, lat)
        reach = int(np.ceil(radius_m / 95.0)) + 1
        total = np.zeros(len(lon))
        clean = np.where(self.values == NODATA, 0.0, self.values)
        for dr in range(-reach, reach + 1):
            for dc in range(-reach, reach + 1):
                r, c = r0 + dr, c0 + dc
                ok = (r >= 0) & (r < rows) & (c >= 0) & (c < cols)
                r, c = np.clip(r, 0, rows - 1), np.clip(c, 0, cols - 1)
                cx, cy = to_metric_xy(self.west + (c + 0.5) * self.dx, self.north - (r + 0.5) * self.dy)
                ok &= np.hypot(cx - px, cy - py) <= radius_m
                total += np.where(ok, clean[r, c], 0.0)
        return total


def build_population(rng: np.random.Generator, geo: Geography) -> PopulationGrid:
    lon_min, lat_min, lon_max, lat_max = EXTENT
    cols = int(np.ceil((lon_max - lon_min) / PIXEL_DEG[0] - 1e-9))
    rows = int(np.ceil((lat_max - lat_min) / PIXEL_DEG[1] - 1e-9))
    grid = PopulationGrid(np.zeros((rows, cols), dtype=np.float32), lon_min, lat_max)
    lon, lat = grid.centres()
    x, y = to_metric_xy(lon.ravel(), lat.ravel())
    inside = shapely.contains_xy(geo.boundary, x, y)
    weight = geo.urbanness(x, y) ** 1.25 * rng.lognormal(0.0, 0.25, x.shape)
    weight[shapely.contains_xy(geo.parks_union, x, y)] *= 0.15  # staff dormitories and old villages
    weight[geo.in_water(x, y)] = 0.0
    weight[~inside] = 0.0
    people = weight * (TOTAL_POPULATION / weight.sum())
    values = np.where(inside, np.round(people, 1), NODATA).astype(np.float32)
    grid.values = values.reshape(rows, cols)
    return grid


def division_population(grid: PopulationGrid, geoms: list[shapely.Geometry]) -> list[int]:
    """Residents per (metric-frame) polygon, counting each pixel in the polygon that holds its centre."""
    lon, lat = grid.centres()
    x, y = to_metric_xy(lon.ravel(), lat.ravel())
    values = grid.values.ravel()
    out = []
    for g in geoms:
        m = shapely.contains_xy(g, x, y) & (values != NODATA)
        out.append(int(round(float(values[m].sum()))))
    return out


def write_raster(grid: PopulationGrid, path: Path) -> None:
    import rasterio
    from rasterio.transform import from_origin

    rows, cols = grid.shape
    profile = {
        "driver": "GTiff", "width": cols, "height": rows, "count": 1, "dtype": "float32",
        "crs": "EPSG:4490", "transform": from_origin(grid.west, grid.north, grid.dx, grid.dy),
        "nodata": NODATA, "compress": "deflate", "predictor": 3, "tiled": True,
        "blockxsize": 256, "blockysize": 256,
    }
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(grid.values, 1)
        dst.update_tags(NOTICE=SYNTHETIC_NOTICE, UNITS="persons per pixel",
                        PIXEL_SIZE="0.00105 deg x 0.0009 deg (about 99 m x 100 m at 32N)")
        dst.set_band_description(1, "resident population (persons per pixel)")
