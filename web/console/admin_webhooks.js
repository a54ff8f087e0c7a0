// Admins: outbound webhook subscriptions (issue 18; API in README "Integrating: outbound webhooks").  The list with each
// subscription's status (a paused one says why, prominently); a subscription's page: its settings (PATCH of what
// changed), pause/resume, test ping, secret rotation, deletion, the delivery log with replays.  The signing secret is
// shown once, right after creation or rotation: the API never returns it again.
import { api, ApiError } from "./api.js";
import { h, tableCard, when } from "./dom.js";
import { choices, chosen, clearErrors, field, mergePatch, showErrors } from "./admin_fields.js";

// The event types a subscription may name: sessions/events.py EventType's interaction.* members (the API refuses the
// others: direct messages, presence, users, rights and queues are not for integrators).  "*" means all of them.
const EVENTS = ("created offered offer_declined offer_expired claimed transferred consult_started consult_joined consult_cancelled " +
  "requeued channel_switched message_added message_status messages_read note_added recording_attached recording_stored " +
  "transcript_attached transcript_segment_added ended disconnected completed abandoned edited merged customer_linked evaluated " +
  "reevaluated held resumed three_way_started three_way_ended monitor_started monitor_changed monitor_stopped audio_joined " +
  "audio_left audio_moved call_status consult_status recording_status transcription_status live_transcription").split(" ").map((t) => `interaction.${t}`);
const ALL = "*";
const LOG_PAGE = 50;
const REFRESH_MS = 3000;  // the open subscription's page re-reads its status and newest deliveries this often
const hookPath = (id, rest = "") => `/api/webhooks/${encodeURIComponent(id)}${rest}`;
const eventsText = (events) => (events.includes(ALL) ? "All interaction events" : events.length > 3 ? `${events.slice(0, 3).join(", ")} and ${events.length - 3} more` : events.join(", "));
const failure = (err) => (err instanceof ApiError ? err.message : "Something went wrong; try again.");

export function adminWebhooks(ctx, main, id) {
  if (id === "new") return subscriptionForm(ctx, main, null, main);
  if (id) return subscriptionPage(ctx, main, id);
  const body = h("tbody");
  main.replaceChildren(h("h1", { text: "Webhooks" }),
    h("p", { class: "hint" }, "Integrations get the interactions' events as signed HTTP requests (Standard Webhooks): see the README's integrator guide and ",
      h("a", { href: "/docs", text: "the API reference" }), "."),
    h("p", { class: "controls" }, h("a", { class: "button primary", href: "#/admin-webhooks/new", text: "New subscription" })),
    h("div", tableCard("Webhook subscriptions"), h("table", { class: "hooks", "aria-label": "Webhook subscriptions" },
      h("thead", {}, h("tr", {}, ["Endpoint", "Events", "Queues", "Status", ""].map((t) => h("th", { scope: "col", text: t })))), body)));
  const queueNames = (qs) => (qs.length ? qs.map((q) => ctx.state.queues.get(q)?.name || q).join(", ") : "Every queue");
  async function update() {
    let hooks;
    try { hooks = await api("GET", "/api/webhooks"); } catch (err) { ctx.toast(failure(err)); return; }
    if (!hooks.length) return body.replaceChildren(h("tr", {}, h("td", { colspan: 5, class: "empty", text: "No subscriptions yet: create the first one." })));
    body.replaceChildren(...hooks.map((w) => h("tr", { "data-id": w.id, class: w.status === "paused" ? "hook-paused" : "" },
      h("th", { scope: "row" }, h("span", { class: "hook-url", text: w.url }), w.description ? h("span", { class: "meta", text: w.description }) : null),
      h("td", { text: eventsText(w.events) }), h("td", { text: queueNames(w.queues) }),
      h("td", {}, statusBadge(w)),
      h("td", {}, h("a", { href: `#/admin-webhooks/${encodeURIComponent(w.id)}`, "aria-label": `Open ${w.url}`, text: "Open" })))));
  }
  update();
  return () => update();  // a queue.changed event: queue names may have changed
}

// Active or paused, and why: the reason is the owner's to act on, so it is shown in words beside the badge.
function statusBadge(w) {
  const paused = w.status === "paused";
  return h("span", { class: "hook-status" }, h("span", { class: `badge-status ${paused ? "paused" : "active"}`, text: paused ? "Paused" : "Active" }),
    paused && w.paused_reason ? h("strong", { class: "paused-reason", text: w.paused_reason }) : null);
}

