// Admins: the queues, and one queue's settings (sessions/queues.py: ringing, SLA, wrap-up, voicemail, its phone number,
// the workspace's tabs, tag weights and required tags).  New: POST the whole queue; edit: PATCH only what changed.
import { api } from "./api.js";
import { h, tableCard } from "./dom.js";
import { choices, chosen, clearErrors, field, listOf, mergePatch, parseWeights, showErrors, weightsText } from "./admin_fields.js";

// The workspace's tabs (workspace.js): the details column, and the main column.
const SMALL_TABS = [["customer", "Customer"], ["history", "History"]];
const LARGE_TABS = [["conversation", "Conversation"], ["transcript", "Live transcript"], ["activity", "Activity"], ["notes", "Notes"], ["coaching", "Coaching"]];
const DEFAULTS = {
  ring_time: 20, sla_threshold: 20, sla_short_abandon: 0, sla_abandons_within_threshold_met: false, wrap_up_limit: 120,
  auto_complete: true, recording: false, transcription: false, voicemail: false, voicemail_after: 60,
  voicemail_greeting: "Sorry, nobody can take your call right now. Please leave a message after the tone.",
  phone_number: null, small_tabs: ["customer"], large_tabs: ["conversation", "activity", "notes", "coaching"], wrap_up_on_disconnect: true,
};
// [setting, label, min, max, hint] of the numeric settings, in seconds.
const NUMBERS = [
  ["ring_time", "Ring time (s)", 1, 600, "How long an offer rings an agent before it goes to the next."],
  ["sla_threshold", "SLA threshold (s)", 1, 86400, "Answered within this many seconds counts as met."],
  ["sla_short_abandon", "Short abandon (s)", 0, 3600, "Abandons within this many seconds leave the SLA (0: off)."],
  ["wrap_up_limit", "Wrap-up limit (s)", 0, 86400, "Wrap-up ends by itself after this long (0: no limit)."],
  ["voicemail_after", "Voicemail after (s)", 5, 3600, "An unanswered call goes to voicemail after this long."],
];
const FLAGS = [
  ["auto_complete", "Complete wrap-up automatically at the limit"], ["wrap_up_on_disconnect", "Wrap-up when the customer hangs up or leaves"],
  ["sla_abandons_within_threshold_met", "Abandons within the threshold count as met"], ["recording", "Record calls"],
  ["transcription", "Transcribe calls live"], ["voicemail", "Take voicemail"],
];

export function adminQueues(ctx, main, id) {
  if (id) return queueEditor(ctx, main, id === "new" ? null : id);
  const body = h("tbody");
  main.replaceChildren(h("h1", { text: "Queues" }),
    h("p", { class: "controls" }, h("a", { class: "button primary", href: "#/admin-queues/new", text: "New queue" })),
    h("div", tableCard("Queues"), h("table", { "aria-label": "Queues" },
      h("thead", {}, h("tr", {}, ["Queue", "Id", "Phone number", "Ring", "SLA", "Tabs", ""].map((t) => h("th", { scope: "col", text: t })))), body)));
  function update() {
    const queues = [...ctx.state.queues.values()].sort((a, b) => a.name.localeCompare(b.name));
    if (!queues.length) return body.replaceChildren(h("tr", {}, h("td", { colspan: 7, class: "empty", text: "No queues yet: create the first one." })));
    body.replaceChildren(...queues.map((q) => h("tr", { "data-id": q.id },
      h("th", { scope: "row", text: q.name }), h("td", { text: q.id }), h("td", { text: q.settings.phone_number || "—" }),
      h("td", { text: `${q.settings.ring_time} s` }), h("td", { text: `${q.settings.sla_threshold} s` }),
      h("td", { text: [...q.settings.small_tabs, ...q.settings.large_tabs].join(", ") }),
      h("td", {}, h("a", { href: `#/admin-queues/${encodeURIComponent(q.id)}`, "aria-label": `Edit ${q.name}`, text: "Edit" })))));
  }
  update();
  return update;  // a queue.changed event: the list redraws
}

