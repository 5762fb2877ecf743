// Command-centre large screen: the city map (same layers and styles as the console), KPI cards refreshed
// every 30 s, and a live ticker fed by Server-Sent Events from the one publish API (core/realtime.py).
// The alarm card, the hazard sources' warning levels and the 报警处置 panel come from the monitoring module's API
// (/api/monitoring/kpis, /api/monitoring/alarms) and follow its `monitoring.*` events and the disposal cases' `case.*`.

import { BOOT, L, api, catalogLayers, enumLabel, esc, formatNumber, t } from "../console/boot.js";
import { createLayers, loadStats, refreshLive } from "../console/layers.js";
import { createView, fromLonLat, setupProjections } from "../console/projection.js";

const ol = window.ol;
const echarts = window.echarts;
const DESIGN = [1920, 1080];
const REFRESH_MS = 30_000;
const MAX_TICKER = 30;
// which layers the screen draws and re-reads: console.screen / console.live in the layer files
const SCREEN_LAYERS = new Set(catalogLayers().filter((e) => e.screen).map((e) => e.id));
const LIVE_LAYERS = catalogLayers().filter((e) => e.screen && e.live).map((e) => e.id);
const FONT = '"Noto Sans CJK SC", "Microsoft YaHei", sans-serif';

const onemap = window.onemap = { renderComplete: false, renderCount: 0, loadStats, timings: { firstDraw: null, renderComplete: null },
  events: [] };

// -- map: laid out at the 1920×1080 design size and scaled up (crisp: the pixel ratio follows the scale), so a
// 4K wall shows the same framing and legible symbols instead of a quarter-size city.
setupProjections();
const scale = Math.max(1, Math.min(innerWidth / DESIGN[0], innerHeight / DESIGN[1]));
const frame = document.getElementById("map-frame");
function layoutFrame() {
  frame.style.width = `${innerWidth / scale}px`;
  frame.style.height = `${innerHeight / scale}px`;
  frame.style.transform = `scale(${scale})`;
}
layoutFrame();
const layers = createLayers("EPSG:3857", SCREEN_LAYERS);
layers.get("basemap").setOpacity(0.9);
const view = createView("EPSG:3857");
const map = new ol.Map({
  target: "map", view, layers: [...layers.values()], controls: [],
  pixelRatio: (window.devicePixelRatio || 1) * scale,
});
view.fit(ol.proj.transformExtent(BOOT.cityExtent ?? [118.7, 31.8, 119.3, 32.2], "EPSG:4326", "EPSG:3857"),
  { size: map.getSize(), padding: [90, 470, 40, 420].map((v) => v) });
onemap.map = map;
onemap.scale = scale;
onemap.getPixelFromLonLat = (lonLat) => map.getPixelFromCoordinate(fromLonLat(lonLat, "EPSG:3857"));
let basemapTiles = 0;
layers.get("basemap").getSource().on("tileloadend", () => { basemapTiles += 1; });
map.on("postrender", () => {
  if (onemap.timings.firstDraw === null && basemapTiles > 0) onemap.timings.firstDraw = performance.now();
});
map.on("rendercomplete", () => {
  onemap.renderComplete = true;
  onemap.renderCount += 1;
  onemap.timings.renderComplete = performance.now();
});
addEventListener("resize", () => { layoutFrame(); map.updateSize(); });

// -- KPIs and charts --------------------------------------------------------------------------------------------
const charts = {};
function chart(id) {
  charts[id] ??= echarts.init(document.getElementById(id), null, { renderer: "canvas" });
  return charts[id];
}

function specColours(layerId) {
  const entry = BOOT.catalog.groups.flatMap((g) => g.layers).find((l) => l.id === layerId);
  return Object.fromEntries(entry.style.rules.filter((r) => Array.isArray(r.filter))
    .map((r) => [r.filter[2], r.style["circle-fill-color"] ?? r.style["shape-fill-color"]]));
}

