// The records module's console plug-in (supervision/records/manifest.py console_scripts; interface: core/manifest.py).
// In the feature panel of an enterprise or a hazard source:
// - for a role that may write through the records module (BOOT.can, from the policy): 编辑 (a form from
//   GET /api/records/<collection>/schema, pre-filled with the record, sent as PATCH with the version read; the
//   server's refusals are shown next to the field), 停用/启用 after a confirmation, 变更历史;
// - for a role that may start an enterprise change request on its own enterprise (case type enterprise_change,
//   GET /api/cases/types): 申请变更, the same fields pre-filled, sent as a case with only what changed;
// - for writers, in the top bar: 新增企业 (form, location picked on the map or typed) and 导入 (records_tools.js).
// The scope is the server's: a district regulator's edit of another district's record shows its 403 message.
// Forms are supervision/cases/static/form.js (imported, one renderer for the whole application).

import { BOOT, L, LANG, api, esc, t, toast } from "../../console/boot.js";
import { currentFeature, onPanelRender, refreshPanel } from "../../console/panel.js";
import { caseTypes, ensureStrings } from "../supervision.cases/common.js";
import { renderForm } from "../supervision.cases/form.js";
import { addToolButtons } from "./records_tools.js";

// the panel's layer → the API collection and the record's key field
const KINDS = {
  enterprises: { collection: "enterprises", key: "uscc", kind: "enterprise" },
  hazard_sources: { collection: "hazard-sources", key: "code", kind: "hazard_source" },
};
const state = { schemas: new Map(), open: false, lastCase: null, lastRecord: null };
let box;

/** May the caller read (or write) through the records module? */
export function canRecords(action) {
  return (BOOT.can?.modules?.records ?? []).includes(action);
}

let stringsLoaded = null;
function ensureRecordStrings() {
  stringsLoaded ??= Promise.all([
    ensureStrings(), // the form renderer's words (提交, 取消, 请填写此项 …)
    api("api/records/strings").then((s) => { Object.assign(BOOT.strings, s); }),
  ]);
  return stringsLoaded;
}

/** GET /api/records/<collection>/schema, once per page. */
export function recordSchema(collection) {
  if (!state.schemas.has(collection)) {
    state.schemas.set(collection, api(`api/records/${collection}/schema`).catch((err) => {
      state.schemas.delete(collection);
      throw err;
    }));
  }
  return state.schemas.get(collection);
}

function recordUrl(k, key) {
  return `api/records/${k.collection}/${encodeURIComponent(key)}`;
}

// -- the floating box every form of this plug-in opens in --------------------------------------------------------
export function openBox(title) {
  state.open = true;
  box.hidden = false;
  box.querySelector(".float-title").textContent = title;
  return box.querySelector(".records-body");
}

export function closeBox() {
  state.open = false;
  box.hidden = true;
  box.querySelector(".records-body").innerHTML = "";
  box.dispatchEvent(new Event("records-close"));
}

function buildBox() {
  box = document.createElement("section");
  box.id = "records-panel";
  box.className = "floating records-panel";
  box.hidden = true;
  box.setAttribute("aria-label", t("rec_records"));
  box.innerHTML = `<header class="float-head"><h2 class="side-title float-title"></h2>
    <button type="button" class="icon-btn" aria-label="${esc(t("close"))}" title="${esc(t("close"))}">✕</button></header>
    <div class="records-body"></div>`;
  box.querySelector(".icon-btn").addEventListener("click", closeBox);
  document.querySelector("main.workspace").append(box);
}

/** The schema with every property's default set to the record's value (the form opens pre-filled). */
export function prefilled(schema, record) {
  const properties = {};
  for (const [name, prop] of Object.entries(schema.properties)) {
    const value = record?.[name];
    properties[name] = value == null ? { ...prop } : { ...prop, default: value };
  }
  return { ...schema, properties };
}

function same(a, b) {
  if (typeof a === "number" && typeof b === "number") return Math.abs(a - b) < 1e-7;
  return a === b;
}

