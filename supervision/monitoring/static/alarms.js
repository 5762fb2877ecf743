// The monitoring module's console plug-in (supervision/monitoring/manifest.py console_scripts; interface:
// core/manifest.py). 监测报警 on the dispatcher's map, live from the `monitoring.*` events of /api/events/stream:
//  * sensors recoloured (the sensor's feature takes its new status at once; main.js re-reads the live layer) and
//    hazard sources ringed in their warning colour (红/橙/黄/蓝) — re-read from /api/monitoring/warning-levels;
//  * the alarm list (/api/monitoring/alarms: active, then cleared lately), each alarm linked to its disposal case
//    (the case pages do acknowledge / feedback / clear / close — no second workflow here);
//  * a level-2 alarm sounds (a Web Audio tone, muted by a toggle; browsers allow sound only after a user gesture,
//    so a pending alarm sounds at the first click or key) and flashes at its sensor until it clears;
//  * 扩散分析 of a gas alarm: the plume of the hazard source's gas (/api/monitoring/alarms/<id>/impact, the
//    gaussian-plume process), the sensitive targets and people inside, and the nearest-resources panel (emergency).
// Only for roles that may read the monitoring module (BOOT.can.modules.monitoring).

import { BOOT, L, LANG, api, esc, formatNumber, toast } from "../../console/boot.js";
import { fromLonLat } from "../../console/projection.js";

const ol = window.ol;
const S = {
  button: ["报警", "Alarms"],
  title: ["监测报警", "Sensor alarms"],
  close: ["关闭", "Close"],
  mute: ["静音", "Mute"],
  unmute: ["开启声音", "Sound on"],
  sound_blocked: ["新的二级报警：点击页面任意处以开启报警声音", "New level-2 alarm: click anywhere to allow the alarm sound"],
  none: ["当前无报警", "No alarms"],
  level_2: ["二级", "Level 2"],
  level_1: ["一级", "Level 1"],
  active: ["报警中", "Active"],
  cleared: ["已消除", "Cleared"],
  fault: ["设备故障", "Device fault"],
  no_case: ["未立案", "No case yet"],
  case: ["处置案件", "Disposal case"],
  locate: ["定位", "Locate"],
  plume: ["扩散分析", "Plume"],
  raised: ["报警", "Alarm"],
  cleared_toast: ["报警消除", "Alarm cleared"],
  warning: ["预警", "Warning"],
  impact_title: ["扩散影响分析", "Plume impact"],
  chemical: ["泄漏物质", "Chemical"],
  wind_speed: ["风速 (m/s)", "Wind speed (m/s)"],
  wind_from: ["风向 (来向, °)", "Wind from (°)"],
  release: ["泄漏速率 (g/s)", "Release rate (g/s)"],
  rerun: ["重新计算", "Recompute"],
  wind_default: ["默认风况，请按现场风况修改", "default wind: enter the wind on site"],
  wind_entered: ["输入风况", "wind entered"],
  threshold: ["阈值", "threshold"],
  zone_none: ["浓度未达阈值，无影响区", "No zone: the concentration stays below the threshold"],
  targets: ["影响区内防护目标", "Sensitive targets in the zone"],
  targets_none: ["影响区内无防护目标", "No sensitive target in the zone"],
  people: ["影响人数", "People affected"],
  in_targets: ["防护目标内", "in sensitive targets"],
  residents: ["常住人口", "residents"],
  area: ["面积", "area"],
  reach: ["下风向距离", "downwind reach"],
  clear_zone: ["清除", "Clear"],
  nearest_missing: ["无应急资源权限，未打开最近资源", "No access to emergency resources"],
};
const s = (key) => S[key][LANG === "en" ? 1 : 0];
const WARNING_COLOURS = { red: "#d50000", orange: "#ff6d00", yellow: "#ffd600", blue: "#2962ff" };
const WARNING_WORDS = { red: ["红色", "Red"], orange: ["橙色", "Orange"], yellow: ["黄色", "Yellow"], blue: ["蓝色", "Blue"] };
const MUTE_KEY = "onemap.alarms.muted";
const REFRESH_MS = 60_000;

const state = {
  map: null, host: null, panel: null, button: null, alarms: [], rings: new Map(), flashes: new Map(),
  muted: localStorage.getItem(MUTE_KEY) === "1", audio: null, unlocked: false, pendingSound: false, beeps: 0,
  impact: null, impactAlarm: null, listTimer: null, ringTimer: null,
};
const ringSource = new ol.source.Vector();
const plumeSource = new ol.source.Vector();

