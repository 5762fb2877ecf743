// The hidden-danger module's console plug-in (supervision/hidden_dangers/manifest.py console_scripts; interface:
// core/manifest.py). 隐患统计: a panel of ECharts charts (by district, by category, monthly trend) and a heat layer of
// the grid cells (open or overdue hidden dangers per cell) toggled from the layer panel. Every figure comes from
// /api/hidden-dangers/..., which counts only the rows the caller may read; both follow the live `case.` events.
// Only what the role may read is offered: BOOT.can (module hidden_dangers; layers hidden_dangers and grid_cells).

import { BOOT, L, LANG, api, formatNumber, toast } from "../../console/boot.js";

const ol = window.ol;
const echarts = window.echarts;
const FONT = '"Noto Sans CJK SC", "Microsoft YaHei", "PingFang SC", sans-serif';
const STRINGS = {
  button: ["隐患统计", "Hidden dangers"],
  title: ["隐患排查治理统计", "Hidden-danger statistics"],
  by_district: ["各区县隐患", "Hidden dangers by district"],
  by_category: ["隐患类别", "By category"],
  trend: ["月度趋势（上报 / 销号）", "Monthly trend (reported / closed)"],
  open: ["在办", "Open"],
  overdue: ["逾期未整改", "Overdue"],
  listed: ["挂牌督办", "Listed"],
  closed: ["已销号", "Closed"],
  reported: ["上报", "Reported"],
  total: ["合计", "Total"],
  rate: ["整改率", "Rectification rate"],
  from: ["上报日期自", "Reported from"],
  to: ["至", "to"],
  apply: ["查询", "Apply"],
  close: ["关闭", "Close"],
  heat: ["网格隐患热力", "Hidden-danger heat by grid cell"],
  heat_open: ["在办隐患", "Open"],
  heat_overdue: ["逾期未整改", "Overdue"],
  heat_none: ["无", "none"],
};
const s = (key) => STRINGS[key][LANG === "en" ? 1 : 0];
const HEAT_RAMP = ["#fff5eb", "#fdd0a2", "#fd8d3c", "#e6550d", "#a63603"];

const state = { map: null, panel: null, charts: [], heat: null, heatMetric: "open", heatMax: 0, refresh: null };
const exposed = window.onemap ? (window.onemap.hiddenDangers = {}) : {};

function can(kind, name) {
  const granted = BOOT.can?.[kind]?.[name];
  return Array.isArray(granted) && granted.includes("read");
}

function loadStylesheet() {
  const link = document.createElement("link");
  link.rel = "stylesheet";
  link.href = new URL("./stats.css", import.meta.url).href;
  document.head.appendChild(link);
}

// -- statistics panel --------------------------------------------------------------------------------------------
function base(title) {
  return {
    textStyle: { fontFamily: FONT },
    title: { text: title, left: 8, top: 4, textStyle: { fontSize: 13, fontFamily: FONT } },
    tooltip: { trigger: "axis", axisPointer: { type: "shadow" } },
    grid: { left: 8, right: 12, top: 64, bottom: 6, containLabel: true },
    legend: { top: 24, left: 8, itemWidth: 10, itemHeight: 10, textStyle: { fontSize: 11 } },
    animation: false,
  };
}

function districtOption(stats) {
  const groups = stats.groups;
  const series = [["open", "#1e88e5"], ["overdue", "#e53935"], ["listed", "#8e24aa"], ["closed", "#43a047"]];
  return {
    ...base(s("by_district")),
    xAxis: { type: "category", data: groups.map((g) => L(g.label).replace(/^示范市/, "")),
      axisLabel: { fontSize: 10, interval: 0 } },
    yAxis: { type: "value", minInterval: 1, axisLabel: { fontSize: 10 } },
    series: series.map(([key, color]) => ({ name: s(key), type: "bar", itemStyle: { color },
      data: groups.map((g) => g[key]) })),
  };
}

function categoryOption(stats) {
  return {
    ...base(s("by_category")),
    tooltip: { trigger: "item", formatter: "{b}: {c} ({d}%)" },
    legend: { show: false },
    series: [{ type: "pie", radius: ["28%", "54%"], center: ["50%", "58%"],
      label: { fontSize: 11, formatter: "{b}\n{c}", overflow: "none" }, labelLine: { length: 6, length2: 6 },
      data: stats.groups.filter((g) => g.total > 0).map((g) => ({ name: L(g.label), value: g.total })) }],
  };
}

