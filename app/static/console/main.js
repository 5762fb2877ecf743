// The one-map console: wires the map, layer tree, panel, search, tools, statistics, status bar and permalink.
// `window.onemap` exposes the map and load/render state for the browser tests and the benchmark.
// Business modules add their part through console plug-ins (BOOT.plugins, from their manifests), loaded below.

import { BOOT, api, catalogLayers, t, toast } from "./boot.js";
import { createLayers, identifiableRasterLayers, loadStats, refreshLive } from "./layers.js";
import { buildLayerTree, refreshLegends, updateZoomHints } from "./layertree.js";
import { closePanel, initPanel, openFeature } from "./panel.js";
import { parseHash, writeHash } from "./permalink.js";
import { createView, fromLonLat, mercatorZoom, projectionFromHash, scaleDenominator, setupProjections, toLonLat }
  from "./projection.js";
import { initSearch } from "./search.js";
import { districtByCode, initStats, loadStats as loadCharts, resizeStats } from "./stats.js";
import { highlightStyle, styleState } from "./styles.js";
import { initTools, isDrawing } from "./tools.js";

const ol = window.ol;
// re-read on live events and every minute: console.live in the layer files
const LIVE_LAYERS = catalogLayers().filter((e) => e.live).map((e) => e.id);
// the kinds of event the active modules publish (their manifests' realtime topics): one re-reads the live layers
const LIVE_EVENT_KINDS = new Set(BOOT.liveEventKinds ?? []);

setupProjections();
const projection = projectionFromHash();
const initial = parseHash();
const layers = createLayers(projection, initial.layers);
const view = createView(projection, initial.center ? { center: initial.center, zoom: initial.zoom } : {});
const timings = { firstDraw: null, renderComplete: null };
const onemap = window.onemap = { map: null, layers, loadStats, timings, renderComplete: false, renderCount: 0 };
const plugins = []; // the hooks of each started console plug-in (see "plug-ins" below)

const highlightSource = new ol.source.Vector();
const map = new ol.Map({
  target: "map",
  layers: [...layers.values(), new ol.layer.Vector({ source: highlightSource, style: highlightStyle, zIndex: 1000 })],
  view,
  controls: ol.control.defaults.defaults({ attribution: false, rotate: false }).extend([
    new ol.control.ScaleLine({ units: "metric" }),
  ]),
});
onemap.map = map;
if (!initial.center) {
  // fitted once the map knows its size (the view alone would assume 100×100 px)
  const extent = BOOT.cityExtent ?? [118.7, 31.8, 119.3, 32.2];
  view.fit(ol.proj.transformExtent(extent, "EPSG:4326", projection), { size: map.getSize(), padding: [20, 20, 20, 20] });
}
onemap.getPixelFromLonLat = (lonLat) => map.getPixelFromCoordinate(fromLonLat(lonLat, projection));

// -- render-state flags for tests and the benchmark --------------------------------------------------------
const basemapSource = layers.get("basemap").getSource();
let basemapTiles = 0;
basemapSource.on("tileloadend", () => { basemapTiles += 1; });
map.on("postrender", () => {
  if (timings.firstDraw === null && basemapTiles > 0) timings.firstDraw = performance.now();
});
map.on("rendercomplete", () => {
  onemap.renderComplete = true;
  onemap.renderCount += 1;
  timings.renderComplete = performance.now();
});
map.on("movestart", () => { onemap.renderComplete = false; });

// -- state: theme, district filter, permalink --------------------------------------------------------------
function visibleIds() {
  return [...layers.entries()].filter(([, layer]) => layer.getVisible()).map(([id]) => id);
}

function updatePermalink() {
  const center = view.getCenter();
  if (!center) return;
  writeHash({ center: toLonLat(center, projection), zoom: view.getZoom(), layers: visibleIds(),
    mode: styleState.mode, district: styleState.district, crs: projection });
}

function restyle() {
  for (const layer of layers.values()) if (layer.get("kind") !== "raster") layer.changed();
}

