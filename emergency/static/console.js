// The emergency module's console plug-in (emergency/manifest.py console_scripts; interface: core/manifest.py).
// The dispatcher's workflow on the one map: 接报 (incident intake by a map click or the search result), the
// incident panel's actions (lifecycle moves, 续报, edit and 物资调用 via incident_forms.js, dispatch-order status,
// nearest resources) and live refresh.
// The panel sections themselves come from the server (emergency/console.py); this module adds the buttons.
// Only actions the role may take are drawn: BOOT.can.modules.emergency (none at all when BOOT.can is missing).

import { BOOT, L, LANG, api, enumLabel, esc, t, toast } from "../../console/boot.js";
import { addImpact } from "./impact.js";
import { addPlans, decorateTasks } from "./plans.js";
import { addIncidentForms, formOpen, options } from "./incident_forms.js";
import { initNearest, nearestIncidentId, openNearest } from "./nearest.js";
import { currentFeature, onPanelRender, openFeature, refreshPanel } from "../../console/panel.js";
import { fromLonLat, toLonLat } from "../../console/projection.js";

const ol = window.ol;
const USCC = /[0-9A-HJ-NPQRTUWXY]{2}\d{6}[0-9A-HJ-NPQRTUWXY]{10}/;

let map;
let hooks = { refreshIncidents: () => {}, showIncidents: () => {} };
let intakeBox;
let picking = false;
let pickedLonLat = null;
let searchResult = null; // {lonLat, uscc?}
let lifecycle = null;
let lastOwnChange = 0; // when this page last changed an incident (its echo on the live stream is no news)
let lastReread = 0; // when this page last started re-reading the incident on show
let staleWhileEditing = null; // the incident changed while a 续报 was being typed: re-read it afterwards
let pendingError = null; // {id, text}: an error to show once the incident's panel has been re-read
const drafts = new Map(); // incident id → the 续报 being typed (a re-read panel must not lose it)
const pickSource = new ol.source.Vector();

/** May the signed-in role do `action` ("read", "write") in the emergency module? */
export function can(action) {
  const granted = BOOT.can && BOOT.can.modules && BOOT.can.modules.emergency;
  return Array.isArray(granted) && granted.includes(action);
}

/** The emergency API is called like the rest of the console's (boot.js api: CSRF on writes, problems in the
 * page's language). */
export const request = (path, options) => api(path, options);

async function lifecycles() {
  lifecycle ??= await request("api/emergency/incidents/lifecycle");
  return lifecycle;
}

/** The words for a refused move: "from → to is not allowed; allowed next: …" in the UI language. */
function problemText(err, field) {
  const p = err.problem;
  if (err.status === 409 && p && Array.isArray(p.allowed) && p.requested) {
    const states = p.allowed.length ? p.allowed.map((s) => enumLabel(field, s)).join(LANG === "en" ? ", " : "、")
      : t("final_state");
    return `${t("cannot_move", { from: enumLabel(field, p.current), to: enumLabel(field, p.requested) })} ${
      t("allowed_next", { states })}`;
  }
  return err.message;
}

// -- intake (接报) ----------------------------------------------------------------------------------------------
const pickStyle = new ol.style.Style({
  image: new ol.style.RegularShape({ points: 5, radius: 13, radius2: 6, fill: new ol.style.Fill({ color: "#d50000" }),
    stroke: new ol.style.Stroke({ color: "#ffffff", width: 2 }) }),
});

function localNow() {
  const d = new Date();
  d.setSeconds(0, 0);
  return new Date(d.getTime() - d.getTimezoneOffset() * 60_000).toISOString().slice(0, 16);
}