// A secret, once: with a copy button and the warning that it will not be shown again.
function secretPanel(secret, note) {
  const value = h("code", { class: "secret-value", text: secret });
  const said = h("span", { role: "status", "aria-live": "polite" });
  const copy = async () => {
    try { await navigator.clipboard.writeText(secret); said.textContent = "Copied."; } catch {
      getSelection().selectAllChildren(value); said.textContent = "Selected: press Ctrl+C (⌘C) to copy.";
    }
  };
  return h("section", { class: "card secret", role: "region", "aria-label": "Signing secret" },
    h("h2", { text: "Signing secret" }),
    h("p", { class: "warning", text: "This secret is shown once: copy it now and store it with the receiving service. It cannot be shown again (rotate it to get a new one)." }),
    note ? h("p", { text: note }) : null,
    h("p", { class: "secret-line" }, value, " ", h("button", { type: "button", onclick: copy, text: "Copy secret" }), " ", said));
}

// New (``stored`` null: POST, then the secret) or edit (PATCH of what changed); ``onSaved`` gets the saved subscription.
function subscriptionForm(ctx, main, stored, into, onSaved) {
  const w = stored || { url: "", description: "", events: [], queues: [] };
  const url = h("input", { name: "url", type: "url", value: w.url, required: true, maxlength: 2000, placeholder: "https://crm.example.com/hooks/switchboard", autocomplete: "off" });
  const description = h("input", { name: "description", value: w.description || "", maxlength: 500, autocomplete: "off" });
  const all = w.events.includes(ALL);
  const events = choices("Events", [[ALL, "All interaction events"], ...EVENTS.map((t) => [t, t])], w.events, "events");
  events.classList.add("event-choices");
  const queues = choices("Queues (none checked: every queue)", [...ctx.state.queues.values()].map((q) => [q.id, q.name]), w.queues, "queues");
  const others = () => [...events.querySelectorAll("input")].filter((i) => i.value !== ALL);
  const allBox = events.querySelector(`input[value="${ALL}"]`);
  const syncAll = () => others().forEach((i) => { i.disabled = allBox.checked; });
  allBox.addEventListener("change", syncAll);
  if (all) syncAll();
  const status = h("p", { class: "form-status", role: "status", "aria-live": "polite" });
  const form = h("form", { class: "card admin-form hook-form", "aria-label": stored ? "Subscription settings" : "New subscription", novalidate: true, onsubmit: save },
    h("fieldset", {}, h("legend", { text: "Endpoint" }),
      field("URL", url, "url", "http or https; the receiver answers 2xx to acknowledge. No redirects are followed."),
      field("Description", description, "description", "What this integration is, for the other admins.")),
    h("fieldset", {}, h("legend", { text: "What it gets" }), events, queues),
    h("div", { class: "actions" }, stored ? null : h("a", { href: "#/admin-webhooks", text: "Back to the webhooks" }),
      h("button", { type: "submit", class: "primary", text: stored ? "Save changes" : "Create subscription" })),
    status);
  if (stored) into.append(form);
  else { main.replaceChildren(h("h1", { text: "New webhook subscription" }), form); url.focus(); }

  const read = () => {
    const picked = chosen(events);
    return { url: url.value.trim(), description: description.value.trim(), events: picked.includes(ALL) ? [ALL] : picked, queues: chosen(queues) };
  };
  async function save(e) {
    e.preventDefault();
    status.textContent = "";
    try {
      if (!stored) {
        const created = await api("POST", "/api/webhooks", read());
        clearErrors(form);
        const { secret, ...saved } = created;
        main.replaceChildren(h("h1", { text: "Subscription created" }), secretPanel(secret),
          h("p", {}, h("a", { class: "button primary", href: `#/admin-webhooks/${encodeURIComponent(saved.id)}`, text: "Open the subscription" })));
        return;
      }
      const before = { url: stored.url, description: stored.description || "", events: stored.events, queues: stored.queues };
      const patch = mergePatch(before, read());
      if (!Object.keys(patch).length) { clearErrors(form); status.textContent = "Nothing changed."; return; }
      stored = await api("PATCH", hookPath(stored.id), patch);
      clearErrors(form);
      status.textContent = "Saved.";
      onSaved?.(stored);
    } catch (err) {
      status.textContent = showErrors(form, err, (x) => (x.status === 404 ? "url" : null));
    }
  }
  return () => {};
}