async function setMode(mode) {
  if (mode === "grade" && !layers.has("hazard_sources")) mode = "risk"; // the role may not read hazard sources
  styleState.mode = mode;
  if (mode === "grade") {
    if (!styleState.grades) styleState.grades = await api("api/console/enterprise-grades");
    layers.get("hazard_sources").setVisible(true);
  }
  for (const b of document.querySelectorAll("[data-mode]")) b.setAttribute("aria-checked", String(b.dataset.mode === mode));
  restyle();
  refreshLegends(document.getElementById("layer-tree"));
  updatePermalink();
}

function setDistrict(district, { zoom = true } = {}) {
  styleState.district = district ? district.code : null;
  const chip = document.getElementById("filter-chip");
  chip.hidden = !district;
  if (district) {
    chip.querySelector("span").textContent = t("filter_district", { name: district.name });
    if (zoom) view.fit(ol.proj.transformExtent(district.bbox, "EPSG:4326", projection), { duration: 400, padding: [40, 40, 40, 40] });
  }
  restyle();
  updatePermalink();
  if (!document.getElementById("stats-panel").hidden) loadCharts(styleState.district);
}

function noteSearchResult(result) {
  for (const plugin of plugins) plugin.noteSearchResult?.(result);
}

// -- navigation helpers --------------------------------------------------------------------------------------
function goToLonLat(lonLat, zoom = 16) {
  view.animate({ center: fromLonLat(lonLat, projection), zoom: Math.max(zoom, view.getZoom()), duration: 500 });
}

function goToBox(bbox, point) {
  if (bbox && (bbox[2] - bbox[0] > 1e-6 || bbox[3] - bbox[1] > 1e-6)) {
    view.fit(ol.proj.transformExtent(bbox, "EPSG:4326", projection), { duration: 500, padding: [60, 60, 60, 60], maxZoom: 17 });
  } else {
    goToLonLat(point);
  }
}

function highlight(doc) {
  highlightSource.clear();
  if (!doc) return;
  const [w, s, e, n] = doc.bbox;
  const geometry = (e - w > 1e-6 || n - s > 1e-6)
    ? ol.geom.Polygon.fromExtent(ol.proj.transformExtent(doc.bbox, "EPSG:4326", projection))
    : new ol.geom.Point(fromLonLat(doc.center, projection));
  highlightSource.addFeature(new ol.Feature(geometry));
}

function ensureVisible(layerId) {
  const layer = layers.get(layerId);
  if (layer && !layer.getVisible()) layer.setVisible(true);
}

// -- clicks: vector features in the browser, raster layers by the server -------------------------------------
async function onClick(event) {
  if (isDrawing() || plugins.some((p) => p.isPicking?.())) return;
  const hits = [];
  const seen = new Set();
  const add = (feature, layer) => {
    const id = layer && layer.get("id");
    const fid = feature.getId();
    if (!id || !layer.get("entry") || fid == null || seen.has(`${id}/${fid}`)) return;
    seen.add(`${id}/${fid}`);
    hits.push({ layer: id, id: Number(fid), layerTitle: layer.get("entry").title,
      name: feature.get(layer.get("entry").titleField) });
  };
  map.forEachFeatureAtPixel(event.pixel, add, { hitTolerance: 4, layerFilter: (l) => l.get("kind") === "geojson" });
  // Vector tiles (hybrid mode) answer through layer.getFeatures(), which tests the exact pixel: probe a few
  // around it so that a finger or a slightly-off click still hits a 4-px marker.
  const zoom = view.getZoom();
  for (const layer of [...layers.values()].filter((l) => l.get("kind") === "mvt" && l.getVisible()
      && l.getMinZoom() < zoom && zoom <= l.getMaxZoom())) {
    for (const [dx, dy] of [[0, 0], [2, 0], [-2, 0], [0, 2], [0, -2], [3, 3], [-3, -3], [3, -3], [-3, 3]]) {
      const found = await layer.getFeatures([event.pixel[0] + dx, event.pixel[1] + dy]);
      found.forEach((f) => add(f, layer));
      if (found.length) break;
    }
  }
  const rasters = identifiableRasterLayers(layers, zoom);
  if (rasters.length) {
    const [lon, lat] = toLonLat(event.coordinate, projection);
    const metresPerPixel = ol.proj.getPointResolution(projection, view.getResolution(), event.coordinate, "m");
    try {
      const body = await api("api/console/identify", { params: {
        lon: lon.toFixed(8), lat: lat.toFixed(8), tolerance_m: Math.min(5000, Math.max(1, metresPerPixel * 5)).toFixed(1),
        layers: rasters.map((l) => l.get("id")).join(","),
      } });
      hits.push(...body.features);
    } catch (err) {
      toast(err.message, "error");
    }
  }
  if (!hits.length) return;
  openFeature(hits[0].layer, hits[0].id, { others: hits.slice(1, 12) });
}