function buildIntake() {
  const number = (name) => `<label>${esc(t(name))} <input type="number" name="${name}" min="0" max="100000" step="1"></label>`;
  intakeBox.innerHTML = `
    <header class="float-head"><h2 class="side-title">${esc(t("intake_title"))}</h2>
      <button type="button" class="icon-btn intake-close" aria-label="${esc(t("close"))}" title="${esc(t("close"))}">✕</button></header>
    <form class="intake-form emergency-form" novalidate>
      <div class="intake-location" data-input="location">
        <span class="label">${esc(t("location"))}</span> <output class="loc-text">${esc(t("location_none"))}</output>
        <div class="btn-row">
          <button type="button" class="btn pick-btn" aria-pressed="false">${esc(t("pick_on_map"))}</button>
          <button type="button" class="btn use-search" hidden>${esc(t("use_search_result"))}</button>
        </div>
      </div>
      <label>${esc(t("incident_kind"))} <select name="kind" required>${options("incidents.kind", { empty: "—" })}</select></label>
      <label>${esc(t("incident_title"))} <input name="title" maxlength="200" placeholder="${esc(t("title_auto"))}"></label>
      <label>${esc(t("reported_at"))} <input type="datetime-local" name="reported_at" required></label>
      <label>${esc(t("report_source"))} <select name="source">${options("report_source", { empty: "—" })}</select></label>
      <div class="pair"><label>${esc(t("reporter_name"))} <input name="reporter_name" maxlength="30"></label>
        <label>${esc(t("reporter_phone"))} <input name="reporter_phone" maxlength="20" inputmode="tel"></label></div>
      <label>${esc(t("description"))} <textarea name="description" rows="3"></textarea></label>
      <fieldset class="casualties"><legend>${esc(t("casualties"))}</legend>${["deaths", "injuries", "missing"].map(number).join("")}</fieldset>
      <label>${esc(t("response_level"))} <select name="response_level">${options("incidents.response_level", { empty: t("not_set") })}</select></label>
      <label>${esc(t("related_enterprise"))} <input name="enterprise_uscc" maxlength="18" autocomplete="off"></label>
      <p class="error intake-error" role="alert"></p>
      <div class="btn-row"><button type="submit" class="btn primary">${esc(t("submit"))}</button>
        <button type="button" class="btn intake-cancel">${esc(t("cancel"))}</button></div>
    </form>`;
  const form = intakeBox.querySelector("form");
  intakeBox.querySelector(".intake-close").addEventListener("click", closeIntake);
  intakeBox.querySelector(".intake-cancel").addEventListener("click", closeIntake);
  intakeBox.querySelector(".pick-btn").addEventListener("click", () => setPicking(!picking));
  intakeBox.querySelector(".use-search").addEventListener("click", () => {
    if (!searchResult) return;
    setLocation(searchResult.lonLat);
    if (searchResult.uscc && !form.elements.enterprise_uscc.value) form.elements.enterprise_uscc.value = searchResult.uscc;
  });
  form.addEventListener("submit", (e) => { e.preventDefault(); submitIntake(form); });
}

function setPicking(on) {
  picking = on;
  document.getElementById("map").classList.toggle("picking", on);
  intakeBox.querySelector(".pick-btn")?.setAttribute("aria-pressed", String(on));
  if (on) toast(t("intake_pick_hint"));
}

function setLocation(lonLat) {
  pickedLonLat = lonLat;
  pickSource.clear();
  pickSource.addFeature(new ol.Feature(new ol.geom.Point(fromLonLat(lonLat, map.getView().getProjection()))));
  intakeBox.querySelector(".loc-text").textContent = `${lonLat[0].toFixed(6)}, ${lonLat[1].toFixed(6)} (CGCS2000)`;
  intakeBox.querySelector(".intake-location").classList.remove("invalid");
}

function openIntake() {
  if (!intakeBox.innerHTML) buildIntake();
  intakeBox.hidden = false;
  document.getElementById("btn-intake").setAttribute("aria-expanded", "true");
  const form = intakeBox.querySelector("form");
  if (!form.elements.reported_at.value) form.elements.reported_at.value = localNow();
  intakeBox.querySelector(".use-search").hidden = !searchResult;
  if (!pickedLonLat) setPicking(true);
}

function closeIntake() {
  setPicking(false);
  intakeBox.hidden = true;
  document.getElementById("btn-intake").setAttribute("aria-expanded", "false");
  pickSource.clear();
  pickedLonLat = null;
  if (intakeBox.innerHTML) {
    intakeBox.querySelector("form").reset();
    intakeBox.querySelector(".loc-text").textContent = t("location_none");
    intakeBox.querySelector(".intake-error").textContent = "";
  }
}