function can() {
  const granted = BOOT.can?.modules?.monitoring;
  return Array.isArray(granted) && granted.includes("read");
}

function canLayer(id) {
  const granted = BOOT.can?.layers?.[id];
  return Array.isArray(granted) && granted.includes("read");
}

function projection() {
  return state.map.getView().getProjection();
}

function loadStylesheet() {
  const link = document.createElement("link");
  link.rel = "stylesheet";
  link.href = new URL("./alarms.css", import.meta.url).href;
  document.head.appendChild(link);
}

function localTime(iso) {
  return new Date(iso).toLocaleString(LANG === "en" ? "en-GB" : "zh-CN", { hour12: false, month: "2-digit",
    day: "2-digit", hour: "2-digit", minute: "2-digit", second: "2-digit" });
}

function valueText(a) {
  if (a.value == null) return "";
  const unit = a.unit ? ` ${a.unit}` : "";
  return a.threshold == null ? `${formatNumber(a.value, 2)}${unit}` : `${formatNumber(a.value, 2)}${unit} / ${formatNumber(a.threshold, 2)}${unit}`;
}

// -- sound: a two-tone alarm generated with the Web Audio API ------------------------------------------------------
function audioContext() {
  const Ctx = window.AudioContext || window.webkitAudioContext;
  if (!Ctx) return null;
  state.audio ??= new Ctx();
  return state.audio;
}

function unlockAudio() {
  const ctx = audioContext();
  if (!ctx) return;
  ctx.resume().then(() => {
    state.unlocked = ctx.state === "running";
    document.querySelector(".alarm-sound-note")?.remove();
    if (state.unlocked && state.pendingSound) { state.pendingSound = false; playTone(); }
  });
}

function playTone() {
  const ctx = audioContext();
  if (!ctx || ctx.state !== "running") return false;
  const t0 = ctx.currentTime;
  const gain = ctx.createGain();
  gain.connect(ctx.destination);
  gain.gain.setValueAtTime(0.0001, t0);
  for (let i = 0; i < 6; i += 1) { // six 0.18-s beeps alternating 880 / 660 Hz
    const osc = ctx.createOscillator();
    osc.type = "square";
    osc.frequency.value = i % 2 ? 660 : 880;
    osc.connect(gain);
    const start = t0 + i * 0.22;
    gain.gain.setValueAtTime(0.15, start);
    gain.gain.setValueAtTime(0.0001, start + 0.18);
    osc.start(start);
    osc.stop(start + 0.2);
  }
  state.beeps += 1;
  return true;
}

function soundAlarm() {
  if (state.muted) return;
  if (playTone()) return;
  state.pendingSound = true; // no user gesture yet: sound at the first one, and say so
  if (!document.querySelector(".alarm-sound-note")) {
    const note = document.createElement("div");
    note.className = "alarm-sound-note";
    note.setAttribute("role", "alert");
    note.textContent = s("sound_blocked");
    document.body.appendChild(note);
  }
}

function setMuted(muted) {
  state.muted = muted;
  localStorage.setItem(MUTE_KEY, muted ? "1" : "0");
  const b = state.panel?.querySelector(".alarm-mute");
  if (b) {
    b.setAttribute("aria-pressed", String(muted));
    b.textContent = muted ? `🔕 ${s("unmute")}` : `🔔 ${s("mute")}`;
  }
  if (muted) { state.pendingSound = false; document.querySelector(".alarm-sound-note")?.remove(); }
}

// -- map: warning rings, flashing markers, the plume ------------------------------------------------------------
const ringStyles = {};
function ringStyle(feature) {
  const level = feature.get("level");
  ringStyles[level] ??= new ol.style.Style({
    image: new ol.style.Circle({ radius: 13, fill: new ol.style.Fill({ color: `${WARNING_COLOURS[level]}33` }),
      stroke: new ol.style.Stroke({ color: WARNING_COLOURS[level], width: 4 }) }),
    zIndex: { red: 4, orange: 3, yellow: 2, blue: 1 }[level],
  });
  return ringStyles[level];
}

