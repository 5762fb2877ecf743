// Two more of the dispatcher's actions in an incident's panel: "编辑" (PATCH the incident's title, kind, response
// level, description, related enterprise) and "申请物资" (物资调用: from one of the depots nearest by drive time, an
// item of its stock, a quantity). console.js draws them for a role with emergency write, on a non-final incident.

import { BOOT, esc, formatNumber, t } from "../../console/boot.js";

/** <option>s of a coded field's labels (BOOT.enumLabels), optionally after an empty one. */
export function options(field, { empty } = {}) {
  const entries = Object.entries(BOOT.enumLabels[field] ?? {});
  const none = empty === undefined ? "" : `<option value="">${esc(empty)}</option>`;
  return none + entries.map(([code, label]) => `<option value="${esc(code)}">${esc(label)}</option>`).join("");
}

/** A stock quantity as people write it: no trailing zeros, no grouping (what the 409 message quotes). */
const amount = (n) => String(Number(Number(n).toFixed(3)));

function markInvalid(form, input) {
  for (const el of form.querySelectorAll(".invalid")) el.classList.remove("invalid");
  const el = input ? form.elements[String(input).split(".")[0]] : null;
  if (el && el.classList) el.classList.add("invalid");
}

function editForm() {
  return `<form class="incident-form edit-form emergency-form" hidden novalidate>
    <label>${esc(t("incident_title"))} <input name="title" maxlength="200" required></label>
    <label>${esc(t("incident_kind"))} <select name="kind">${options("incidents.kind")}</select></label>
    <label>${esc(t("response_level"))} <select name="response_level">${options("incidents.response_level", { empty: t("not_set") })}</select></label>
    <label>${esc(t("description"))} <textarea name="description" rows="3"></textarea></label>
    <label>${esc(t("related_enterprise"))} <input name="enterprise_uscc" maxlength="18" autocomplete="off"></label>
    <p class="error form-error" role="alert"></p>
    <div class="btn-row"><button type="submit" class="btn primary">${esc(t("save"))}</button>
      <button type="button" class="btn form-cancel">${esc(t("cancel"))}</button></div>
  </form>`;
}

function materialForm() {
  return `<form class="incident-form material-form emergency-form" hidden novalidate>
    <label>${esc(t("material_depot"))} <select name="depot_id" required></select></label>
    <label>${esc(t("material_item"))} <select name="line" required></select></label>
    <label>${esc(t("material_quantity"))} <input type="number" name="quantity" min="0" step="any" required></label>
    <p class="error form-error" role="alert"></p>
    <div class="btn-row"><button type="submit" class="btn primary">${esc(t("submit"))}</button>
      <button type="button" class="btn form-cancel">${esc(t("cancel"))}</button></div>
  </form>`;
}

// the fields as the incident has them, for the form
function fill(form, incident) {
  const f = form.elements;
  f.title.value = incident.title ?? "";
  f.kind.value = incident.kind ?? "";
  f.response_level.value = incident.response_level == null ? "" : String(incident.response_level);
  f.description.value = incident.description ?? "";
  f.enterprise_uscc.value = incident.enterprise_uscc ?? "";
}

// only what the dispatcher changed (an unchanged enterprise is not re-checked, an unchanged title not re-sent)
function changes(form, incident) {
  const f = form.elements;
  const text = (name) => f[name].value.trim() || null;
  const now = { title: f.title.value.trim(), kind: f.kind.value,
    response_level: f.response_level.value ? Number(f.response_level.value) : null,
    description: text("description"), enterprise_uscc: text("enterprise_uscc") };
  return Object.fromEntries(Object.entries(now).filter(([k, v]) => v !== (incident[k] ?? null)));
}

/** Usable stock of a depot per item and unit (expired batches are never drawn from, so not offered). */
function stock(items) {
  const today = new Date().toISOString().slice(0, 10);
  const byItem = new Map();
  for (const line of items) {
    if (line.expiry && line.expiry < today) continue;
    const key = `${line.item}\u0000${line.unit}`;
    const entry = byItem.get(key) ?? { item: line.item, unit: line.unit, quantity: 0 };
    entry.quantity += line.quantity;
    byItem.set(key, entry);
  }
  return [...byItem.values()];
}

/**
 * Add the "编辑" and "申请物资" buttons to `box` (an incident's .incident-actions) and their forms.
 * hooks: request (the API), changed() after a successful change (re-reads the panel), closed() when a form is
 * put away without a change.
 */
