// The layer tree: groups from the registry (底图 / 监管对象 / 应急资源 / 网格 / 监测 / 事件), each layer with a
// visibility checkbox, an opacity slider and its legend drawn from the style spec.

import { BOOT, L, esc, t } from "./boot.js";
import { gradeLegend, legendCanvas, styleState } from "./styles.js";

let idCounter = 0;

function legendList(items) {
  const list = document.createElement("ul");
  list.className = "legend";
  for (const item of items) {
    const li = document.createElement("li");
    li.appendChild(legendCanvas(item));
    const span = document.createElement("span");
    span.textContent = L(item.title);
    li.appendChild(span);
    list.appendChild(li);
  }
  return list;
}

function legendItems(entry) {
  if (entry.id === "enterprises" && styleState.mode === "grade") return gradeLegend();
  return entry.style ? entry.style.legend : [];
}

function layerRow(entry, layer, onChange) {
  const row = document.createElement("li");
  row.className = "layer-row";
  row.dataset.layer = entry.id;
  const uid = `lt-${++idCounter}`;
  row.innerHTML = `
    <div class="layer-line">
      <input type="checkbox" id="${uid}" ${layer.getVisible() ? "checked" : ""}
             aria-label="${esc(t("toggle_layer"))}: ${esc(L(entry.title))}">
      <label for="${uid}">${esc(L(entry.title))}</label>
      <button type="button" class="icon-btn legend-btn" aria-expanded="false"
              aria-controls="${uid}-more" title="${esc(t("legend"))}" aria-label="${esc(t("legend"))}: ${esc(L(entry.title))}">▾</button>
    </div>
    <div class="zoom-hint" hidden>${esc(t("visible_from_zoom", { z: Math.round(entry.minZoom) }))}</div>
    <div class="layer-more" id="${uid}-more" hidden>
      <label class="opacity">${esc(t("opacity"))}
        <input type="range" min="0" max="1" step="0.05" value="${layer.getOpacity()}"
               aria-label="${esc(t("opacity"))}: ${esc(L(entry.title))}">
      </label>
      <div class="legend-box"></div>
    </div>`;
  const checkbox = row.querySelector("input[type=checkbox]");
  checkbox.addEventListener("change", () => {
    layer.setVisible(checkbox.checked);
    onChange();
  });
  row.querySelector("input[type=range]").addEventListener("input", (e) => layer.setOpacity(Number(e.target.value)));
  const more = row.querySelector(".layer-more");
  const button = row.querySelector(".legend-btn");
  button.addEventListener("click", () => {
    const open = more.hidden;
    more.hidden = !open;
    button.setAttribute("aria-expanded", String(open));
    button.textContent = open ? "▴" : "▾";
    if (open) renderLegend(row, entry);
  });
  layer.on("change:visible", () => { checkbox.checked = layer.getVisible(); });
  return row;
}

function renderLegend(row, entry) {
  const box = row.querySelector(".legend-box");
  box.replaceChildren();
  const items = legendItems(entry);
  if (items.length) box.appendChild(legendList(items));
  else box.textContent = entry.id === "basemap" ? t("basemap_city") : "";
}

/** Build the tree into `container`; `onChange` runs after any visibility change (permalink, stats…). */
export function buildLayerTree(container, layers, onChange) {
  container.replaceChildren();
  for (const group of BOOT.catalog.groups) {
    const section = document.createElement("section");
    section.className = "layer-group";
    const headingId = `lg-${group.id}`;
    section.innerHTML = `<h3 id="${headingId}">${esc(L(group.title))}</h3>`;
    const list = document.createElement("ul");
    list.setAttribute("aria-labelledby", headingId);
    for (const entry of group.layers) list.appendChild(layerRow(entry, layers.get(entry.id), onChange));
    section.appendChild(list);
    container.appendChild(section);
  }
}

/** Grey out layers outside their zoom range, with a hint saying from which zoom they show. */
export function updateZoomHints(container, layers, zoom) {
  for (const row of container.querySelectorAll(".layer-row")) {
    const layer = layers.get(row.dataset.layer);
    const out = zoom <= layer.getMinZoom() || zoom > layer.getMaxZoom();
    row.classList.toggle("out-of-range", out);
    row.querySelector(".zoom-hint").hidden = !out || !layer.getVisible();
  }
}

/** Redraw open legends (after a theme switch). */
export function refreshLegends(container) {
  for (const row of container.querySelectorAll(".layer-row")) {
    if (!row.querySelector(".layer-more").hidden) {
      const entry = BOOT.catalog.groups.flatMap((g) => g.layers).find((e) => e.id === row.dataset.layer);
      renderLegend(row, entry);
    }
  }
}
