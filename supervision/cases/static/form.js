// A form from a transition's JSON Schema (type: object): the case pages and the console's 发起 use the same one.
//
// Widgets: string → text input (textarea when maxLength > 200 or format "textarea"), enum / oneOf-const → select,
// number / integer → number input, boolean → checkbox, format "date" → date input, format "date-time" →
// datetime-local, format "attachment" (or an array of them) → file input, uploaded at once to POST
// /api/cases/files and sent as sha256; an array of enum strings → checkboxes; an object → a fieldset.
// Required fields are marked; the browser checks what the schema says before sending; a 4xx from the server is
// shown next to the field it names (problem `field`, `details.field`, `input`, `pointer` or `errors[]`), else on top.

import { BOOT, L, LANG, esc, t } from "../../console/boot.js";

let serial = 0;

function title(name, schema) {
  return L(schema.title) || name;
}

function isAttachment(schema) {
  return schema && schema.type === "string" && schema.format === "attachment";
}

function options(schema) {
  if (Array.isArray(schema.enum)) {
    const names = schema["x-enum-labels"] ?? schema.enumNames ?? schema.enum_labels;
    return schema.enum.map((value, i) => ({
      value, label: names ? L(Array.isArray(names) ? names[i] : names[value]) || String(value) : String(value) }));
  }
  const alts = schema.oneOf ?? schema.anyOf;
  if (Array.isArray(alts) && alts.every((a) => a && "const" in a)) {
    return alts.map((a) => ({ value: a.const, label: L(a.title) || String(a.const) }));
  }
  return null;
}

function widget(path, schema, required, id) {
  const req = required ? " required aria-required=\"true\"" : "";
  const choices = options(schema);
  const attr = (name, value) => (value == null ? "" : ` ${name}="${esc(value)}"`);
  if (choices) {
    return `<select id="${id}" name="${esc(path)}"${req}><option value="">${esc(t("choose"))}</option>${
      choices.map((c, i) => `<option value="${i}"${schema.default === c.value ? " selected" : ""}>${esc(c.label)}</option>`)
        .join("")}</select>`;
  }
  if (schema.type === "boolean") {
    return `<label class="check"><input type="checkbox" id="${id}" name="${esc(path)}"${schema.default ? " checked" : ""}> ${
      esc(t("yes"))}</label>`;
  }
  if (schema.type === "integer" || schema.type === "number") {
    const step = schema.multipleOf ?? (schema.type === "integer" ? 1 : "any");
    return `<input type="number" id="${id}" name="${esc(path)}"${req}${attr("min", schema.minimum)}${
      attr("max", schema.maximum)} step="${esc(step)}"${attr("value", schema.default)} inputmode="${
      schema.type === "integer" ? "numeric" : "decimal"}">`;
  }
  if (schema.format === "date") {
    return `<input type="date" id="${id}" name="${esc(path)}"${req}${attr("min", schema.formatMinimum)}${
      attr("max", schema.formatMaximum)}${attr("value", schema.default)}>`;
  }
  if (schema.format === "date-time") {
    return `<input type="datetime-local" id="${id}" name="${esc(path)}"${req}>`;
  }
  if (isAttachment(schema) || (schema.type === "array" && isAttachment(schema.items))) {
    const many = schema.type === "array";
    const accept = (many ? schema.items : schema).contentMediaType ?? (many ? schema.items : schema)["x-accept"];
    return `<input type="file" id="${id}" name="${esc(path)}"${many ? " multiple" : ""}${attr("accept", accept)}${
      required ? " aria-required=\"true\"" : ""}><ul class="uploads" aria-live="polite"></ul>`;
  }
  if (schema.type === "array" && schema.items && options(schema.items)) {
    return `<fieldset class="checks" id="${id}">${options(schema.items).map((c, i) =>
      `<label class="check"><input type="checkbox" name="${esc(path)}" value="${i}"> ${esc(c.label)}</label>`).join("")}</fieldset>`;
  }
  const long = schema.format === "textarea" || (schema.maxLength ?? 0) > 200;
  const limits = `${attr("maxlength", schema.maxLength)}${attr("minlength", schema.minLength)}`;
  if (long) return `<textarea id="${id}" name="${esc(path)}" rows="4"${req}${limits}>${esc(schema.default ?? "")}</textarea>`;
  return `<input type="text" id="${id}" name="${esc(path)}"${req}${limits}${attr("pattern", schema.pattern)}${
    attr("value", schema.default)}>`;
}

