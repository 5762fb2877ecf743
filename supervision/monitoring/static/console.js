// The monitoring module's console plug-in (supervision/monitoring/manifest.py console_scripts; interface:
// core/manifest.py). In the feature panel:
//  * a sensor (在线监测点): its live value (re-read every few seconds and at once on its `monitoring.` events) and an
//    ECharts trend of the last hour / day / week (min–max band, average, the alarm set points as lines);
//  * a hazard source: the latest values of its sensors, one trend chart for the sensor picked in the list;
//  * a video point (视频监控点): its HLS stream in a <video> element through the vendored hls.js.
// Everything comes from /api/monitoring/..., scoped to what the caller may read.

import { BOOT, LANG, ROOT, api, enumLabel, esc, formatNumber } from "../../console/boot.js";
import { currentFeature, onPanelRender } from "../../console/panel.js";

const echarts = window.echarts;
const FONT = '"Noto Sans CJK SC", "Microsoft YaHei", "PingFang SC", sans-serif';
const POLL_MS = 5000;          // the live value
const CHART_POLL_MS = 30000;   // the trend (its newest bucket fills up)
const STRINGS = {
  live: ["实时监测", "Live reading"],
  trend: ["趋势", "Trend"],
  hour: ["近1小时", "Last hour"],
  day: ["近1天", "Last day"],
  week: ["近1周", "Last week"],
  avg: ["平均值", "Average"],
  min: ["最小值", "Minimum"],
  max: ["最大值", "Maximum"],
  no_data: ["暂无数据", "No readings yet"],
  no_range: ["该时段无数据", "No readings in this period"],
  sensors: ["在线监测", "Online sensors"],
  no_sensors: ["无在线监测点", "No sensors"],
  code: ["监测点", "Sensor"],
  value: ["最新值", "Latest"],
  status: ["状态", "Status"],
  at: ["时间", "At"],
  video: ["视频监控", "Video"],
  no_stream: ["该点位未配置视频流", "No stream configured for this camera"],
  offline: ["摄像机离线", "Camera offline"],
  sample: ["演示视频（测试图像）", "Demo stream (test pattern)"],
  play_error: ["视频无法播放", "The stream cannot be played"],
  alarms: ["当前报警", "Active alarms"],
};
const s = (key) => STRINGS[key][LANG === "en" ? 1 : 0];
const RANGES = ["hour", "day", "week"];
const LEVEL_COLOURS = { 1: "#F39C12", 2: "#E74C3C" };
const CHINA_TIME = new Intl.DateTimeFormat("sv-SE", { timeZone: "Asia/Shanghai", month: "2-digit", day: "2-digit",
  hour: "2-digit", minute: "2-digit", second: "2-digit" });

// what the panel shows now: timers, charts and the player to let go of when it shows something else
const shown = { key: null, timers: [], charts: [], hls: null, sensorCode: null, refreshLive: null, sourceCode: null,
  refreshSource: null };
const exposed = window.onemap ? (window.onemap.monitoring = { shown }) : { shown };

function loadStylesheet() {
  const link = document.createElement("link");
  link.rel = "stylesheet";
  link.href = new URL("./console.css", import.meta.url).href;
  document.head.appendChild(link);
}

function release() {
  for (const timer of shown.timers) clearInterval(timer);
  for (const chart of shown.charts) chart.dispose();
  if (shown.hls) shown.hls.destroy();
  Object.assign(shown, { key: null, timers: [], charts: [], hls: null, sensorCode: null, refreshLive: null,
    sourceCode: null, refreshSource: null });
}

/** Is the panel still on the feature this code was started for? (else stop: the user moved on) */
function stillShown(key) {
  const f = currentFeature();
  return f !== null && shown.key === key && `${f.layer}/${f.id}` === key;
}

function attribute(doc, name) {
  return doc.attributes.find((a) => a.name === name)?.value;
}

function section(panelEl, id, title) {
  const el = document.createElement("details");
  el.className = "panel-section monitoring-section";
  el.dataset.section = id;
  el.open = true;
  el.innerHTML = `<summary>${esc(title)}</summary>`;
  const first = panelEl.querySelector(".panel-body > details");   // right after the attributes
  if (first) first.after(el); else panelEl.querySelector(".panel-body")?.append(el);
  return el;
}

function localTime(iso) {
  return iso ? CHINA_TIME.format(new Date(iso)) : "—";
}