/** What the form changed from the record: {field: value}; a moved point is sent whole, with its CRS. */
export function changedValues(values, record) {
  const out = {};
  for (const [name, value] of Object.entries(values)) {
    if (name === "lon" || name === "lat") continue;
    if (!same(value, record[name] ?? null)) out[name] = value;
  }
  if (("lon" in values || "lat" in values) && !(same(values.lon, record.lon) && same(values.lat, record.lat))) {
    Object.assign(out, { lon: values.lon, lat: values.lat, crs: "cgcs2000" });
  }
  return out;
}

function kindLabel(k) {
  return t(`rec_kind_${k.kind}`);
}

// -- 编辑 -------------------------------------------------------------------------------------------------------
async function openEdit(k, key) {
  let schema;
  let record;
  try {
    [schema, record] = await Promise.all([recordSchema(k.collection), api(recordUrl(k, key))]);
  } catch (err) {
    toast(err.message, "error");
    return;
  }
  const body = openBox(t("rec_edit_title", { kind: kindLabel(k), name: record.name ?? key }));
  const handle = renderForm(body, prefilled(schema, record), {
    onCancel: closeBox,
    onSubmit: async (values) => {
      const changes = changedValues(values, record);
      if (!Object.keys(changes).length) {
        handle.form.querySelector(".form-error").textContent = t("rec_unchanged");
        return;
      }
      const saved = await api(recordUrl(k, key), { method: "PATCH", body: { version: record.version, ...changes } });
      state.lastRecord = saved;
      closeBox();
      toast(t("rec_saved", { version: saved.version }));
      refreshPanel();
    },
  });
  window.onemap.records.form = handle;
  handle.form.querySelector("input, select, textarea")?.focus();
}

// -- 停用 / 启用 --------------------------------------------------------------------------------------------------
async function openStatus(k, key, target) {
  let record;
  try {
    record = await api(recordUrl(k, key));
  } catch (err) {
    toast(err.message, "error");
    return;
  }
  const verb = target === "deactivated" ? "deactivate" : "reactivate";
  const body = openBox(t(`rec_${verb}`));
  body.innerHTML = `<form class="case-form records-confirm">
    <p class="confirm-text">${esc(t(`rec_confirm_${verb}`, { kind: kindLabel(k), name: record.name ?? key }))}</p>
    <div class="cf-field" data-field="reason"><label class="cf-label" for="rec-reason">${esc(t("rec_reason"))}</label>
      <input type="text" id="rec-reason" name="reason" maxlength="200"><p class="cf-error" role="alert"></p></div>
    <p class="form-error error" role="alert"></p>
    <div class="btn-row"><button type="submit" class="btn primary">${esc(t("rec_confirm"))}</button>
      <button type="button" class="btn form-cancel">${esc(t("cancel"))}</button></div></form>`;
  const form = body.querySelector("form");
  form.querySelector(".form-cancel").addEventListener("click", closeBox);
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    const reason = form.querySelector("#rec-reason").value.trim();
    const button = form.querySelector("button[type=submit]");
    button.disabled = true;
    try {
      await api(`${recordUrl(k, key)}/${verb}`, { method: "POST",
        body: { version: record.version, ...(reason ? { reason } : {}) } });
      closeBox();
      toast(t(target === "deactivated" ? "rec_deactivated" : "rec_reactivated"));
      refreshPanel();
    } catch (err) {
      form.querySelector(".form-error").textContent = err.message;
    } finally {
      button.disabled = false;
    }
  });
  form.querySelector("button[type=submit]").focus();
}

// -- 变更历史 -----------------------------------------------------------------------------------------------------
function shown(value) {
  if (value == null || value === "") return "—";
  if (typeof value === "object") {
    if ("lon" in value && "lat" in value) return `${Number(value.lon).toFixed(6)}, ${Number(value.lat).toFixed(6)}`;
    return JSON.stringify(value);
  }
  return String(value);
}