/** The risk classes of the enterprise style spec, with their short titles (重大风险…). */
function riskLegend() {
  const entry = BOOT.catalog.groups.flatMap((g) => g.layers).find((l) => l.id === "enterprises");
  return entry.style.legend.map((item) => ({ name: item.name, title: item.title[BOOT.lang] ?? item.title["zh-CN"] }));
}

function rem() {
  return parseFloat(getComputedStyle(document.documentElement).fontSize);
}

function drawCharts(k) {
  const r = rem();
  const text = { color: "#cfe3ff", fontFamily: FONT, fontSize: 0.8 * r };
  const risk = specColours("enterprises");
  chart("chart-risk").setOption({
    animation: false, textStyle: text, tooltip: { trigger: "item" },
    series: [{ type: "pie", radius: ["36%", "60%"], center: ["50%", "54%"],
      label: { ...text, formatter: "{b}\n{c}", overflow: "none" }, labelLine: { length: 0.5 * r, length2: 0.5 * r },
      data: riskLegend().map(({ name, title }) => ({ name: title, value: k.enterprises_by_risk[name],
        itemStyle: { color: risk[name] } })) }],
  });
  const grades = specColours("hazard_sources");
  chart("chart-grades").setOption({
    animation: false, textStyle: text, grid: { left: 3.2 * r, right: r, top: 1.8 * r, bottom: 1.8 * r },
    xAxis: { type: "category", data: [1, 2, 3, 4].map((g) => enumLabel("hazard_sources.grade", g)), axisLabel: text },
    yAxis: { type: "value", axisLabel: text, splitLine: { lineStyle: { color: "rgba(120,170,255,.15)" } } },
    series: [{ type: "bar", barWidth: "45%", label: { show: true, position: "top", ...text },
      data: [1, 2, 3, 4].map((g) => ({ value: k.hazard_sources_by_grade[g] ?? 0, itemStyle: { color: grades[g] } })) }],
  });
}

function renderIncidents(list) {
  document.getElementById("incident-list").innerHTML = list.map((i) => `
    <li><span class="tag tag-${esc(i.kind)}">${esc(enumLabel("incidents.kind", i.kind))}</span>
      <span class="title">${esc(i.title)}</span>
      <span class="meta">${esc(enumLabel("incidents.status", i.status))} · ${esc(new Date(i.reported_at).toLocaleString(BOOT.lang === "en" ? "en-GB" : "zh-CN", { hour12: false }))}</span></li>`).join("");
}

export async function refreshKpis() {
  // for tests and diagnosis: how many readings were asked for, and how many are still on their way
  onemap.kpiLoads = (onemap.kpiLoads ?? 0) + 1;
  onemap.kpiPending = (onemap.kpiPending ?? 0) + 1;
  try {
    const k = await api("screen/kpis");
    for (const card of document.querySelectorAll("[data-kpi]")) {
      if (card.dataset.source === "monitoring" && onemap.monitoring) continue; // refreshMonitoring's
      const value = k[card.dataset.kpi];
      // null: no data source yet — a dash, never a zero that would claim "none overdue"
      card.querySelector(".kpi-value").textContent = value == null ? "—" : formatNumber(value);
    }
    drawCharts(k);
    renderIncidents(k.open_incident_list);
    document.getElementById("updated").textContent = new Date().toLocaleTimeString(BOOT.lang === "en" ? "en-GB" : "zh-CN", { hour12: false });
    onemap.kpis = k;
  } catch (err) {
    document.getElementById("updated").textContent = err.message;
  } finally {
    onemap.kpiPending -= 1;
  }
}

// -- alarms: KPI, warning levels, 报警处置 -------------------------------------------------------------------------
const LEVEL_ORDER = ["red", "orange", "yellow", "blue"];

function localTime(iso) {
  return new Date(iso).toLocaleTimeString(BOOT.lang === "en" ? "en-GB" : "zh-CN", { hour12: false });
}

function alarmState(a) {
  if (a.case_state_label) return L(a.case_state_label);
  if (a.case_state) return a.case_state;
  return a.state === "cleared" ? t("alarm_cleared") : t("alarm_no_case");
}