function valueText(value, unit) {
  if (value == null) return "—";
  const digits = Math.abs(value) >= 100 ? 1 : Math.abs(value) >= 1 ? 2 : 3;
  return `${formatNumber(value, digits)} ${unit}`;
}

// -- a sensor's live value and trend --------------------------------------------------------------------------
function liveHtml(sensor) {
  const latest = sensor.latest;
  const status = enumLabel("sensors.status", sensor.status);
  const alarms = sensor.alarms.length ? `<ul class="mon-alarms" aria-label="${esc(s("alarms"))}">${sensor.alarms.map((a) =>
    `<li class="mon-level-${a.level}">${esc(a.message)}</li>`).join("")}</ul>` : "";
  return `<div class="mon-value mon-${esc(sensor.status)}" data-value="${latest ? latest.value : ""}">
      <span class="mon-number">${esc(latest ? valueText(latest.value, sensor.unit) : s("no_data"))}</span>
      <span class="mon-status">${esc(status)}</span></div>
    <div class="mon-at">${esc(latest ? localTime(latest.ts) : "")}</div>${alarms}`;
}

function chartOption(body) {
  const sensor = body.sensor;
  const points = body.points;
  const lines = sensor.set_points.map((p) => ({
    name: p.label, yAxis: p.value,
    lineStyle: { color: LEVEL_COLOURS[p.level] ?? "#F39C12", type: "dashed", width: 1.5 },
    label: { formatter: `${p.label} ${p.value}`, position: "insideEndTop", fontSize: 10, color: LEVEL_COLOURS[p.level] },
  }));
  const top = Math.max(...sensor.set_points.map((p) => p.value), ...points.map((p) => p.max));
  const bottom = Math.min(...sensor.set_points.map((p) => p.value), ...points.map((p) => p.min));
  const pad = Number.isFinite(top - bottom) ? Math.max((top - bottom) * 0.08, Math.abs(top) * 0.02, 0.01) : 1;
  const at = (p) => new Date(p.t).getTime();
  return {
    animation: false,
    textStyle: { fontFamily: FONT },
    grid: { left: 6, right: 10, top: 26, bottom: 4, containLabel: true },
    legend: { top: 0, left: 0, itemWidth: 12, itemHeight: 8, textStyle: { fontSize: 10 } },
    tooltip: { trigger: "axis", valueFormatter: (v) => (v == null ? "—" : `${formatNumber(v, 2)} ${sensor.unit}`) },
    xAxis: { type: "time", min: new Date(body.from).getTime(), max: new Date(body.to).getTime(),
      axisLabel: { fontSize: 10, hideOverlap: true } },
    yAxis: { type: "value", name: sensor.unit, nameTextStyle: { fontSize: 10 }, axisLabel: { fontSize: 10 }, scale: true,
      min: Number.isFinite(bottom) ? +(bottom - pad).toPrecision(4) : null,
      max: Number.isFinite(top) ? +(top + pad).toPrecision(4) : null },
    series: [
      // the band between min and max: an invisible base line and the width stacked on it
      { name: s("min"), type: "line", stack: "band", symbol: "none", lineStyle: { opacity: 0 },
        data: points.map((p) => [at(p), p.min]) },
      { name: s("max"), type: "line", stack: "band", symbol: "none", lineStyle: { opacity: 0 },
        areaStyle: { color: "rgba(46, 134, 222, 0.18)" }, data: points.map((p) => [at(p), p.max - p.min]),
        tooltip: { valueFormatter: () => "" } },
      { name: s("avg"), type: "line", symbol: points.length > 60 ? "none" : "circle", symbolSize: 3,
        lineStyle: { color: "#2E86DE", width: 1.5 }, itemStyle: { color: "#2E86DE" },
        data: points.map((p) => [at(p), +p.avg.toFixed(4)]),
        markLine: { silent: true, symbol: "none", data: lines } },
    ],
  };
}