function subscriptionPage(ctx, main, id) {
  let hook = null;
  const head = h("div", { class: "hook-head" });
  const said = h("p", { class: "form-status hook-said", role: "status", "aria-live": "polite" });
  const secretSlot = h("div");
  const settings = h("div");
  const log = deliveryLog(ctx, id, (text) => (said.textContent = text));
  main.replaceChildren(h("h1", { class: "hook-title", text: "Webhook subscription" }), head, said, secretSlot, settings, log.node);
  const fail = (err) => { said.textContent = failure(err); };

  async function act(text, run) {
    said.textContent = `${text}…`;
    try { return await run(); } catch (err) { fail(err); return null; }
  }
  const patchStatus = (to) => act(to === "paused" ? "Pausing" : "Resuming", async () => {
    hook = await api("PATCH", hookPath(id), { status: to });
    drawHead();
    said.textContent = to === "paused" ? "Paused: no deliveries until it is resumed." : "Resumed: deliveries go on from where they stopped.";
  });
  const ping = () => act("Sending a test ping", async () => {
    const r = await api("POST", hookPath(id, "/ping"));
    said.textContent = r.ok ? `Ping delivered: HTTP ${r.status} in ${r.latency_ms} ms.` : `Ping failed: ${r.error || `HTTP ${r.status}`} (after ${r.latency_ms} ms).`;
  });
  const rotate = () => act("Rotating the secret", async () => {
    const r = await api("POST", hookPath(id, "/rotate-secret"));
    secretSlot.replaceChildren(secretPanel(r.secret, `The previous secret stays valid until ${when(r.previous_valid_until)}: until then every delivery carries both signatures.`));
    said.textContent = "New secret made.";
    load();
  });
  function confirmDelete() {
    const box = h("div", { class: "confirm", role: "group", "aria-label": "Confirm deletion" },
      h("p", { text: "Delete this subscription? Deliveries stop and its delivery log is deleted with it." }),
      h("button", { type: "button", class: "danger", text: "Delete for good", onclick: () => act("Deleting", async () => {
        await api("DELETE", hookPath(id));
        ctx.toast("Subscription deleted.");
        ctx.go("#/admin-webhooks");
      }) }),
      " ", h("button", { type: "button", text: "Cancel", onclick: () => box.remove() }));
    head.querySelector(".confirm")?.remove();
    head.append(box);
    box.querySelector("button").focus();
  }

  function drawHead() {
    const paused = hook.status === "paused";
    main.querySelector("h1").textContent = `Webhook: ${hook.url}`;
    head.replaceChildren(...[
      paused && h("p", { class: "paused-banner", role: "note" }, h("strong", { text: hook.paused_reason || "Paused." }), " Nothing is sent until it is resumed; then delivery goes on from where it stopped."),
      h("dl", { class: "hook-facts" },
        h("dt", { text: "Status" }), h("dd", {}, statusBadge(hook)),
        h("dt", { text: "Events" }), h("dd", { text: eventsText(hook.events) }),
        h("dt", { text: "Last event handled (cursor)" }), h("dd", { text: hook.cursor || "none yet" }),
        h("dt", { text: "Secret rotated" }), h("dd", { text: hook.secret_rotated_at ? when(hook.secret_rotated_at) : "never" })),
      h("p", { class: "controls hook-actions" },
        h("button", { type: "button", class: paused ? "primary" : "", text: paused ? "Resume" : "Pause", onclick: () => patchStatus(paused ? "active" : "paused") }),
        h("button", { type: "button", text: "Send test ping", onclick: ping }),
        h("button", { type: "button", text: "Rotate secret", onclick: rotate }),
        h("button", { type: "button", class: "danger", text: "Delete", onclick: confirmDelete }),
        h("a", { href: "#/admin-webhooks", text: "Back to the webhooks" }))].filter(Boolean));
  }

  async function load(first = false) {
    const before = JSON.stringify(hook);
    try { hook = await api("GET", hookPath(id)); } catch (err) {
      if (first) main.replaceChildren(h("h1", { text: "Subscription not found" }), h("p", { class: "error", text: failure(err) }), h("a", { href: "#/admin-webhooks", text: "Back to the webhooks" }));
      return false;
    }
    // Unchanged, or a deletion being confirmed: nothing is redrawn under the pointer or the focus.
    if (JSON.stringify(hook) === before || head.querySelector(".confirm")) return true;
    drawHead();
    if (first) {
      settings.append(h("h2", { text: "Settings" }));
      subscriptionForm(ctx, main, hook, settings, (saved) => { hook = saved; drawHead(); });
    }
    return true;
  }
  load(true).then((found) => {
    if (!found) return;
    log.more();
    // No event announces a delivery: while this page is open and in front, its status and newest deliveries are re-read.
    const timer = setInterval(() => {
      if (!main.isConnected) return clearInterval(timer);
      if (document.visibilityState === "visible") { load(); log.refresh(); }
    }, REFRESH_MS);
  });
  return () => {};
}

