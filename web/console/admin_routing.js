// Admins: where new contacts go (sessions/routing.py): the default queue, and the ordered workflows whose steps add or
// remove tags from what is known on arrival.  Tag weights live with each queue and user.  Saved whole (PUT /api/routing).
import { api } from "./api.js";
import { h, select } from "./dom.js";
import { clearErrors, field, listOf, showErrors } from "./admin_fields.js";

const CHANNELS = [["call/phone", "Phone call"], ["call/webrtc", "Web call"], ["messaging/chat", "Web chat"], ["messaging/text", "Text message"], ["voicemail/voicemail", "Voicemail"], ["email/email", "Email"]];

let routing = null;

// The routing configuration, for the setup checklist too.
export async function loadRouting() { routing = await api("GET", "/api/routing"); return routing; }

// "vip=yes, lang=es" <-> {vip: "yes", lang: "es"}
const pairsText = (o) => Object.entries(o || {}).map(([k, v]) => `${k}=${v}`).join(", ");
const pairs = (text) => Object.fromEntries(listOf(text).map((p) => p.split("=").map((s) => s.trim())).map(([k, v = ""]) => [k, v]));

export function adminRouting(ctx, main) {
  const status = h("p", { class: "form-status", role: "status", "aria-live": "polite" });
  const form = h("form", { class: "card admin-form", "aria-label": "Routing", novalidate: true, onsubmit: save });
  main.replaceChildren(h("h1", { text: "Routing" }),
    h("p", { text: "A new call, text or chat first runs through the workflows, in order, which add or remove tags. Then the queue (or person) whose tag weights score highest takes it; when nothing scores, the default queue does." }),
    form);
  let workflows = [];
  let defaultSel;

  function draw() {
    defaultSel = select("default_queue", [["", "None: contacts nothing matches are refused"], ...[...ctx.state.queues.values()].map((q) => [q.id, q.name])], routing.default_queue || "", null);
    form.replaceChildren(
      h("fieldset", {}, h("legend", { text: "Default route" }),
        field("Default queue", defaultSel, "default_queue", ctx.state.queues.size ? "Takes every contact no workflow or tag weight sends elsewhere." : "Create a queue first.")),
      h("fieldset", { class: "workflows" }, h("legend", { text: "Workflows" }),
        workflows.length ? workflows.map(workflowEditor) : h("p", { class: "hint", text: "No workflows: contacts keep the tags they arrive with." }),
        h("button", { type: "button", text: "Add workflow", onclick: () => { collect(); workflows.push({ id: `wf${workflows.length + 1}`, name: "New workflow", enabled: true, steps: [{ when: {}, add: [], remove: [] }] }); draw(); } })),
      h("div", { class: "actions" }, h("button", { type: "submit", class: "primary", text: "Save routing" })),
      status);
  }

  // One workflow: id, name, enabled, and its steps; data-path names match the API's error locations.
  function workflowEditor(w, i) {
    const p = `workflows.${i}`;
    return h("section", { class: "workflow", "data-index": i, "aria-label": `Workflow ${w.name}` },
      h("div", { class: "row" },
        field("Id", h("input", { name: "wf-id", value: w.id, maxlength: 64 }), `${p}.id`),
        field("Name", h("input", { name: "wf-name", value: w.name, maxlength: 200 }), `${p}.name`),
        field("Enabled", h("input", { name: "wf-enabled", type: "checkbox", checked: w.enabled }), `${p}.enabled`),
        h("button", { type: "button", text: "Remove workflow", onclick: () => { collect(); workflows.splice(i, 1); draw(); } })),
      h("ol", { class: "steps" }, w.steps.map((s, j) => stepEditor(s, `${p}.steps.${j}`, () => { collect(); w.steps.splice(j, 1); draw(); }))),
      h("button", { type: "button", text: "Add step", onclick: () => { collect(); workflows[i].steps.push({ when: {}, add: [], remove: [] }); draw(); } }));
  }

  function stepEditor(s, p, remove) {
    const when = s.when || {};
    const channel = select("step-channel", [["", "Any channel"], ...CHANNELS], when.subtypes?.length === 1 ? CHANNELS.find(([v]) => v.endsWith(`/${when.subtypes[0]}`))?.[0] || "" : "", null);
    return h("li", { class: "step" },
      field("Channel", channel, `${p}.when.subtypes`),
      field("Keywords in the first message", h("input", { name: "step-keywords", value: (when.keywords || []).join(", "), placeholder: "invoice, refund" }), `${p}.when.keywords`),
      field("Number or address contacted", h("input", { name: "step-to", value: (when.to || []).join(", "), placeholder: "+15550001000" }), `${p}.when.to`),
      field("Customer attributes", h("input", { name: "step-attributes", value: pairsText(when.attributes), placeholder: "plan=gold" }), `${p}.when.attributes`),
      field("Add tags", h("input", { name: "step-add", value: (s.add || []).join(", "), placeholder: "billing" }), `${p}.add`),
      field("Remove tags", h("input", { name: "step-remove", value: (s.remove || []).join(", ") }), `${p}.remove`),
      h("button", { type: "button", text: "Remove step", onclick: remove }));
  }

  // The form's current values into ``workflows`` (before a redraw, and before saving).
  function collect() {
    if (defaultSel) routing = { ...routing, default_queue: defaultSel.value || null };
    workflows = [...form.querySelectorAll("section.workflow")].map((sec) => ({
      id: sec.querySelector("[name=wf-id]").value.trim(), name: sec.querySelector("[name=wf-name]").value.trim(), enabled: sec.querySelector("[name=wf-enabled]").checked,
      steps: [...sec.querySelectorAll("li.step")].map((li) => {
        const v = (n) => li.querySelector(`[name=step-${n}]`).value;
        const [type, subtype] = v("channel").split("/");
        const when = { keywords: listOf(v("keywords")), to: listOf(v("to")), attributes: pairs(v("attributes")), ...(type ? { types: [type], subtypes: [subtype] } : {}) };
        return { when, add: listOf(v("add")), remove: listOf(v("remove")) };
      }),
    }));
  }

  async function save(e) {
    e.preventDefault();
    collect();
    status.textContent = "";
    try {
      routing = await api("PUT", "/api/routing", { default_queue: routing.default_queue, workflows });
      clearErrors(form);
      status.textContent = routing.default_queue ? `Saved: contacts nothing else takes go to ${ctx.state.queues.get(routing.default_queue)?.name || routing.default_queue}.` : "Saved.";
    } catch (err) {
      status.textContent = showErrors(form, err, (x) => (x.code === "not_found" ? "default_queue" : null));
    }
  }

  loadRouting().then(() => { workflows = structuredClone(routing.workflows); draw(); }, (err) => ctx.toast(err.message));
  // A queue created or renamed elsewhere: the picker follows, keeping what is being edited.
  return () => { if (defaultSel) { collect(); draw(); } };
}