function intakeBody(form) {
  const f = form.elements;
  const value = (name) => f[name].value.trim();
  const body = { kind: value("kind") || null, location: { lon: pickedLonLat[0], lat: pickedLonLat[1], crs: "cgcs2000" } };
  if (value("reported_at")) body.reported_at = new Date(value("reported_at")).toISOString();
  for (const name of ["title", "description", "source", "enterprise_uscc"]) if (value(name)) body[name] = value(name);
  if (value("response_level")) body.response_level = Number(value("response_level"));
  if (value("reporter_name") || value("reporter_phone")) {
    body.reporter = {};
    if (value("reporter_name")) body.reporter.name = value("reporter_name");
    if (value("reporter_phone")) body.reporter.phone = value("reporter_phone");
  }
  const casualties = {};
  for (const name of ["deaths", "injuries", "missing"]) if (value(name) !== "") casualties[name] = Number(value(name));
  if (Object.keys(casualties).length) body.casualties = casualties;
  return body;
}

// "casualties.deaths" → the deaths input, "reporter.name" → reporter_name, "location.lon" → the location block
function markInvalid(form, input) {
  for (const el of form.querySelectorAll(".invalid")) el.classList.remove("invalid");
  if (!input) return;
  const [head, tail] = String(input).split(".");
  const name = head === "casualties" ? tail : head === "reporter" ? `reporter_${tail}` : head;
  const el = head === "location" ? form.querySelector(".intake-location") : form.elements[name];
  if (el && el.classList) el.classList.add("invalid");
}

async function submitIntake(form) {
  const error = form.querySelector(".intake-error");
  error.textContent = "";
  markInvalid(form, null);
  if (!pickedLonLat) {
    error.textContent = t("location_required");
    markInvalid(form, "location");
    setPicking(true);
    return;
  }
  const submit = form.querySelector("button[type=submit]");
  submit.disabled = true;
  try {
    lastOwnChange = Date.now();
    const incident = await request("api/emergency/incidents", { method: "POST", body: intakeBody(form) });
    toast(t("intake_done", { code: incident.code }));
    closeIntake();
    hooks.showIncidents();
    hooks.refreshIncidents();
    lastReread = Date.now();
    await openFeature("incidents", incident.id);
    window.onemap.lastIncident = incident;
  } catch (err) {
    error.textContent = err.message;
    markInvalid(form, err.problem?.input);
  } finally {
    submit.disabled = false;
  }
}

// -- the incident panel's actions -------------------------------------------------------------------------------
async function change(incidentId, path, body, done) {
  lastOwnChange = Date.now();
  try {
    const result = await request(path, { method: "POST", body });
    toast(done(result));
    if (path.endsWith("/reports")) drafts.delete(incidentId);
  } catch (err) {
    pendingError = { id: incidentId, text: problemText(err, path.includes("dispatch-orders") ? "dispatch_status" : "incidents.status") };
  }
  lastOwnChange = Date.now();
  hooks.refreshIncidents();
  await reread(incidentId);
}

/** Re-read the panel if it shows incident `id`. */
function reread(id, { live = false } = {}) {
  const cur = currentFeature();
  if (!cur || cur.layer !== "incidents" || cur.id !== id) return Promise.resolve(null);
  lastReread = Date.now();
  staleWhileEditing = null;
  if (!live) return refreshPanel();
  // a live re-read answered after a form was opened must not wipe it: the form's closing re-reads instead
  return refreshPanel({ keepIf: () => editing() && Boolean(staleWhileEditing = id) });
}

function followUpForm() {
  const number = (name) => `<label>${esc(t(name))} <input type="number" name="${name}" min="0" max="100000" step="1"></label>`;
  return `<form class="follow-up-form emergency-form" hidden>
    <label>${esc(t("follow_up_text"))} <textarea name="text" rows="3" required></textarea></label>
    <fieldset class="casualties"><legend>${esc(t("casualties"))}</legend>${["deaths", "injuries", "missing"].map(number).join("")}</fieldset>
    <label>${esc(t("report_source"))} <select name="source">${options("report_source", { empty: "—" })}</select></label>
    <label>${esc(t("reporter_name"))} <input name="reporter_name" maxlength="30"></label>
    <div class="btn-row"><button type="submit" class="btn primary">${esc(t("submit"))}</button>
      <button type="button" class="btn follow-up-cancel">${esc(t("cancel"))}</button></div>
  </form>`;
}

function followUpBody(form) {
  const f = form.elements;
  const body = { text: f.text.value.trim() };
  const casualties = {};
  for (const name of ["deaths", "injuries", "missing"]) if (f[name].value !== "") casualties[name] = Number(f[name].value);
  if (Object.keys(casualties).length) body.casualties = casualties;
  if (f.source.value) body.source = f.source.value;
  if (f.reporter_name.value.trim()) body.reporter = { name: f.reporter_name.value.trim() };
  return body;
}