// The delivery log, newest first: a page at a time ("Load more"), the newest page re-read in place; replays.
function deliveryLog(ctx, id, say) {
  const rows = new Map();  // delivery id -> item, in the order shown
  let next = null, pages = 0, shown = null;
  const body = h("tbody");
  const more = h("button", { type: "button", text: "Load more", hidden: true, onclick: () => page(next) });
  const since = h("input", { name: "since", required: true, autocomplete: "off", placeholder: "event id" });
  const until = h("input", { name: "until", autocomplete: "off", placeholder: "event id (optional)" });
  const rangeStatus = h("p", { class: "form-status", role: "status", "aria-live": "polite" });
  const range = h("form", { class: "card admin-form hook-form", "aria-label": "Replay a range of events", novalidate: true, onsubmit: replayRange },
    h("fieldset", {}, h("legend", { text: "Replay a range of events" }),
      field("After event", since, "since", "Events after this one (not itself) are sent again, in order."),
      field("Up to event", until, "until", "This one included; empty: up to the last event handled.")),
    h("div", { class: "actions" }, h("button", { type: "submit", text: "Replay range" })), rangeStatus);
  const node = h("section", { class: "hook-log", "aria-labelledby": "hook-log-title" },
    h("h2", { id: "hook-log-title", text: "Delivery log" }),
    h("div", tableCard("Deliveries"), h("table", { class: "hooks", "aria-label": "Deliveries" },
      h("thead", {}, h("tr", {}, ["Event", "Status", "Attempts", "Last answer", "Latency", "Next attempt", "Created", ""].map((t) => h("th", { scope: "col", text: t })))), body)),
    h("p", { class: "controls" }, more), range);

  function draw() {
    const key = JSON.stringify([...rows.values()]);
    if (key === shown) return;  // unchanged: nothing redrawn under the pointer or the focus
    shown = key;
    if (!rows.size) return body.replaceChildren(h("tr", {}, h("td", { colspan: 8, class: "empty", text: "No deliveries yet." })));
    body.replaceChildren(...[...rows.values()].map((d) => h("tr", { "data-id": d.id, class: `delivery ${d.status}` },
      h("th", { scope: "row" }, d.type, h("span", { class: "meta", text: `event ${d.event_id}` })),
      h("td", {}, h("span", { class: `badge-status ${d.status}`, text: d.status })),
      h("td", { text: String(d.attempts) }),
      h("td", { class: "last-answer", text: [d.last_status && `HTTP ${d.last_status}`, d.last_error].filter(Boolean).join(": ") || "—" }),
      h("td", { text: d.latency_ms == null ? "—" : `${d.latency_ms} ms` }),
      h("td", { text: d.next_attempt_at ? when(d.next_attempt_at) : "—" }),
      h("td", { text: when(d.created_at) }),
      h("td", {}, h("button", { type: "button", "aria-label": `Replay ${d.type} ${d.event_id}`, text: "Replay", onclick: () => replay(d) })))));
  }
  async function page(before) {
    try {
      const r = await api("GET", hookPath(id, `/deliveries?limit=${LOG_PAGE}${before ? `&before=${encodeURIComponent(before)}` : ""}`));
      r.items.forEach((d) => rows.set(d.id, d));
      next = r.next;
      pages++;
      more.hidden = !next;
      draw();
    } catch (err) { say(failure(err)); }
  }
  // The newest page again: with only it loaded, it replaces the rows; past it, new deliveries go on top and the ones
  // shown are updated where they are.
  async function refresh() {
    try {
      const r = await api("GET", hookPath(id, `/deliveries?limit=${LOG_PAGE}`));
      const kept = pages > 1 ? [...rows.entries()].filter(([k]) => !r.items.some((d) => d.id === k)) : [];
      if (pages <= 1) next = r.next;
      rows.clear();
      r.items.forEach((d) => rows.set(d.id, d));
      kept.forEach(([k, d]) => rows.set(k, d));
      more.hidden = !next;
      draw();
    } catch { /* the next refresh tries again */ }
  }
  async function replay(d) {
    try {
      await api("POST", hookPath(id, `/deliveries/${encodeURIComponent(d.id)}/replay`));
      say(`Sent ${d.type} again (same webhook-id: receivers that saw it already can drop it).`);
      refresh();
    } catch (err) { say(failure(err)); }
  }
  async function replayRange(e) {
    e.preventDefault();
    rangeStatus.textContent = "";
    const body = { since: since.value.trim(), ...(until.value.trim() ? { until: until.value.trim() } : {}) };
    try {
      const r = await api("POST", hookPath(id, "/replay"), body);
      clearErrors(range);
      rangeStatus.textContent = `Queued ${r.queued} event${r.queued === 1 ? "" : "s"} to send again, in order.`;
      refresh();
    } catch (err) { rangeStatus.textContent = showErrors(range, err, (x) => (x.status === 404 ? "since" : null)); }
  }
  return { node, more: () => page(null), refresh };
}
