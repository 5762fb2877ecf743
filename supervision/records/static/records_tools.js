// The records plug-in's top-bar tools for roles that may write records (console.js starts them):
// - 新增企业: the enterprise form (GET /api/records/enterprises/schema) with its location typed or picked on the map,
//   POST /api/records/enterprises; the server's refusals next to the field (an outside district: its 403 on top);
// - 导入: a .csv/.xlsx file checked first (dry_run: every problem listed by row and column, nothing written), then
//   imported — all or nothing, the server's rule.

import { BOOT, LANG, api, esc, t, toast } from "../../console/boot.js";
import { fromLonLat, toLonLat } from "../../console/projection.js";
import { renderForm } from "../supervision.cases/form.js";

const ol = window.ol;
const state = { picking: false, form: null };
const pickSource = new ol.source.Vector();
let map;
let ui;
let host;

function setPicking(on) {
  state.picking = on;
  document.getElementById("map").classList.toggle("picking", on);
  ui.box.querySelector(".rec-pick")?.setAttribute("aria-pressed", String(on));
  if (on) toast(t("rec_pick_point"));
}

function onMapClick(event) {
  if (!state.picking || !state.form) return;
  setPicking(false);
  const projection = map.getView().getProjection();
  const [lon, lat] = toLonLat(event.coordinate, projection);
  pickSource.clear();
  pickSource.addFeature(new ol.Feature(new ol.geom.Point(fromLonLat([lon, lat], projection))));
  for (const [name, value] of [["lon", lon], ["lat", lat]]) {
    const input = state.form.querySelector(`[data-field="${name}"] input`);
    if (input) input.value = value.toFixed(7);
  }
}

// -- 新增企业 ----------------------------------------------------------------------------------------------------
async function openCreate() {
  let schema;
  try {
    schema = await api("api/records/enterprises/schema");
  } catch (err) {
    toast(err.message, "error");
    return;
  }
  const key = schema["x-key"];
  const keySchema = { ...schema["x-key-schema"], minLength: 18 };
  const full = { ...schema, properties: { [key]: keySchema, ...schema.properties },
    required: [key, ...schema.required, "lon", "lat"], "x-order": [key, ...schema["x-order"]] };
  const body = ui.openBox(t("rec_new_title"));
  const handle = renderForm(body, full, {
    intro: `<p class="where"><button type="button" class="btn small rec-pick" aria-pressed="false">${
      esc(t("rec_pick_on_map"))}</button></p>`,
    onCancel: () => ui.closeBox(),
    onSubmit: async (values) => {
      const created = await api("api/records/enterprises", { method: "POST",
        body: { ...values, crs: "cgcs2000" } });
      ui.closeBox();
      toast(t("rec_created", { name: created.name }));
      window.onemap.records.lastRecord = created;
      host?.refreshLayers?.(["enterprises"]);
    },
  });
  state.form = handle.form;
  window.onemap.records.form = handle;
  handle.form.querySelector(".rec-pick").addEventListener("click", () => setPicking(!state.picking));
}

// -- 导入 ----------------------------------------------------------------------------------------------------------
const CRS = ["cgcs2000", "wgs84", "gcj02", "bd09"];

async function send(form, dryRun) {
  const file = form.querySelector("#rec-import-file").files[0];
  const collection = form.querySelector("#rec-import-kind").value;
  const crs = form.querySelector("#rec-import-crs").value;
  const body = new FormData();
  body.append("file", file, file.name);
  const headers = { Accept: "application/json", "Accept-Language": LANG };
  const token = document.querySelector('meta[name="csrf-token"]')?.content;
  if (token) headers["X-CSRF-Token"] = token;
  const url = `${BOOT.root}api/records/${collection}/import?dry_run=${dryRun}&crs=${encodeURIComponent(crs)}` +
    `&lang=${encodeURIComponent(LANG)}`;
  const response = await fetch(url, { method: "POST", body, headers, credentials: "same-origin" });
  const json = await response.json().catch(() => null);
  return { ok: response.ok, status: response.status, json, collection };
}

function problemsTable(problems) {
  const reason = (p) => (LANG === "en" ? p.reason : p.reason_zh ?? p.reason);
  return `<div class="table-wrap"><table class="section-table rec-import-problems"><thead><tr>
    <th scope="col">${esc(t("rec_col_row"))}</th><th scope="col">${esc(t("rec_col_column"))}</th>
    <th scope="col">${esc(t("rec_col_problem"))}</th></tr></thead><tbody>${problems.map((p) =>
  `<tr><td>${esc(p.row)}</td><td>${esc(p.column)}</td><td>${esc(reason(p))}${
    p.value == null ? "" : ` <small>（${esc(p.value)}）</small>`}</td></tr>`).join("")}</tbody></table></div>`;
}

