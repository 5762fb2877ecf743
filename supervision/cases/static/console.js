// The case module's console plug-in (supervision/cases/manifest.py console_scripts; interface: core/manifest.py).
// - a 待办 badge in the top bar with the caller's to-do count, re-read on live case.* events, linking to /cases;
// - in the panel of an enterprise, hazard source or grid cell: the open cases (the server's section "cases",
//   supervision/cases/console.py) become links to their case pages, and a 发起 button per start action the caller
//   may use on that kind of feature (GET /api/cases/types → start_actions) opens the case form and POSTs /api/cases;
// - 隐患上报: a button that picks a point on the map and starts a case anchored to that point.
// Nothing is drawn for a role that may not read through the case module.

import { BOOT, L, api, esc, t, toast } from "../../console/boot.js";
import { currentFeature, onPanelRender, refreshPanel } from "../../console/panel.js";
import { fromLonLat, toLonLat } from "../../console/projection.js";
import { canCases, caseTypes, caseUrl, ensureStrings } from "./common.js";
import { renderForm } from "./form.js";

const ol = window.ol;
const LAYER_KINDS = { enterprises: "enterprise", hazard_sources: "hazard_source", grid_cells: "grid_cell" };
// a case is anchored to a feature by its natural key (the USCC, the hazard source's or the grid cell's code)
const ANCHOR_KEYS = { enterprises: "uscc", hazard_sources: "code", grid_cells: "code" };
const state = { count: null, types: new Map(), picking: false, formOpen: false };
let map;
let badge;
let formBox;
const pickSource = new ol.source.Vector();

/** Start actions that may open a case anchored to a feature of `kind`: [{type, action}] (not those of a type
 * its module starts with a tool of its own: console_start false, e.g. records' 申请变更). */
function startActions(kind) {
  const out = [];
  for (const type of state.types.values()) {
    if (type.console_start === false) continue;
    if (Array.isArray(type.anchor) && !type.anchor.includes(kind)) continue;
    for (const action of type.start_actions ?? []) out.push({ type, action });
  }
  return out;
}

async function refreshCount() {
  try {
    const counts = await api("api/cases/counts");
    state.count = counts.todo ?? 0;
    badge.querySelector(".badge").textContent = String(state.count);
    badge.classList.toggle("has-items", state.count > 0);
  } catch {
    badge.querySelector(".badge").textContent = "–";
  }
}

function addBadge() {
  const nav = document.querySelector(".top-actions");
  badge = document.createElement("a");
  badge.id = "cases-todo";
  badge.className = "btn cases-todo";
  badge.href = `${BOOT.root}cases?lang=${encodeURIComponent(BOOT.lang)}&list=todo`;
  badge.title = t("todo_badge_title");
  badge.innerHTML = `${esc(t("todo_badge"))} <span class="badge" aria-live="polite">–</span>`;
  nav.prepend(badge);
}

// -- the start form (a floating panel of the console) -------------------------------------------------------------
function closeForm() {
  state.formOpen = false;
  formBox.hidden = true;
  formBox.querySelector(".case-start-body").innerHTML = "";
  pickSource.clear();
}

function openStartForm(type, action, anchor, where) {
  state.formOpen = true;
  formBox.hidden = false;
  formBox.querySelector(".float-title").textContent = t("start_form_title", { type: L(type.title) || type.id,
    label: L(action.label) || action.id });
  const body = formBox.querySelector(".case-start-body");
  const intro = where ? `<p class="where">${esc(where)}</p>` : "";
  const handle = renderForm(body, action.form ?? { type: "object", properties: {} }, {
    intro,
    onCancel: closeForm,
    onSubmit: async (form) => {
      const created = await api("api/cases", { method: "POST",
        body: { case_type: type.id, action: action.id, anchor, form } });
      closeForm();
      toast(t("case_opened", { code: created.code }));
      window.onemap.cases.lastCase = created;
      refreshCount();
      if (anchor.kind !== "point") refreshPanel();
    },
  });
  window.onemap.cases.form = handle;
  handle.form.querySelector("input, select, textarea")?.focus();
}

function buildFormBox() {
  formBox = document.createElement("section");
  formBox.id = "case-start-panel";
  formBox.className = "floating case-start-panel";
  formBox.hidden = true;
  formBox.innerHTML = `<header class="float-head"><h2 class="side-title float-title"></h2>
    <button type="button" class="icon-btn" aria-label="${esc(t("close"))}" title="${esc(t("close"))}">✕</button></header>
    <div class="case-start-body"></div>`;
  formBox.querySelector(".icon-btn").addEventListener("click", closeForm);
  formBox.setAttribute("aria-label", t("cases_title"));
  document.querySelector("main.workspace").append(formBox);
}