/** The properties in the order to show them. JSON answers may come with sorted keys (Flask sorts them), so the
 * schema's own order is not reliable: `x-order` (a list of names) decides, else the required fields come first in
 * the order `required` lists them, then the others. */
export function orderedProperties(schema) {
  const props = schema.properties ?? {};
  const order = schema["x-order"] ?? schema["ui:order"] ?? schema.required ?? [];
  const first = order.filter((name) => name in props);
  return [...first, ...Object.keys(props).filter((name) => !first.includes(name))].map((name) => [name, props[name]]);
}

function fieldsHtml(schema, prefix = "") {
  const required = new Set(schema.required ?? []);
  return orderedProperties(schema).map(([name, prop]) => {
    const path = prefix ? `${prefix}.${name}` : name;
    const mark = required.has(name) ? ` <span class="req" title="${esc(t("required"))}">*</span>` : "";
    const hint = prop.description ? `<p class="hint">${esc(L(prop.description))}</p>` : "";
    if (prop.type === "object" && prop.properties) {
      return `<fieldset class="cf-field group" data-field="${esc(path)}"><legend>${esc(title(name, prop))}${mark}</legend>${
        hint}${fieldsHtml(prop, path)}<p class="cf-error" role="alert"></p></fieldset>`;
    }
    const id = `f${++serial}`;
    const labelFor = prop.type === "boolean" ? "" : ` for="${id}"`;
    return `<div class="cf-field" data-field="${esc(path)}"><label class="cf-label"${labelFor}>${esc(title(name, prop))}${mark}</label>${
      widget(path, prop, required.has(name), id)}${hint}<p class="cf-error" role="alert" id="${id}-error"></p></div>`;
  }).join("");
}

/** The schema of a dotted path ("plan.deadline"). */
function schemaAt(schema, path) {
  return path.split(".").reduce((s, part) => s?.properties?.[part], schema);
}

