// Following a complaint: GET /api/public/complaints/<number> with the query code in the X-Query-Code header (never
// in the URL). Shows the state and the published reply only, as text.
import { BOOT, S, clearErrors, readProblem, showProblem } from "./common.js";

const form = document.getElementById("status-form");
const $ = (id) => document.getElementById(id);
const number = new URLSearchParams(location.search).get("number");
if (number) $("number").value = number;

form.addEventListener("submit", async (event) => {
  event.preventDefault();
  clearErrors(form);
  $("result").hidden = true;
  const wanted = $("number").value.trim();
  const response = await fetch(`${BOOT.root}api/public/complaints/${encodeURIComponent(wanted || "-")}`, {
    headers: { "X-Query-Code": $("code").value.trim(), "Accept-Language": BOOT.lang },
  });
  const answer = await readProblem(response);
  if (!response.ok) {
    if (response.status === 404) return showProblem(form, response, { detail: S.not_found });
    return showProblem(form, response, answer);
  }
  $("result-number").textContent = answer.number;
  $("result-state").textContent = answer.state_label[BOOT.lang] || answer.state_label["zh-CN"];
  $("result-state").dataset.state = answer.state;
  // China time whatever the browser's zone: the bureau's day, as on its letters
  $("result-filed").textContent = new Date(answer.filed_at).toLocaleString(BOOT.lang, { timeZone: "Asia/Shanghai" });
  $("result-reply").textContent = answer.reply ? answer.reply.text : S.no_reply;
  $("result").hidden = false;
});
window.onemap = { page: "complaint-status", ready: true };
