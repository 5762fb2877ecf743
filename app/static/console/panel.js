// The feature side panel: attributes with the registry's labels, then every section registered for the
// layer (core/panels.py), rendered generically — the console knows no module's data.

import { L, api, esc, t } from "./boot.js";

let panelEl = null;
let hooks = { goTo: () => {}, highlight: () => {} };
let requestSeq = 0;
let shown = null; // {layer, id} of the feature on show
const renderListeners = [];

/** Call `listener(doc, panelElement)` after every render (a module adds its action buttons to its layer's panel). */
export function onPanelRender(listener) {
  renderListeners.push(listener);
}

/** The feature on show ({layer, id}), or null. */
export function currentFeature() {
  return panelEl && !panelEl.hidden ? shown : null;
}

/** Re-read the feature on show (after a change made elsewhere); resolves to the new document or null. */
/** Re-read the open feature. `keepIf()`, asked once the answer is in, may keep the panel as it is (a form open). */
export function refreshPanel({ keepIf = null } = {}) {
  const feature = currentFeature();
  return feature ? openFeature(feature.layer, feature.id, { keepIf }) : Promise.resolve(null);
}

export function initPanel(element, options) {
  panelEl = element;
  hooks = { ...hooks, ...options };
  element.addEventListener("keydown", (e) => { if (e.key === "Escape") closePanel(); });
}

export function closePanel() {
  panelEl.hidden = true;
  panelEl.replaceChildren();
  shown = null;
  hooks.highlight(null);
  document.body.classList.remove("panel-open");
}

function featureButton(layer, id, text) {
  return `<button type="button" class="link-btn" data-open-layer="${esc(layer)}" data-open-id="${esc(id)}">${esc(text)}</button>`;
}

// Stored times are UTC; people read China Standard Time, as the emergency sections show it (server side).
const INSTANT = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:\d{2})$/;
const CHINA_TIME = new Intl.DateTimeFormat("sv-SE", { timeZone: "Asia/Shanghai", year: "numeric", month: "2-digit",
  day: "2-digit", hour: "2-digit", minute: "2-digit" });

function localTime(value) {
  return typeof value === "string" && INSTANT.test(value) ? CHINA_TIME.format(new Date(value)) : value;
}

function attributeRows(attributes) {
  return attributes.map((a) => {
    let value = a.text ?? localTime(a.value);
    value = a.ref ? featureButton(a.ref.layer, a.ref.id, a.ref.name ?? a.value) : esc(value ?? "—");
    return `<tr><th scope="row">${esc(L(a.label))}</th><td>${value}</td></tr>`;
  }).join("");
}

function tableContent(content) {
  if (!content.rows.length) return `<p class="empty">${esc(t("no_records"))}</p>`;
  const head = content.columns.map((c) => `<th scope="col">${esc(L(c.label))}</th>`).join("");
  const link = content.link;
  const body = content.rows.map((row) => {
    const cells = content.columns.map((c, i) => {
      const value = row[c.key] ?? "";
      // one linked layer for every row, or (layer_key) each row names its own — null: not linked
      const layer = link && (link.layer ?? row[link.layer_key]);
      if (layer && i === 0 && row[link.id_key] != null) return `<td>${featureButton(layer, row[link.id_key], value)}</td>`;
      return `<td>${esc(value)}</td>`;
    }).join("");
    return `<tr>${cells}</tr>`;
  }).join("");
  return `<div class="table-wrap"><table class="section-table"><thead><tr>${head}</tr></thead><tbody>${body}</tbody></table></div>`;
}

function genericContent(value) {
  if (value == null) return `<p class="empty">${esc(t("no_records"))}</p>`;
  if (typeof value !== "object") return `<p>${esc(value)}</p>`;
  const rows = Object.entries(value).map(([k, v]) =>
    `<tr><th scope="row">${esc(k)}</th><td>${typeof v === "object" && v !== null ? genericContent(v) : esc(v)}</td></tr>`);
  return `<table class="attr-table">${rows.join("")}</table>`;
}

