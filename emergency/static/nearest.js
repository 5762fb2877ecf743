// Nearest emergency resources to an incident (or any point): the list ranked by drive time from
// /api/emergency/nearest-resources, every route on the map, the 5/10/15/30-minute isochrones, and "调派" per row.
// Started from an incident's panel or a right-click on the map (console.js wires it).

import { BOOT, enumLabel, esc, formatNumber, t } from "../../console/boot.js";
import { fromLonLat, toLonLat } from "../../console/projection.js";

const ol = window.ol;
// the kinds the dispatcher can send (dispatch: in the layer files), in dispatch order
const RESOURCE_KINDS = BOOT.catalog.resourceKinds;
const KINDS = RESOURCE_KINDS.map((k) => k.kind);
const LAYER_OF_KIND = Object.fromEntries(RESOURCE_KINDS.map((k) => [k.kind, k.layer]));
export const ISOCHRONE_MINUTES = [5, 10, 15, 30];
const ISOCHRONE_COLOURS = { 5: "#b71c1c", 10: "#ef6c00", 15: "#f9a825", 30: "#2e7d32" };
const KIND_COLOURS = { rescue_team: "#c62828", fire_station: "#d84315", hospital: "#2e7d32", depot: "#6d4c41",
  shelter: "#1565c0", expert: "#6a1b9a" };

let map;
let box;
let opts = { request: null, canWrite: false, onDispatched: () => {} };
let target = null; // {incident: {id, title}, lonLat} or {lonLat}
let selected = null; // "kind/id" of the highlighted route
const routeSource = new ol.source.Vector();
const isoSource = new ol.source.Vector();
const state = { result: null, isochrones: null, query: null };

// -- styles -------------------------------------------------------------------------------------------------
const routeStyle = new ol.style.Style({ stroke: new ol.style.Stroke({ color: "rgba(21,101,192,0.75)", width: 3 }) });
const selectedRouteStyles = [
  new ol.style.Style({ stroke: new ol.style.Stroke({ color: "#ffffff", width: 9 }), zIndex: 10 }),
  new ol.style.Style({ stroke: new ol.style.Stroke({ color: "#ff6f00", width: 6 }), zIndex: 11 }),
];
const targetStyle = new ol.style.Style({
  image: new ol.style.RegularShape({ points: 5, radius: 13, radius2: 6, fill: new ol.style.Fill({ color: "#d50000" }),
    stroke: new ol.style.Stroke({ color: "#ffffff", width: 2 }) }),
  zIndex: 20,
});
const pointStyles = {};

function resourceStyle(kind, on) {
  const key = `${kind}/${on}`;
  pointStyles[key] ??= new ol.style.Style({
    image: new ol.style.Circle({ radius: on ? 8 : 5, fill: new ol.style.Fill({ color: KIND_COLOURS[kind] ?? "#455a64" }),
      stroke: new ol.style.Stroke({ color: "#ffffff", width: 2 }) }),
    zIndex: on ? 15 : 5,
  });
  return pointStyles[key];
}

function routeLayerStyle(feature) {
  const role = feature.get("role");
  if (role === "target") return targetStyle;
  const on = feature.get("key") === selected;
  if (role === "resource") return resourceStyle(feature.get("kind"), on);
  return on ? selectedRouteStyles : routeStyle;
}

const isoStyles = {};
function isoLayerStyle(feature) {
  const minutes = feature.get("minutes");
  isoStyles[minutes] ??= new ol.style.Style({
    stroke: new ol.style.Stroke({ color: ISOCHRONE_COLOURS[minutes] ?? "#455a64", width: 2 }),
    fill: new ol.style.Fill({ color: `${ISOCHRONE_COLOURS[minutes] ?? "#455a64"}14` }), // stacked: ~8% each
    zIndex: 100 - minutes, // the smaller area on top
  });
  return isoStyles[minutes];
}

// -- map ------------------------------------------------------------------------------------------------------
function projection() {
  return map.getView().getProjection();
}

