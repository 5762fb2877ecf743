// /cases: the work list. Tabs 待办 / 已办 / 逾期 / 临期 with counts (GET /api/cases/counts), the list of the chosen tab
// (GET /api/cases?list=…&type=&state=&limit=&offset=), filters by case type and state, paging. The state of the
// page lives in the URL (?list=&type=&state=&page=) so a reload or a shared link shows the same list. Counts (and
// the list) follow the live events of the cases (type case.*).

import { BOOT, L, api, esc, t, toast } from "../../console/boot.js";
import { anchorKindLabel, caseTypes, caseUrl, chinaTime, clockChip, mainClock, onLiveCaseEvent, stateLabel }
  from "./common.js";

const LISTS = ["todo", "done", "overdue", "due_soon"];
const PAGE_SIZE = 20;
const params = new URLSearchParams(location.search);
const state = {
  list: LISTS.includes(params.get("list")) ? params.get("list") : "todo",
  type: params.get("type") || "",
  state: params.get("state") || "",
  page: Math.max(0, Number.parseInt(params.get("page") || "0", 10) || 0),
};
const onemap = window.onemap = { page: "cases", ready: false, state };
let types = new Map();
let seq = 0;

function writeUrl() {
  const p = new URLSearchParams({ lang: BOOT.lang, list: state.list });
  if (state.type) p.set("type", state.type);
  if (state.state) p.set("state", state.state);
  if (state.page) p.set("page", String(state.page));
  history.replaceState(null, "", `${location.pathname}?${p}`);
  const other = new URLSearchParams(p);
  other.set("lang", BOOT.lang === "en" ? "zh-CN" : "en");
  document.getElementById("lang-link").href = `?${other}`;
}

async function loadCounts() {
  try {
    const counts = await api("api/cases/counts");
    for (const key of LISTS) {
      const el = document.querySelector(`[data-count="${key}"]`);
      el.textContent = counts[key] ?? "–";
      el.closest(".tab").classList.toggle("has-items", Number(counts[key]) > 0);
    }
    onemap.counts = counts;
  } catch (err) {
    toast(err.message, "error");
  }
}

function fillStates() {
  const select = document.querySelector("#filters [name=state]");
  const chosen = state.type ? [types.get(state.type)].filter(Boolean) : [...types.values()];
  const seen = new Map();
  for (const type of chosen) {
    const states = Array.isArray(type.states) ? type.states.map((s) => s.id)
      : Object.keys(type.states ?? {});
    for (const id of states) if (!seen.has(id)) seen.set(id, stateLabel(type, id));
  }
  select.innerHTML = `<option value="">${esc(t("filter_any"))}</option>${[...seen].map(([id, label]) =>
    `<option value="${esc(id)}"${id === state.state ? " selected" : ""}>${esc(label)}</option>`).join("")}`;
  if (state.state && !seen.has(state.state)) state.state = "";
}

function row(item) {
  const type = types.get(item.case_type);
  const anchor = item.anchor ?? { kind: item.anchor_kind, id: item.anchor_id };
  const anchorText = anchor.name ?? anchor.id ?? "";
  return `<tr data-case-id="${esc(item.id)}">
    <td><a href="${caseUrl(item.id)}">${esc(item.code)}</a></td>
    <td>${esc(L(item.type_title) || L(type?.title) || item.case_type)}</td>
    <td>${esc(item.title ?? "")}</td>
    <td><span class="state state-${esc(item.state)}">${esc(L(item.state_label) || stateLabel(type, item.state))}</span></td>
    <td>${anchor.kind ? `${esc(anchorKindLabel(anchor.kind))} ${esc(anchorText)}` : ""}</td>
    <td>${clockChip(mainClock(item))}</td>
    <td>${esc(chinaTime(item.updated_at ?? item.opened_at))}</td></tr>`;
}

