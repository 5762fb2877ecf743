"""The OUTPUTFORMAT blocks of the generated mapfile (images, GeoTIFF for WCS, GeoJSON and GML for WFS)."""

from __future__ import annotations

from mapserver.coverage import RasterInfo

_OUTPUTFORMATS = """\
  OUTPUTFORMAT
    NAME "png"
    DRIVER "AGG/PNG"
    MIMETYPE "image/png"
    IMAGEMODE RGBA
    TRANSPARENT ON
    EXTENSION "png"
    FORMATOPTION "COMPRESSION=6"
  END
  OUTPUTFORMAT
    NAME "png8"
    DRIVER "AGG/PNG8"
    MIMETYPE "image/png; mode=8bit"
    IMAGEMODE RGBA
    TRANSPARENT ON
    EXTENSION "png"
    FORMATOPTION "QUANTIZE_FORCE=on"
    FORMATOPTION "QUANTIZE_COLORS=256"
  END
  OUTPUTFORMAT
    NAME "png24"
    DRIVER "AGG/PNG"
    MIMETYPE "image/png; mode=24bit"
    IMAGEMODE RGB
    EXTENSION "png"
  END
  OUTPUTFORMAT
    NAME "jpeg"
    DRIVER "AGG/JPEG"
    MIMETYPE "image/jpeg"
    IMAGEMODE RGB
    EXTENSION "jpg"
    FORMATOPTION "QUALITY=85"
  END
  OUTPUTFORMAT
    NAME "GTiff"
    DRIVER "GDAL/GTiff"
    MIMETYPE "image/tiff"
    IMAGEMODE FLOAT32
    EXTENSION "tif"
    FORMATOPTION "COMPRESS=DEFLATE"
  END
  OUTPUTFORMAT
    NAME "geojson"
    DRIVER "OGR/GEOJSON"
    MIMETYPE "application/json"
    FORMATOPTION "STORAGE=stream"
    FORMATOPTION "FORM=SIMPLE"
    FORMATOPTION "USE_FEATUREID=true"
  END
  OUTPUTFORMAT
    NAME "gml3"
    DRIVER "OGR/GML"
    MIMETYPE "application/vnd.ogc.gml/3.1.1"
    FORMATOPTION "STORAGE=memory"
    FORMATOPTION "FORM=simple"
    FORMATOPTION "DSCO:FORMAT=GML3"
    FORMATOPTION "DSCO:XSISCHEMA=OFF"
  END
  OUTPUTFORMAT
    NAME "application/geo+json"
    DRIVER "OGR/GEOJSON"
    MIMETYPE "application/geo+json"
    FORMATOPTION "STORAGE=stream"
    FORMATOPTION "FORM=SIMPLE"
    FORMATOPTION "USE_FEATUREID=true"
  END
"""


def output_formats(raster: RasterInfo | None) -> str:
    """The output formats; WCS GeoTIFFs keep the coverage's nodata value (else no-data cells come back as 0)."""
    if raster is None or raster.nodata is None:
        return _OUTPUTFORMATS
    return _OUTPUTFORMATS.replace('    FORMATOPTION "COMPRESS=DEFLATE"\n',
                                  f'    FORMATOPTION "COMPRESS=DEFLATE"\n    FORMATOPTION "NULLVALUE={raster.nodata:g}"\n', 1)



__all__ = ["output_formats"]