function queueEditor(ctx, main, queueId) {
  let stored = queueId ? ctx.state.queues.get(queueId) : null;
  if (queueId && !stored) {
    main.replaceChildren(h("h1", { text: "Queue not found" }), h("a", { href: "#/admin-queues", text: "Back to the queues" }));
    return () => {};
  }
  const s = { ...DEFAULTS, ...(stored?.settings || {}) };
  const input = (name, attrs) => h("input", { name, ...attrs });
  const idInput = input("id", { value: stored?.id || "", required: true, maxlength: 64, pattern: "[A-Za-z0-9_.\\-]+", readonly: !!stored, autocomplete: "off" });
  const name = input("name", { value: stored?.name || "", required: true, maxlength: 200 });
  const phone = input("phone_number", { value: s.phone_number || "", placeholder: "+15550001000", inputmode: "tel" });
  const numbers = Object.fromEntries(NUMBERS.map(([k, , min, max]) => [k, input(k, { type: "number", min, max, step: 1, value: s[k] })]));
  const flags = Object.fromEntries(FLAGS.map(([k]) => [k, input(k, { type: "checkbox", checked: s[k] })]));
  const greeting = h("textarea", { name: "voicemail_greeting", rows: 2, maxlength: 500 }, s.voicemail_greeting);
  const small = choices("Details column tabs", SMALL_TABS, s.small_tabs, "settings.small_tabs");
  const large = choices("Main column tabs", LARGE_TABS, s.large_tabs, "settings.large_tabs");
  const tags = input("tags", { value: weightsText(stored?.tags), placeholder: "billing=3, vip=1" });
  const required = input("required_tags", { value: (stored?.required_tags || []).join(", "), placeholder: "spanish" });
  const status = h("p", { class: "form-status", role: "status", "aria-live": "polite" });
  const form = h("form", { class: "card admin-form", "aria-label": stored ? `Queue ${stored.name}` : "New queue", novalidate: true, onsubmit: save },
    h("fieldset", {}, h("legend", { text: "Queue" }),
      field("Id", idInput, "id", stored ? "The id never changes." : "Letters, digits, dot, dash, underscore; used in links and the API."),
      field("Name", name, "name"),
      field("Phone number", phone, "settings.phone_number", "The number customers call or text (E.164, e.g. +15550001000); the caller ID of outbound calls.")),
    h("fieldset", {}, h("legend", { text: "Ringing, SLA and wrap-up" }),
      ...NUMBERS.map(([k, text, , , hint]) => field(text, numbers[k], `settings.${k}`, hint)),
      ...FLAGS.map(([k, text]) => field(text, flags[k], `settings.${k}`)),
      field("Voicemail greeting", greeting, "settings.voicemail_greeting")),
    h("fieldset", {}, h("legend", { text: "Workspace tabs" }), small, large),
    h("fieldset", {}, h("legend", { text: "Routing" }),
      field("Tag weights", tags, "tags", "tag=weight, comma separated: a contact carrying the tag scores the weight for this queue."),
      field("Required tags", required, "required_tags", "Comma separated: the queue takes only contacts carrying every one.")),
    h("div", { class: "actions" }, h("a", { href: "#/admin-queues", text: "Back to the queues" }),
      h("button", { type: "submit", class: "primary", text: stored ? "Save changes" : "Create queue" })),
    status);
  main.replaceChildren(h("h1", { text: stored ? `Queue: ${stored.name}` : "New queue" }), form);
  if (!stored) idInput.focus();

  // The queue the form describes, in the API's shape.
  function read() {
    const settings = { phone_number: phone.value.trim() || null, voicemail_greeting: greeting.value, small_tabs: chosen(small), large_tabs: chosen(large) };
    for (const [k] of NUMBERS) settings[k] = numbers[k].value === "" ? null : Number(numbers[k].value);
    for (const [k] of FLAGS) settings[k] = flags[k].checked;
    return { id: idInput.value.trim(), name: name.value.trim(), settings, tags: parseWeights(tags.value, "tags"), required_tags: listOf(required.value) };
  }

  async function save(e) {
    e.preventDefault();
    status.textContent = "";
    try {
      const queue = read();
      let saved;
      if (stored) {
        const { id, ...before } = stored;
        const patch = mergePatch({ ...before, settings: { ...DEFAULTS, ...before.settings } }, (({ id: _, ...rest }) => rest)(queue));
        if (!Object.keys(patch).length) { clearErrors(form); status.textContent = "Nothing changed."; return; }
        saved = await api("PATCH", `/api/queues/${encodeURIComponent(id)}`, patch);
      } else saved = await api("POST", "/api/queues", queue);
      clearErrors(form);
      ctx.state.queues.set(saved.id, saved);
      if (!stored) { ctx.toast(`Queue ${saved.name} created.`); ctx.go(`#/admin-queues/${encodeURIComponent(saved.id)}`); return; }
      stored = saved;
      status.textContent = `Saved ${saved.name}.`;
    } catch (err) {
      status.textContent = showErrors(form, err, (x) => (x.code === "already_exists" ? "id" : null));
    }
  }
  // Another admin's change to this queue: what is stored moves on (the next save patches from it); the form keeps its edits.
  return () => { if (stored) stored = ctx.state.queues.get(stored.id) || stored; };
}