export function addIncidentForms(box, id, { request, changed, closed }) {
  const buttons = box.querySelector(".incident-buttons");
  buttons.insertAdjacentHTML("beforeend", `
    <button type="button" class="btn edit-btn" aria-expanded="false">${esc(t("edit_incident"))}</button>
    <button type="button" class="btn material-btn" aria-expanded="false">${esc(t("request_material"))}</button>`);
  box.insertAdjacentHTML("beforeend", editForm() + materialForm());
  const path = `api/emergency/incidents/${id}`;
  let incident = null;

  const wire = (form, toggle, open) => {
    const error = form.querySelector(".form-error");
    const show = (on) => { form.hidden = !on; toggle.setAttribute("aria-expanded", String(on)); };
    toggle.addEventListener("click", async () => {
      if (!form.hidden) { show(false); closed(); return; }
      error.textContent = "";
      markInvalid(form, null);
      show(true);
      try { await open(); } catch (err) { error.textContent = err.message; }
    });
    form.querySelector(".form-cancel").addEventListener("click", () => { show(false); closed(); });
    return { error, show };
  };

  const edit = box.querySelector(".edit-form");
  const editUi = wire(edit, buttons.querySelector(".edit-btn"), async () => {
    incident = await request(path);
    fill(edit, incident);
    edit.elements.title.focus();
  });
  edit.addEventListener("submit", (e) => {
    e.preventDefault();
    submit(edit, editUi, async () => {
      const body = changes(edit, incident);
      if (Object.keys(body).length) await request(path, { method: "PATCH", body });
      return t("incident_saved");
    });
  });

  const material = box.querySelector(".material-form");
  const f = material.elements; // the item select is "line": elements.item is the collection's item() method
  let lines = [];
  const loadItems = async () => {
    f.line.innerHTML = "";
    lines = [];
    if (!f.depot_id.value) return;
    lines = stock((await request(`api/emergency/resources/depot/${f.depot_id.value}/inventory`)).items);
    f.line.innerHTML = lines.map((line, i) => `<option value="${i}" ${line.quantity > 0 ? "" : "disabled"}>${esc(
      t("material_item_available", { item: line.item, n: amount(line.quantity), unit: line.unit }))}</option>`).join("");
    const first = lines.findIndex((line) => line.quantity > 0);
    if (first >= 0) f.line.value = String(first);
  };
  const materialUi = wire(material, buttons.querySelector(".material-btn"), async () => {
    f.depot_id.innerHTML = "";
    f.line.innerHTML = "";
    const nearest = await request("api/emergency/nearest-resources",
      { params: { incident_id: id, kinds: "depot", limit: 5 } });
    f.depot_id.innerHTML = nearest.resources.map((r) => `<option value="${r.id}">${esc(t("material_depot_option",
      { name: r.name, minutes: t("minutes_n", { n: formatNumber(r.travel_time_s / 60, 1) }) }))}</option>`).join("");
    if (!nearest.resources.length) throw new Error(t("no_reachable"));
    await loadItems();
    f.quantity.focus();
  });
  f.depot_id.addEventListener("change", () => {
    materialUi.error.textContent = "";
    loadItems().catch((err) => { materialUi.error.textContent = err.message; });
  });
  material.addEventListener("submit", (e) => {
    e.preventDefault();
    const line = lines[Number(f.line.value)];
    const quantity = Number(f.quantity.value);
    if (!line || f.line.value === "") { markInvalid(material, "line"); return; }
    if (!(quantity > 0)) { markInvalid(material, "quantity"); return; }
    submit(material, materialUi, async () => {
      await request(`${path}/material-requests`, { method: "POST",
        body: { depot_id: Number(f.depot_id.value), item: line.item, unit: line.unit, quantity } });
      return t("material_requested", { item: line.item, n: amount(quantity), unit: line.unit });
    }, (err) => (err.status === 409 && err.problem?.available != null
      ? t("not_enough_stock", { n: amount(err.problem.available), unit: err.problem.unit ?? line.unit }) : null));
  });

  async function submit(form, ui, send, explain = () => null) {
    ui.error.textContent = "";
    markInvalid(form, null);
    const button = form.querySelector("button[type=submit]");
    button.disabled = true;
    try {
      const done = await send();
      ui.show(false);
      await changed(done);
    } catch (err) {
      ui.error.textContent = explain(err) ?? err.message;
      markInvalid(form, err.problem?.input === "item" ? "line" : err.problem?.input);
    } finally {
      button.disabled = false;
    }
  }
}

/** Is one of these forms open in the panel (a live re-read would throw away what is being typed)? */
export function formOpen() {
  return Boolean(document.querySelector("#feature-panel .incident-form:not([hidden])"));
}
