// What every OneMap page module starts from: the boot document the server embeds (language, strings,
// layer catalogue, root URL), translation helpers and a fetch wrapper that turns problem+json into errors.

const el = document.getElementById("onemap-boot");
export const BOOT = JSON.parse(el.textContent);
export const LANG = BOOT.lang;
export const ROOT = BOOT.root;

/** UI string by key, with {name} placeholders filled from params. */
export function t(key, params = {}) {
  const text = BOOT.strings[key] ?? key;
  return text.replace(/\{(\w+)\}/g, (_, k) => (k in params ? String(params[k]) : `{${k}}`));
}

/** The current language's text of a {"zh-CN": ..., "en": ...} pair (Chinese when English is missing). */
export function L(pair) {
  if (pair == null) return "";
  if (typeof pair === "string") return pair;
  return pair[LANG] ?? pair["zh-CN"] ?? "";
}

/** Words for a coded value (sector=hazchem → 危险化学品), or the value itself. */
export function enumLabel(field, value) {
  const labels = BOOT.enumLabels[field];
  return labels && labels[String(value)] !== undefined ? labels[String(value)] : value;
}

export function esc(value) {
  return String(value ?? "").replace(/[&<>"']/g, (c) => ({
    "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;",
  })[c]);
}

export class ApiError extends Error {
  constructor(status, problem) {
    super(problem?.detail || `HTTP ${status}`);
    this.status = status;
    this.problem = problem;
  }
}

/** fetch() against the app root; JSON in and out, problem+json as ApiError. */
export async function api(path, { method = "GET", body, raw = false, params } = {}) {
  const url = new URL(ROOT + path.replace(/^\//, ""), location.origin);
  if (params) for (const [k, v] of Object.entries(params)) if (v != null) url.searchParams.set(k, v);
  if (!url.searchParams.has("lang")) url.searchParams.set("lang", LANG);
  // problem details are worded by Accept-Language: the page's language, not the browser's
  const init = { method, headers: { Accept: "application/json", "Accept-Language": LANG }, credentials: "same-origin" };
  if (method !== "GET" && method !== "HEAD") {
    // cookie-authenticated writes need the session's CSRF token (access/authn/middleware.py)
    const token = document.querySelector('meta[name="csrf-token"]')?.content;
    if (token) init.headers["X-CSRF-Token"] = token;
  }
  if (body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  const response = await fetch(url, init);
  if (!response.ok) {
    let problem = null;
    try { problem = await response.json(); } catch { /* not JSON: keep the status */ }
    throw new ApiError(response.status, problem);
  }
  return raw ? response : response.json();
}

/** All layer entries of the catalogue, flattened, in tree order. */
export function catalogLayers() {
  return BOOT.catalog.groups.flatMap((g) => g.layers);
}

export function formatNumber(value, digits = 0) {
  return Number(value).toLocaleString(LANG === "en" ? "en-US" : "zh-CN", {
    maximumFractionDigits: digits, minimumFractionDigits: digits,
  });
}

/** A short-lived message at the bottom of the page (role=status, read by screen readers). */
export function toast(message, kind = "info") {
  let box = document.getElementById("toast");
  if (!box) {
    box = document.createElement("div");
    box.id = "toast";
    box.setAttribute("role", "status");
    box.setAttribute("aria-live", "polite");
    document.body.appendChild(box);
  }
  box.textContent = message;
  box.className = `toast toast-${kind} show`;
  clearTimeout(box._timer);
  box._timer = setTimeout(() => box.classList.remove("show"), 4000);
}
