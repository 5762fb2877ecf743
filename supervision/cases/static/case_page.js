// /cases/<id>: one case. Header (code, type, state, feature, deadlines coloured by overdue / due soon), the timeline
// (GET /api/cases/<id>/events), documents (文号), parent and child cases, a small map of the city's own basemap with
// the case's location, and the actions the caller may take now (detail.actions), each a form from its JSON Schema
// submitted to POST /api/cases/<id>/transitions with the case's version.

import { BOOT, L, api, esc, t, toast } from "../../console/boot.js";
import { anchorKindLabel, caseTypeDefinition, caseTypes, caseUrl, chinaTime, clockState, clockStatusLabel,
  onLiveCaseEvent, dueText, stateLabel, timeLeft, typeLayer } from "./common.js";
import { orderedProperties, renderForm } from "./form.js";

const ol = window.ol;
const caseId = BOOT.caseId;
const onemap = window.onemap = { page: "case", ready: false, caseId };
const ANCHOR_LAYERS = { enterprise: "enterprises", hazard_source: "hazard_sources", grid_cell: "grid_cells" };
// a 409 that re-reading the case may resolve (someone else moved it); a refused guard is not one of them
const RELOAD_CODES = new Set(["stale_version", "invalid_transition"]);
let detail = null;
let type = null;        // the entry of GET /api/cases/types (title, states)
let definition = null;  // GET /api/cases/types/<id> (transition forms for the timeline's field names)
let map = null;
let openAction = null;  // the action whose form is open (a live re-read must not wipe what is being typed)
let stale = false;

const $ = (selector) => document.querySelector(selector);

function fact(label, value) {
  return value == null || value === "" ? "" : `<dt>${esc(label)}</dt><dd>${value}</dd>`;
}

function mapLink(d) {
  if (d.lon == null || d.lat == null) return "";
  const layers = [...new Set(["basemap", d.anchor?.layer ?? ANCHOR_LAYERS[d.anchor?.kind],
    typeof d.layer === "string" ? d.layer : typeLayer(type)].filter(Boolean))];
  const hash = `c=${Number(d.lon).toFixed(5)},${Number(d.lat).toFixed(5)}&z=16&l=${layers.join(",")}`;
  return ` <a href="${BOOT.root}?lang=${encodeURIComponent(BOOT.lang)}#${hash}">${esc(t("show_on_map"))}</a>`;
}

function renderHeader(d) {
  document.title = `${d.code} · OneMap`;
  $(".case-code").innerHTML = `<span class="code">${esc(d.code)}</span> <span class="type">${
    esc(L(d.type_title) || L(type?.title) || d.case_type)}</span> <span class="state state-${esc(d.state)}">${
    esc(L(d.state_label) || stateLabel(type, d.state))}</span>`;
  $("#case-title").textContent = d.title || d.code;
  const anchor = d.anchor ?? {};
  const anchorText = anchor.kind ? `${esc(anchorKindLabel(anchor.kind))}：${esc(anchor.name ?? anchor.id ?? "")}` : "";
  const point = d.lon != null && d.lat != null ? `${Number(d.lon).toFixed(6)}, ${Number(d.lat).toFixed(6)}` : "";
  $(".case-facts").innerHTML = fact(t("anchor"), anchorText + mapLink(d))
    + fact(t("anchor_point"), esc(point))
    + fact(t("col_updated"), esc(chinaTime(d.updated_at ?? d.opened_at)));
}

function renderClocks(d) {
  const clocks = d.clocks ?? [];
  $(".case-clocks").innerHTML = clocks.length ? `<table class="section-table clocks"><thead><tr>
    <th scope="col">${esc(t("clock"))}</th><th scope="col">${esc(t("clock_status"))}</th>
    <th scope="col">${esc(t("due_date"))}</th><th scope="col">${esc(t("days_left"))}</th></tr></thead><tbody>${
    clocks.map((c) => {
      const s = clockState(c);
      const flag = s === "overdue" ? t("overdue") : s === "due-soon" ? t("due_soon") : "";
      return `<tr class="clock-${s}" data-clock="${esc(c.clock)}"><td>${esc(L(c.label) || c.clock)}</td>
        <td>${esc(clockStatusLabel(c))}${flag ? ` <strong class="flag">${esc(flag)}</strong>` : ""}</td>
        <td>${esc(dueText(c))}</td><td>${esc(timeLeft(c))}</td></tr>`;
    }).join("")}</tbody></table>` : `<p class="empty">${esc(t("no_records"))}</p>`;
}

function caseLink(c) {
  if (c == null) return "";
  if (typeof c !== "object") return `<a href="${caseUrl(c)}">${esc(c)}</a>`;
  return `<a href="${caseUrl(c.id)}">${esc(c.code ?? c.id)}</a> ${esc(c.title ?? "")} <span class="state">${
    esc(L(c.state_label) || c.state || "")}</span>`;
}

