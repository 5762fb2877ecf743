// Impact analysis (辅助决策) in the incident panel: a small form that runs POST …/incidents/<id>/impact and draws
// the run's zones (strongest first, red → blue), the evacuation routes and the shelters on the map, with the
// figures under the form. The server decides everything; this only asks and draws.

import { L, esc, toast } from "../../console/boot.js";
import { fromLonLat } from "../../console/projection.js";

const ol = window.ol;
const COLOURS = ["#d50000", "#ff6d00", "#ffd600", "#2962ff", "#7b1fa2"];
const source = new ol.source.Vector();
const shown = new Map(); // incident id → its last run drawn here (a re-read panel shows it again)
let layer = null;

const T = {
  button: { "zh-CN": "影响分析", en: "Impact analysis" },
  model: { "zh-CN": "模型", en: "Model" },
  plume: { "zh-CN": "有毒气体扩散", en: "Toxic plume" },
  explosion: { "zh-CN": "爆炸超压", en: "Explosion" },
  chemical: { "zh-CN": "化学品", en: "Chemical" },
  fromSource: { "zh-CN": "按危险源", en: "From the hazard source" },
  rate: { "zh-CN": "泄漏速率 (g/s)", en: "Release rate (g/s)" },
  wind: { "zh-CN": "风速 (m/s)", en: "Wind speed (m/s)" },
  windFrom: { "zh-CN": "风向 (来向, °)", en: "Wind from (°)" },
  stability: { "zh-CN": "稳定度", en: "Stability" },
  tnt: { "zh-CN": "TNT当量 (kg)", en: "TNT equivalent (kg)" },
  run: { "zh-CN": "分析", en: "Run" },
  persons: { "zh-CN": "受影响人口", en: "Affected persons" },
  assigned: { "zh-CN": "已安置", en: "Assigned" },
  unassigned: { "zh-CN": "未安置", en: "Unassigned" },
  withheld: { "zh-CN": "（无人口数据权限）", en: "(no access to population figures)" },
  targets: { "zh-CN": "防护目标", en: "Sensitive targets" },
  roads: { "zh-CN": "道路", en: "Roads" },
  report: { "zh-CN": "专报 (PDF)", en: "Situation report (PDF)" },
};

function style(feature) {
  const kind = feature.get("kind");
  if (kind === "route") return new ol.style.Style({ stroke: new ol.style.Stroke({ color: "#00c853", width: 3 }) });
  if (kind === "shelter") {
    return new ol.style.Style({ image: new ol.style.Circle({ radius: 6, fill: new ol.style.Fill({ color: "#00c853" }),
      stroke: new ol.style.Stroke({ color: "#fff", width: 2 }) }) });
  }
  const colour = COLOURS[feature.get("rank") % COLOURS.length];
  return new ol.style.Style({ stroke: new ol.style.Stroke({ color: colour, width: 2 }),
    fill: new ol.style.Fill({ color: `${colour}33` }) });
}

/** Draw a run (the API's answer) on the map and fit the view to its zones. */
export function drawRun(map, run) {
  if (!layer) {
    layer = new ol.layer.Vector({ source, style, zIndex: 940, properties: { id: "_impact" } });
    map.addLayer(layer);
  }
  source.clear();
  const format = new ol.format.GeoJSON({ dataProjection: "EPSG:4326", featureProjection: map.getView().getProjection() });
  run.zones.features.forEach((f, rank) => {
    const feature = format.readFeature(f);
    feature.setProperties({ kind: "zone", rank });
    source.addFeature(feature);
  });
  for (const a of run.evacuation?.assignments ?? []) {
    const route = format.readFeature({ type: "Feature", geometry: a.route, properties: { kind: "route" } });
    source.addFeature(route);
    source.addFeature(new ol.Feature({ kind: "shelter",
      geometry: new ol.geom.Point(fromLonLat(a.location, map.getView().getProjection())) }));
  }
  if (source.getFeatures().length) map.getView().fit(source.getExtent(), { padding: [40, 40, 40, 40], maxZoom: 16 });
}

function summary(run) {
  const rows = run.zones.features.map((f, rank) => {
    const p = f.properties;
    const persons = p.population ? Math.round(p.population.persons) : "—";
    const targets = p.inside?.sensitive_targets?.count ?? "—";
    const roads = p.inside?.roads?.count ?? "—";
    return `<li><span style="color:${COLOURS[rank % COLOURS.length]}">■</span> ${esc(L({ "zh-CN": p.label_zh, en: p.label_en }))}
      · ${esc(L(T.persons))} ${esc(persons)} · ${esc(L(T.targets))} ${esc(targets)} · ${esc(L(T.roads))} ${esc(roads)}</li>`;
  }).join("");
  const e = run.evacuation;
  const evac = !e ? "" : e.withheld ? `<p>${esc(L(T.withheld))}</p>`
    : `<p>${esc(L(T.assigned))} ${e.assigned} / ${e.persons} · ${esc(L(T.unassigned))} ${e.unassigned}</p>`;
  const report = `api/emergency/incidents/${encodeURIComponent(run.incident_id)}/impact/${encodeURIComponent(run.run)}/report`;
  return `<p>${esc(L(T.run))} #${run.run} · <a class="impact-report" href="${esc(report)}" target="_blank" rel="noopener">${esc(L(T.report))}</a></p>
    <ul class="impact-zones">${rows}</ul>${evac}`;
}