function trendOption(trend) {
  return {
    ...base(s("trend")),
    tooltip: { trigger: "axis" },
    xAxis: { type: "category", data: trend.months.map((m) => m.month), axisLabel: { fontSize: 10 } },
    yAxis: { type: "value", minInterval: 1, axisLabel: { fontSize: 10 } },
    series: [
      { name: s("reported"), type: "line", itemStyle: { color: "#fb8c00" }, data: trend.months.map((m) => m.reported) },
      { name: s("closed"), type: "line", itemStyle: { color: "#43a047" }, data: trend.months.map((m) => m.closed) },
    ],
  };
}

function renderTotals(totals) {
  const rate = totals.rectification_rate == null ? "—" : `${formatNumber(totals.rectification_rate * 100, 1)}%`;
  const items = [["total", totals.total], ["open", totals.open], ["overdue", totals.overdue], ["listed", totals.listed],
    ["closed", totals.closed]].map(([key, value]) => `<span data-figure="${key}">${s(key)} <b>${formatNumber(value)}</b></span>`);
  items.push(`<span data-figure="rectification_rate">${s("rate")} <b>${rate}</b></span>`);
  state.panel.querySelector(".hd-totals").innerHTML = items.join("");
}

export async function loadCharts() {
  const form = state.panel.querySelector("form");
  const period = { from: form.elements.from.value || null, to: form.elements.to.value || null };
  const [byDistrict, byCategory, trend] = await Promise.all([
    api("api/hidden-dangers/stats", { params: { by: "district", ...period } }),
    api("api/hidden-dangers/stats", { params: { by: "category", ...period } }),
    api("api/hidden-dangers/trend", { params: { months: 24 } }),
  ]);
  if (!state.charts.length) {
    state.charts = [...state.panel.querySelectorAll(".chart")].map((el) => echarts.init(el, null, { renderer: "canvas" }));
  }
  [districtOption(byDistrict), categoryOption(byCategory), trendOption(trend)]
    .forEach((option, i) => state.charts[i].setOption(option, true));
  renderTotals(byDistrict.totals);
  state.panel.dataset.loaded = "true";
  Object.assign(exposed, { byDistrict, byCategory, trend });
}

function buildPanel() {
  const panel = document.createElement("section");
  panel.id = "hd-stats-panel";
  panel.className = "floating hd-stats";
  panel.hidden = true;
  panel.setAttribute("aria-label", s("title"));
  panel.innerHTML = `
    <header class="hd-head">
      <h2 class="side-title">${s("title")}</h2>
      <form class="hd-period" novalidate>
        <label>${s("from")} <input type="date" name="from"></label>
        <label>${s("to")} <input type="date" name="to"></label>
        <button type="submit" class="btn small">${s("apply")}</button>
      </form>
      <div class="hd-totals" aria-live="polite"></div>
      <button type="button" class="icon-btn hd-close" aria-label="${s("close")}" title="${s("close")}">✕</button>
    </header>
    <div class="hd-charts">
      <div class="chart" role="img" aria-label="${s("by_district")}"></div>
      <div class="chart" role="img" aria-label="${s("by_category")}"></div>
      <div class="chart" role="img" aria-label="${s("trend")}"></div>
    </div>`;
  document.querySelector(".workspace").appendChild(panel);
  state.panel = panel;

  const button = document.createElement("button");
  button.type = "button";
  button.id = "btn-hd-stats";
  button.className = "btn";
  button.setAttribute("aria-expanded", "false");
  button.setAttribute("aria-controls", panel.id);
  button.textContent = s("button");
  document.getElementById("btn-stats").after(button);

  const toggle = async (open) => {
    panel.hidden = !open;
    button.setAttribute("aria-expanded", String(open));
    if (!open) return;
    try {
      await loadCharts();
      for (const chart of state.charts) chart.resize();
    } catch (err) {
      toast(err.message, "error");
    }
  };
  button.addEventListener("click", () => toggle(panel.hidden));
  panel.querySelector(".hd-close").addEventListener("click", () => toggle(false));
  panel.querySelector("form").addEventListener("submit", (e) => { e.preventDefault(); toggle(true); });
  addEventListener("resize", () => { for (const chart of state.charts) chart.resize(); });
}