/** A form error's field → the dotted path of a field of this form ("form.a", "/form/a/0", "a[0]" → "a"). */
export function fieldPath(raw) {
  if (raw == null) return null;
  let p = Array.isArray(raw) ? raw.join(".") : String(raw);
  p = p.replace(/^#?\//, "").replace(/\//g, ".").replace(/\[(\d+)\]/g, ".$1");
  p = p.replace(/^(form|body)\./, "");
  return p.split(".").filter((part) => part && !/^\d+$/.test(part)).join(".") || null;
}

/** Every (field, message) a problem body names. */
export function problemFields(problem) {
  if (!problem) return [];
  const out = [];
  const one = (p, message) => {
    const field = fieldPath(p.field ?? p.details?.field ?? p.input ?? p.pointer ?? p.path);
    if (field) out.push({ field, message: message ?? p.message ?? p.detail });
  };
  for (const e of problem.errors ?? problem.details?.errors ?? []) one(e, L(e.message) || e.detail);
  if (!out.length) one(problem, problem.detail);
  return out;
}

/**
 * Render the form into `box` and return a handle. `onSubmit(values)` sends them (throws an ApiError on a 4xx);
 * `onCancel()` closes. Resolves nothing: the caller decides what happens after a success.
 */
export function renderForm(box, schema, { heading = "", submitLabel = t("submit"), onSubmit, onCancel, intro = "" }) {
  const uploads = new Map(); // path → [{sha256, name, size, media_type}] (files already on the server)
  let pending = 0;
  box.innerHTML = `<form class="case-form" novalidate>
    ${heading ? `<h4 class="form-heading">${esc(heading)}</h4>` : ""}${intro}
    <p class="form-error error" role="alert"></p>
    ${fieldsHtml(schema ?? {})}
    <div class="btn-row"><button type="submit" class="btn primary">${esc(submitLabel)}</button>
      <button type="button" class="btn form-cancel">${esc(t("cancel"))}</button></div></form>`;
  const form = box.querySelector("form");
  const fieldBox = (path) => [...form.querySelectorAll("[data-field]")].find((el) => el.dataset.field === path);

  function setError(path, message) {
    let target = path;
    while (target && !fieldBox(target)) target = target.includes(".") ? target.slice(0, target.lastIndexOf(".")) : null;
    const el = target && fieldBox(target);
    if (!el) {
      const top = form.querySelector(".form-error");
      top.textContent = [top.textContent, message].filter(Boolean).join(" ");
      return null;
    }
    el.classList.add("invalid");
    el.querySelector(":scope > .cf-error").textContent = message;
    for (const input of el.querySelectorAll("input, select, textarea")) input.setAttribute("aria-invalid", "true");
    return el;
  }

  function clearErrors() {
    form.querySelector(".form-error").textContent = "";
    for (const el of form.querySelectorAll(".invalid")) el.classList.remove("invalid");
    for (const el of form.querySelectorAll(".cf-error")) el.textContent = "";
    for (const el of form.querySelectorAll("[aria-invalid]")) el.removeAttribute("aria-invalid");
  }

  function showUploads(path) {
    const list = fieldBox(path).querySelector(".uploads");
    list.innerHTML = (uploads.get(path) ?? []).map((f, i) => `<li>${esc(f.name)} <small>${esc(
      Math.ceil(f.size / 1024))} KB</small> <button type="button" class="link-btn" data-remove="${i}">${esc(t("remove"))}</button></li>`).join("");
    for (const b of list.querySelectorAll("[data-remove]")) {
      b.addEventListener("click", () => { uploads.get(path).splice(Number(b.dataset.remove), 1); showUploads(path); });
    }
  }

  async function upload(input) {
    const path = input.name;
    const many = input.multiple;
    const files = [...input.files];
    input.value = "";
    const el = fieldBox(path);
    el.classList.remove("invalid");
    el.querySelector(".cf-error").textContent = "";
    for (const file of files) {
      pending += 1;
      el.classList.add("busy");
      el.querySelector(".cf-error").textContent = t("uploading");
      try {
        const stored = await uploadFile(file);
        const list = many ? (uploads.get(path) ?? []) : [];
        list.push({ ...stored, name: stored.name ?? file.name });
        uploads.set(path, list);
        el.querySelector(".cf-error").textContent = "";
      } catch (err) {
        setError(path, `${file.name}: ${err.message}`);
      } finally {
        pending -= 1;
        el.classList.toggle("busy", pending > 0);
        showUploads(path);
      }
    }
  }
  for (const input of form.querySelectorAll("input[type=file]")) input.addEventListener("change", () => upload(input));

  function read(schema, prefix = "") {
    const values = {};
    const problems = [];
    const required = new Set(schema.required ?? []);
    for (const [name, prop] of orderedProperties(schema)) {
      const path = prefix ? `${prefix}.${name}` : name;
      const need = required.has(name);
      const fail = (key, params) => problems.push({ field: path, message: t(key, params) });
      if (prop.type === "object" && prop.properties) {
        const inner = read(prop, path);
        problems.push(...inner.problems);
        if (Object.keys(inner.values).length) values[name] = inner.values;
        else if (need) fail("required_missing");
        continue;
      }
      if (isAttachment(prop) || (prop.type === "array" && isAttachment(prop.items))) {
        const files = uploads.get(path) ?? [];
        if (prop.type === "array") {
          if (files.length) values[name] = files.map((f) => f.sha256);
          if (need && !files.length) fail("required_missing");
          else if (prop.minItems && files.length < prop.minItems) fail("too_few_items", { n: prop.minItems });
          else if (prop.maxItems && files.length > prop.maxItems) fail("too_many_items", { n: prop.maxItems });
        } else if (files.length) values[name] = files[0].sha256;
        else if (need) fail("required_missing");
        continue;
      }
      const box = fieldBox(path);
      const choices = options(prop);
      if (prop.type === "array" && prop.items && options(prop.items)) {
        const all = options(prop.items);
        const picked = [...box.querySelectorAll("input:checked")].map((i) => all[Number(i.value)].value);
        if (picked.length) values[name] = picked;
        if (need && !picked.length) fail("required_missing");
        else if (prop.minItems && picked.length < prop.minItems) fail("too_few_items", { n: prop.minItems });
        else if (prop.maxItems && picked.length > prop.maxItems) fail("too_many_items", { n: prop.maxItems });
        continue;
      }
      const input = box.querySelector("input, select, textarea");
      if (prop.type === "boolean") {
        values[name] = input.checked;
        continue;
      }
      const raw = input.value.trim();
      if (raw === "") {
        if (need) fail("required_missing");
        continue;
      }
      if (choices) {
        values[name] = choices[Number(raw)].value;
      } else if (prop.type === "integer" || prop.type === "number") {
        const n = Number(raw);
        if (!Number.isFinite(n) || input.validity?.badInput) { fail("not_number"); continue; }
        if (prop.type === "integer" && !Number.isInteger(n)) { fail("not_integer"); continue; }
        if (prop.minimum != null && n < prop.minimum) fail("too_small", { n: prop.minimum });
        else if (prop.maximum != null && n > prop.maximum) fail("too_large", { n: prop.maximum });
        else if (prop.exclusiveMinimum != null && n <= prop.exclusiveMinimum) fail("too_small", { n: prop.exclusiveMinimum });
        else if (prop.exclusiveMaximum != null && n >= prop.exclusiveMaximum) fail("too_large", { n: prop.exclusiveMaximum });
        values[name] = n;
      } else if (prop.format === "date") {
        if (!/^\d{4}-\d{2}-\d{2}$/.test(raw) || Number.isNaN(Date.parse(`${raw}T00:00:00Z`))) fail("bad_date");
        else if (prop.formatMinimum && raw < prop.formatMinimum) fail("too_small", { n: prop.formatMinimum });
        else if (prop.formatMaximum && raw > prop.formatMaximum) fail("too_large", { n: prop.formatMaximum });
        values[name] = raw;
      } else if (prop.format === "date-time") {
        values[name] = new Date(raw).toISOString();
      } else {
        const length = [...raw].length; // characters as the server counts them (code points)
        if (prop.minLength != null && length < prop.minLength) fail("too_short", { n: prop.minLength });
        else if (prop.maxLength != null && length > prop.maxLength) fail("too_long", { n: prop.maxLength });
        else if (prop.pattern && !new RegExp(prop.pattern, "u").test(raw)) fail("bad_pattern");
        values[name] = raw;
      }
    }
    return { values, problems };
  }

  form.querySelector(".form-cancel").addEventListener("click", () => { box.innerHTML = ""; onCancel?.(); });
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    clearErrors();
    if (pending) { form.querySelector(".form-error").textContent = t("upload_pending"); return; }
    const { values, problems } = read(schema ?? {});
    if (problems.length) {
      const first = problems.map((p) => setError(p.field, p.message)).find(Boolean);
      form.querySelector(".form-error").textContent = t("form_has_errors");
      first?.querySelector("input, select, textarea")?.focus();
      return;
    }
    const button = form.querySelector("button[type=submit]");
    button.disabled = true;
    try {
      await onSubmit(values);
    } catch (err) {
      showProblem(err);
    } finally {
      button.disabled = false;
    }
  });

  /** Show a refused submission: next to each field it names, else above the form. */
  function showProblem(err) {
    const named = err.status >= 400 && err.status < 500 ? problemFields(err.problem) : [];
    if (!named.length) {
      form.querySelector(".form-error").textContent = err.message;
      return;
    }
    const first = named.map((p) => setError(p.field, p.message ?? err.message)).find(Boolean);
    first?.querySelector("input, select, textarea")?.focus();
  }

  return { form, setError, clearErrors, showProblem, schemaAt: (path) => schemaAt(schema, path) };
}

/** POST /api/cases/files (multipart `file`) → {sha256, size, media_type, name}; problem+json as an error. */
export async function uploadFile(file) {
  const body = new FormData();
  body.append("file", file, file.name);
  const headers = { Accept: "application/json", "Accept-Language": LANG };
  const token = document.querySelector('meta[name="csrf-token"]')?.content;
  if (token) headers["X-CSRF-Token"] = token;
  const response = await fetch(`${BOOT.root}api/cases/files?lang=${encodeURIComponent(LANG)}`,
    { method: "POST", body, headers, credentials: "same-origin" });
  const json = await response.json().catch(() => null);
  if (!response.ok) {
    const err = new Error(json?.detail || `HTTP ${response.status}`);
    err.status = response.status;
    err.problem = json;
    throw err;
  }
  return json;
}