function readGeometry(geojson) {
  return new ol.format.GeoJSON().readGeometry(geojson, { dataProjection: "EPSG:4326", featureProjection: projection() });
}

function setSelected(key, { zoom = false } = {}) {
  selected = key;
  routeSource.changed();
  for (const li of box.querySelectorAll(".nearest-list > li")) li.classList.toggle("selected", li.dataset.key === key);
  if (zoom && key) {
    const route = routeSource.getFeatures().find((f) => f.get("key") === key && f.get("role") === "route");
    if (route) map.getView().fit(route.getGeometry().getExtent(), { padding: [80, 80, 80, 80], duration: 400, maxZoom: 17 });
  }
}

function drawRoutes(result) {
  routeSource.clear();
  const marker = new ol.Feature({ geometry: new ol.geom.Point(fromLonLat(target.lonLat, projection())), role: "target" });
  const features = [marker];
  for (const r of result.resources) {
    const key = `${r.kind}/${r.id}`;
    features.push(new ol.Feature({ geometry: readGeometry(r.route), role: "route", key, kind: r.kind }));
    features.push(new ol.Feature({ geometry: new ol.geom.Point(fromLonLat(r.location, projection())), role: "resource",
      key, kind: r.kind }));
  }
  routeSource.addFeatures(features);
  if (result.resources.length) {
    map.getView().fit(routeSource.getExtent(), { padding: [60, 60, 60, 60], duration: 400, maxZoom: 16 });
  }
}

// -- the panel ------------------------------------------------------------------------------------------------
function targetText() {
  if (target.incident) return t("nearest_for_incident", { title: target.incident.title });
  return t("nearest_for_point", { lon: target.lonLat[0].toFixed(6), lat: target.lonLat[1].toFixed(6) });
}

function build() {
  const kinds = KINDS.map((k) => `<label><input type="checkbox" name="kind" value="${k}" checked>
    <span class="swatch" style="background:${KIND_COLOURS[k]}"></span>${esc(enumLabel("resource_kind", k))}</label>`).join("");
  const legend = ISOCHRONE_MINUTES.map((m) => `<li><span class="swatch" style="background:${ISOCHRONE_COLOURS[m]}"></span>${
    esc(t("minutes_n", { n: m }))}</li>`).join("");
  box.innerHTML = `
    <header class="float-head"><h2 class="side-title">${esc(t("nearest_title"))}</h2>
      <button type="button" class="icon-btn nearest-close" aria-label="${esc(t("close"))}" title="${esc(t("close"))}">✕</button></header>
    <p class="nearest-target"></p>
    <form class="nearest-form">
      <fieldset class="kinds-box"><legend>${esc(t("resource_kinds"))}</legend><div class="kinds">${kinds}</div></fieldset>
      <label class="field">${esc(t("limit"))} <input class="nearest-limit" type="number" min="1" max="100" value="10"></label>
      <div class="btn-row">
        <button type="submit" class="btn primary nearest-find">${esc(t("find"))}</button>
        <label class="toggle"><input type="checkbox" class="iso-toggle"> ${esc(t("isochrones"))}</label>
        <button type="button" class="btn nearest-clear">${esc(t("clear_routes"))}</button>
      </div>
    </form>
    <ul class="legend iso-legend" aria-label="${esc(t("isochrones"))}" hidden>${legend}</ul>
    <p class="error nearest-error" role="alert"></p>
    <ol class="nearest-list" aria-live="polite"></ol>`;
  box.querySelector(".nearest-close").addEventListener("click", closeNearest);
  box.querySelector(".nearest-form").addEventListener("submit", (e) => { e.preventDefault(); findNearest(); });
  box.querySelector(".iso-toggle").addEventListener("change", (e) => toggleIsochrones(e.target.checked));
  box.querySelector(".nearest-clear").addEventListener("click", clearNearest);
}

function showError(message) {
  box.querySelector(".nearest-error").textContent = message ?? "";
}