// -- status bar ---------------------------------------------------------------------------------------------
const coordEl = document.getElementById("status-coord");
const scaleEl = document.getElementById("status-scale");
const zoomEl = document.getElementById("status-zoom");

function updateStatus() {
  const scale = scaleDenominator(view);
  scaleEl.textContent = scale ? `1:${Math.round(scale).toLocaleString("en-US")}` : "";
  zoomEl.textContent = view.getZoom() != null ? mercatorZoom(view.getResolution(), projection).toFixed(1) : "";
  updateZoomHints(document.getElementById("layer-tree"), layers, view.getZoom());
}

map.on("pointermove", (e) => {
  if (e.dragging) return;
  const [lon, lat] = toLonLat(e.coordinate, projection);
  coordEl.textContent = `${lon.toFixed(6)}°E, ${lat.toFixed(6)}°N`;
});
map.on("moveend", () => { updateStatus(); updatePermalink(); });
map.on("singleclick", onClick);

// -- wiring -------------------------------------------------------------------------------------------------
buildLayerTree(document.getElementById("layer-tree"), layers, () => updatePermalink());
initPanel(document.getElementById("feature-panel"), {
  goTo: (doc) => goToBox(doc.bbox, doc.center),
  highlight,
});
initSearch(document.getElementById("search-form"), {
  goToFeature: (r) => {
    ensureVisible(r.layer); goToBox(r.bbox, [r.lon, r.lat]); openFeature(r.layer, r.id); noteSearchResult(r);
  },
  goToCoordinate: (lonLat) => {
    noteSearchResult({ lon: lonLat[0], lat: lonLat[1] });
    goToLonLat(lonLat, 15);
    highlight({ bbox: [lonLat[0], lonLat[1], lonLat[0], lonLat[1]], center: lonLat });
    toast(`${t("coordinate")}: ${lonLat[0].toFixed(6)}, ${lonLat[1].toFixed(6)} (CGCS2000)`);
  },
});
initTools(document.getElementById("tools-panel"), map, {
  openFeature: (layer, id) => { ensureVisible(layer); openFeature(layer, id, { zoom: true }); },
});
initStats(document.getElementById("stats-panel"), { onDistrict: (d) => setDistrict(d) });

// -- plug-ins: each active module's console scripts ------------------------------------------------------------
// The interface (documented in core/manifest.py): a plug-in module exports `init(map, host)`, which returns its
// hooks, each optional: isPicking() (a map click is the plug-in's: the console opens no feature), noteSearchResult(r)
// (a search hit or coordinate was chosen), onLiveEvent(event) (an event of /api/events/stream). `host` gives what
// the console owns: refreshLayers(ids) re-reads live layers, showLayer(id) makes a layer visible.
// All are fetched at once and started in manifest order; one that fails to load or start is reported, not fatal.
const host = { refreshLayers: (ids) => refreshLive(layers, ids), showLayer: ensureVisible };
const loaded = await Promise.allSettled((BOOT.plugins ?? []).map((url) => import(url)));
for (const [i, result] of loaded.entries()) {
  try {
    if (result.status === "rejected") throw result.reason;
    plugins.push((await result.value.init(map, host)) ?? {});
  } catch (err) {
    console.error(`console plug-in ${BOOT.plugins[i]}:`, err);
    toast(`${BOOT.plugins[i]}: ${err.message}`, "error");
  }
}