function decorateOrders(doc, el, incidentId) {
  const section = doc.sections.find((s) => s.id === "dispatch_orders");
  const rows = section && section.content && section.content.rows;
  if (!rows || !rows.length) return;
  const trs = el.querySelectorAll('[data-section="dispatch_orders"] tbody tr');
  el.querySelector('[data-section="dispatch_orders"] thead tr')?.insertAdjacentHTML("beforeend", "<th></th>");
  rows.forEach((row, i) => {
    const tr = trs[i];
    if (!tr) return;
    tr.dataset.orderId = row.order_id;
    tr.dataset.status = row.status_code;
    const buttons = can("write") ? row.next.map((to) =>
      `<button type="button" class="btn small order-move" data-to="${esc(to)}">${esc(enumLabel("dispatch_status", to))}</button>`).join("") : "";
    tr.insertAdjacentHTML("beforeend", `<td class="order-actions">${buttons}</td>`);
    for (const b of tr.querySelectorAll(".order-move")) {
      b.addEventListener("click", () => change(incidentId, `api/emergency/dispatch-orders/${row.order_id}/transitions`,
        { to: b.dataset.to }, () => t("order_moved", { state: enumLabel("dispatch_status", b.dataset.to) })));
    }
  });
}

async function decorateIncident(doc, el) {
  const status = doc.attributes.find((a) => a.name === "status")?.value;
  const id = doc.id;
  const box = document.createElement("section");
  box.className = "incident-actions";
  box.setAttribute("aria-label", t("incident_actions"));
  box.dataset.status = status;
  box.innerHTML = `<p class="status-line">${esc(t("status_now", { state: enumLabel("incidents.status", status) }))}</p>
    <div class="btn-row incident-buttons"></div>
    <p class="error action-error" role="alert"></p>${can("write") ? followUpForm() : ""}`;
  el.querySelector(".panel-body").prepend(box);
  if (pendingError && pendingError.id === id) box.querySelector(".action-error").textContent = pendingError.text;
  pendingError = null;
  decorateOrders(doc, el, id);
  const own = async () => { lastOwnChange = Date.now(); await reread(id); };
  decorateTasks(doc, el, { id, request, changed: own, writable: can("write") });
  const buttons = box.querySelector(".incident-buttons");
  if (can("read")) {
    buttons.insertAdjacentHTML("beforeend", `<button type="button" class="btn nearest-btn">${esc(t("nearest"))}</button>`);
    buttons.querySelector(".nearest-btn").addEventListener("click", () =>
      openNearest({ incident: { id, title: doc.title, lonLat: doc.center } }));
  }
  if (!can("write")) return;
  let next = [];
  try { next = (await lifecycles()).incident.transitions[status] ?? []; } catch (err) { toast(err.message, "error"); }
  if (!box.isConnected) return; // the panel moved on meanwhile
  buttons.insertAdjacentHTML("afterbegin", next.map((to) =>
    `<button type="button" class="btn primary incident-move" data-to="${esc(to)}">${esc(t("move_to", { state: enumLabel("incidents.status", to) }))}</button>`).join(""));
  for (const b of buttons.querySelectorAll(".incident-move")) {
    b.addEventListener("click", () => change(id, `api/emergency/incidents/${id}/transitions`, { to: b.dataset.to },
      () => t("status_moved", { state: enumLabel("incidents.status", b.dataset.to) })));
  }
  if (!next.length) return; // a final incident takes no 续报, edit or material request
  addIncidentForms(box, id, {
    request,
    changed: async (done) => {
      toast(done);
      lastOwnChange = Date.now();
      hooks.refreshIncidents();
      await reread(id);
      lastOwnChange = Date.now();
    },
    closed: () => { if (staleWhileEditing === id) reread(id); },
  });
  addImpact(box, buttons, { id, kind: doc.attributes.find((a) => a.name === "kind")?.value, map, request,
    changed: own });
  addPlans(box, buttons, { id, request, changed: own });
  buttons.insertAdjacentHTML("beforeend", `<button type="button" class="btn follow-up-btn" aria-expanded="false">${esc(t("follow_up"))}</button>`);
  const form = box.querySelector(".follow-up-form");
  const toggle = buttons.querySelector(".follow-up-btn");
  const show = (on) => { form.hidden = !on; toggle.setAttribute("aria-expanded", String(on)); };
  toggle.addEventListener("click", () => { show(form.hidden); if (!form.hidden) form.elements.text.focus(); });
  box.querySelector(".follow-up-cancel").addEventListener("click", () => {
    show(false);
    form.reset();
    drafts.delete(id);
    if (staleWhileEditing === id) reread(id);
  });
  form.addEventListener("input", () => drafts.set(id, Object.fromEntries(new FormData(form))));
  const draft = drafts.get(id);
  if (draft) {
    for (const [name, value] of Object.entries(draft)) if (form.elements[name]) form.elements[name].value = value;
    show(true);
  }
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    if (!form.elements.text.value.trim()) { form.elements.text.classList.add("invalid"); return; }
    change(id, `api/emergency/incidents/${id}/reports`, followUpBody(form), () => t("follow_up_done"));
  });
}