function form(kind) {
  const num = (name, label, attrs) => `<label>${esc(L(label))} <input type="number" name="${name}" ${attrs}></label>`;
  const model = kind === "explosion" ? "explosion" : "plume";
  return `<form class="impact-form emergency-form" novalidate hidden>
    <label>${esc(L(T.model))} <select name="model">
      <option value="plume"${model === "plume" ? " selected" : ""}>${esc(L(T.plume))}</option>
      <option value="explosion"${model === "explosion" ? " selected" : ""}>${esc(L(T.explosion))}</option></select></label>
    <fieldset class="impact-plume"><label>${esc(L(T.chemical))} <select name="chemical">
      <option value="">${esc(L(T.fromSource))}</option><option value="chlorine">氯气 chlorine</option>
      <option value="ammonia">氨 ammonia</option><option value="hydrogen_sulfide">硫化氢 hydrogen sulfide</option></select></label>
      ${num("release_rate_g_s", T.rate, 'min="0" step="any" value="1000"')}
      ${num("wind_speed_m_s", T.wind, 'min="0.5" max="30" step="any" value="2.5"')}
      ${num("wind_from_deg", T.windFrom, 'min="0" max="360" step="any" value="90"')}
      <label>${esc(L(T.stability))} <select name="stability">${["A", "B", "C", "D", "E", "F"].map((s) =>
        `<option${s === "D" ? " selected" : ""}>${s}</option>`).join("")}</select></label></fieldset>
    <fieldset class="impact-explosion">${num("tnt_kg", T.tnt, 'min="0" step="any" value="100"')}</fieldset>
    <p class="error impact-error" role="alert"></p>
    <div class="btn-row"><button type="submit" class="btn primary">${esc(L(T.button))}</button></div>
    <div class="impact-result"></div>
  </form>`;
}

function body(f) {
  const n = (name) => Number(f.elements[name].value);
  if (f.elements.model.value === "explosion") return { model: "explosion", tnt_kg: n("tnt_kg") };
  const out = { model: "plume", release_rate_g_s: n("release_rate_g_s"), wind_speed_m_s: n("wind_speed_m_s"),
    wind_from_deg: n("wind_from_deg"), stability: f.elements.stability.value };
  if (f.elements.chemical.value) out.chemical = f.elements.chemical.value;
  return out;
}

/** Add the button and its form to an incident panel's action box (write permission checked by the caller). */
export function addImpact(box, buttons, { id, kind, map, request, changed }) {
  box.insertAdjacentHTML("beforeend", form(kind));
  buttons.insertAdjacentHTML("beforeend", `<button type="button" class="btn impact-btn" aria-expanded="false">${esc(L(T.button))}</button>`);
  const f = box.querySelector(".impact-form");
  const toggle = buttons.querySelector(".impact-btn");
  const sync = () => {
    const plume = f.elements.model.value === "plume";
    f.querySelector(".impact-plume").hidden = !plume;
    f.querySelector(".impact-explosion").hidden = plume;
  };
  sync();
  f.elements.model.addEventListener("change", sync);
  if (shown.has(id)) {
    f.hidden = false;
    toggle.setAttribute("aria-expanded", "true");
    f.querySelector(".impact-result").innerHTML = summary(shown.get(id));
  }
  toggle.addEventListener("click", () => { f.hidden = !f.hidden; toggle.setAttribute("aria-expanded", String(!f.hidden)); });
  f.addEventListener("submit", async (e) => {
    e.preventDefault();
    const error = f.querySelector(".impact-error");
    error.textContent = "";
    for (const el of f.querySelectorAll(".invalid")) el.classList.remove("invalid");
    const submit = f.querySelector("button[type=submit]");
    submit.disabled = true;
    try {
      const run = await request(`api/emergency/incidents/${id}/impact`, { method: "POST", body: body(f) });
      drawRun(map, run);
      f.querySelector(".impact-result").innerHTML = summary(run);
      window.onemap.lastImpact = run;
      shown.set(id, run);
      await changed?.(run);
    } catch (err) {
      error.textContent = err.message;
      const input = err.problem?.input;
      if (input && f.elements[input]) f.elements[input].classList.add("invalid");
      toast(err.message, "error");
    } finally {
      submit.disabled = false;
    }
  });
}
