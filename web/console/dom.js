// Small DOM and formatting helpers: text always goes in as text, never as HTML.
export function h(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === false || v == null) continue;
    if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
    else if (k === "text") node.textContent = v;
    else node.setAttribute(k, v === true ? "" : v);
  }
  for (const c of children.flat()) if (c != null && c !== false) node.append(c instanceof Node ? c : String(c));
  return node;
}

// Text badges rather than emoji: they render the same on every machine, fonts or not.
export const ICONS = {
  "call/phone": ["Call", "Phone call"], "call/webrtc": ["Web call", "Web call"], "messaging/chat": ["Chat", "Web chat"],
  "messaging/text": ["SMS", "Text message"], "voicemail/voicemail": ["Voicemail", "Voicemail"], "email/email": ["Email", "Email"],
};

export function channelIcon(ix) {
  const [badge, label] = ICONS[`${ix.type}/${ix.subtype}`] || [ix.type, ix.type];
  return h("span", { class: `icon ch-${ix.type}`, role: "img", "aria-label": label, title: label, text: badge });
}

export function directionIcon(ix) {
  const inbound = ix.direction === "inbound";
  return h("span", { role: "img", "aria-label": inbound ? "Inbound" : "Outbound", title: inbound ? "Inbound" : "Outbound", text: inbound ? "↙" : "↗" });
}

export function customerName(c) { return c.name || c.phone || c.email || "Unknown customer"; }

export function duration(seconds) {
  seconds = Math.max(0, Math.floor(seconds));
  const m = Math.floor(seconds / 60), s = seconds % 60, hr = Math.floor(m / 60);
  return hr ? `${hr}h ${m % 60}m` : m ? `${m}m ${String(s).padStart(2, "0")}s` : `${s}s`;
}

// A completed interaction's age is frozen at its completion: it no longer ticks.
export function ageOf(ix, now = Date.now()) {
  const end = ix.completed_at ? Math.min(now, Date.parse(ix.completed_at)) : now;
  return (end - Date.parse(ix.created_at)) / 1000;
}

// SLA state (README, Features: SLA): active interactions age from creation until claimed.
export function slaState(ix, queue, now = Date.now()) {
  const threshold = queue?.settings?.sla_threshold ?? 20;
  const waited = ix.answered_at ? (Date.parse(ix.answered_at) - Date.parse(ix.created_at)) / 1000 : ageOf(ix, now);
  if (waited > threshold) return "breached";
  if (!ix.answered_at && waited > 0.75 * threshold) return "near";
  return "within";
}

export function when(iso) { return iso ? new Date(iso).toLocaleString([], { dateStyle: "short", timeStyle: "short" }) : "—"; }
export const label = (s) => (s || "").replace(/_/g, " ");

// Statuses in words, one map for every list, filter and page (the API's "pending" is an offer made to someone).
export const STATUS_LABELS = { open: "Waiting", pending: "Offered", claimed: "Claimed", wrap_up: "Wrap-up", completed: "Completed", abandoned: "Abandoned" };
export const statusLabel = (s) => STATUS_LABELS[s] || label(s);
// A tab's or heading's name from its setting ("conversation", "live_transcript"): capitalised words.
export const titleLabel = (s) => { const t = label(s); return t.charAt(0).toUpperCase() + t.slice(1); };
// SLA states in words; the badge carries the word, so a breach never reads by colour alone.
export const SLA_LABELS = { within: "Within SLA", near: "Near breach", breached: "Breached" };

// Why a text did not reach the customer, in words: the gateway's own codes and Twilio's commonest ones.
const UNDELIVERED = {
  not_configured: "texting is not set up on this gateway", no_number: "the customer's or the queue's phone number is unknown",
  provider_error: "the provider refused it", 21211: "the phone number is not valid", 21408: "texting that country is not enabled",
  21610: "the customer has opted out of texts (STOP)", 21614: "the number cannot receive texts", 30003: "the phone is unreachable",
  30004: "the message was blocked", 30005: "the number is unknown or no longer in service", 30006: "a landline or an unreachable carrier",
  30007: "the carrier filtered it", 30008: "an unknown delivery error",
};
export const undelivered = (m) => m.status === "failed" || m.status === "undelivered";
export function undeliveredReason(m) {
  const why = UNDELIVERED[m.error_code];
  return why ? `${why} (${m.error_code})` : m.error_code ? `error ${m.error_code}` : "the provider reported a failure";
}

// One bubble of the conversation; a text that failed says so in words, not only by its status, and is styled as an error.
export function messageItem(m, author) {
  const failed = undelivered(m);
  return h("li", { class: failed ? `${m.direction} failed` : m.direction }, m.body,
    failed ? h("span", { class: "undelivered", role: "note", text: `Not delivered: ${undeliveredReason(m)}` }) : "",
    h("span", { class: "meta", text: `${author} · ${when(m.at)} · ${m.channel}${m.status ? " · " + m.status : ""}${m.error_code ? " (" + m.error_code + ")" : ""}` }));
}

// A labelled <select> of [value, text] pairs, ``value`` chosen.
export const select = (name, options, value, aria) =>
  h("select", { name, "aria-label": aria }, options.map(([v, t]) => h("option", { value: v, selected: v === value, text: t })));

// The attributes of the card around a table: on a narrow screen a wide table scrolls inside it (console.css
// .card.flush), so the card is a labelled region the keyboard can focus, and so scroll.
export const tableCard = (label) => ({ class: "card flush", role: "region", tabindex: "0", "aria-label": label });
