// Shared by the public complaint pages: the boot document, and the API's refusals shown next to the field they name.
// Every text from the server or the reporter is written with textContent: nothing is ever parsed as HTML.
export const BOOT = JSON.parse(document.getElementById("complaints-boot").textContent);
export const S = BOOT.strings;

export function csrfHeaders() {
  const token = document.querySelector('meta[name="csrf-token"]')?.content;
  return token ? { "X-CSRF-Token": token } : {};
}

export function clearErrors(form) {
  form.querySelectorAll(".field-error, .form-error").forEach((el) => { el.hidden = true; el.textContent = ""; });
  form.querySelectorAll("[aria-invalid]").forEach((el) => el.removeAttribute("aria-invalid"));
}

// A problem+json answer: its message under the field it names (input "location.lon" -> the lon box and the
// location note), else at the top of the form.
export function showProblem(form, response, problem) {
  const message = problem?.detail || S.error;
  if (response.status === 429) {
    const wait = response.headers.get("Retry-After");
    return showTop(form, `${S.retry_after}${wait ? ` (${wait} s)` : ""}`);
  }
  const input = problem?.input || "";
  const control = input && form.querySelector(`[data-field="${CSS.escape(input)}"]`);
  const slot = form.querySelector(`.field-error[data-for="${CSS.escape(input)}"]`)
    || form.querySelector(`.field-error[data-for="${CSS.escape(input.split(".")[0])}"]`);
  if (control) control.setAttribute("aria-invalid", "true");
  if (slot) {
    slot.textContent = message;
    slot.hidden = false;
    showTop(form, S.fix_field);
  } else {
    showTop(form, message);
  }
  (control || slot)?.scrollIntoView?.({ block: "center" });
}

function showTop(form, text) {
  const top = form.querySelector(".form-error");
  top.textContent = text;
  top.hidden = false;
}

export async function readProblem(response) {
  try { return await response.json(); } catch { return null; }
}