async function loadList() {
  const mine = ++seq;
  const box = document.getElementById("case-list");
  box.setAttribute("aria-busy", "true");
  try {
    const body = await api("api/cases", { params: { list: state.list, type: state.type || null,
      state: state.state || null, limit: PAGE_SIZE, offset: state.page * PAGE_SIZE } });
    if (mine !== seq) return;
    const items = body.items ?? [];
    const total = body.total ?? items.length;
    if (!items.length && state.page > 0 && total > 0) { // the page emptied under us: show the last one
      state.page = Math.max(0, Math.ceil(total / PAGE_SIZE) - 1);
      loadList();
      return;
    }
    box.innerHTML = items.length ? `<div class="table-wrap"><table class="case-table"><thead><tr>
      <th scope="col">${esc(t("col_code"))}</th><th scope="col">${esc(t("col_type"))}</th>
      <th scope="col">${esc(t("col_title"))}</th><th scope="col">${esc(t("col_state"))}</th>
      <th scope="col">${esc(t("col_anchor"))}</th><th scope="col">${esc(t("col_due"))}</th>
      <th scope="col">${esc(t("col_updated"))}</th></tr></thead><tbody>${items.map(row).join("")}</tbody></table></div>`
      : `<p class="empty">${esc(t("list_empty"))}</p>`;
    const from = total ? state.page * PAGE_SIZE + 1 : 0;
    const to = state.page * PAGE_SIZE + items.length;
    document.getElementById("page-range").textContent = total ? t("page_range", { from, to, total }) : "";
    document.getElementById("page-prev").disabled = state.page === 0;
    document.getElementById("page-next").disabled = to >= total;
    onemap.items = items;
    onemap.total = total;
  } catch (err) {
    if (mine !== seq) return;
    box.innerHTML = `<p class="error" role="alert">${esc(err.message)}</p>`;
  } finally {
    if (mine === seq) box.setAttribute("aria-busy", "false");
  }
}

function selectTab(list, { focus = false } = {}) {
  state.list = list;
  state.page = 0;
  for (const tab of document.querySelectorAll("[role=tab]")) {
    const on = tab.dataset.list === list;
    tab.setAttribute("aria-selected", String(on));
    tab.tabIndex = on ? 0 : -1;
    if (on && focus) tab.focus();
  }
  document.getElementById("case-list").setAttribute("aria-labelledby", `tab-${list}`);
  writeUrl();
  return loadList();
}

// -- wiring -----------------------------------------------------------------------------------------------------
const tabs = [...document.querySelectorAll("[role=tab]")];
for (const tab of tabs) {
  tab.addEventListener("click", () => selectTab(tab.dataset.list));
  tab.addEventListener("keydown", (e) => { // arrow keys move between tabs (WAI-ARIA tabs pattern)
    const i = tabs.indexOf(tab);
    const next = e.key === "ArrowRight" ? tabs[(i + 1) % tabs.length] : e.key === "ArrowLeft"
      ? tabs[(i - 1 + tabs.length) % tabs.length] : null;
    if (next) { e.preventDefault(); selectTab(next.dataset.list, { focus: true }); }
  });
}
const filters = document.getElementById("filters");
filters.elements.type.addEventListener("change", () => {
  state.type = filters.elements.type.value;
  state.page = 0;
  fillStates();
  writeUrl();
  loadList();
});
filters.elements.state.addEventListener("change", () => {
  state.state = filters.elements.state.value;
  state.page = 0;
  writeUrl();
  loadList();
});
filters.addEventListener("submit", (e) => e.preventDefault());
document.getElementById("page-prev").addEventListener("click", () => { state.page -= 1; writeUrl(); loadList(); });
document.getElementById("page-next").addEventListener("click", () => { state.page += 1; writeUrl(); loadList(); });

let liveTimer = null;
onLiveCaseEvent(() => { // a burst of events (one transition sends several): one re-read
  clearTimeout(liveTimer);
  liveTimer = setTimeout(() => { loadCounts(); loadList(); }, 300);
});
onemap.refresh = () => Promise.all([loadCounts(), loadList()]);
setInterval(loadCounts, 60_000); // a role without the live stream, or a dropped connection, still catches up

try {
  types = await caseTypes();
} catch (err) {
  toast(err.message, "error");
}
filters.elements.type.innerHTML = `<option value="">${esc(t("filter_any"))}</option>${[...types.values()].map((ty) =>
  `<option value="${esc(ty.id)}"${ty.id === state.type ? " selected" : ""}>${esc(L(ty.title) || ty.id)}</option>`).join("")}`;
if (state.type && !types.has(state.type)) state.type = "";
fillStates();
await Promise.all([loadCounts(), selectTab(state.list)]);
onemap.ready = true;