function rowHtml(r, index) {
  const minutes = formatNumber(r.travel_time_s / 60, 1);
  const km = formatNumber(r.distance_m / 1000, 1);
  const offDuty = r.status === "off_duty";
  const status = r.status ? ` · <span class="nr-status">${esc(enumLabel(`${LAYER_OF_KIND[r.kind]}.status`, r.status))}</span>` : "";
  const dispatch = opts.canWrite && target.incident ? `
    <button type="button" class="btn nr-dispatch" ${offDuty ? "disabled" : ""}>${esc(t("dispatch"))}</button>
    <form class="nr-dispatch-form" hidden>
      <label>${esc(t("dispatch_task"))} <input name="task" maxlength="500" required value="${esc(t("dispatch_task_default"))}"></label>
      <button type="submit" class="btn primary">${esc(t("dispatch_send"))}</button>
      <button type="button" class="btn nr-cancel">${esc(t("cancel"))}</button>
    </form>
    <p class="error nr-error" role="alert"></p>` : "";
  return `<li data-key="${esc(r.kind)}/${r.id}" data-kind="${esc(r.kind)}" data-id="${r.id}" tabindex="0">
    <div class="nr-main"><span class="nr-rank">${index + 1}</span><span class="nr-name">${esc(r.name)}</span>
      <span class="nr-kind">${esc(enumLabel("resource_kind", r.kind))}</span>${status}</div>
    <div class="nr-meta"><strong class="nr-minutes">${esc(t("minutes_n", { n: minutes }))}</strong> · ${esc(t("straight_km", { km }))}</div>
    ${dispatch}</li>`;
}

function renderList(result) {
  const list = box.querySelector(".nearest-list");
  if (!result.resources.length) {
    list.innerHTML = `<li class="empty">${esc(t("no_reachable"))}</li>`;
    return;
  }
  list.innerHTML = result.resources.map(rowHtml).join("");
  for (const li of list.querySelectorAll("li[data-key]")) {
    const resource = result.resources.find((r) => `${r.kind}/${r.id}` === li.dataset.key);
    li.addEventListener("mouseenter", () => setSelected(li.dataset.key));
    li.addEventListener("focus", () => setSelected(li.dataset.key));
    li.addEventListener("keydown", (e) => { if (e.key === "Enter" && e.target === li) setSelected(li.dataset.key, { zoom: true }); });
    li.querySelector(".nr-main").addEventListener("click", () => setSelected(li.dataset.key, { zoom: true }));
    const button = li.querySelector(".nr-dispatch");
    if (!button) continue;
    const form = li.querySelector(".nr-dispatch-form");
    button.addEventListener("click", () => { form.hidden = false; button.hidden = true; form.querySelector("input").focus(); });
    li.querySelector(".nr-cancel").addEventListener("click", () => { form.hidden = true; button.hidden = false; });
    form.addEventListener("submit", (e) => { e.preventDefault(); dispatch(li, resource, form.elements.task.value); });
  }
}

async function dispatch(li, resource, task) {
  const error = li.querySelector(".nr-error");
  error.textContent = "";
  const submit = li.querySelector(".nr-dispatch-form button[type=submit]");
  submit.disabled = true;
  try {
    const order = await opts.request(`api/emergency/incidents/${target.incident.id}/dispatch`, { method: "POST",
      body: { resource_kind: resource.kind, resource_id: resource.id, task } });
    li.querySelector(".nr-dispatch-form").hidden = true;
    const button = li.querySelector(".nr-dispatch");
    button.hidden = false;
    button.disabled = true;
    button.textContent = enumLabel("dispatch_status", order.status);
    li.classList.add("dispatched");
    opts.onDispatched(target.incident.id, order, resource);
  } catch (err) {
    error.textContent = err.message;
  } finally {
    submit.disabled = false;
  }
}