function renderAlarms(alarms) {
  const list = document.getElementById("alarm-list");
  if (!alarms.length) {
    list.innerHTML = `<li class="empty">${esc(t("no_alarms"))}</li>`;
    return;
  }
  list.innerHTML = alarms.map((a) => `
    <li class="alarm level-${a.fault ? "fault" : a.level} ${esc(a.state)}" data-id="${a.id}">
      <span class="tag">${esc(a.fault ? "—" : t(`alarm_level_${a.level}`))}</span>
      <span class="title">${esc(a.label)} · ${esc(a.hazard_source_name ?? a.hazard_source_code)}</span>
      <span class="meta">${esc(a.sensor_code)} · ${esc(localTime(a.raised_at))}${a.value == null ? "" : ` · ${esc(formatNumber(a.value, 2))}${esc(a.unit ?? "")}`}</span>
      <span class="handling">${esc(alarmState(a))}</span></li>`).join("");
}

async function refreshMonitoring() {
  try {
    const [k, list] = await Promise.all([api("api/monitoring/kpis"),
      api("api/monitoring/alarms", { params: { state: "open", limit: 30 } })]);
    const card = document.querySelector("[data-kpi=alarms]");
    card.querySelector(".kpi-value").textContent = formatNumber(k.active_alarms);
    document.getElementById("alarm-levels").textContent = t("kpi_alarm_levels",
      { l2: formatNumber(k.active_by_level["2"] ?? 0), l1: formatNumber(k.active_by_level["1"] ?? 0) });
    card.classList.toggle("hot", (k.active_by_level["2"] ?? 0) > 0);
    const levels = document.getElementById("warning-levels");
    levels.hidden = !k.hazard_sources_by_warning_level;
    for (const level of LEVEL_ORDER) {
      const n = k.hazard_sources_by_warning_level?.[level];
      levels.querySelector(`[data-level=${level}] .level-value`).textContent = n == null ? "—" : formatNumber(n);
    }
    renderAlarms(list.alarms);
    onemap.monitoring = { kpis: k, alarms: list.alarms };
  } catch (err) {
    // a role that may not read the monitoring module keeps /screen/kpis' figure of sensors in alarm
    onemap.monitoring = null;
    document.getElementById("alarms-panel").hidden = err.status === 403 || err.status === 401;
  }
}

let monitoringTimer = null;
function scheduleMonitoringRefresh() {
  clearTimeout(monitoringTimer);
  monitoringTimer = setTimeout(refreshMonitoring, 300);
}

// -- live events ------------------------------------------------------------------------------------------------
// by the event type, else by its first part
const TYPE_LABELS = { incident: ["突发事件", "Incident"], alarm: ["报警", "Alarm"], sensor: ["监测", "Sensor"],
  dispatch: ["调度", "Dispatch"], resource: ["资源", "Resource"], case: ["案件", "Case"],
  "monitoring.alarm": ["报警", "Alarm"], "monitoring.sensor_status": ["监测", "Sensor"],
  "monitoring.warning_level": ["预警", "Warning"] };
// the ticker's colour class of an event type
const TICK_CLASS = { "monitoring.alarm": "alarm", "monitoring.sensor_status": "sensor", "monitoring.warning_level": "alarm" };
const SENSOR_STATUS = { normal: ["正常", "normal"], alarm: ["报警", "alarm"], offline: ["离线", "offline"] };
const WARNING_LEVEL = { red: ["红色预警", "red"], orange: ["橙色预警", "orange"], yellow: ["黄色预警", "yellow"],
  blue: ["蓝色预警", "blue"] };

function typeLabel(type) {
  const pair = TYPE_LABELS[type] ?? TYPE_LABELS[type.split(".")[0]];
  return pair ? pair[BOOT.lang === "en" ? 1 : 0] : type;
}

function words(pair) {
  return pair ? pair[BOOT.lang === "en" ? 1 : 0] : "";
}