const plumeStyles = {
  zone: new ol.style.Style({ fill: new ol.style.Fill({ color: "rgba(123,31,162,0.22)" }),
    stroke: new ol.style.Stroke({ color: "#7b1fa2", width: 2 }) }),
  source: new ol.style.Style({ image: new ol.style.RegularShape({ points: 3, radius: 11,
    fill: new ol.style.Fill({ color: "#7b1fa2" }), stroke: new ol.style.Stroke({ color: "#fff", width: 2 }) }) }),
  target: new ol.style.Style({ image: new ol.style.Circle({ radius: 6, fill: new ol.style.Fill({ color: "#ffab00" }),
    stroke: new ol.style.Stroke({ color: "#5d4037", width: 1.5 }) }) }),
};

function setRing(h) {
  const id = `hs/${h.hazard_source_code ?? h.code}`;
  const old = ringSource.getFeatureById(id);
  if (old) ringSource.removeFeature(old);
  if (!h.level || !WARNING_COLOURS[h.level] || !Number.isFinite(h.lon)) return;
  const f = new ol.Feature({ geometry: new ol.geom.Point(fromLonLat([h.lon, h.lat], projection())), level: h.level,
    code: h.hazard_source_code ?? h.code, name: h.name });
  f.setId(id);
  ringSource.addFeature(f);
}

async function loadRings() {
  if (!canLayer("hazard_sources")) return;
  try {
    const body = await api("api/monitoring/warning-levels");
    ringSource.clear();
    for (const h of body.hazard_sources) setRing(h);
  } catch (err) {
    console.warn("warning levels:", err.message);
  }
}

function flash(alarm) {
  const key = alarm.sensor_code;
  if (state.flashes.has(key) || !Number.isFinite(alarm.lon)) return;
  const el = document.createElement("div");
  el.className = "alarm-flash";
  el.title = `${alarm.label ?? ""} ${alarm.sensor_code}`;
  el.dataset.sensor = key;
  const overlay = new ol.Overlay({ element: el, position: fromLonLat([alarm.lon, alarm.lat], projection()),
    positioning: "center-center", stopEvent: false });
  state.map.addOverlay(overlay);
  state.flashes.set(key, overlay);
}

function unflash(sensor) {
  const overlay = state.flashes.get(sensor);
  if (!overlay) return;
  state.map.removeOverlay(overlay);
  state.flashes.delete(sensor);
}

/** Flash every sensor with an active level-2 process alarm, and only those. */
function syncFlashes() {
  const want = new Set(state.alarms.filter((a) => a.state === "active" && a.level === 2 && !a.fault).map((a) => a.sensor_code));
  for (const sensor of [...state.flashes.keys()]) if (!want.has(sensor)) unflash(sensor);
  for (const a of state.alarms) if (want.has(a.sensor_code)) flash(a);
}

function findLayer(id) {
  return state.map.getLayers().getArray().find((l) => l.get("id") === id);
}

/** The sensor's feature (if loaded) takes its new status now; the layer re-read follows (main.js). */
function restyleSensor(code, status) {
  const layer = findLayer("sensors");
  if (!layer || layer.get("kind") !== "geojson") return;
  for (const f of layer.getSource().getFeatures()) {
    if (f.get("code") === code && f.get("status") !== status) f.set("status", status);
  }
}

function refreshHazardSources() {
  const layer = findLayer("hazard_sources");
  if (layer && layer.get("kind") !== "raster") layer.getSource().refresh();
}

// -- the alarm list ---------------------------------------------------------------------------------------------
function caseCell(a) {
  if (a.case_id == null) return `<span class="alarm-case none">${esc(s("no_case"))}</span>`;
  const label = a.case_state_label ? L(a.case_state_label) : a.case_state;
  return `<a class="alarm-case" href="${esc(a.case_url)}" target="_blank" rel="noopener">${esc(a.case_code ?? `#${a.case_id}`)} · ${esc(label ?? "")}</a>`;
}