// -- the feature panel ---------------------------------------------------------------------------------------------
function decoratePanel(doc, el) {
  const kind = LAYER_KINDS[doc.layer];
  const section = el.querySelector('[data-section="cases"]');
  if (!kind || !section) return;
  const content = doc.sections.find((s) => s.id === "cases")?.content;
  const rows = content?.rows ?? [];
  section.querySelectorAll("tbody tr").forEach((tr, i) => {
    const row = rows[i];
    const cell = tr.querySelector("td");
    if (!row || row.case_id == null || !cell) return;
    cell.innerHTML = `<a href="${caseUrl(row.case_id)}" title="${esc(row.type ?? t("open_case"))}">${esc(cell.textContent)}</a>`;
    if (row.overdue) tr.classList.add("clock-overdue");
  });
  const starts = startActions(kind);
  const key = doc.attributes.find((a) => a.name === ANCHOR_KEYS[doc.layer])?.value;
  if (!starts.length || key == null) return;
  const box = document.createElement("div");
  box.className = "btn-row case-starts";
  box.innerHTML = starts.map(({ type, action }, i) => `<button type="button" class="btn small case-start" data-i="${i}">${
    esc(t("start_case", { label: L(action.label) || L(type.title) }))}</button>`).join("");
  for (const button of box.querySelectorAll(".case-start")) {
    const { type, action } = starts[Number(button.dataset.i)];
    button.addEventListener("click", () => openStartForm(type, action, { kind, id: String(key) }, doc.title));
  }
  section.append(box);
}

// -- 隐患上报 at a point on the map ---------------------------------------------------------------------------------
function pointStarts() {
  return startActions("point").filter(({ type }) => Array.isArray(type.anchor) && type.anchor.includes("point"));
}

function setPicking(on) {
  state.picking = on;
  document.getElementById("map").classList.toggle("picking", on);
  document.getElementById("btn-case-report")?.setAttribute("aria-pressed", String(on));
  if (on) toast(t("report_here_hint"));
}

function onMapClick(event) {
  if (!state.picking) return;
  setPicking(false);
  const [lon, lat] = toLonLat(event.coordinate, map.getView().getProjection());
  pickSource.clear();
  pickSource.addFeature(new ol.Feature(new ol.geom.Point(fromLonLat([lon, lat], map.getView().getProjection()))));
  const starts = pointStarts();
  const chosen = starts.find(({ type }) => type.id === "hidden_danger") ?? starts[0];
  const where = t("point_at", { lon: lon.toFixed(6), lat: lat.toFixed(6) });
  openStartForm(chosen.type, chosen.action, { kind: "point", lon: Number(lon.toFixed(7)), lat: Number(lat.toFixed(7)),
    crs: "cgcs2000" }, where);
}

function addReportButton() {
  if (!pointStarts().length) return;
  const button = document.createElement("button");
  button.type = "button";
  button.id = "btn-case-report";
  button.className = "btn case-report";
  button.setAttribute("aria-pressed", "false");
  button.textContent = `＋ ${t("report_here")}`;
  button.addEventListener("click", () => setPicking(!state.picking));
  badge.after(button);
  map.addLayer(new ol.layer.Vector({ source: pickSource, zIndex: 1001, style: new ol.style.Style({
    image: new ol.style.RegularShape({ points: 3, radius: 11, fill: new ol.style.Fill({ color: "#ff6d00" }),
      stroke: new ol.style.Stroke({ color: "#ffffff", width: 2 }) }) }) }));
  map.on("singleclick", onMapClick);
}

export async function init(olMap) {
  window.onemap.cases = { enabled: false, state };
  if (!canCases("read")) return {};
  map = olMap;
  const css = document.createElement("link"); // the form and badge styles (no inline style: CSP)
  css.rel = "stylesheet";
  css.href = new URL("./cases.css", import.meta.url).href;
  document.head.append(css);
  await ensureStrings();
  addBadge();
  buildFormBox();
  try {
    state.types = await caseTypes();
  } catch (err) {
    toast(err.message, "error");
  }
  addReportButton();
  onPanelRender(decoratePanel);
  const current = currentFeature(); // a panel drawn before this plug-in started
  if (current && LAYER_KINDS[current.layer]) refreshPanel();
  await refreshCount();
  setInterval(refreshCount, 60_000); // a role without the live stream, or a dropped connection, still catches up
  window.onemap.cases.enabled = true;
  window.onemap.cases.refreshCount = refreshCount;
  let timer = null;
  return {
    isPicking: () => state.picking,
    onLiveEvent(event) {
      if (typeof event.type !== "string" || !event.type.startsWith("case.")) return;
      clearTimeout(timer); // one transition sends several events: one re-read
      timer = setTimeout(() => {
        refreshCount();
        const cur = currentFeature();
        if (cur && LAYER_KINDS[cur.layer] && !state.formOpen) refreshPanel({ keepIf: () => state.formOpen });
      }, 300);
    },
  };
}
