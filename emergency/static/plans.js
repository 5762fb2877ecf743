// Emergency plans (应急预案) in the incident panel: the plans that apply with the suggested response level and the
// trigger that matched, a level to choose (a reason when it differs from the suggestion), the activate button, the
// resources the plan proposes for dispatch; and done/undone buttons on the 处置任务 section. The server decides
// everything (GET/POST …/incidents/<id>/plans, PATCH …/tasks/<task>); this only asks and shows.

import { L, esc, toast } from "../../console/boot.js";

const NUMERALS = ["Ⅰ", "Ⅱ", "Ⅲ", "Ⅳ"];
const T = {
  button: { "zh-CN": "应急预案", en: "Emergency plans" },
  none: { "zh-CN": "没有适用的预案", en: "No plan applies" },
  suggested: { "zh-CN": "建议响应级别", en: "Suggested level" },
  noSuggestion: { "zh-CN": "未达到任何启动条件", en: "No trigger matches" },
  level: { "zh-CN": "响应级别", en: "Level" },
  reason: { "zh-CN": "理由（与建议级别不同时必填）", en: "Reason (when the level differs)" },
  activate: { "zh-CN": "启动预案", en: "Activate" },
  activated: { "zh-CN": "已启动", en: "Activated" },
  dispatch: { "zh-CN": "调度", en: "Dispatch" },
  proposed: { "zh-CN": "预案关联资源", en: "Resources of the plan" },
  done: { "zh-CN": "完成", en: "Done" },
  undo: { "zh-CN": "撤销完成", en: "Undo" },
  unconfirmed: { "zh-CN": "（涉及化学品未确认）", en: "(chemical not confirmed)" },
};

const levelName = (n) => `${NUMERALS[n - 1]}${L({ "zh-CN": "级", en: "" })}`;

function planItem(p) {
  const s = p.suggestion;
  const suggestion = s ? `${esc(L(T.suggested))}: <strong>${esc(levelName(s.level))}</strong> — ${esc(L({ "zh-CN": s.text, en: s.text_en }))}`
    : esc(L(T.noSuggestion));
  const head = `<p><strong>${esc(p.title)}</strong> · ${esc(p.kind_label)} · ${esc(p.owner.label)} v${p.version}
    ${p.chemical_confirmed ? "" : esc(L(T.unconfirmed))}</p><p class="plan-suggestion">${suggestion}</p>`;
  if (p.activation) {
    return `<li class="plan-item" data-plan="${p.id}">${head}<p class="plan-activated">${esc(L(T.activated))}
      ${esc(levelName(p.activation.level))} · ${esc(p.activation.activated_at.slice(0, 16).replace("T", " "))}
      · ${esc(p.activation.actor ?? "")}</p><div class="plan-proposals"></div></li>`;
  }
  const options = p.levels.map((lv) => `<option value="${lv.level}"${s && s.level === lv.level ? " selected" : ""}>
    ${esc(levelName(lv.level))} (${lv.actions})</option>`).join("");
  return `<li class="plan-item" data-plan="${p.id}">${head}
    <form class="plan-activate emergency-form" novalidate>
      <label>${esc(L(T.level))} <select name="level">${options}</select></label>
      <label>${esc(L(T.reason))} <input name="reason" maxlength="1000"></label>
      <p class="error plan-error" role="alert"></p>
      <div class="btn-row"><button type="submit" class="btn primary">${esc(L(T.activate))}</button></div>
    </form><div class="plan-proposals"></div></li>`;
}

function proposals(list) {
  if (!list.length) return "";
  return `<p>${esc(L(T.proposed))}</p><ul>${list.map((r, i) => `<li>${esc(r.name)} · ${esc(r.task)}
    <button type="button" class="btn small plan-dispatch" data-i="${i}" data-kind="${esc(r.resource_kind)}">${esc(L(T.dispatch))}</button></li>`).join("")}</ul>`;
}

const proposed = new Map(); // "incident:plan" → the resources its activation proposed (kept across re-reads)

