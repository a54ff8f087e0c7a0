// Outbound contacts from Queue Home: "New call" and "New text" open a small dialog (queue, customer phone, name) that
// POSTs /api/interactions; the new interaction, the agent's from the start, opens in the workspace.  No email: the API
// refuses outbound email (no channel delivers it yet).
import { api, ApiError } from "./api.js";
import { h, select } from "./dom.js";
import { can } from "./permissions.js";

const KINDS = { call: { type: "call", subtype: "phone", title: "New call", verb: "Call" }, text: { type: "messaging", subtype: "text", title: "New text", verb: "Start text" } };
const E164 = /^\+[1-9]\d{6,14}$/;  // sessions/reach.py E164: what the provider accepts

// The buttons, or nothing for a user whose role lacks create_outbound (the server refuses all the same).
export function outboundButtons(ctx) {
  if (!can("create_outbound") || !ctx.state.queues.size) return null;
  return h("div", { class: "outbound", role: "group", "aria-label": "Start an outbound contact" },
    ...Object.keys(KINDS).map((k) => h("button", { type: "button", text: KINDS[k].title, onclick: () => openDialog(ctx, k) })));
}

function field(labelText, input, hint) {
  const error = h("span", { class: "field-error", id: `${input.name}-error`, role: "alert" });
  input.setAttribute("aria-describedby", error.id);
  return { error, node: h("label", {}, labelText, input, hint ? h("span", { class: "hint", text: hint }) : "", error) };
}

function openDialog(ctx, kind) {
  const { state } = ctx;
  const k = KINDS[kind];
  const queues = [...state.queues.values()];
  const first = queues.find((q) => q.id === state.filters.queue) || queues[0];
  const queue = field("Queue", select("queue", queues.map((q) => [q.id, q.name]), first.id, "Queue"));
  const phone = field("Customer phone", h("input", { name: "phone", type: "tel", required: true, autocomplete: "off", placeholder: "+14155550100" }), "International form: + then country code and number");
  const name = field("Customer name", h("input", { name: "name", autocomplete: "off", maxlength: 200 }), "Optional");
  const general = h("p", { class: "field-error", role: "alert" });
  const submit = h("button", { type: "submit", class: "primary", text: k.verb });
  const fields = { queue, phone, name };
  const show = (which, text) => {
    fields[which].error.textContent = text;
    fields[which].node.querySelector("input, select").setAttribute("aria-invalid", String(!!text));
  };
  const form = h("form", { method: "dialog", novalidate: true, onsubmit: async (e) => {
    e.preventDefault();
    Object.keys(fields).forEach((f) => show(f, "")); general.textContent = "";
    const data = Object.fromEntries(new FormData(form));
    const number = data.phone.replace(/[\s().-]/g, "");
    const q = state.queues.get(data.queue);
    let bad = false;
    if (!E164.test(number)) { show("phone", number ? "Not a phone number in international form, e.g. +14155550100." : "Enter the customer's phone number."); bad = true; }
    if (!q?.settings?.phone_number) { show("queue", `${q?.name || "This queue"} has no phone number to ${kind === "call" ? "call" : "text"} from; an admin sets it in the queue's settings.`); bad = true; }
    if (bad) return form.querySelector("[aria-invalid=true]").focus();
    submit.disabled = true;
    try {
      const ix = await api("POST", "/api/interactions", { queue_id: q.id, type: k.type, subtype: k.subtype,
        customer: { phone: number, ...(data.name.trim() ? { name: data.name.trim() } : {}) } });
      ctx.upsert(ix);
      dialog.close();
      ctx.go(`#/ix/${ix.id}`);
    } catch (err) {
      const text = err instanceof ApiError ? err.message : "Something went wrong; try again.";
      // The server's reason goes next to the field it is about when it names one.
      const where = /phone number|E\.164/i.test(text) && !/queue/i.test(text) ? "phone" : /queue/i.test(text) ? "queue" : /name/i.test(text) ? "name" : null;
      if (where) show(where, text); else general.textContent = text;
    } finally { submit.disabled = false; }
  } }, queue.node, phone.node, name.node, general,
  h("div", { class: "controls" }, submit, h("button", { type: "button", text: "Cancel", onclick: () => dialog.close() })));
  const dialog = h("dialog", { class: "outbound-dialog", "aria-labelledby": "outbound-title" }, h("h2", { id: "outbound-title", text: k.title }), form);
  dialog.addEventListener("close", () => dialog.remove());
  document.body.append(dialog);
  dialog.showModal();
  phone.node.querySelector("input").focus();
}