function queryParams() {
  const kinds = [...box.querySelectorAll("input[name=kind]:checked")].map((i) => i.value);
  const where = target.incident ? { incident_id: target.incident.id }
    : { lon: target.lonLat[0].toFixed(7), lat: target.lonLat[1].toFixed(7), crs: "cgcs2000" };
  return { where, kinds };
}

/** Ask the server for the nearest resources of the checked kinds and show them; resolves to its answer. */
export async function findNearest() {
  const { where, kinds } = queryParams();
  showError("");
  if (!kinds.length) { showError(t("choose_kinds")); return null; }
  const limit = Math.min(100, Math.max(1, Number(box.querySelector(".nearest-limit").value) || 10));
  const params = { ...where, kinds: kinds.join(","), limit };
  box.setAttribute("aria-busy", "true");
  try {
    const result = await opts.request("api/emergency/nearest-resources", { params });
    state.result = result;
    state.query = params;
    selected = null;
    drawRoutes(result);
    renderList(result);
    return result;
  } catch (err) {
    routeSource.clear();
    box.querySelector(".nearest-list").replaceChildren();
    showError(err.message);
    return null;
  } finally {
    box.removeAttribute("aria-busy");
  }
}

async function toggleIsochrones(on) {
  isoSource.clear();
  state.isochrones = null;
  box.querySelector(".iso-legend").hidden = !on;
  if (!on || !target) return;
  const { where } = queryParams();
  try {
    const body = await opts.request("api/emergency/isochrones", { params: { ...where, minutes: ISOCHRONE_MINUTES.join(",") } });
    if (!box.querySelector(".iso-toggle").checked) return; // switched off meanwhile
    const features = body.features.filter((f) => f.geometry).map((f) =>
      new ol.Feature({ geometry: readGeometry(f.geometry), minutes: f.properties.minutes }));
    isoSource.clear();
    isoSource.addFeatures(features);
    state.isochrones = body;
  } catch (err) {
    showError(err.message);
  }
}

/** Remove routes, markers, isochrones and the list (the panel stays open). */
export function clearNearest() {
  routeSource.clear();
  isoSource.clear();
  state.result = state.isochrones = state.query = null;
  selected = null;
  if (!box.innerHTML) return;
  box.querySelector(".nearest-list").replaceChildren();
  box.querySelector(".iso-toggle").checked = false;
  box.querySelector(".iso-legend").hidden = true;
  showError("");
}

export function closeNearest() {
  clearNearest();
  box.hidden = true;
  target = null;
}

/** Open the panel for `{incident: {id, title, lonLat}}` or `{lonLat}` and run the query at once. */
export function openNearest(where) {
  const lonLat = where.incident ? where.incident.lonLat : where.lonLat;
  target = { incident: where.incident ?? null, lonLat };
  if (!box.innerHTML) build();
  clearNearest();
  box.hidden = false;
  box.querySelector(".nearest-target").textContent = targetText();
  return findNearest();
}

/** The incident the panel works for (its id), or null. */
export function nearestIncidentId() {
  return !box.hidden && target && target.incident ? target.incident.id : null;
}

export function initNearest(theMap, element, options) {
  map = theMap;
  box = element;
  opts = { ...opts, ...options };
  map.addLayer(new ol.layer.Vector({ source: isoSource, style: isoLayerStyle, zIndex: 940, properties: { id: "_isochrones" } }));
  map.addLayer(new ol.layer.Vector({ source: routeSource, style: routeLayerStyle, zIndex: 950, properties: { id: "_routes" } }));
  if (options.canRead) {
    // right-click anywhere: the resources nearest that point (no dispatch: orders belong to an incident)
    map.getViewport().addEventListener("contextmenu", (e) => {
      e.preventDefault();
      openNearest({ lonLat: toLonLat(map.getEventCoordinate(e), projection()) });
    });
  }
  // for tests and the benchmark: what is on the map
  window.onemap.nearest = {
    state,
    routes: () => routeSource.getFeatures().filter((f) => f.get("role") === "route").length,
    isochrones: () => isoSource.getFeatures().length,
    selected: () => selected,
  };
}