/** A sensor's live value and trend chart inside `host`; returns nothing (timers and the chart are in `shown`). */
function sensorView(host, code, key) {
  host.insertAdjacentHTML("beforeend", `
    <div class="mon-live" aria-live="polite"></div>
    <div class="mon-ranges" role="group" aria-label="${esc(s("trend"))}">${RANGES.map((r) =>
      `<button type="button" class="mon-range" data-range="${r}" aria-pressed="${r === "hour"}">${esc(s(r))}</button>`).join("")}
    </div>
    <div class="mon-chart" data-sensor="${esc(code)}" data-range="hour" role="img" aria-label="${esc(s("trend"))}"></div>
    <p class="mon-empty" hidden></p>`);
  const live = host.querySelector(".mon-live");
  const chartEl = host.querySelector(".mon-chart");
  const empty = host.querySelector(".mon-empty");
  const chart = echarts.init(chartEl, null, { renderer: "canvas" });
  shown.charts.push(chart);
  let range = "hour";
  let seq = 0;

  async function loadChart() {
    const mine = ++seq;
    chartEl.setAttribute("aria-busy", "true");
    try {
      const body = await api(`api/monitoring/sensors/${encodeURIComponent(code)}/series`, { params: { range } });
      if (mine !== seq || !stillShown(key)) return;
      chart.setOption(chartOption(body), true);
      chartEl.dataset.range = body.range;
      chartEl.dataset.points = String(body.points.length);
      empty.hidden = body.points.length > 0;
      empty.textContent = s("no_range");
      live.innerHTML = liveHtml(body.sensor);
    } catch (err) {
      if (mine === seq) { empty.hidden = false; empty.textContent = err.message; }
    } finally {
      if (mine === seq) chartEl.removeAttribute("aria-busy");
    }
  }

  async function refreshLive() {
    try {
      const sensor = await api(`api/monitoring/sensors/${encodeURIComponent(code)}`);
      if (stillShown(key)) live.innerHTML = liveHtml(sensor);
    } catch { /* the next poll tries again; the chart shows lasting errors */ }
  }

  for (const button of host.querySelectorAll(".mon-range")) {
    button.addEventListener("click", () => {
      range = button.dataset.range;
      for (const b of host.querySelectorAll(".mon-range")) b.setAttribute("aria-pressed", String(b === button));
      loadChart();
    });
  }
  shown.timers.push(setInterval(() => { if (stillShown(key)) refreshLive(); else release(); }, POLL_MS));
  shown.timers.push(setInterval(() => { if (stillShown(key)) loadChart(); }, CHART_POLL_MS));
  new ResizeObserver(() => chart.resize()).observe(chartEl);
  loadChart();
  return refreshLive;
}

function showSensor(doc, panelEl, key) {
  const code = attribute(doc, "code");
  const host = section(panelEl, "monitoring-live", s("live"));
  shown.sensorCode = code;
  shown.refreshLive = sensorView(host, code, key);
}

// -- a hazard source's sensors ----------------------------------------------------------------------------------
async function showHazardSource(doc, panelEl, key) {
  const code = attribute(doc, "code");
  const host = section(panelEl, "monitoring-sensors", s("sensors"));
  host.insertAdjacentHTML("beforeend", `<div class="mon-list"></div><div class="mon-picked"></div>`);
  const list = host.querySelector(".mon-list");
  const picked = host.querySelector(".mon-picked");
  let pickedCode = null;

  function pick(sensorCode) {
    if (sensorCode === pickedCode) return;
    pickedCode = sensorCode;
    for (const chart of shown.charts.splice(0)) chart.dispose();
    for (const timer of shown.timers.splice(1)) clearInterval(timer);   // keep the list's own timer (first)
    picked.replaceChildren();
    shown.sensorCode = sensorCode;
    shown.refreshLive = sensorView(picked, sensorCode, key);
    for (const row of list.querySelectorAll("tr[data-sensor]")) row.classList.toggle("mon-picked-row", row.dataset.sensor === sensorCode);
  }

  async function refresh() {
    let body;
    try {
      body = await api(`api/monitoring/hazard-sources/${encodeURIComponent(code)}/sensors`);
    } catch (err) {
      list.innerHTML = `<p class="empty">${esc(err.message)}</p>`;
      return;
    }
    if (!stillShown(key)) return;
    if (!body.sensors.length) {
      list.innerHTML = `<p class="empty">${esc(s("no_sensors"))}</p>`;
      return;
    }
    list.innerHTML = `<div class="table-wrap"><table class="section-table mon-table"><thead><tr>
        <th scope="col">${esc(s("code"))}</th><th scope="col">${esc(s("value"))}</th><th scope="col">${esc(s("status"))}</th>
      </tr></thead><tbody>${body.sensors.map((x) => `<tr data-sensor="${esc(x.code)}" class="mon-${esc(x.status)}">
        <td><button type="button" class="link-btn" data-pick="${esc(x.code)}">${esc(x.code)}</button>
          <div class="mon-kind">${esc(enumLabel("sensors.kind", x.kind))}</div></td>
        <td class="mon-cell-value">${esc(x.latest ? valueText(x.latest.value, x.unit) : "—")}</td>
        <td>${esc(enumLabel("sensors.status", x.status))}</td></tr>`).join("")}</tbody></table></div>`;
    for (const button of list.querySelectorAll("[data-pick]")) button.addEventListener("click", () => pick(button.dataset.pick));
    for (const row of list.querySelectorAll("tr[data-sensor]")) row.classList.toggle("mon-picked-row", row.dataset.sensor === pickedCode);
    if (pickedCode === null) pick(body.sensors[0].code);
  }

  shown.timers.push(setInterval(() => { if (stillShown(key)) refresh(); else release(); }, POLL_MS));
  shown.sourceCode = code;
  shown.refreshSource = refresh;
  await refresh();
}

