// The interaction workspace (active and completed).  It mounts once and returns an update function for live events,
// so typing in a form is never wiped by an incoming event.
import { api, blobUrl } from "./api.js";
import { ageOf, channelIcon, customerName, duration, h, messageItem, select, SLA_LABELS, slaState, statusLabel, titleLabel, when } from "./dom.js";
import { can, noListening } from "./permissions.js";
import { coachingTab } from "./coaching.js";
import { callAudio, settle, threeWay } from "./phone.js";
import { customerGone, disconnectNotice, lockComposer } from "./disconnect.js";
import { keepDraft } from "./drafts.js";
import { transferredBy } from "./offers.js";
import { readReceipts, replyKeys } from "./replies.js";
import { liveTranscript, wantsTranscript } from "./transcript.js";
import { customerHistory } from "./customer.js";
import { mergeAction } from "./merge.js";

// What an agent may continue a conversation as: texts first, so a call is a deliberate pick; never a web call (only the customer starts one).
const CHANNELS = [["messaging/text", "Text (SMS)"], ["messaging/chat", "Web chat"], ["call/phone", "Phone call"]];

// -- Interaction workspace (active and completed) ------------------------------------------

function tabs(names, panels) {
  const list = h("div", { role: "tablist" });
  const id = Math.random().toString(36).slice(2);
  const buttons = names.map((n, i) => h("button", { type: "button", role: "tab", id: `tab-${id}-${i}`, "aria-controls": `panel-${id}-${i}`, "aria-selected": String(i === 0), tabindex: i ? "-1" : "0", text: titleLabel(n) }));
  panels.forEach((p, i) => { p.setAttribute("role", "tabpanel"); p.id = `panel-${id}-${i}`; p.setAttribute("aria-labelledby", `tab-${id}-${i}`); p.hidden = i !== 0; });
  const pick = (i) => buttons.forEach((b, j) => { b.setAttribute("aria-selected", String(i === j)); b.tabIndex = i === j ? 0 : -1; panels[j].hidden = i !== j; if (i === j) b.focus(); });
  buttons.forEach((b, i) => { b.onclick = () => pick(i); b.onkeydown = (e) => { if (e.key === "ArrowRight") pick((i + 1) % buttons.length); if (e.key === "ArrowLeft") pick((i + buttons.length - 1) % buttons.length); }; });
  list.append(...buttons);
  return h("div", { class: "tabs" }, list, ...panels);
}