function render() {
  if (!state.panel) return;
  const active = state.alarms.filter((a) => a.state === "active");
  const level2 = active.filter((a) => a.level === 2 && !a.fault).length;
  state.button.querySelector(".alarm-count").textContent = String(active.length);
  state.button.classList.toggle("has-level-2", level2 > 0);
  const list = state.panel.querySelector(".alarm-list");
  if (!state.alarms.length) {
    list.innerHTML = `<li class="empty">${esc(s("none"))}</li>`;
    return;
  }
  list.innerHTML = state.alarms.map((a) => {
    const levelClass = a.fault ? "fault" : `level-${a.level}`;
    const tag = a.fault ? s("fault") : s(`level_${a.level}`);
    const gas = a.sensor_kind === "gas_concentration" && a.state === "active" && !a.fault;
    return `<li class="alarm-item ${levelClass} ${esc(a.state)}" data-id="${a.id}" data-sensor="${esc(a.sensor_code)}">
      <div class="alarm-line"><span class="alarm-tag">${esc(tag)}</span><b class="alarm-label">${esc(a.label)}</b>
        <span class="alarm-state">${esc(s(a.state))}</span></div>
      <div class="alarm-where">${esc(a.hazard_source_name ?? a.hazard_source_code)} · ${esc(a.sensor_code)}</div>
      <div class="alarm-meta"><span class="alarm-value">${esc(valueText(a))}</span>
        <span class="alarm-time">${esc(localTime(a.state === "cleared" && a.cleared_at ? a.cleared_at : a.raised_at))}</span></div>
      <div class="alarm-actions">${caseCell(a)}
        <button type="button" class="btn small alarm-locate">${esc(s("locate"))}</button>
        ${gas ? `<button type="button" class="btn small primary alarm-plume">${esc(s("plume"))}</button>` : ""}</div>
    </li>`;
  }).join("");
  for (const li of list.querySelectorAll(".alarm-item")) {
    const alarm = state.alarms.find((a) => String(a.id) === li.dataset.id);
    li.querySelector(".alarm-locate").addEventListener("click", () => locate(alarm));
    li.querySelector(".alarm-plume")?.addEventListener("click", () => runImpact(alarm));
  }
}

async function loadAlarms() {
  try {
    const body = await api("api/monitoring/alarms", { params: { state: "open", limit: 200 } });
    state.alarms = body.alarms;
    render();
    syncFlashes();
  } catch (err) {
    console.warn("alarms:", err.message);
  }
}

function scheduleReload() {
  clearTimeout(state.listTimer);
  state.listTimer = setTimeout(loadAlarms, 250); // a burst of events: one re-read
}

function locate(alarm) {
  state.map.getView().animate({ center: fromLonLat([alarm.lon, alarm.lat], projection()),
    zoom: Math.max(16, state.map.getView().getZoom()), duration: 500 });
  state.host.showLayer("sensors");
}

function openPanel(open = true) {
  state.panel.hidden = !open;
  state.button.setAttribute("aria-expanded", String(open));
  if (open) loadAlarms();
}

function buildPanel() {
  const panel = document.createElement("section");
  panel.id = "alarm-panel";
  panel.className = "floating alarm-panel";
  panel.hidden = true;
  panel.setAttribute("aria-label", s("title"));
  panel.innerHTML = `
    <header class="float-head"><h2 class="side-title">${esc(s("title"))}</h2>
      <button type="button" class="btn small alarm-mute" aria-pressed="false"></button>
      <button type="button" class="icon-btn alarm-close" aria-label="${esc(s("close"))}" title="${esc(s("close"))}">✕</button></header>
    <section class="alarm-impact" hidden aria-live="polite"></section>
    <ol class="alarm-list" aria-live="polite"></ol>`;
  document.querySelector("main.workspace").appendChild(panel);
  panel.querySelector(".alarm-close").addEventListener("click", () => openPanel(false));
  panel.querySelector(".alarm-mute").addEventListener("click", () => setMuted(!state.muted));
  const button = document.createElement("button");
  button.type = "button";
  button.id = "btn-alarms";
  button.className = "btn alarms";
  button.setAttribute("aria-controls", "alarm-panel");
  button.setAttribute("aria-expanded", "false");
  button.innerHTML = `⚠ ${esc(s("button"))} <span class="alarm-count">0</span>`;
  button.addEventListener("click", () => openPanel(panel.hidden));
  document.getElementById("btn-layers").before(button);
  state.panel = panel;
  state.button = button;
  setMuted(state.muted);
}

// -- alarm → plume → nearest resources ----------------------------------------------------------------------------
function readGeometry(geojson) {
  return new ol.format.GeoJSON().readGeometry(geojson, { dataProjection: "EPSG:4326", featureProjection: projection() });
}