function eventText(event) {
  const d = event.data || {};
  if (event.type === "monitoring.alarm") {
    const value = d.value == null ? "" : ` ${formatNumber(d.value, 2)}${d.unit ?? ""}`;
    return d.action === "clear" ? `${d.label ?? d.rule} ${t("tick_alarm_cleared")} · ${d.sensor_code}`
      : `${d.label ?? d.rule} · ${d.sensor_code}${value}`;
  }
  if (event.type === "monitoring.sensor_status") return `${d.sensor_code} ${words(SENSOR_STATUS[d.status])}`;
  if (event.type === "monitoring.warning_level") {
    return `${d.name ?? d.hazard_source_code} ${d.level ? words(WARNING_LEVEL[d.level]) : t("alarm_cleared")}`;
  }
  return d.title ?? d.message ?? d.name ?? d.code ?? event.type;
}

function flash(lon, lat) {
  const el = document.createElement("div");
  el.className = "pulse";
  const overlay = new ol.Overlay({ element: el, position: fromLonLat([lon, lat], "EPSG:3857"), positioning: "center-center", stopEvent: false });
  map.addOverlay(overlay);
  setTimeout(() => map.removeOverlay(overlay), 15_000);
}

function addToTicker(event) {
  const list = document.getElementById("ticker");
  list.querySelector(".empty")?.remove();
  const li = document.createElement("li");
  li.className = `tick tick-${TICK_CLASS[event.type] ?? event.type.split(".")[0]} fresh`;
  const time = new Date(event.ts * 1000).toLocaleTimeString(BOOT.lang === "en" ? "en-GB" : "zh-CN", { hour12: false });
  li.innerHTML = `<span class="time">${esc(time)}</span><span class="type">${esc(typeLabel(event.type))}</span><span class="text">${esc(eventText(event))}</span>`;
  list.prepend(li);
  setTimeout(() => li.classList.remove("fresh"), 4000);
  while (list.children.length > MAX_TICKER) list.lastElementChild.remove();
}

let kpiTimer = null;
function scheduleKpiRefresh() {
  clearTimeout(kpiTimer);
  kpiTimer = setTimeout(refreshKpis, 1000); // a burst of events costs one refresh
}

function connect() {
  const state = document.getElementById("link-state");
  const source = new EventSource(`${BOOT.root}api/events/stream`);
  source.onopen = () => {
    state.textContent = t("stream_connected");
    state.classList.add("ok");
    refreshKpis(); // whatever happened while disconnected is in the current figures
    refreshMonitoring();
  };
  source.onerror = () => {
    state.textContent = t("stream_lost");
    state.classList.remove("ok");
  };
  source.onmessage = (message) => {
    const event = JSON.parse(message.data);
    onemap.events.push(event);
    addToTicker(event);
    const d = event.data || {};
    // a sensor's status change is not news on the map (its alarm is): no pulse for it, nor for a clear
    const quiet = event.type === "monitoring.sensor_status" || d.action === "clear";
    if (!quiet && Number.isFinite(d.lon) && Number.isFinite(d.lat)) flash(d.lon, d.lat);
    // case.opened / case.transition / case.clock: a hidden danger may have become (or stopped being) overdue
    if (/^(incident|alarm|sensor|case|monitoring)\./.test(event.type)) {
      refreshLive(layers, LIVE_LAYERS);
      scheduleKpiRefresh();
    }
    if (/^(monitoring|case)\./.test(event.type)) scheduleMonitoringRefresh();
  };
  onemap.eventSource = source;
}

function tickClock() {
  document.getElementById("clock").textContent = new Date().toLocaleString(BOOT.lang === "en" ? "en-GB" : "zh-CN", {
    hour12: false, year: "numeric", month: "2-digit", day: "2-digit", hour: "2-digit", minute: "2-digit", second: "2-digit" });
}

tickClock();
setInterval(tickClock, 1000);
refreshKpis();
refreshMonitoring();
setInterval(() => { refreshKpis(); refreshMonitoring(); refreshLive(layers, LIVE_LAYERS); }, REFRESH_MS);
addEventListener("resize", () => { for (const c of Object.values(charts)) c.resize(); });
connect();
onemap.ready = true;