export async function workspace(ctx, main, id) {
  const { state } = ctx;
  let ix = await api("GET", `/api/interactions/${id}`);
  ctx.upsert(ix);
  const queue = state.queues.get(ix.queue_id) || (await api("GET", `/api/queues/${ix.queue_id}`).catch(() => null));
  const settings = queue?.settings || { small_tabs: ["customer"], large_tabs: ["conversation", "activity", "notes", "coaching"] };
  const quick = h("section", { class: "quick", "aria-label": "Quick details" });
  const details = h("section", { class: "details" });
  const controls = h("div", { class: "controls", role: "group", "aria-label": "Interaction controls" });
  const conversation = h("ol", { class: "conversation", "aria-label": "Conversation", "aria-live": "polite", tabindex: "0" });
  const feed = h("ol", { class: "feed", "aria-label": "Activity feed" });
  const notes = h("div");
  const media = h("section", { class: "card media", "aria-label": "Recordings and transcripts" });
  const reply = h("form", { class: "inline", "aria-label": "Reply", onsubmit: async (e) => {
    e.preventDefault();
    const body = reply.elements.body.value.trim();
    if (!body) return;
    keys.stop();
    if (await ctx.act("messages", ix.id, { body })) { reply.reset(); clearReply(); }
  } }, h("textarea", { name: "body", rows: 2, maxlength: 10000, "aria-label": "Message to the customer", placeholder: "Write a reply…", "aria-describedby": `reply-why-${id}` }),
  h("button", { type: "submit", class: "primary", text: "Send" }), h("p", { class: "reply-why", id: `reply-why-${id}`, hidden: true }));
  const noteForm = h("form", { class: "inline", "aria-label": "Add a note", onsubmit: async (e) => {
    e.preventDefault();
    const data = Object.fromEntries(new FormData(noteForm));
    const body = { body: data.body.trim(), ...(data.disposition.trim() ? { disposition: data.disposition.trim() } : {}) };
    if ((body.body || body.disposition) && (await ctx.act("notes", ix.id, body))) { noteForm.reset(); clearNote(); }
  } }, h("textarea", { name: "body", rows: 2, "aria-label": "Note", placeholder: "Add a note…" }),
  h("label", {}, "Disposition", h("input", { name: "disposition", placeholder: "e.g. refund" })), h("button", { type: "submit", text: "Save note" }));
  const clearReply = keepDraft(reply, state.me.id, id, "reply");
  const clearNote = keepDraft(noteForm, state.me.id, id, "note");
  const keys = replyKeys(reply, () => ix);  // Enter sends, Shift+Enter a new line; the customer sees the agent typing
  const receipts = readReceipts(ctx, () => ix);  // the customer's typing, the agent's messages read, and reading theirs
  const context = h("p", { class: "transferred", role: "note", hidden: true });
  // Built once: the controls are redrawn on every event, and a half-written transfer note must outlive them.
  const transferNote = h("input", { name: "note", "data-key": "transfer-note", maxlength: 1000, placeholder: "What they need to know", "aria-label": "Note for the receiver" });

  const histories = [customerHistory(), customerHistory()];  // in the customer tab, and the history tab where a queue shows it
  const small = { customer: h("div", {}, details, histories[0].section), history: histories[1].section };
  const coaching = coachingTab(ctx, ix);
  const transcript = liveTranscript();
  const editor = detailsEditor();
  const large = { conversation: h("div", {}, conversation, receipts.element, reply), transcript: h("div", {}, transcript.element), activity: h("div", {}, feed), notes: h("div", {}, notes, noteForm),
    coaching: coaching.panel };
  const smallNames = settings.small_tabs.filter((n) => small[n]);
  if (!smallNames.includes("customer")) smallNames.unshift("customer");
  const largeNames = settings.large_tabs.filter((n) => large[n] && (n !== "transcript" || wantsTranscript(ix, settings)));
  if (wantsTranscript(ix, settings) && !largeNames.includes("transcript")) largeNames.push(...(largeNames.length ? [] : ["conversation"]), "transcript");
  // Recordings and voicemail transcripts in a card of their own above the tabs: playable whatever tabs the queue shows
  // and whichever is picked (inside a tab they were off screen, or in no tab at all).
  main.replaceChildren(quick, context, h("div", { class: "workspace" },
    h("aside", { class: "card", "aria-label": "Details" }, tabs(smallNames, smallNames.map((n) => small[n]))),
    h("section", {}, h("div", { class: "card" }, h("h2", { text: "Controls" }), controls), media,
      h("div", { class: "card" }, tabs(largeNames.length ? largeNames : ["conversation"], (largeNames.length ? largeNames : ["conversation"]).map((n) => large[n]))))));

  let mediaKey = null;
  async function renderMedia() {
    // Redrawn only when a recording or transcript changes: a redraw would stop the player mid-message.
    const key = JSON.stringify([ix.recordings.map((r) => [r.id, r.status, r.uri]), ix.transcripts.map((t) => t.text), can("listen_recordings")]);
    if (key === mediaKey) return;
    mediaKey = key;
    const items = [h("h2", { text: ix.type === "voicemail" ? "Voicemail" : "Recordings" })];
    for (const r of ix.recordings) {
      const player = can("listen_recordings") ? h("audio", { controls: true, "aria-label": `Recording from ${when(r.at)}` }) : noListening();
      items.push(h("figure", {}, h("figcaption", { text: `Recording · ${when(r.at)}${r.duration_seconds ? ` · ${duration(r.duration_seconds)}` : ""}${r.status !== "stored" ? " · downloading…" : ""}` }), player));
      if (r.status === "stored" && r.uri && can("listen_recordings")) blobUrl(r.uri).then((u) => (player.src = u)).catch(() => player.replaceWith(h("p", { class: "error", text: "Recording unavailable" })));
    }
    for (const t of ix.transcripts) items.push(h("blockquote", {}, h("strong", { text: "Transcript: " }), t.text));
    media.hidden = items.length === 1;
    media.replaceChildren(...items);
  }

  function render() {
    const now = Date.now();
    const inQueue = state.queues.get(ix.queue_id) || (queue?.id === ix.queue_id ? queue : null);  // it may have been transferred
    const sla = slaState(ix, inQueue, now);
    quick.replaceChildren(channelIcon(ix), h("h1", { text: customerName(ix.customer) }), h("dl", {},
      ...[["Status", statusLabel(ix.state === "completed" ? (ix.abandoned_at ? "abandoned" : "completed") : ix.status)], ["Queue", inQueue?.name || ix.queue_id],
        ["Channel", `${ix.type}/${ix.subtype}`], ["Age", duration(ageOf(ix, now))], ["SLA", SLA_LABELS[sla]], ["Agent", ix.assigned_to ? ctx.person(ix.assigned_to) : "—"]]
        .map(([k, v]) => h("div", {}, h("dt", { text: k }), h("dd", { text: v })))), ...[disconnectNotice(ix)].filter(Boolean));
    const c = ix.customer;
    details.replaceChildren(h("h2", { text: "Customer" }), h("dl", {}, ...[["Name", c.name], ["Phone", c.phone], ["Email", c.email], ...Object.entries(c.attributes || {})]
      .map(([k, v]) => [h("dt", { text: k }), h("dd", { text: v || "—" })]).flat()),
    h("h2", { text: "Interaction" }), h("dl", {}, ...[["Direction", ix.direction], ["Subject", ix.subject], ["Tags", ix.tags.join(", ")], ["Disposition", ix.disposition],
      ["Created", when(ix.created_at)], ["Completed", when(ix.completed_at)], ["Completed by", ix.completed_by && ctx.person(ix.completed_by)], ["Follow-up of", ix.parent_id]]
      .map(([k, v]) => [h("dt", { text: k }), h("dd", {}, k === "Follow-up of" && v ? h("a", { href: `#/ix/${v}`, text: "parent" }) : v || "—")]).flat()));
    conversation.replaceChildren(...(ix.messages.length ? ix.messages.map((m) => messageItem(m, m.direction === "inbound" ? "Customer" : ctx.person(m.author)))
      : [h("li", { class: "empty", text: "No messages yet." })]));
    feed.replaceChildren(...ix.activity.slice().reverse().map((a) => h("li", {}, a.detail, h("span", { class: "meta", text: `${when(a.at)} · ${ctx.person(a.by)}` }))));
    notes.replaceChildren(...(ix.notes.length ? ix.notes.map((n) => h("p", {}, n.body, h("span", { class: "meta", text: ` — ${ctx.person(n.author)}, ${when(n.at)}` }))) : [h("p", { class: "empty", text: "No notes." })]));
    reply.hidden = !(ix.state === "active" && ix.type === "messaging" && ix.assigned_to === state.me.id);
    lockComposer(reply, ix);
    keys.enabled(!reply.hidden && !reply.elements.body.disabled);
    receipts.update();
    showContext();
    renderControls();
    renderMedia();
    coaching.update(ix);
    transcript.update(ix);
    histories.forEach((x) => x.show(ix));
  }

  // Re-rendered on every change; a control that had the focus (found again by its data-key) keeps it.
  function renderControls() {
    const focused = controls.contains(document.activeElement) ? document.activeElement.dataset.key : null;
    settle(ix, state.me);
    const items = [];
    const mineOrSup = ix.assigned_to === state.me.id || state.me.role !== "agent";
    const button = (text, onclick, cls = "") => h("button", { type: "button", class: cls, onclick, text });
    if (ix.state === "active") {
      if (ix.status === "open" || (ix.status === "pending" && ix.offered_to === state.me.id)) items.push(button("Claim", () => ctx.act("claim", ix.id, {}), "primary"));
      if (ix.status === "pending" && ix.offered_to === state.me.id) items.push(button("Decline", () => ctx.act("decline", ix.id, {})));
      const audio = customerGone(ix) ? null : callAudio(ctx, ix, renderControls);
      if (audio) items.push(audio);
      if (ix.status === "claimed" && mineOrSup) {
        if (ix.consult) {
          items.push(consulting());
        } else {
          items.push(...(customerGone(ix) ? [] : [transferForm()]), switchForm(),
            button("End · resolved", () => ctx.act("end", ix.id, { outcome: "resolved" }), "primary"),
            button("End · unresolved", () => ctx.act("end", ix.id, { outcome: "unresolved" }), "danger"));
        }
      }
      if (mineOrSup) items.push(mergeAction(ctx, ix, renderControls));
      if (mineOrSup && ix.assigned_to) items.push(editor.element());  // e.g. the phone number a switch to text needs
      if (ix.status === "wrap_up" && mineOrSup) {
        items.push(h("p", { text: "Wrap-up: add a disposition and notes, then complete." }), button("Complete", () => ctx.act("complete", ix.id, {}), "primary"));
      }
    } else {
      if (can("edit_completed")) items.push(editor.element());
      if (can("clone_completed")) items.push(button("Clone as follow-up", async () => { const child = await ctx.act("clone", ix.id, {}); if (child) ctx.go(`#/ix/${child.id}`); }));
      const message = ctx.dms?.completerButton(ix);
      if (message) items.push(message);
    }
    controls.replaceChildren(...(items.length ? items : [h("p", { class: "empty", text: "Nothing to do here." })]));
    if (focused) controls.querySelector(`[data-key="${focused}"]`)?.focus();
  }

  // The handler's side of a warm transfer: who is consulted, the caller in or out (three-way), hand over or call it off.
  function consulting() {
    const { target, joined_at: joined } = ix.consult;
    const who = target.kind === "user" ? ctx.person(target.id) : target.kind === "queue" ? `queue ${state.queues.get(target.id)?.name || target.id}` : target.id;
    const where = target.kind !== "user" ? "" : joined ? " · on the line" : " · waiting for them to join";
    const on = threeWay(ix);
    const toggle = h("button", { type: "button", "data-key": "three-way", "aria-pressed": String(on), text: "Three-way", onclick: async () => {
      toggle.disabled = true;
      try { await api("POST", `/api/interactions/${ix.id}/consult/three-way`, { on: !on }); } catch (err) { ctx.toast(err.message); }
      toggle.disabled = false;
    } });
    return h("div", { class: "consulting", role: "group", "aria-label": "Warm transfer" },
      h("span", {}, h("strong", { text: `Consulting ${who}` }), where, h("span", { class: "hint", text: on ? "The caller hears you both." : "The caller is on hold." })),
      toggle,
      h("button", { type: "button", class: "primary", "data-key": "complete", text: "Complete transfer", onclick: () => ctx.act("consult/complete", ix.id, {}) }),
      h("button", { type: "button", "data-key": "cancel", text: "Cancel consult", onclick: () => ctx.act("consult/cancel", ix.id, {}) }));
  }

  function transferForm() {
    // An outside number takes calls and texts only (the core refuses a web chat there): it is not offered for a chat.
    const outside = can("transfer_external") && (ix.type === "call" || ix.subtype === "text");
    const kind = select("kind", [["queue", "Queue"], ["user", "Agent"], ["external", "Phone number"]].filter(([k]) => k !== "external" || outside), "queue", "Transfer to");
    const target = h("select", { name: "target", "aria-label": "Target" });
    // Checked by the browser at the field (required, E.164) before anything is sent; disabled while not in use.
    const number = h("input", { name: "number", type: "tel", placeholder: "+14155550100", "aria-label": "Phone number", hidden: true, disabled: true,
      required: true, pattern: "\\+[1-9][0-9]{6,14}", title: "International form: + then country code and number, e.g. +14155550100" });
    const mode = select("mode", [["cold", "Cold"], ["warm", "Warm (consult first)"]], "cold", "Mode");
    mode.hidden = ix.type !== "call";
    let picker = { queues: [], users: [] };
    const fill = () => {
      number.hidden = number.disabled = kind.value !== "external"; target.hidden = target.disabled = kind.value === "external";
      const options = kind.value === "queue"
        ? picker.queues.filter((q) => q.id === ix.queue_id || can("transfer_to_queue")).map((q) => [q.id, `${q.name} · ${q.waiting} waiting · avg ${duration(q.average_wait_seconds)} · ${q.available_agents} available`])
        : picker.users.map((u) => [u.id, `${u.name} · ${u.presence}`]);
      target.replaceChildren(...options.map(([v, t]) => h("option", { value: v, text: t })));
    };
    api("GET", "/api/transfer-targets").then((p) => { picker = p; fill(); });
    kind.onchange = fill;
    // The note travels with the transfer (the core's ``handoff``): the receiver sees it in the offer and the workspace.
    // A cold transfer hands the interaction on, so the agent is taken back to Queue Home, told where it went.
    const form = h("form", { class: "inline", "aria-label": "Transfer", onsubmit: async (e) => {
      e.preventDefault();
      const id = kind.value === "external" ? number.value.trim() : target.value;
      if (!id) return;
      const note = transferNote.value.trim();
      const cold = mode.hidden || mode.value === "cold";
      const to = kind.value === "external" ? id : target.selectedOptions[0]?.text.split(" · ")[0] || id;
      if (!(await ctx.act("transfer", ix.id, { target: { kind: kind.value, id }, mode: cold ? "cold" : "warm", ...(note ? { note } : {}) }))) return;
      transferNote.value = "";
      if (cold) { ctx.toast(`Transferred to ${to}.`); ctx.go("#/home"); }
    } }, h("label", {}, "Transfer to", kind), h("label", {}, "Target", target, number), mode.hidden ? "" : h("label", {}, "Mode", mode),
    h("label", {}, "Note for the receiver", transferNote), h("button", { type: "submit", text: "Transfer" }));
    return form;
  }

  function switchForm() {
    const options = CHANNELS.filter(([v]) => v !== `${ix.type}/${ix.subtype}`);
    const sel = select("channel", options, options[0][0], "Switch channel to");
    return h("form", { class: "inline", "aria-label": "Switch channel", onsubmit: (e) => {
      e.preventDefault();
      const [type, subtype] = sel.value.split("/");
      ctx.act("switch", ix.id, { type, subtype });
    } }, h("label", {}, "Continue as", sel), h("button", { type: "submit", text: "Switch" }));
  }

  // Customer details, subject and tags (and, once completed, the disposition); a PATCH of only what changed.  Built once
  // per workspace: live events re-render the controls around it, and its fields follow the interaction only while untouched.
  function detailsEditor() {
    const names = [["subject", "Subject"], ["disposition", "Disposition"], ["tags", "Tags"], ["name", "Customer name"], ["email", "Email"], ["phone", "Phone"]];
    const inputs = Object.fromEntries(names.map(([n]) => [n, h("input", { name: n, "data-key": `edit-${n}` })]));
    const labels = Object.fromEntries(names.map(([n, t]) => [n, h("label", {}, t, inputs[n])]));
    const stored = () => ({ subject: ix.subject || "", disposition: ix.disposition || "", tags: ix.tags.join(", "),
      name: ix.customer.name || "", email: ix.customer.email || "", phone: ix.customer.phone || "" });
    let filled = {};
    const fill = () => { filled = stored(); for (const [n, v] of Object.entries(filled)) inputs[n].value = v; };
    const form = h("form", { class: "inline", onsubmit: async (e) => {
      e.preventDefault();
      const was = stored(), patch = {}, customer = {};
      const now = Object.fromEntries(Object.entries(inputs).map(([n, el]) => [n, el.value.trim()]));
      for (const n of ["subject", "disposition"]) if (form.contains(labels[n]) && now[n] !== was[n]) patch[n] = now[n] || null;
      const tags = now.tags.split(",").map((t) => t.trim()).filter(Boolean);
      if (tags.join(",") !== ix.tags.join(",")) patch.tags = tags;
      for (const n of ["name", "email", "phone"]) if (now[n] !== was[n]) customer[n] = now[n] || null;
      if (Object.keys(customer).length) patch.customer = customer;
      if (!Object.keys(patch).length) return ctx.toast("Nothing to save: no field changed.");
      if (await ctx.act("edit", ix.id, patch)) fill();
    } }, ...Object.values(labels), h("button", { type: "submit", class: "primary", "data-key": "edit-save", text: "Save changes" }));
    const box = h("details", { class: "edit" }, h("summary", { text: "Edit customer and details" }));
    fill();
    return { element() {
      const active = ix.state === "active";
      form.setAttribute("aria-label", active ? "Edit customer and details" : "Edit completed interaction");
      if (active) labels.disposition.remove(); else if (!form.contains(labels.disposition)) labels.tags.before(labels.disposition);  // while active, it goes with the notes
      if (Object.entries(filled).every(([n, v]) => inputs[n].value === v)) fill();  // untouched (or typed back)
      if (!active) return form;
      box.append(form);
      return box;
    } };
  }

  // Who handed this interaction to the agent and what they left with it (the transfer stores who; the note is theirs).
  function showContext() {
    const from = ix.state === "active" ? transferredBy(ix, ctx.person) : null;
    context.hidden = !from;
    if (!from) return;
    const queue = from.fromQueue && from.fromQueue !== ix.queue_id ? ` from ${state.queues.get(from.fromQueue)?.name || from.fromQueue}` : "";
    context.replaceChildren(h("strong", { text: `Transferred by ${from.by}${queue}` }), ` · ${when(from.at)}`,
      from.note ? h("span", { class: "note", text: `“${from.note}”` }) : h("span", { class: "note empty", text: "No note left with it." }));
  }

  render();
  return (changed) => {
    if (changed?.typing) { if (changed.typing.interaction_id === ix.id) receipts.typing(changed.typing); return; }
    if (!changed) { quick.querySelectorAll("dd")[3].textContent = duration(ageOf(ix)); receipts.markRead(); return; }
    if (changed.id !== ix.id || changed.version < ix.version) return;
    const wasActive = ix.state === "active";
    ix = changed;
    if (wasActive && ix.state === "completed") return render();  // controls change shape
    render();
  };
}

// -- Supervisor -------------------------------------------------------------------------