// -- live updates ----------------------------------------------------------------------------------------------
function editing() {
  const form = document.querySelector("#feature-panel .follow-up-form");
  return formOpen() || Boolean(form && !form.hidden && form.elements.text.value.trim());
}

/** A live event from /api/events/stream: re-read an open incident panel it concerns (not while someone types),
 * and say what happened to an incident unless it is most likely the echo of this page's own change. */
function onLiveEvent(event) {
  const received = Date.now();
  const echo = received - lastOwnChange < 2000;
  if (!event.type.startsWith("incident.")) return;
  if (!echo) { // an echo of this page's own change is not news (the page has said what it did)
    const d = event.data ?? {};
    const title = d.title ?? d.data?.title ?? d.data?.incident?.title ?? d.data?.order?.resource_name ?? "";
    const what = [title, enumLabel("incident_event", event.type.slice(9))].filter(Boolean).join(" · ");
    toast(`${L({ "zh-CN": "突发事件", en: "Incident" })}: ${what}`);
  }
  const id = event.data && event.data.incident_id;
  if (id == null) return;
  // A burst of events (or the echo of our own change, which re-reads the panel itself) needs one re-read:
  // the first re-read that starts after an event was received shows it, since events follow the commit.
  setTimeout(() => {
    if (lastReread >= received) return;
    const cur = currentFeature();
    if (!cur || cur.layer !== "incidents" || cur.id !== id) return;
    if (editing()) staleWhileEditing = id;
    else reread(id, { live: true });
  }, 300);
}

/** Remember the last search hit: the intake form offers it as the location. */
function noteSearchResult(result) {
  const uscc = result.layer === "enterprises" ? USCC.exec(`${result.subtitle ?? ""} ${result.name ?? ""}`)?.[0] : null;
  searchResult = { lonLat: [result.lon, result.lat], uscc };
  if (intakeBox && !intakeBox.hidden) intakeBox.querySelector(".use-search").hidden = false;
}

/** Is a map click being taken as the intake location (the console must not open a feature then)? */
function isPicking() {
  return picking;
}

/** The plug-in interface: `host` is main.js's {refreshLayers(ids), showLayer(id)}; returns this plug-in's hooks. */
export function init(theMap, host) {
  map = theMap;
  hooks = { refreshIncidents: () => host.refreshLayers(["incidents"]), showIncidents: () => host.showLayer("incidents") };
  intakeBox = document.getElementById("intake-panel");
  map.addLayer(new ol.layer.Vector({ source: pickSource, style: pickStyle, zIndex: 960, properties: { id: "_intake" } }));
  initNearest(map, document.getElementById("nearest-panel"), {
    request, canRead: can("read"), canWrite: can("write"),
    onDispatched: (incidentId, order, resource) => {
      toast(t("dispatch_done", { name: resource.name }));
      lastOwnChange = Date.now();
      reread(incidentId);
    },
  });
  const button = document.getElementById("btn-intake");
  if (can("write")) {
    button.hidden = false;
    button.addEventListener("click", () => (intakeBox.hidden ? openIntake() : closeIntake()));
  }
  // the location click: after the console's own click handler has seen `picking` and stood back
  map.on("singleclick", (e) => {
    if (!picking) return;
    setLocation(toLonLat(e.coordinate, map.getView().getProjection()));
    setTimeout(() => setPicking(false), 0);
  });
  onPanelRender((doc, el) => { if (doc.layer === "incidents") decorateIncident(doc, el); });
  window.onemap.emergency = { can, nearestIncidentId };
  return { isPicking, noteSearchResult, onLiveEvent };
}