function wireProposals(item, list, id, request, changed) {
  const box = item.querySelector(".plan-proposals");
  box.innerHTML = proposals(list);
  for (const b of box.querySelectorAll(".plan-dispatch")) {
    b.addEventListener("click", async () => {
      const r = list[Number(b.dataset.i)];
      try {
        await request(`api/emergency/incidents/${id}/dispatch`, { method: "POST",
          body: { resource_kind: r.resource_kind, resource_id: r.resource_id, task: r.task } });
        list.splice(Number(b.dataset.i), 1); // sent: no longer proposed
        await changed?.();
      } catch (err) { toast(err.message, "error"); }
    });
  }
}

async function show(target, id, request, changed) {
  const answer = await request(`api/emergency/incidents/${id}/plans`);
  target.innerHTML = answer.plans.length ? `<ul class="plan-list">${answer.plans.map(planItem).join("")}</ul>`
    : `<p>${esc(L(T.none))}</p>`;
  for (const item of target.querySelectorAll(".plan-item")) {
    const list = proposed.get(`${id}:${item.dataset.plan}`);
    if (list) wireProposals(item, list, id, request, changed);
  }
  for (const form of target.querySelectorAll(".plan-activate")) {
    const item = form.closest(".plan-item");
    form.addEventListener("submit", async (e) => {
      e.preventDefault();
      const body = { level: Number(form.elements.level.value) };
      if (form.elements.reason.value.trim()) body.reason = form.elements.reason.value.trim();
      const error = form.querySelector(".plan-error");
      error.textContent = "";
      form.elements.reason.classList.remove("invalid");
      try {
        const result = await request(`api/emergency/incidents/${id}/plans/${item.dataset.plan}/activate`,
          { method: "POST", body });
        toast(`${L(T.activated)} ${levelName(result.activation.level)} · ${result.tasks.length}`);
        proposed.set(`${id}:${item.dataset.plan}`, result.proposed_dispatch);
        await changed?.(); // the panel is read again: the tasks, and this list with the proposals
      } catch (err) {
        error.textContent = err.message;
        if (err.problem?.input === "reason") form.elements.reason.classList.add("invalid");
      }
    });
  }
}

const open = new Set(); // incidents whose plan list is shown (a re-read panel shows it again)

/** Add the button and the plan list to an incident panel's action box (write permission checked by the caller). */
export function addPlans(box, buttons, { id, request, changed }) {
  box.insertAdjacentHTML("beforeend", `<div class="incident-plans" hidden></div>`);
  buttons.insertAdjacentHTML("beforeend", `<button type="button" class="btn plans-btn" aria-expanded="false">${esc(L(T.button))}</button>`);
  const target = box.querySelector(".incident-plans");
  const toggle = buttons.querySelector(".plans-btn");
  const load = () => show(target, id, request, changed).catch((err) => toast(err.message, "error"));
  const set = (on) => {
    target.hidden = !on;
    toggle.setAttribute("aria-expanded", String(on));
    if (on) { open.add(id); load(); } else open.delete(id);
  };
  toggle.addEventListener("click", () => set(target.hidden));
  if (open.has(id)) set(true);
}

/** Done / undo buttons on the rows of the 处置任务 section; overdue rows marked. */
export function decorateTasks(doc, el, { id, request, changed, writable }) {
  const section = doc.sections.find((s) => s.id === "tasks");
  const rows = section?.content?.rows;
  if (!rows || !rows.length) return;
  const trs = el.querySelectorAll('[data-section="tasks"] tbody tr');
  el.querySelector('[data-section="tasks"] thead tr')?.insertAdjacentHTML("beforeend", "<th></th>");
  rows.forEach((row, i) => {
    const tr = trs[i];
    if (!tr) return;
    tr.dataset.taskId = row.task_id;
    tr.classList.toggle("task-overdue", Boolean(row.overdue));
    const label = row.done_code ? T.undo : T.done;
    tr.insertAdjacentHTML("beforeend", `<td>${writable ? `<button type="button" class="btn small task-toggle">${esc(L(label))}</button>` : ""}</td>`);
    tr.querySelector(".task-toggle")?.addEventListener("click", async () => {
      try {
        await request(`api/emergency/incidents/${id}/tasks/${row.task_id}`, { method: "PATCH", body: { done: !row.done_code } });
        await changed?.();
      } catch (err) { toast(err.message, "error"); }
    });
  });
}
