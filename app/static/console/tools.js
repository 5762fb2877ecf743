// Map tools: geodesic measurement (ol/sphere on the view's projection, never planar Mercator metres) and the
// draw → buffer → spatial query → export workflow (buffer and selection computed in PostGIS on the ellipsoid).

import { L, LANG, api, catalogLayers, esc, formatNumber, t, toast } from "./boot.js";
import { bufferStyle, sketchStyle } from "./styles.js";

const ol = window.ol;

let map;
let hooks = { openFeature: () => {}, onToolChange: () => {} };
let draw = null;
let activeTool = null;
const measureSource = new ol.source.Vector();
const sketchSource = new ol.source.Vector();
const bufferSource = new ol.source.Vector();
let measureOverlays = [];
let lastQuery = null;
let box;

export function formatLength(metres) {
  return metres >= 1000 ? `${formatNumber(metres / 1000, 3)} km` : `${formatNumber(metres, 1)} m`;
}

export function formatArea(m2) {
  return m2 >= 1e6 ? `${formatNumber(m2 / 1e6, 3)} km²` : `${formatNumber(m2, 0)} m²`;
}

/** Geodesic length or area of a geometry in the view projection. */
export function measure(geometry) {
  const projection = map.getView().getProjection();
  if (geometry instanceof ol.geom.Polygon) return formatArea(ol.sphere.getArea(geometry, { projection }));
  return formatLength(ol.sphere.getLength(geometry, { projection }));
}

function measureLabel(coordinate, text, final) {
  const el = document.createElement("div");
  el.className = `measure-tip${final ? " final" : ""}`;
  el.textContent = text;
  const overlay = new ol.Overlay({ element: el, position: coordinate, offset: [0, -12], positioning: "bottom-center",
    stopEvent: false });
  map.addOverlay(overlay);
  measureOverlays.push(overlay);
  return overlay;
}

function stopDrawing() {
  if (draw) map.removeInteraction(draw);
  draw = null;
  activeTool = null;
  for (const b of box.querySelectorAll("[data-tool]")) b.setAttribute("aria-pressed", "false");
  hooks.onToolChange(null);
}

function startMeasure(type) {
  const live = measureLabel(null, "", false);
  draw = new ol.interaction.Draw({ source: measureSource, type, style: sketchStyle });
  draw.on("drawstart", (e) => {
    e.feature.getGeometry().on("change", (ev) => {
      const geom = ev.target;
      live.getElement().textContent = measure(geom);
      live.setPosition(geom instanceof ol.geom.Polygon ? geom.getInteriorPoint().getCoordinates() : geom.getLastCoordinate());
    });
  });
  draw.on("drawend", (e) => {
    const geom = e.feature.getGeometry();
    live.setPosition(undefined);
    measureLabel(geom instanceof ol.geom.Polygon ? geom.getInteriorPoint().getCoordinates() : geom.getLastCoordinate(),
      measure(geom), true);
    box.querySelector(".measure-result").textContent = measure(geom);
  });
  map.addInteraction(draw);
}

function startSketch(type) {
  draw = new ol.interaction.Draw({ source: sketchSource, type, style: sketchStyle });
  draw.on("drawstart", () => { sketchSource.clear(); bufferSource.clear(); });
  draw.on("drawend", () => setTimeout(() => { stopDrawing(); runQuery(); }, 0));
  map.addInteraction(draw);
}

function selectTool(tool) {
  const wasActive = activeTool === tool;
  stopDrawing();
  if (wasActive) return;
  activeTool = tool;
  box.querySelector(`[data-tool="${tool}"]`).setAttribute("aria-pressed", "true");
  if (tool === "length") startMeasure("LineString");
  else if (tool === "area") startMeasure("Polygon");
  else startSketch({ point: "Point", line: "LineString", polygon: "Polygon" }[tool]);
  hooks.onToolChange(tool);
  toast(t(tool === "point" ? "point_hint" : "measure_hint"));
}

function clearAll() {
  stopDrawing();
  measureSource.clear();
  sketchSource.clear();
  bufferSource.clear();
  for (const o of measureOverlays) map.removeOverlay(o);
  measureOverlays = [];
  lastQuery = null;
  box.querySelector(".query-results").replaceChildren();
  box.querySelector(".measure-result").textContent = "";
}

/** The body of a spatial query for the current sketch, or null when nothing is drawn. */
export function queryBody() {
  const feature = sketchSource.getFeatures()[0];
  if (!feature) return null;
  const format = new ol.format.GeoJSON();
  const geometry = format.writeGeometryObject(feature.getGeometry(), {
    dataProjection: "EPSG:4326", featureProjection: map.getView().getProjection(), decimals: 8,
  });
  const layers = [...box.querySelectorAll(".query-layers input:checked")].map((i) => i.value);
  return { geometry, buffer_m: Number(box.querySelector(".buffer-input").value || 0), layers };
}