for (const button of document.querySelectorAll("[data-mode]")) button.addEventListener("click", () => setMode(button.dataset.mode));
document.getElementById("filter-chip").querySelector("button").addEventListener("click", () => setDistrict(null));

function togglePanel(buttonId, panelId, onOpen) {
  const button = document.getElementById(buttonId);
  const panel = document.getElementById(panelId);
  button.addEventListener("click", () => {
    panel.hidden = !panel.hidden;
    button.setAttribute("aria-expanded", String(!panel.hidden));
    if (!panel.hidden && onOpen) onOpen();
  });
}
togglePanel("btn-tools", "tools-panel");
togglePanel("btn-stats", "stats-panel", async () => {
  try { await loadCharts(styleState.district); resizeStats(); } catch (err) { toast(err.message, "error"); }
});
togglePanel("btn-layers", "layer-panel");

document.getElementById("btn-crs").addEventListener("click", () => {
  const params = new URLSearchParams(location.hash.replace(/^#/, ""));
  if (projection === "EPSG:4490") params.delete("crs"); else params.set("crs", "4490");
  location.hash = params.toString();
  location.reload();
});
document.getElementById("lang-link").addEventListener("click", (e) => {
  e.preventDefault();
  const url = new URL(location.href);
  url.searchParams.set("lang", BOOT.lang === "en" ? "zh-CN" : "en");
  location.href = url.toString();
});
document.getElementById("btn-permalink").addEventListener("click", async () => {
  updatePermalink();
  try { await navigator.clipboard.writeText(location.href); toast(t("copied")); } catch { toast(location.href); }
});

// Live layers follow the event stream; a periodic refresh covers a dropped connection. A role that may not
// read the stream (the public console) does not open it: a refused stream would only retry every 3 s.
const mayListen = !BOOT.can || (BOOT.can.modules?.events ?? []).includes("read");
const events = mayListen ? new EventSource(`${BOOT.root}api/events/stream`) : {};
let liveRefresh = null;
// the stream's state on the page (data-live: open | lost), as the large screen shows its link state
events.onopen = () => { document.body.dataset.live = "open"; };
events.onerror = () => { document.body.dataset.live = "lost"; };
events.onmessage = (message) => {
  const event = JSON.parse(message.data);
  if (LIVE_EVENT_KINDS.has(event.type.split(".")[0])) {
    clearTimeout(liveRefresh); // a burst of events (one change often sends several): one refresh
    liveRefresh = setTimeout(() => refreshLive(layers, LIVE_LAYERS), 300);
  }
  for (const plugin of plugins) plugin.onLiveEvent?.(event);
};
setInterval(() => refreshLive(layers, LIVE_LAYERS), 60_000);

// Apply permalink state last: the theme needs the tree, the district needs the stats' district list.
if (initial.mode === "grade") setMode("grade");
if (initial.district) {
  api("api/console/stats").then((stats) => {
    const d = stats.districts.find((x) => x.code === initial.district);
    if (d) setDistrict(d, { zoom: !initial.center });
  });
}
document.getElementById("btn-crs").textContent = `${t("crs")}: ${projection === "EPSG:4490" ? t("crs_4490") : t("crs_3857")}`;
updateStatus();
onemap.setMode = setMode;
onemap.setDistrict = (code) => setDistrict(code ? districtByCode(code) ?? { code, name: code, bbox: BOOT.cityExtent } : null);
onemap.closePanel = closePanel;
onemap.openFeature = openFeature;
onemap.ready = true;
