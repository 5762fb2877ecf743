// What the case pages and the cases console plug-in share: the case-type definitions, labels, times, deadlines.
// Served at <root>static/modules/supervision.cases/ (core/manifest.py console scripts): the console's modules are
// imported by the URL main.js uses, so a page or the console has one boot.js.

import { BOOT, L, LANG, api, esc, t } from "../../console/boot.js";

/** The case strings are in the page's boot; the console plug-in fetches them and merges them in (once). */
let stringsLoaded = null;
export function ensureStrings() {
  if (BOOT.strings.cases_title) return Promise.resolve();
  stringsLoaded ??= api("cases/strings").then((s) => { Object.assign(BOOT.strings, s); });
  return stringsLoaded;
}

/** May the caller read (or write) through the case module? (BOOT.can comes from the policy.) */
export function canCases(action = "read") {
  const granted = BOOT.can?.modules?.cases;
  return Array.isArray(granted) && granted.includes(action);
}

/** May the page listen to the live event stream (a refused stream would retry every few seconds)? */
export function mayListen() {
  return (BOOT.can?.modules?.events ?? []).includes("read");
}

let typesPromise = null;
/** GET /api/cases/types, as {id → type} (with the start actions the caller may use). */
export function caseTypes() {
  typesPromise ??= api("api/cases/types").then((list) => new Map(list.map((ty) => [ty.id, ty])))
    .catch((err) => { typesPromise = null; throw err; });
  return typesPromise;
}

const definitions = new Map();
/** GET /api/cases/types/<id> → its `definition` (the YAML document: transition forms, labels), cached per page. */
export function caseTypeDefinition(id) {
  if (!definitions.has(id)) {
    definitions.set(id, api(`api/cases/types/${encodeURIComponent(id)}`)
      .then((body) => body.definition ?? body).catch(() => null));
  }
  return definitions.get(id);
}

/** The state's words from a case-type definition (types list or full definition), else the state id. */
export function stateLabel(type, state) {
  const states = type?.states;
  if (!states) return state;
  if (Array.isArray(states)) {
    const found = states.find((s) => s.id === state);
    return found ? L(found.label) || state : state;
  }
  const found = states[state];
  return found ? L(found.label ?? found) || state : state;
}

export function caseUrl(id) {
  return `${BOOT.root}cases/${encodeURIComponent(id)}?lang=${encodeURIComponent(LANG)}`;
}

// Stored times are UTC; people read China Standard Time.
const CHINA_TIME = new Intl.DateTimeFormat("sv-SE", { timeZone: "Asia/Shanghai", year: "numeric", month: "2-digit",
  day: "2-digit", hour: "2-digit", minute: "2-digit" });
const INSTANT = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}/;

export function chinaTime(value) {
  if (typeof value !== "string" || !INSTANT.test(value)) return value ?? "";
  const d = new Date(value);
  return Number.isNaN(d.getTime()) ? value : CHINA_TIME.format(d);
}

// the server's instant when the page was served (its test clock), advanced by the time since: minutes deadlines
const LOADED_AT = Date.now();
function nowMs() {
  const boot = BOOT.now ? Date.parse(BOOT.now) : NaN;
  return Number.isNaN(boot) ? Date.now() : boot + (Date.now() - LOADED_AT);
}

/** Today in China (the server's test clock when the page has it in its boot: overdue follows the server). */
export function today() {
  if (BOOT.today) return BOOT.today;
  return new Intl.DateTimeFormat("sv-SE", { timeZone: "Asia/Shanghai" }).format(new Date());
}

function daysBetween(a, b) {
  return Math.round((Date.parse(`${b}T00:00:00Z`) - Date.parse(`${a}T00:00:00Z`)) / 86_400_000);
}

/** "overdue" | "due-soon" | "running" | "paused" | "done": how a deadline is coloured. */
export function clockState(clock) {
  const status = clock.status ?? "running";
  if (status === "breached" || clock.overdue === true) return "overdue";
  if (status === "met" || status === "stopped") return "done";
  if (status === "paused") return "paused";
  if (clock.due_at) {   // an elapsed-time clock (minutes, hours): due at an instant
    const left = Date.parse(clock.due_at) - nowMs();
    if (left <= 0) return "overdue";
    if (clock.due_soon === true || (clock.warn_at && nowMs() >= Date.parse(clock.warn_at))) return "due-soon";
    return "running";
  }
  const now = today();
  if (clock.due_date && now > clock.due_date) return "overdue";
  if (clock.due_soon === true || (clock.warn_date && now >= clock.warn_date)) return "due-soon";
  return "running";
}