function changeText(changes, schema) {
  const title = (name) => (name === "location" ? t("rec_location") : L(schema?.properties?.[name]?.title) || name);
  return Object.entries(changes ?? {}).map(([name, change]) => {
    if (change && typeof change === "object" && "new" in change) {
      return `${title(name)}：${shown(change.old)} → ${shown(change.new)}`;
    }
    return `${title(name)}：${shown(change)}`;
  });
}

const CHINA_TIME = new Intl.DateTimeFormat("sv-SE", { timeZone: "Asia/Shanghai", year: "numeric", month: "2-digit",
  day: "2-digit", hour: "2-digit", minute: "2-digit" });

async function openHistory(k, key, title) {
  const body = openBox(`${t("rec_history")}：${title}`);
  body.innerHTML = `<p class="empty">${esc(t("loading"))}</p>`;
  try {
    const [history, schema] = await Promise.all([api(`${recordUrl(k, key)}/history`),
      recordSchema(k.collection).catch(() => null)]);
    const entries = [...history.entries].reverse(); // newest first
    if (!entries.length) {
      body.innerHTML = `<p class="empty">${esc(t("rec_history_empty"))}</p>`;
      return;
    }
    body.innerHTML = `<div class="table-wrap"><table class="section-table records-history"><thead><tr>
      <th scope="col">${esc(t("rec_col_at"))}</th><th scope="col">${esc(t("rec_col_actor"))}</th>
      <th scope="col">${esc(t("rec_col_action"))}</th><th scope="col">${esc(t("rec_col_changes"))}</th></tr></thead>
      <tbody>${entries.map((e) => `<tr data-version="${esc(e.version)}"><td>${esc(CHINA_TIME.format(new Date(e.at)))}</td>
        <td>${esc(e.actor)}</td><td>${esc(t(`rec_action_${e.action}`))}</td>
        <td>${changeText(e.changes, schema).map((line) => `<div>${esc(line)}</div>`).join("")}</td></tr>`).join("")}
      </tbody></table></div>`;
  } catch (err) {
    body.innerHTML = `<p class="error" role="alert">${esc(err.message)}</p>`;
  }
}

// -- 申请变更 (an enterprise user: case type enterprise_change) ---------------------------------------------------
async function changeRequestAction() {
  try {
    const types = await caseTypes();
    const type = types.get("enterprise_change");
    const action = type?.start_actions?.[0];
    return action ? { type, action } : null;
  } catch {
    return null; // a role without the case module: no button
  }
}

/** The request's form: the change fields of the case type's start form (its own titles and limits), pre-filled
 * with the record; the version the request is based on is the one read here, not typed. */
function changeSchema(action, record) {
  const changes = action.form?.properties?.changes?.properties ?? {};
  const properties = {};
  for (const [name, prop] of Object.entries(changes)) {
    if (name === "crs") continue; // the point is sent in CGCS2000, as the record shows it
    properties[name] = record[name] == null ? { ...prop } : { ...prop, default: record[name] };
  }
  const reason = action.form?.properties?.reason ?? { type: "string", maxLength: 200 };
  properties.reason = { ...reason, title: reason.title ?? t("rec_change_reason") };
  return { type: "object", properties, "x-order": Object.keys(properties) };
}

async function openChangeRequest(type, action, uscc) {
  const k = KINDS.enterprises;
  let record;
  try {
    record = await api(recordUrl(k, uscc));
  } catch (err) {
    toast(err.message, "error");
    return;
  }
  const body = openBox(t("rec_change_title", { name: record.name ?? uscc }));
  const handle = renderForm(body, changeSchema(action, record), {
    onCancel: closeBox,
    onSubmit: async (values) => {
      const { reason, ...rest } = values;
      const changes = changedValues(rest, record);
      if (!Object.keys(changes).length) {
        handle.form.querySelector(".form-error").textContent = t("rec_unchanged");
        return;
      }
      const form = { version: record.version, changes, ...(reason ? { reason } : {}) };
      let created;
      try {
        created = await api("api/cases", { method: "POST",
          body: { case_type: type.id, action: action.id, anchor: { kind: "enterprise", id: uscc }, form } });
      } catch (err) {
        // the engine names fields inside the form (changes.phone): show them where this form has them
        for (const e of err.problem?.errors ?? []) {
          if (typeof e.field === "string") e.field = e.field.replace(/^(form\.)?changes\./, "");
        }
        throw err;
      }
      state.lastCase = created;
      closeBox();
      toast(t("rec_request_sent", { code: created.code }));
      window.onemap.cases?.refreshCount?.();
      refreshPanel();
    },
  });
  window.onemap.records.form = handle;
}