function drawImpact(body) {
  plumeSource.clear();
  const features = [new ol.Feature({ geometry: new ol.geom.Point(fromLonLat(body.point, projection())), role: "source" })];
  if (body.zone.geometry) features.push(new ol.Feature({ geometry: readGeometry(body.zone.geometry), role: "zone" }));
  for (const t of body.sensitive_targets) {
    features.push(new ol.Feature({ geometry: new ol.geom.Point(fromLonLat([t.lon, t.lat], projection())), role: "target",
      name: t.name }));
  }
  plumeSource.addFeatures(features);
  if (body.zone.geometry) {
    state.map.getView().fit(plumeSource.getExtent(), { padding: [80, 420, 80, 380], duration: 400, maxZoom: 16 });
  }
}

function impactHtml(body, alarm) {
  const chem = body.chemical;
  const options = body.chemicals.map((c) => `<option value="${esc(c.cas)}"${c.cas === chem.cas ? " selected" : ""}>${
    esc(c.name)} (${esc(c.cas)}, ${esc(c.basis)} ${formatNumber(c.threshold_ppm, 1)} ppm)</option>`).join("");
  const p = body.zone.properties ?? {};
  const people = body.population;
  const targets = body.sensitive_targets;
  const targetList = targets.length ? `<ul class="impact-targets">${targets.slice(0, 50).map((t) =>
    `<li>${esc(t.name)} <span class="muted">${formatNumber(t.population)}</span></li>`).join("")}</ul>`
    : `<p class="muted">${esc(s("targets_none"))}</p>`;
  return `
    <header class="float-head"><h3>${esc(s("impact_title"))} · ${esc(alarm.hazard_source_name ?? alarm.hazard_source_code)}</h3>
      <button type="button" class="btn small impact-clear">${esc(s("clear_zone"))}</button></header>
    <form class="impact-form emergency-form" novalidate>
      <label>${esc(s("chemical"))} <select name="chemical">${options}</select></label>
      <div class="pair"><label>${esc(s("wind_speed"))} <input type="number" name="wind_speed_m_s" min="0.5" max="30" step="0.1" value="${body.wind.speed_m_s}"></label>
        <label>${esc(s("wind_from"))} <input type="number" name="wind_from_deg" min="0" max="360" step="1" value="${body.wind.from_deg}"></label></div>
      <label>${esc(s("release"))} <input type="number" name="release_rate_g_s" min="0.001" max="10000000" step="any" value="${body.inputs.release_rate_g_s}"></label>
      <p class="muted wind-note">${esc(body.wind.source === "default" ? s("wind_default") : s("wind_entered"))}</p>
      <p class="error impact-error" role="alert"></p>
      <div class="btn-row"><button type="submit" class="btn primary">${esc(s("rerun"))}</button></div>
    </form>
    <dl class="impact-figures">
      <dt>${esc(s("threshold"))}</dt><dd>${esc(chem.basis)} ${formatNumber(chem.threshold_ppm, 1)} ppm</dd>
      ${body.zone.geometry ? `<dt>${esc(s("reach"))}</dt><dd>${formatNumber(p.x_max_m)} m</dd>
      <dt>${esc(s("area"))}</dt><dd>${formatNumber((p.area_m2 ?? 0) / 1e6, 2)} km²</dd>` : ""}
      <dt>${esc(s("people"))}</dt><dd class="impact-people">${formatNumber(people.sensitive_targets)} ${esc(s("in_targets"))}${
        people.residents == null ? "" : ` · ${formatNumber(people.residents)} ${esc(s("residents"))}`}</dd>
    </dl>
    ${body.zone.geometry ? "" : `<p class="muted">${esc(s("zone_none"))}</p>`}
    <h4>${esc(s("targets"))} (${targets.length}${body.sensitive_targets_truncated ? "+" : ""})</h4>${targetList}`;
}