/** Working days after `from` up to and including `to` (negative when `to` is earlier), from the page's window of
 * working days (BOOT.workdays, the administrator's holiday table with 调休); null outside the window. */
export function workingDaysBetween(from, to) {
  const w = BOOT.workdays;
  if (!w || !from || !to) return null;
  const [a, b] = from <= to ? [from, to] : [to, from];
  const i = daysBetween(w.start, a);
  const j = daysBetween(w.start, b);
  if (i < 0 || j >= w.days.length) return null;
  const n = [...w.days.slice(i + 1, j + 1)].filter((c) => c === "1").length;
  return from <= to ? n : -n;
}

/** The time left on a running deadline, in words: working days (as the law counts most periods), else days. */
export function timeLeft(clock) {
  const state = clockState(clock);
  if (state === "done" || state === "paused" || !clock.due_date) return "";
  if (clock.due_at) {
    const minutes = Math.round((Date.parse(clock.due_at) - nowMs()) / 60000);
    return minutes < 0 ? t("overdue_by_minutes", { n: -minutes }) : t("minutes_left", { n: minutes });
  }
  const working = clock.working_days_left ?? workingDaysBetween(today(), clock.due_date);
  if (Number.isFinite(working)) {
    return working < 0 ? t("overdue_by", { n: -working }) : t("working_days_left", { n: working });
  }
  const days = daysBetween(today(), clock.due_date);
  return days < 0 ? t("overdue") : t("calendar_days_left", { n: days });
}

/** When a deadline falls due: its date, or for an elapsed-time clock its instant (China time, to the minute). */
export function dueText(clock) {
  if (!clock) return "";
  if (clock.due_at) return String(chinaTime(clock.due_at)).slice(0, 16);
  return clock.due_date ?? "";
}

export function clockStatusLabel(clock) {
  return t(`clock_${clock.status ?? "running"}`);
}

export function anchorKindLabel(kind) {
  return t(`anchor_${kind}`);
}

/** A coloured chip for a deadline: "2026-12-09 · 2 个工作日". */
export function clockChip(clock) {
  if (!clock) return "";
  const state = clockState(clock);
  const left = timeLeft(clock);
  const words = state === "overdue" ? t("overdue") : state === "due-soon" ? t("due_soon") : "";
  const title = [L(clock.label), words].filter(Boolean).join(" · ");
  return `<span class="clock-chip clock-${state}" title="${esc(title)}">${esc(dueText(clock))}${
    left ? ` · ${esc(left)}` : ""}</span>`;
}

/** The deadline that matters most for a list row: the first overdue one, else the nearest running one. */
export function mainClock(item) {
  if (item.clock) return item.clock;
  if (item.closed_at) return null;
  const clocks = (item.clocks ?? []).filter((c) => clockState(c) !== "done");
  if (!clocks.length) {
    return item.due_date ? { due_date: item.due_date, warn_date: item.warn_date, due_at: item.due_at,
      overdue: item.overdue,
      due_soon: item.due_soon, working_days_left: item.working_days_left } : null;
  }
  const key = (c) => (c.due_at ? new Date(c.due_at).toISOString() : String(c.due_date));
  return clocks.sort((a, b) => key(a).localeCompare(key(b)))[0];
}

/** The layer id a case type draws its cases in ("hidden_dangers"), if any. */
export function typeLayer(type) {
  return typeof type?.layer === "string" ? type.layer : type?.layer?.id ?? null;
}

/** The live event stream of the console (/api/events/stream), shared by whoever asks on this page. */
let source = null;
const listeners = [];
export function onLiveCaseEvent(listener) {
  listeners.push(listener);
  if (source || !mayListen()) return;
  source = new EventSource(`${BOOT.root}api/events/stream`);
  source.onmessage = (message) => {
    let event;
    try { event = JSON.parse(message.data); } catch { return; }
    if (typeof event.type === "string" && event.type.startsWith("case.")) for (const l of listeners) l(event);
  };
}