// -- grid heat layer ----------------------------------------------------------------------------------------------
function heatColour(value) {
  if (!value || !state.heatMax) return null;
  const i = Math.min(HEAT_RAMP.length - 1, Math.floor((value / state.heatMax) * HEAT_RAMP.length));
  return HEAT_RAMP[Math.max(0, i)];
}

const styleCache = new Map();
function heatStyle(feature) {
  const colour = heatColour(feature.get(state.heatMetric));
  const key = colour ?? "none";
  if (!styleCache.has(key)) {
    styleCache.set(key, new ol.style.Style({
      fill: new ol.style.Fill({ color: colour ? `${colour}cc` : "rgba(255,255,255,0)" }),
      stroke: new ol.style.Stroke({ color: colour ? "#7f2704" : "rgba(120,120,120,.35)", width: colour ? 0.8 : 0.4 }),
    }));
  }
  return styleCache.get(key);
}

export async function loadHeat() {
  const doc = await api("api/hidden-dangers/grid-heat");
  const projection = state.map.getView().getProjection();
  const features = new ol.format.GeoJSON({ dataProjection: "EPSG:4326", featureProjection: projection }).readFeatures(doc);
  state.heatMax = doc.max[state.heatMetric] ?? 0;
  state.heatDoc = doc;
  const source = state.heat.getSource();
  source.clear(true);
  source.addFeatures(features);
  renderHeatLegend();
  exposed.heat = doc;
}

function renderHeatLegend() {
  const legend = document.getElementById("hd-heat-legend");
  if (!legend) return;
  const max = state.heatMax;
  legend.innerHTML = max ? HEAT_RAMP.map((colour, i) => {
    const lo = Math.floor((i * max) / HEAT_RAMP.length) + 1;
    const hi = Math.max(lo, Math.floor(((i + 1) * max) / HEAT_RAMP.length));
    return `<li><span class="hd-swatch hd-ramp-${i}"></span>${lo === hi ? lo : `${lo}–${hi}`}</li>`;
  }).join("") : `<li>${s("heat_none")}</li>`;
}

function buildHeatToggle() {
  state.heat = new ol.layer.Vector({
    source: new ol.source.Vector(), style: heatStyle, visible: false, zIndex: 100, opacity: 0.85,
    className: "ol-layer layer-hidden-danger-heat", properties: { id: "_hidden_danger_heat" },
  });
  state.map.addLayer(state.heat);
  const box = document.createElement("div");
  box.className = "hd-heat";
  box.innerHTML = `
    <label class="layer-line"><input type="checkbox" id="hd-heat-toggle"> <span>${s("heat")}</span></label>
    <div class="hd-heat-metric" role="radiogroup" aria-label="${s("heat")}">
      <label><input type="radio" name="hd-heat-metric" value="open" checked> ${s("heat_open")}</label>
      <label><input type="radio" name="hd-heat-metric" value="overdue"> ${s("heat_overdue")}</label>
    </div>
    <ul class="legend" id="hd-heat-legend"></ul>`;
  const tree = document.getElementById("layer-tree");
  tree.after(box);
  box.querySelector("#hd-heat-toggle").addEventListener("change", async (e) => {
    state.heat.setVisible(e.target.checked);
    if (!e.target.checked) return;
    try { await loadHeat(); } catch (err) { toast(err.message, "error"); }
  });
  for (const radio of box.querySelectorAll('input[name="hd-heat-metric"]')) {
    radio.addEventListener("change", () => {
      state.heatMetric = radio.value;
      state.heatMax = state.heatDoc?.max[state.heatMetric] ?? 0;
      styleCache.clear();
      state.heat.changed();
      renderHeatLegend();
    });
  }
  exposed.heatLayer = state.heat;
}

// -- live ----------------------------------------------------------------------------------------------------------
function onLiveEvent(event) {
  if (!event.type?.startsWith("case.")) return;
  clearTimeout(state.refresh); // a transition sends several events: one re-read
  state.refresh = setTimeout(() => {
    if (state.panel && !state.panel.hidden) loadCharts().catch(() => {});
    if (state.heat?.getVisible()) loadHeat().catch(() => {});
  }, 500);
}

export function init(map) {
  if (!can("modules", "hidden_dangers") || !can("layers", "hidden_dangers")) return {};
  state.map = map;
  loadStylesheet();
  buildPanel();
  if (can("layers", "grid_cells")) buildHeatToggle();
  Object.assign(exposed, { loadCharts, loadHeat });
  return { onLiveEvent };
}
