// Search box: names, USCC and addresses (server-side pg_trgm), or a coordinate in a declared datum.
// One exact hit is opened at once; otherwise a keyboard-navigable list (role=listbox) is shown.

import { L, api, esc, t } from "./boot.js";

let hooks = { goToFeature: () => {}, goToCoordinate: () => {} };
let form;
let input;
let list;
let crsSelect;
let results = [];
let active = -1;

function label(r) {
  if (r.kind === "coordinate") {
    const flag = r.ambiguous ? ` (${t("ambiguous")})` : "";
    return `${t("coordinate")} ${r.lon.toFixed(6)}, ${r.lat.toFixed(6)} · CGCS2000${flag}`;
  }
  return `${r.name ?? r.id}`;
}

function renderList() {
  if (!results.length) {
    list.innerHTML = `<li class="empty" role="option" aria-disabled="true">${esc(t("no_results"))}</li>`;
  } else {
    list.innerHTML = results.map((r, i) => `
      <li role="option" id="sr-${i}" data-index="${i}" aria-selected="${i === active}" class="${i === active ? "active" : ""}">
        <span class="sr-name">${esc(label(r))}</span>
        <span class="sr-meta">${esc(r.kind === "feature" ? L(r.layerTitle) : r.input.crs.toUpperCase())}${r.subtitle ? " · " + esc(r.subtitle) : ""}</span>
      </li>`).join("");
  }
  list.hidden = false;
  input.setAttribute("aria-expanded", "true");
  input.setAttribute("aria-activedescendant", active >= 0 ? `sr-${active}` : "");
}

function hideList() {
  list.hidden = true;
  input.setAttribute("aria-expanded", "false");
}

function choose(r) {
  hideList();
  if (!r) return;
  if (r.kind === "coordinate") hooks.goToCoordinate([r.lon, r.lat], r);
  else hooks.goToFeature(r);
}

export async function runSearch(q) {
  const body = await api("api/console/search", { params: { q, crs: crsSelect.value } });
  results = body.results;
  active = results.length ? 0 : -1;
  // One hit, or an exact one (a USCC, a full name): go there at once; ambiguous coordinates always ask.
  const first = results[0];
  if (first && (results.length === 1 || first.exact) && !first.ambiguous) choose(first);
  else renderList();
  return results;
}

export function initSearch(element, options) {
  hooks = { ...hooks, ...options };
  form = element;
  input = element.querySelector("input[type=search]");
  list = element.querySelector("[role=listbox]");
  crsSelect = element.querySelector("select");
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    const q = input.value.trim();
    if (!q) return;
    try {
      await runSearch(q);
    } catch (err) {
      results = [];
      list.innerHTML = `<li class="error" role="option" aria-disabled="true">${esc(err.message)}</li>`;
      list.hidden = false;
    }
  });
  input.addEventListener("keydown", (e) => {
    if (list.hidden || !results.length) return;
    if (e.key === "ArrowDown" || e.key === "ArrowUp") {
      e.preventDefault();
      active = (active + (e.key === "ArrowDown" ? 1 : -1) + results.length) % results.length;
      renderList();
    } else if (e.key === "Enter" && active >= 0 && input.value.trim()) {
      // Enter on an open list picks the highlighted entry instead of searching again
      e.preventDefault();
      choose(results[active]);
    } else if (e.key === "Escape") {
      hideList();
    }
  });
  list.addEventListener("click", (e) => {
    const li = e.target.closest("li[data-index]");
    if (li) choose(results[Number(li.dataset.index)]);
  });
  input.addEventListener("input", () => hideList());
}