function renderRelated(d) {
  const children = d.children ?? [];
  const parts = [];
  if (d.parent) parts.push(`<p><strong>${esc(t("parent_case"))}</strong>：${caseLink(d.parent)}</p>`);
  if (children.length) {
    parts.push(`<p><strong>${esc(t("child_cases"))}</strong></p><ul class="children">${
      children.map((c) => `<li>${caseLink(c)}</li>`).join("")}</ul>`);
  }
  $(".case-related").innerHTML = parts.join("") || `<p class="empty">${esc(t("no_records"))}</p>`;
  const docs = d.documents ?? [];
  const issued = docs.some((doc) => doc.issued_at); // the time of issue, when the API gives it
  $(".case-documents").innerHTML = docs.length ? `<table class="section-table documents"><thead><tr>
    <th scope="col">${esc(t("doc_title"))}</th><th scope="col">${esc(t("doc_number"))}</th>${
    issued ? `<th scope="col">${esc(t("issued_at"))}</th>` : ""}</tr></thead><tbody>${docs.map((doc) => `<tr>
      <td>${esc(L(doc.title) || doc.document || doc.doc_type)}</td><td class="doc-number">${esc(doc.number)}</td>${
      issued ? `<td>${esc(chinaTime(doc.issued_at))}</td>` : ""}</tr>`).join("")}</tbody></table>`
    : `<p class="empty">${esc(t("no_records"))}</p>`;
}

function renderMap(d) {
  const note = $(".map-note");
  if (d.lon == null || d.lat == null) {
    $("#case-map").hidden = true;
    note.textContent = t("no_location");
    return;
  }
  const center = ol.proj.fromLonLat([Number(d.lon), Number(d.lat)]);
  const point = new ol.Feature(new ol.geom.Point(center));
  const style = new ol.style.Style({ image: new ol.style.Circle({ radius: 8,
    fill: new ol.style.Fill({ color: "#d50000" }), stroke: new ol.style.Stroke({ color: "#ffffff", width: 2 }) }) });
  if (!map) {
    map = new ol.Map({
      target: "case-map",
      layers: [
        new ol.layer.Tile({ source: new ol.source.XYZ({ url: BOOT.basemap, maxZoom: 20 }) }),
        new ol.layer.Vector({ source: new ol.source.Vector({ features: [point] }), style }),
      ],
      view: new ol.View({ center, zoom: 16, maxZoom: 20 }),
      controls: ol.control.defaults.defaults({ attribution: false, rotate: false }),
    });
    map.on("rendercomplete", () => { onemap.mapRendered = true; });
    onemap.map = map;
  } else {
    const source = map.getLayers().item(1).getSource();
    source.clear();
    source.addFeature(point);
    map.getView().setCenter(center);
  }
  note.textContent = "";
}

/** The words for one value of a transition's form: enum labels, yes/no. */
function formValue(schema, value) {
  if (value == null) return "";
  const label = (s, v) => {
    if (Array.isArray(s?.enum)) {
      const names = s["x-enum-labels"] ?? s.enumNames ?? s.enum_labels;
      const i = s.enum.indexOf(v);
      if (names && i >= 0) return L(Array.isArray(names) ? names[i] : names[v]) || String(v);
    }
    const alt = (s?.oneOf ?? s?.anyOf ?? []).find((a) => a && a.const === v);
    return alt ? L(alt.title) || String(v) : typeof v === "boolean" ? (v ? t("yes") : "—") : String(v);
  };
  if (Array.isArray(value)) return value.map((v) => label(schema?.items, v)).join("、");
  if (typeof value === "object") return JSON.stringify(value);
  return label(schema, value);
}

function transitionForm(action) {
  const transitions = definition?.transitions;
  const found = Array.isArray(transitions) ? transitions.find((tr) => tr.id === action) : transitions?.[action];
  return found?.form ?? null;
}

function isAttachment(prop) {
  return prop?.format === "attachment" || prop?.items?.format === "attachment";
}

/** A link to an attached file (the API serves it to whoever may read the case), named by its field. */
function fileLink(f, words) {
  return `<a href="${BOOT.root}api/cases/files/${encodeURIComponent(f.sha256)}" target="_blank" rel="noopener" title="${
    esc(f.sha256)}">${esc(f.name ?? words)}</a>`;
}