/** Run the plume for `alarm` (with the form's `params`); the first run also opens the nearest resources. */
async function runImpact(alarm, params = {}, { nearest = true } = {}) {
  const box = state.panel.querySelector(".alarm-impact");
  box.hidden = false;
  box.setAttribute("aria-busy", "true");
  try {
    const body = await api(`api/monitoring/alarms/${alarm.id}/impact`, { params });
    state.impact = body;
    state.impactAlarm = alarm;
    box.innerHTML = impactHtml(body, alarm);
    drawImpact(body);
    const form = box.querySelector(".impact-form");
    form.addEventListener("submit", (e) => {
      e.preventDefault();
      const f = form.elements;
      // same point: the nearest-resources panel already answers for it
      runImpact(alarm, { chemical: f.chemical.value, wind_speed_m_s: f.wind_speed_m_s.value,
        wind_from_deg: f.wind_from_deg.value, release_rate_g_s: f.release_rate_g_s.value }, { nearest: false });
    });
    box.querySelector(".impact-clear").addEventListener("click", clearImpact);
    if (nearest) openNearestAt(body.point);
    return body;
  } catch (err) {
    const error = box.querySelector(".impact-error");
    if (error) error.textContent = err.message; else box.innerHTML = `<p class="error" role="alert">${esc(err.message)}</p>`;
    return null;
  } finally {
    box.removeAttribute("aria-busy");
  }
}

async function openNearestAt(point) {
  if (!window.onemap.nearest) { toast(s("nearest_missing")); return; } // the emergency plug-in is not there for this role
  const { openNearest } = await import("../emergency/nearest.js");
  openNearest({ lonLat: point });
}

function clearImpact() {
  plumeSource.clear();
  state.impact = state.impactAlarm = null;
  const box = state.panel.querySelector(".alarm-impact");
  box.hidden = true;
  box.replaceChildren();
}

// -- live events --------------------------------------------------------------------------------------------------
function onAlarm(d) {
  const i = state.alarms.findIndex((a) => a.id === d.id);
  const merged = { ...(i >= 0 ? state.alarms[i] : {}), ...d, fault: ["stale", "flat_line"].includes(d.kind) };
  if (i >= 0) state.alarms[i] = merged; else state.alarms.unshift(merged);
  if (d.action === "raise") {
    toast(`${s("raised")}: ${d.label ?? d.rule} · ${d.sensor_code}${d.value != null ? ` · ${valueText(d)}` : ""}`,
      d.level === 2 ? "error" : "info");
    if (d.level === 2 && !merged.fault) { flash(merged); soundAlarm(); }
  } else if (d.action === "clear") {
    unflash(d.sensor_code);
    toast(`${s("cleared_toast")}: ${d.label ?? d.rule} · ${d.sensor_code}`);
  }
  render();
  syncFlashes();
  scheduleReload(); // the server's row: hazard source name, case and its state
}

function onLiveEvent(event) {
  const d = event.data ?? {};
  if (event.type === "monitoring.alarm") onAlarm(d);
  else if (event.type === "monitoring.sensor_status") restyleSensor(d.sensor_code, d.status);
  else if (event.type === "monitoring.warning_level") {
    setRing(d);
    refreshHazardSources();
    if (d.level) toast(`${s("warning")}: ${d.name ?? d.hazard_source_code} · ${L({ "zh-CN": WARNING_WORDS[d.level][0], en: WARNING_WORDS[d.level][1] })}`);
  } else if (event.type.startsWith("case.")) {
    scheduleReload(); // a disposal case moved: its state in the list
  }
}

/** The plug-in interface: `host` is main.js's {refreshLayers(ids), showLayer(id)}; returns this plug-in's hooks. */
export function init(map, host) {
  if (!can()) return {};
  state.map = map;
  state.host = host;
  loadStylesheet();
  map.addLayer(new ol.layer.Vector({ source: ringSource, style: ringStyle, zIndex: 900, properties: { id: "_warning_rings" } }));
  map.addLayer(new ol.layer.Vector({ source: plumeSource, style: (f) => plumeStyles[f.get("role")], zIndex: 930,
    properties: { id: "_plume" } }));
  buildPanel();
  for (const type of ["pointerdown", "keydown"]) document.addEventListener(type, unlockAudio, { capture: true });
  loadAlarms();
  loadRings();
  setInterval(() => { loadAlarms(); loadRings(); }, REFRESH_MS);
  // for tests: what the dispatcher sees and hears
  window.onemap.alarms = {
    state,
    list: () => state.alarms,
    flashing: () => [...state.flashes.keys()],
    rings: () => Object.fromEntries(ringSource.getFeatures().map((f) => [f.get("code"), f.get("level")])),
    plumeFeatures: () => plumeSource.getFeatures().map((f) => f.get("role")),
    beeps: () => state.beeps,
    open: () => openPanel(true),
    runImpact: (id, params) => runImpact(state.alarms.find((a) => a.id === id), params),
  };
  return { onLiveEvent };
}
