// What the admin screens share: labelled fields with their own error line, the API's validation errors shown at the
// field they concern, tag lists and weights as text, and the JSON Merge Patch of what changed.
import { ApiError } from "./api.js";
import { h } from "./dom.js";

let serial = 0;

// A labelled control with a message line tied by aria-describedby; ``path`` is the API's name for it
// ("settings.phone_number"), which errors are matched against.
export function field(text, control, path, hint) {
  const id = `f${++serial}`;
  control.id = id; control.dataset.path = path;
  const error = h("span", { id: `${id}-error`, class: "field-error", "aria-live": "polite" });
  const help = hint ? h("span", { id: `${id}-hint`, class: "hint", text: hint }) : null;
  control.setAttribute("aria-describedby", [help && help.id, error.id].filter(Boolean).join(" "));
  const checkbox = control.type === "checkbox";
  return h("div", { class: checkbox ? "field check" : "field" },
    checkbox ? h("label", { for: id }, control, " ", text) : h("label", { for: id, text }),
    checkbox ? null : control, help, error);
}

// A group of checkboxes (tabs, queues, channels) as one field: its value is the list of checked values, in order.
export function choices(text, options, chosen, path) {
  const box = h("fieldset", { class: "choices", "data-path": path },
    h("legend", { text }),
    options.map(([value, name]) => h("label", {}, h("input", { type: "checkbox", value, checked: chosen.includes(value) }), " ", name)));
  const error = h("span", { id: `f${++serial}-error`, class: "field-error", "aria-live": "polite" });
  box.setAttribute("aria-describedby", error.id);
  box.append(error);
  return box;
}
export const chosen = (box) => [...box.querySelectorAll("input:checked")].map((i) => i.value);

// "billing=3, vip" -> {billing: 3, vip: 1}; a malformed entry throws an error naming the field.
export function parseWeights(text, path) {
  const out = {};
  for (const part of text.split(",").map((s) => s.trim()).filter(Boolean)) {
    const [tag, weight = "1"] = part.split("=").map((s) => s.trim());
    const n = Number(weight);
    if (!tag || weight === "" || !Number.isFinite(n)) throw new FieldError(path, `"${part}" is not tag=weight (a number)`);
    out[tag] = n;
  }
  return out;
}
export const weightsText = (w) => Object.entries(w || {}).map(([t, n]) => `${t}=${n}`).join(", ");
export const listOf = (text) => text.split(",").map((s) => s.trim()).filter(Boolean);

export class FieldError extends Error {
  constructor(path, message) { super(message); this.path = path; }
}

// The JSON Merge Patch from ``before`` to ``after`` (RFC 7396): what changed only, objects member by member,
// removed members as null, lists whole.
export function mergePatch(before, after) {
  const patch = {};
  for (const key of new Set([...Object.keys(before || {}), ...Object.keys(after)])) {
    const a = before?.[key], b = after[key];
    if (!(key in after)) { patch[key] = null; continue; }
    if (isObject(a) && isObject(b)) {
      const inner = mergePatch(a, b);
      if (Object.keys(inner).length) patch[key] = inner;
    } else if (JSON.stringify(a) !== JSON.stringify(b)) patch[key] = b;
  }
  return patch;
}
const isObject = (v) => v && typeof v === "object" && !Array.isArray(v);

// Clears every field's error of a form.
export function clearErrors(form) {
  form.querySelectorAll("[aria-invalid]").forEach((c) => c.removeAttribute("aria-invalid"));
  form.querySelectorAll(".field-error").forEach((e) => (e.textContent = ""));
}

// Marks the field ``path`` names (or the nearest one holding it: "tags.vip" is the tags field) invalid, with ``message``.
function mark(form, path, message) {
  const controls = [...form.querySelectorAll("[data-path]")];
  let target = null;
  for (let p = path; p && !target; p = p.includes(".") ? p.slice(0, p.lastIndexOf(".")) : "") {
    target = controls.find((c) => c.dataset.path === p);
  }
  if (!target) return false;
  target.setAttribute("aria-invalid", "true");
  const error = document.getElementById(target.getAttribute("aria-describedby").split(" ").pop());
  error.textContent = error.textContent ? `${error.textContent}; ${message}` : message;
  return true;
}

// Shows an error from the API (or a FieldError) at its fields: a 422's detail is "path: message; path: message"
// (gateway/errors.py describe_validation); other errors go to ``fallback`` (the field a 404 or 409 is about).
// Returns the text for the form's status line: what could not be placed, or a summary.
export function showErrors(form, err, fallback) {
  clearErrors(form);
  if (err instanceof FieldError) { mark(form, err.path, err.message); return "Not saved: check the marked field."; }
  if (!(err instanceof ApiError)) return "Something went wrong; nothing was saved. Try again.";
  const parts = err.status === 422 ? err.message.split("; ").map((p) => p.match(/^([\w.]+): (.*)$/s)) : [];
  let placed = 0;
  for (const m of parts) if (m && mark(form, m[1].replace(/^body\./, ""), m[2])) placed++;
  if (!placed && fallback && err.status < 500 && mark(form, fallback(err), err.message)) placed++;
  const first = form.querySelector("[aria-invalid]");
  if (first) (first.matches("fieldset") ? first.querySelector("input") : first).focus();
  return placed ? "Not saved: check the marked fields." : `Not saved: ${err.message}`;
}
