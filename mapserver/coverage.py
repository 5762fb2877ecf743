"""The population raster as a MapServer layer for WMS and WCS 2.0.1.

WCS 2.0 needs the extent, size, resolution and band description up front; reading them once when the mapfile is
generated spares MapServer from opening the GeoTIFF to describe it on every GetCapabilities.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from styles.mapserver import q


def _metadata(items: Iterable[tuple[str, str]], indent: str) -> str:
    body = "\n".join(f"{indent}  {q(k)} {q(v)}" for k, v in items)
    return f"{indent}METADATA\n{body}\n{indent}END"


@dataclass(frozen=True)
class RasterInfo:
    """What WCS 2.0 must be told about the population GeoTIFF (read once at build time, not per request)."""

    path: Path
    extent: tuple[float, float, float, float]
    size: tuple[int, int]
    resolution: tuple[float, float]
    dtype: str
    nodata: float | None
    high: float  # the 99th percentile: the top of the WMS colour ramp, so a few dense cells do not wash it out

    @property
    def imagemode(self) -> str:
        return {"uint8": "BYTE", "int16": "INT16", "uint16": "INT16"}.get(self.dtype, "FLOAT32")


def read_raster_info(path: Path) -> RasterInfo | None:
    """Extent/size/type of a GeoTIFF, or None when it does not exist yet (before ``onemap demo build``)."""
    if not path.is_file():
        return None
    import numpy as np
    import rasterio

    with rasterio.open(path) as ds:
        b = ds.bounds
        # A decimated read is enough for a percentile and keeps a large raster from being loaded whole.
        sample = ds.read(1, masked=True, out_shape=(min(ds.height, 512), min(ds.width, 512)))
        values = sample.compressed()
        high = float(np.percentile(values, 99)) if values.size else 1.0
        return RasterInfo(path=path.resolve(), extent=(b.left, b.bottom, b.right, b.top),
                          size=(ds.width, ds.height), resolution=(abs(ds.res[0]), abs(ds.res[1])),
                          dtype=ds.dtypes[0], nodata=ds.nodata, high=max(high, 1.0))


def raster_block(raster: RasterInfo, *, wcs_srs: Sequence[str], namespace_uri: str) -> str:
    """The LAYER block serving the raster by WMS and WCS 2.0.1 (MapServer needs these wcs_* items for 2.0)."""
    minx, miny, maxx, maxy = raster.extent
    meta = [
        ("ows_title", "人口分布栅格"), ("wms_title", "人口分布栅格"),
        ("ows_abstract", "常住人口分布格网（人/格网），坐标系 CGCS2000 (EPSG:4490)。"),
        ("wcs_label", "人口分布栅格 (Population grid)"), ("wcs_description", "常住人口分布格网"),
        ("wms_enable_request", "*"), ("wfs_enable_request", "!*"), ("wcs_enable_request", "*"),
        ("wcs_srs", " ".join(wcs_srs)),
        ("wcs_extent", f"{minx!r} {miny!r} {maxx!r} {maxy!r}"),
        ("wcs_size", f"{raster.size[0]} {raster.size[1]}"),
        ("wcs_resolution", f"{raster.resolution[0]!r} {raster.resolution[1]!r}"),
        ("wcs_bandcount", "1"), ("wcs_imagemode", raster.imagemode),
        ("wcs_formats", "GTiff"), ("wcs_nativeformat", "GTiff"), ("wcs_native_format", "image/tiff"),
        ("wcs_rangeset_name", "population"), ("wcs_rangeset_label", "常住人口"),
        ("wcs_band_names", "population"),
        ("population_band_description", "常住人口（人/格网）"), ("population_band_uom", "person"),
        ("population_band_definition", f"{namespace_uri}/population"),
        ("population_band_interpretation", "population"),
    ]
    if raster.nodata is not None:
        meta.append(("wcs_rangeset_nullvalue", f"{raster.nodata:g}"))
    return "\n".join([
        "  LAYER",
        '    NAME "population"',
        "    TYPE RASTER",
        "    STATUS ON",
        f"    DATA {q(str(raster.path))}",
        '    PROJECTION "init=epsg:4490" END',
        f"    EXTENT {minx!r} {miny!r} {maxx!r} {maxy!r}",
        *([f'    PROCESSING "NODATA={raster.nodata:g}"'] if raster.nodata is not None else []),
        _metadata(meta, "    "),
        "    CLASS",
        '      NAME "population"',
        '      TITLE "常住人口"',
        "      STYLE",
        '        COLORRANGE "#FFF5EB" "#A63603"',
        f"        DATARANGE 0 {raster.high:.6g}",
        '        RANGEITEM "pixel"',
        "      END",
        "    END",
        "  END",
    ])