function openImport() {
  const body = ui.openBox(t("rec_import"));
  body.innerHTML = `<form class="case-form rec-import" novalidate>
    <div class="cf-field"><label class="cf-label" for="rec-import-kind">${esc(t("rec_import_kind"))}</label>
      <select id="rec-import-kind"><option value="enterprises">${esc(t("rec_kind_enterprise"))}</option>
      <option value="hazard-sources">${esc(t("rec_kind_hazard_source"))}</option></select></div>
    <div class="cf-field"><label class="cf-label" for="rec-import-crs">${esc(t("rec_import_crs"))}</label>
      <select id="rec-import-crs">${CRS.map((c) => `<option value="${c}">${c.toUpperCase()}</option>`).join("")}</select></div>
    <div class="cf-field" data-field="file"><label class="cf-label" for="rec-import-file">${esc(t("rec_import_file"))}</label>
      <input type="file" id="rec-import-file" accept=".csv,.xlsx,text/csv,application/vnd.openxmlformats-officedocument.spreadsheetml.sheet">
      <p class="cf-error" role="alert"></p></div>
    <p class="form-error error" role="alert"></p>
    <div class="rec-import-result" aria-live="polite"></div>
    <div class="btn-row"><button type="button" class="btn rec-dry-run">${esc(t("rec_dry_run"))}</button>
      <button type="button" class="btn primary rec-do-import" disabled>${esc(t("rec_do_import"))}</button>
      <button type="button" class="btn form-cancel">${esc(t("cancel"))}</button></div></form>`;
  const form = body.querySelector("form");
  const result = form.querySelector(".rec-import-result");
  const top = form.querySelector(".form-error");
  const importButton = form.querySelector(".rec-do-import");
  const reset = () => { importButton.disabled = true; result.innerHTML = ""; top.textContent = ""; };
  for (const input of form.querySelectorAll("select, input")) input.addEventListener("change", reset);
  form.querySelector(".form-cancel").addEventListener("click", () => ui.closeBox());

  async function run(dryRun) {
    reset();
    if (!form.querySelector("#rec-import-file").files.length) {
      top.textContent = t("rec_choose_file");
      return;
    }
    const buttons = form.querySelectorAll(".btn-row button");
    buttons.forEach((b) => { b.disabled = true; });
    try {
      const answer = await send(form, dryRun);
      const problems = answer.json?.problems ?? [];
      if (answer.ok) {
        result.innerHTML = `<p class="ok">${esc(t(dryRun ? "rec_dry_run_ok" : "rec_imported",
          { n: dryRun ? answer.json.rows : answer.json.imported }))}</p>`;
        if (!dryRun) {
          toast(t("rec_imported", { n: answer.json.imported }));
          host?.refreshLayers?.([answer.collection === "enterprises" ? "enterprises" : "hazard_sources"]);
        }
        return dryRun;
      }
      if (problems.length) {
        result.innerHTML = `<p class="error">${esc(t("rec_import_errors", { n: answer.json.problem_count ??
          problems.length }))}</p>${problemsTable(problems)}`;
      } else {
        top.textContent = answer.json?.detail ?? `HTTP ${answer.status}`;
      }
      return false;
    } catch (err) {
      top.textContent = err.message;
      return false;
    } finally {
      buttons.forEach((b) => { b.disabled = false; });
    }
  }
  form.querySelector(".rec-dry-run").addEventListener("click", async () => {
    importButton.disabled = !(await run(true));
  });
  importButton.addEventListener("click", async () => {
    await run(false);
    importButton.disabled = true; // a second import of the same file would only meet duplicates
  });
}

/** Put 新增企业 and 导入 in the top bar; the returned hooks say when a map click is the plug-in's. */
export function addToolButtons(olMap, consoleHost, boxApi) {
  map = olMap;
  host = consoleHost;
  ui = boxApi;
  ui.box.addEventListener("records-close", () => {
    state.form = null;
    pickSource.clear();
    if (state.picking) setPicking(false);
  });
  const nav = document.querySelector(".top-actions");
  const create = document.createElement("button");
  create.type = "button";
  create.id = "btn-record-new";
  create.className = "btn record-new";
  create.textContent = `＋ ${t("rec_new_enterprise")}`;
  create.addEventListener("click", openCreate);
  const importButton = document.createElement("button");
  importButton.type = "button";
  importButton.id = "btn-record-import";
  importButton.className = "btn record-import";
  importButton.textContent = t("rec_import");
  importButton.addEventListener("click", openImport);
  const layers = document.getElementById("btn-layers");
  nav.insertBefore(create, layers);
  nav.insertBefore(importButton, layers);
  map.addLayer(new ol.layer.Vector({ source: pickSource, zIndex: 1001, style: new ol.style.Style({
    image: new ol.style.Circle({ radius: 8, fill: new ol.style.Fill({ color: "#1565c0" }),
      stroke: new ol.style.Stroke({ color: "#ffffff", width: 2 }) }) }) }));
  map.on("singleclick", onMapClick);
  return { isPicking: () => state.picking };
}
