// View projections: Web Mercator (default) or CGCS2000 lon/lat, defined locally (no EPSG lookup over the
// network: ol.proj.proj4.fromEPSGCode would fetch from the internet).

const ol = window.ol;

// MapProxy's "cgcs2000" grid (mapserver/mapproxy_config.py): 天地图 "c" matrix, 1.40625°/px at level 0.
const CGCS2000_RESOLUTIONS = Array.from({ length: 21 }, (_, i) => 1.40625 / 2 ** i);

let registered = false;

export function setupProjections() {
  if (registered) return;
  window.proj4.defs("EPSG:4490", "+proj=longlat +ellps=GRS80 +no_defs +type=crs");
  ol.proj.proj4.register(window.proj4);
  ol.proj.get("EPSG:4490").setExtent([-180, -90, 180, 90]);
  registered = true;
}

/** "EPSG:4490" when asked for (permalink/hash `crs=4490`), else Web Mercator. */
export function projectionFromHash() {
  const params = new URLSearchParams(location.hash.replace(/^#/, ""));
  return params.get("crs") === "4490" ? "EPSG:4490" : "EPSG:3857";
}

export function tileGridFor(projection) {
  if (projection === "EPSG:4490") {
    return new ol.tilegrid.TileGrid({
      origin: [-180, 90], extent: [-180, -90, 180, 90], resolutions: CGCS2000_RESOLUTIONS, tileSize: 256,
    });
  }
  return ol.tilegrid.createXYZ({ extent: ol.proj.get("EPSG:3857").getExtent(), maxZoom: 20 });
}

export function createView(projection, { center, zoom, extent } = {}) {
  const options = { projection, constrainResolution: false, enableRotation: false };
  if (projection === "EPSG:4490") {
    options.resolutions = CGCS2000_RESOLUTIONS;
  } else {
    options.maxZoom = 20;
  }
  const view = new ol.View(options);
  if (center && zoom != null) {
    view.setCenter(ol.proj.transform(center, "EPSG:4326", projection));
    view.setZoom(zoom);
  } else if (extent) {
    view.fit(ol.proj.transformExtent(extent, "EPSG:4326", projection), { padding: [20, 20, 20, 20] });
  }
  return view;
}

/** Lon/lat (CGCS2000 ≈ WGS-84 for display) of a view coordinate. */
export function toLonLat(coordinate, projection) {
  return ol.proj.transform(coordinate, projection, "EPSG:4326");
}

export function fromLonLat(lonLat, projection) {
  return ol.proj.transform(lonLat, "EPSG:4326", projection);
}

/** Web-Mercator-equivalent zoom of a view resolution (the style specs' zoom limits are Web Mercator zooms). */
export function mercatorZoom(resolution, projection) {
  // At the equator 1° = 111,319.49 m: the CGCS2000 level n has the same ground size as Web Mercator zoom n.
  const metres = projection === "EPSG:4490" ? resolution * 111319.49079327357 : resolution;
  return Math.log2(156543.03392804097 / metres);
}

/** Scale denominator at the view centre (0.28 mm pixels, as OGC and the style specs count). */
export function scaleDenominator(view) {
  const projection = view.getProjection();
  const resolution = view.getResolution();
  const centre = view.getCenter();
  if (!resolution || !centre) return null;
  const metresPerPixel = ol.proj.getPointResolution(projection, resolution, centre, "m");
  return metresPerPixel / 0.00028;
}
