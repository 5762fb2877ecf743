// OpenLayers layers from the server's catalogue (app/console/catalog.py decides MVT, GeoJSON or raster tiles).
// Every source reports its loads into `loadStats`, which the tests and the benchmark read.

import { BOOT, catalogLayers } from "./boot.js";
import { tileGridFor } from "./projection.js";
import { layerStyle } from "./styles.js";

const ol = window.ol;

export const loadStats = { tilesStarted: 0, tilesLoaded: 0, tilesFailed: 0, featureLoads: 0, featureErrors: 0 };

function countTiles(source) {
  source.on("tileloadstart", () => { loadStats.tilesStarted += 1; });
  source.on("tileloadend", () => { loadStats.tilesLoaded += 1; });
  source.on("tileloaderror", () => { loadStats.tilesFailed += 1; });
  return source;
}

/** How a layer is drawn in this projection: vector tiles exist only in Web Mercator. */
export function renderKind(entry, projection) {
  if (entry.render === "mvt" && projection !== "EPSG:3857") return entry.urls.raster ? "raster" : "geojson";
  return entry.render;
}

function rasterSource(entry, projection) {
  const grid = BOOT.catalog.grids[projection];
  return countTiles(new ol.source.XYZ({
    url: entry.urls.raster.replace("{grid}", grid),
    projection,
    tileGrid: tileGridFor(projection),
    transition: 150,
  }));
}

function mvtSource(entry) {
  return countTiles(new ol.source.VectorTile({
    format: new ol.format.MVT(),
    url: entry.urls.mvt,
    // Deeper zooms re-use z16 tiles: their 4,096 units already resolve ~0.15 m there.
    maxZoom: 16,
  }));
}

function sameOrigin(href) {
  const u = new URL(href, location.href);
  return `${location.origin}${u.pathname}${u.search}`;
}

// A dense extent can hold more than one page (10,000 features): follow the OGC API "next" links.
async function fetchAllPages(url, maxPages = 20) {
  const docs = [];
  for (let next = url, page = 0; next && page < maxPages; page += 1) {
    const response = await fetch(next, { headers: { Accept: "application/geo+json" } });
    if (!response.ok) throw new Error(`HTTP ${response.status}`);
    const doc = await response.json();
    docs.push(doc);
    const link = (doc.links || []).find((l) => l.rel === "next" && (!l.type || l.type.includes("json")));
    // pygeoapi writes links with the configured public URL; stay on the origin the page came from
    next = link && doc.features && doc.features.length ? sameOrigin(link.href) : null;
  }
  return docs;
}

function geojsonSource(entry, projection) {
  const format = new ol.format.GeoJSON({ dataProjection: "EPSG:4326", featureProjection: projection });
  const source = new ol.source.Vector({
    format,
    strategy: ol.loadingstrategy.bbox,
    loader(extent, _resolution, proj, success, failure) {
      const [w, s, e, n] = ol.proj.transformExtent(extent, proj, "EPSG:4326");
      const bbox = [Math.max(w, -180), Math.max(s, -90), Math.min(e, 180), Math.min(n, 90)]
        .map((v) => v.toFixed(6)).join(",");
      loadStats.featureLoads += 1;
      fetchAllPages(`${entry.urls.items}&bbox=${bbox}`)
        .then((docs) => {
          const features = docs.flatMap((doc) => format.readFeatures(doc));
          source.addFeatures(features);
          success(features);
        })
        .catch(() => {
          loadStats.featureErrors += 1;
          source.removeLoadedExtent(extent);
          failure();
        });
    },
  });
  return source;
}

/** One OL layer for a catalogue entry; `layer.get("entry")` leads back to the entry. */
export function createLayer(entry, projection, visible) {
  const kind = renderKind(entry, projection);
  const common = {
    visible, opacity: entry.opacity, zIndex: entry.zIndex,
    // OL's minZoom is exclusive, the catalogue's inclusive
    minZoom: entry.minZoom > 0 ? entry.minZoom - 0.01 : undefined,
    maxZoom: entry.maxZoom < 20 ? entry.maxZoom + 0.99 : undefined,
    properties: { id: entry.id, entry, kind },
  };
  if (kind === "raster") {
    return new ol.layer.Tile({ ...common, source: rasterSource(entry, projection), className: `ol-layer layer-${entry.id}` });
  }
  if (kind === "mvt") {
    return new ol.layer.VectorTile({
      ...common, source: mvtSource(entry), style: layerStyle(entry, projection), renderMode: "hybrid",
      className: `ol-layer layer-${entry.id}`,
    });
  }
  return new ol.layer.Vector({
    ...common, source: geojsonSource(entry, projection), style: layerStyle(entry, projection),
    className: `ol-layer layer-${entry.id}`,
  });
}

/** Layers for every catalogue entry, keyed by id (map order follows zIndex). */
export function createLayers(projection, visibleIds) {
  const layers = new Map();
  for (const entry of catalogLayers()) {
    const visible = visibleIds ? visibleIds.has(entry.id) : entry.visible;
    layers.set(entry.id, createLayer(entry, projection, visible));
  }
  return layers;
}

/** Re-read the live GeoJSON layers (incidents, resources) without flicker. */
export function refreshLive(layers, ids) {
  for (const id of ids) {
    const layer = layers.get(id);
    if (layer && layer.get("kind") === "geojson") layer.getSource().refresh();
  }
}

/** Layers a click is answered by the server for (raster tiles: the browser has no features there). */
export function identifiableRasterLayers(layers, zoom) {
  return [...layers.values()].filter((layer) => layer.get("kind") === "raster" && layer.get("id") !== "basemap"
    && layer.getVisible() && (layer.getMinZoom() < zoom) && (zoom <= layer.getMaxZoom()));
}