// -- the feature panel ---------------------------------------------------------------------------------------------
function attribute(doc, name) {
  return doc.attributes.find((a) => a.name === name)?.value;
}

async function decoratePanel(doc, el) {
  const k = KINDS[doc.layer];
  if (!k) return;
  const key = attribute(doc, k.key);
  if (key == null) return;
  const buttons = [];
  if (canRecords("write")) {
    buttons.push(["edit", t("rec_edit")]);
    buttons.push(attribute(doc, "status") === "deactivated" ? ["reactivate", t("rec_reactivate")]
      : ["deactivate", t("rec_deactivate")]);
  }
  buttons.push(["history", t("rec_history")]);
  const request = k.kind === "enterprise" && !canRecords("write") ? await changeRequestAction() : null;
  if (request) buttons.push(["request", t("rec_request_change")]);
  if (!el.isConnected || el.querySelector('[data-section="records"]')) return; // re-rendered meanwhile
  const section = document.createElement("details");
  section.className = "panel-section records-actions";
  section.dataset.section = "records";
  section.open = true;
  section.innerHTML = `<summary>${esc(t("rec_records"))}</summary><div class="btn-row">${buttons.map(([id, label]) =>
    `<button type="button" class="btn small" data-record-action="${id}">${esc(label)}</button>`).join("")}</div>`;
  const handlers = {
    edit: () => openEdit(k, String(key)),
    deactivate: () => openStatus(k, String(key), "deactivated"),
    reactivate: () => openStatus(k, String(key), "active"),
    history: () => openHistory(k, String(key), doc.title),
    request: () => openChangeRequest(request.type, request.action, String(key)),
  };
  for (const button of section.querySelectorAll("[data-record-action]")) {
    button.addEventListener("click", handlers[button.dataset.recordAction]);
  }
  const attributes = el.querySelector(".panel-body > .panel-section");
  if (attributes) attributes.after(section);
  else el.querySelector(".panel-body")?.append(section);
}

export async function init(olMap, host) {
  window.onemap.records = { enabled: false, state };
  if (!canRecords("read")) return {};
  const css = document.createElement("link"); // form styles (cases.css) and this plug-in's (no inline style: CSP)
  css.rel = "stylesheet";
  css.href = new URL("../supervision.cases/cases.css", import.meta.url).href;
  const own = document.createElement("link");
  own.rel = "stylesheet";
  own.href = new URL("./records.css", import.meta.url).href;
  document.head.append(css, own);
  await ensureRecordStrings();
  buildBox();
  onPanelRender((doc, el) => { decoratePanel(doc, el).catch((err) => toast(err.message, "error")); });
  const tools = canRecords("write") ? addToolButtons(olMap, host, { openBox, closeBox, box }) : {};
  if (document.body.classList.contains("panel-open")) refreshPanel(); // a panel drawn before this plug-in started
  window.onemap.records.enabled = true;
  window.onemap.records.lang = LANG;
  let timer = null;
  return {
    isPicking: () => tools.isPicking?.() ?? false,
    onLiveEvent(event) {
      // someone else changed a record: the panel on show is re-read (unless one of this plug-in's forms is open)
      if (typeof event.type !== "string" || !event.type.startsWith("record.")) return;
      clearTimeout(timer);
      timer = setTimeout(() => {
        const current = currentFeature();
        if (current && KINDS[current.layer] && !state.open) refreshPanel({ keepIf: () => state.open });
      }, 300);
    },
  };
}