/** Draw a geometry given in lon/lat as the sketch (for tests and for "query around this feature"). */
export function setSketch(geojsonGeometry) {
  sketchSource.clear();
  const geometry = new ol.format.GeoJSON().readGeometry(geojsonGeometry, {
    dataProjection: "EPSG:4326", featureProjection: map.getView().getProjection(),
  });
  sketchSource.addFeature(new ol.Feature(geometry));
}

function renderResults(result) {
  const container = box.querySelector(".query-results");
  const blocks = result.layers.map((layer) => {
    const rows = layer.features.map((f) =>
      `<li><button type="button" class="link-btn" data-layer="${esc(layer.layer)}" data-id="${f.id}">${esc(f.name ?? f.id)}</button>
       <span class="dist">${formatLength(f.distance_m)}</span></li>`).join("");
    const more = layer.truncated ? `<p class="note">${esc(t("truncated", { n: layer.features.length }))}</p>` : "";
    return `<details class="result-layer" data-layer="${esc(layer.layer)}" data-count="${layer.count}">
      <summary>${esc(L(layer.title))} <span class="badge">${layer.count}</span></summary>${more}<ul>${rows}</ul></details>`;
  }).join("");
  container.innerHTML = `<h4>${esc(t("results"))}</h4>${blocks}
    <div class="btn-row"><button type="button" class="btn export" data-format="csv">${esc(t("export_csv"))}</button>
    <button type="button" class="btn export" data-format="xlsx">${esc(t("export_xlsx"))}</button></div>`;
  for (const b of container.querySelectorAll("button[data-layer]")) {
    b.addEventListener("click", () => hooks.openFeature(b.dataset.layer, Number(b.dataset.id)));
  }
  for (const b of container.querySelectorAll("button.export")) b.addEventListener("click", () => exportResults(b.dataset.format));
}

/** Run the spatial query for the current sketch; resolves to the server's answer. */
export async function runQuery() {
  const body = queryBody();
  if (!body) { toast(t("draw_first"), "warn"); return null; }
  try {
    const result = await api("api/console/spatial-query", { method: "POST", body });
    lastQuery = body;
    bufferSource.clear();
    bufferSource.addFeature(new ol.Feature(new ol.format.GeoJSON().readGeometry(result.buffer, {
      dataProjection: "EPSG:4326", featureProjection: map.getView().getProjection(),
    })));
    renderResults(result);
    window.onemap.lastQuery = result;
    return result;
  } catch (err) {
    toast(err.message, "error");
    return null;
  }
}

async function exportResults(format) {
  if (!lastQuery) return;
  try {
    const response = await api(`api/console/spatial-query/export`, { method: "POST", body: lastQuery, raw: true,
      params: { format, lang: LANG } });
    const blob = await response.blob();
    const name = /filename="([^"]+)"/.exec(response.headers.get("Content-Disposition") || "")?.[1] || `export.${format}`;
    const a = document.createElement("a");
    a.href = URL.createObjectURL(blob);
    a.download = name;
    document.body.appendChild(a);
    a.click();
    setTimeout(() => { URL.revokeObjectURL(a.href); a.remove(); }, 1000);
  } catch (err) {
    toast(err.message, "error");
  }
}

export function initTools(element, theMap, options) {
  map = theMap;
  box = element;
  hooks = { ...hooks, ...options };
  for (const [source, style] of [[measureSource, sketchStyle], [bufferSource, bufferStyle], [sketchSource, sketchStyle]]) {
    map.addLayer(new ol.layer.Vector({ source, style, zIndex: 900, properties: { id: "_tools" } }));
  }
  const checks = catalogLayers().filter((e) => e.id !== "basemap").map((e) =>
    `<label><input type="checkbox" value="${esc(e.id)}" ${e.query ? "checked" : ""}> ${esc(L(e.title))}</label>`);
  box.querySelector(".query-layers").innerHTML = checks.join("");
  for (const b of box.querySelectorAll("[data-tool]")) b.addEventListener("click", () => selectTool(b.dataset.tool));
  box.querySelector(".clear-btn").addEventListener("click", clearAll);
  box.querySelector(".run-query").addEventListener("click", runQuery);
  document.addEventListener("keydown", (e) => {
    if (e.key === "Escape" && draw) { draw.abortDrawing(); stopDrawing(); }
  });
}

export function isDrawing() {
  return draw !== null;
}