/** Render one section's content by its declared kind (see core/panels.py). */
export function sectionContent(content) {
  if (content == null) return `<p class="empty">${esc(t("no_records"))}</p>`;
  switch (content.kind) {
    case "table": return tableContent(content);
    case "fields": return `<table class="attr-table">${content.items.map((i) =>
      `<tr><th scope="row">${esc(L(i.label))}</th><td>${esc(i.value ?? "—")}</td></tr>`).join("")}</table>`;
    case "text": return `<p>${esc(content.text)}</p>`;
    default: return genericContent(content);
  }
}

function sectionCount(content) {
  if (content && content.kind === "table") return content.rows.length;
  return null;
}

function render(doc, others) {
  const sections = doc.sections.map((s) => {
    const count = sectionCount(s.content);
    const badge = count == null ? "" : ` <span class="badge">${count}</span>`;
    const body = s.error ? `<p class="empty">${esc(t("section_error"))}</p>` : sectionContent(s.content);
    return `<details class="panel-section" data-section="${esc(s.id)}" ${count === 0 ? "" : "open"}>
      <summary>${esc(L(s.title))}${badge}</summary>${body}</details>`;
  }).join("");
  const otherList = others.length ? `<details class="panel-section" open><summary>${esc(t("other_features"))}</summary><ul class="others">${
    others.map((o) => `<li>${featureButton(o.layer, o.id, `${L(o.layerTitle)} · ${o.name ?? o.id}`)}</li>`).join("")}</ul></details>` : "";
  panelEl.innerHTML = `
    <header class="panel-head">
      <div>
        <div class="panel-layer">${esc(L(doc.layerTitle))}</div>
        <h2 class="panel-title" id="panel-title" tabindex="-1">${esc(doc.title)}</h2>
      </div>
      <button type="button" class="icon-btn panel-zoom" aria-label="${esc(t("zoom_to"))}" title="${esc(t("zoom_to"))}">◎</button>
      <button type="button" class="icon-btn panel-close" aria-label="${esc(t("close"))}" title="${esc(t("close"))}">✕</button>
    </header>
    <div class="panel-body">
      <details class="panel-section" open><summary>${esc(t("attributes"))}</summary>
        <table class="attr-table">${attributeRows(doc.attributes)}</table></details>
      ${sections}${otherList}
    </div>`;
  panelEl.querySelector(".panel-close").addEventListener("click", closePanel);
  panelEl.querySelector(".panel-zoom").addEventListener("click", () => hooks.goTo(doc));
  for (const button of panelEl.querySelectorAll("[data-open-layer]")) {
    button.addEventListener("click", () => openFeature(button.dataset.openLayer, Number(button.dataset.openId), { zoom: true }));
  }
  for (const listener of renderListeners) listener(doc, panelEl);
}

/** Fetch and show a feature; `others` are further hits at the same click. */
export async function openFeature(layerId, featureId, { others = [], zoom = false, keepIf = null } = {}) {
  const seq = ++requestSeq;
  panelEl.hidden = false;
  document.body.classList.add("panel-open");
  panelEl.setAttribute("aria-busy", "true");
  try {
    const doc = await api(`api/console/features/${encodeURIComponent(layerId)}/${featureId}`);
    if (seq !== requestSeq) return null; // a newer click won
    if (keepIf && keepIf()) return null;
    shown = { layer: layerId, id: featureId };
    render(doc, others.filter((o) => !(o.layer === layerId && o.id === featureId)));
    hooks.highlight(doc);
    if (zoom) hooks.goTo(doc);
    panelEl.querySelector("#panel-title").focus({ preventScroll: true });
    return doc;
  } catch (err) {
    if (seq !== requestSeq) return null;
    shown = null;
    panelEl.innerHTML = `<p class="error" role="alert">${esc(err.message)}</p>`;
    return null;
  } finally {
    panelEl.removeAttribute("aria-busy");
  }
}