// -- a video point's stream -------------------------------------------------------------------------------------
let hlsLoading = null;

function loadHls() {
  if (window.Hls) return Promise.resolve(window.Hls);
  hlsLoading ??= new Promise((resolve, reject) => {
    const script = document.createElement("script");
    script.src = `${ROOT}static/vendor/hls.js/hls.min.js`;
    script.onload = () => resolve(window.Hls);
    script.onerror = () => reject(new Error("hls.js"));
    document.head.appendChild(script);
  });
  return hlsLoading;
}

async function showVideo(doc, panelEl, key) {
  const code = attribute(doc, "code");
  const host = section(panelEl, "monitoring-video", s("video"));
  host.insertAdjacentHTML("beforeend", `<div class="mon-video-wrap"><video class="mon-video" muted playsinline
      autoplay loop controls preload="auto" aria-label="${esc(doc.title)}"></video>
      <div class="mon-video-caption"></div></div><p class="mon-video-note"></p>`);
  const video = host.querySelector("video");
  const note = host.querySelector(".mon-video-note");
  const caption = host.querySelector(".mon-video-caption");
  caption.textContent = doc.title;
  let stream;
  try {
    stream = await api(`api/monitoring/video-points/${encodeURIComponent(code)}/stream`);
  } catch (err) {
    note.textContent = err.message;
    return;
  }
  if (!stillShown(key)) return;
  video.dataset.source = stream.source;
  if (!stream.url) {
    video.hidden = true;
    note.textContent = s("no_stream");
    return;
  }
  note.textContent = [stream.status === "offline" ? s("offline") : "", stream.source === "sample" ? s("sample") : ""]
    .filter(Boolean).join(" · ");
  const Hls = await loadHls().catch(() => null);
  if (!stillShown(key)) return;
  if (Hls && Hls.isSupported()) {
    const hls = new Hls({ enableWorker: true, lowLatencyMode: false });
    shown.hls = hls;
    hls.on(Hls.Events.ERROR, (_event, data) => {
      if (data.fatal) note.textContent = `${s("play_error")}: ${data.details}`;
    });
    hls.loadSource(stream.url);
    hls.attachMedia(video);
    hls.on(Hls.Events.MANIFEST_PARSED, () => { video.play().catch(() => {}); });
  } else if (video.canPlayType("application/vnd.apple.mpegurl")) {
    video.src = stream.url;   // Safari plays HLS itself
    video.play().catch(() => {});
  } else {
    note.textContent = s("play_error");
  }
}

// -- plug-in -----------------------------------------------------------------------------------------------------
const SHOW = { sensors: showSensor, hazard_sources: showHazardSource, video_points: showVideo };

function onRender(doc, panelEl) {
  release();
  const show = SHOW[doc.layer];
  if (!show) return;
  shown.key = `${doc.layer}/${doc.id}`;
  show(doc, panelEl, shown.key);
}

/** A `monitoring.` event about the sensor (or hazard source) on show: re-read its value now, not at the next poll. */
function onLiveEvent(event) {
  if (!event.type.startsWith("monitoring.")) return;
  const data = event.data ?? {};
  if (shown.sensorCode && data.sensor_code === shown.sensorCode) shown.refreshLive?.();
  if (shown.sourceCode && data.hazard_source_code === shown.sourceCode) shown.refreshSource?.();
}

function can(kind, name) {
  const granted = BOOT.can?.[kind]?.[name];
  return !BOOT.can || (Array.isArray(granted) && granted.includes("read"));
}

export function init() {
  if (!can("modules", "monitoring") || !echarts) return {};
  loadStylesheet();
  onPanelRender(onRender);
  exposed.release = release;
  return { onLiveEvent };
}