function renderEvents(events) {
  $(".timeline").innerHTML = events.length ? events.map((e) => {
    const schema = transitionForm(e.action);
    const files = e.files ?? [];
    const form = e.form ?? {};
    const known = schema ? orderedProperties(schema).map(([name]) => name).filter((name) => name in form) : [];
    const values = [...known, ...Object.keys(form).filter((key) => !known.includes(key))].map((key) => {
      const value = form[key];
      const prop = schema?.properties?.[key];
      const linked = files.filter((f) => f.field === key || (f.field == null && isAttachment(prop)));
      const shown = isAttachment(prop) ? linked.map((f, i) => fileLink(f, `${L(prop?.title) || key} ${i + 1}`)).join("、")
        : esc(formValue(prop, value));
      return `<dt>${esc(L(prop?.title) || key)}</dt><dd>${shown}</dd>`;
    }).join("");
    const loose = files.filter((f) => !(f.field in form));
    const move = e.from_state && e.to_state && e.from_state !== e.to_state
      ? `${esc(stateLabel(type, e.from_state))} → ${esc(stateLabel(type, e.to_state))}`
      : esc(e.to_state ? stateLabel(type, e.to_state) : "");
    return `<li class="event" data-seq="${esc(e.seq)}">
      <div class="event-head"><strong>${esc(L(e.label) || e.action)}</strong> <span class="move">${move}</span></div>
      <div class="event-meta">${esc(e.actor ?? "")} · <time datetime="${esc(e.at)}">${esc(chinaTime(e.at))}</time>
        · <span class="hash" title="${esc(e.hash ?? "")}">#${esc(String(e.hash ?? "").slice(0, 10))}</span></div>
      ${values ? `<dl class="event-form">${values}</dl>` : ""}
      ${loose.length ? `<p class="event-files">${esc(t("files"))}：${loose.map((f, i) => fileLink(f, `${t("files")} ${i + 1}`))
    .join("、")}</p>` : ""}</li>`;
  }).join("") : `<li class="empty">${esc(t("no_records"))}</li>`;
  onemap.events = events;
}

function renderActions(d) {
  const box = $(".case-actions");
  const actions = d.actions ?? [];
  box.innerHTML = actions.length ? actions.map((a) => `<button type="button" class="btn action-btn" data-action="${
    esc(a.id)}" aria-expanded="${openAction === a.id}">${esc(L(a.label) || a.id)}</button>`).join("")
    : `<p class="empty">${esc(t("no_actions"))}</p>`;
  for (const button of box.querySelectorAll("[data-action]")) {
    button.addEventListener("click", () => openForm(actions.find((a) => a.id === button.dataset.action)));
  }
}

function openForm(action) {
  const box = $(".action-form-box");
  openAction = action.id;
  for (const b of document.querySelectorAll("[data-action]")) b.setAttribute("aria-expanded", String(b.dataset.action === action.id));
  const handle = renderForm(box, action.form ?? { type: "object", properties: {} }, {
    heading: L(action.label) || action.id,
    onCancel: closeForm,
    onSubmit: async (form) => {
      try {
        const next = await api(`api/cases/${caseId}/transitions`, { method: "POST",
          body: { action: action.id, version: detail.version, form } });
        closeForm();
        toast(t("done_action", { label: L(action.label) || action.id }));
        // the move took the case out of the caller's scope (returned to the city): nothing more to show here
        if (next.out_of_scope) return void location.assign(`${BOOT.root}cases?lang=${BOOT.lang}`);
        await show(next);
      } catch (err) {
        if (err.status === 409 && RELOAD_CODES.has(err.problem?.code)) offerReload(box);
        throw err;
      }
    },
  });
  box.dataset.action = action.id;
  onemap.form = handle;
  handle.form.querySelector("input, select, textarea")?.focus();
}

function closeForm() {
  openAction = null;
  $(".action-form-box").innerHTML = "";
  for (const b of document.querySelectorAll("[data-action]")) b.setAttribute("aria-expanded", "false");
  if (stale) { stale = false; reload(); }
}

function offerReload(box) {
  if (box.querySelector(".reload-btn")) return;
  box.querySelector(".form-error")?.insertAdjacentHTML("afterend",
    `<button type="button" class="btn reload-btn">${esc(t("reload"))}</button>`);
  box.querySelector(".reload-btn")?.addEventListener("click", () => { closeForm(); reload(); });
}

async function show(d) {
  detail = d;
  onemap.detail = d;
  renderHeader(d);
  renderClocks(d);
  renderRelated(d);
  renderActions(d);
  renderMap(d);
  const body = await api(`api/cases/${caseId}/events`);
  renderEvents(Array.isArray(body) ? body : body.events ?? []);
}

async function reload() {
  try {
    await show(await api(`api/cases/${caseId}`));
  } catch (err) {
    const box = $(".page-error");
    box.hidden = false;
    box.textContent = err.message;
  }
}

onemap.reload = reload;
let liveTimer = null;
onLiveCaseEvent((event) => {
  const ids = [event.data?.id, event.data?.parent_id].filter((x) => x != null).map(Number);
  // this case, its parent or a child (children are listed here); an event that names no case: re-read to be safe
  const related = [detail?.parent?.id, ...(detail?.children ?? []).map((c) => c.id)].filter((x) => x != null).map(Number);
  if (ids.length && !ids.some((id) => id === Number(caseId) || related.includes(id))) return;
  clearTimeout(liveTimer);
  liveTimer = setTimeout(() => { if (openAction) stale = true; else reload(); }, 300);
});

try {
  const first = await api(`api/cases/${caseId}`);
  const types = await caseTypes().catch(() => new Map());
  type = types.get(first.case_type) ?? null;
  definition = await caseTypeDefinition(first.case_type);
  await show(first);
} catch (err) {
  const box = $(".page-error");
  box.hidden = false;
  box.textContent = err.message;
  $("#case-title").textContent = "";
}
document.querySelector(".case-layout").setAttribute("aria-busy", "false");
onemap.ready = true;
