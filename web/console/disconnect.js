// A contact's end as the agent sees it: who left, and which controls no longer apply.
// The gateway records it on the interaction (`disconnect`: by, reason, at, channel); this module only reads it.
import { h } from "./dom.js";

const REASONS = {
  no_answer: "The customer did not answer", busy: "The line was busy", failed: "The call failed",
  network_drop: "The customer's connection dropped", transferred: "Transferred out", hang_up: "The contact was ended",
};

// The customer's side of the current channel is gone (they left, or the provider could not reach them).
// The agent's own end is no news to them, and a disconnect of an earlier channel (a chat gone on by text) no longer counts.
export function customerGone(ix) {
  const d = ix.disconnect;
  return !!d && d.by !== "agent" && d.channel === ix.subtype && ix.state === "active";
}

export function goneText(d) {
  if (d.by === "customer" && d.reason === "hang_up") return d.channel === "chat" ? "The customer left the chat" : "The customer hung up";
  return REASONS[d.reason] || "The contact ended";
}

// The workspace header's status line while the customer is gone, or null.
export function disconnectNotice(ix) {
  if (!customerGone(ix)) return null;
  const chat = ix.subtype === "chat" ? "Replies cannot reach them here any more. " : "";
  const next = chat + (ix.status === "wrap_up" ? "Add notes, then complete." : chat ? "Switch to text to follow up, or end it." : "End it when you are done.");
  return h("p", { class: "disconnected", role: "status" }, h("strong", { text: `${goneText(ix.disconnect)}.` }), " ", next);
}

// The reply box stays (the conversation is still there to read) but cannot send into a chat that ended, whoever ended
// it (the core refuses a message nobody would read); it says why in a line of its own (a placeholder alone is hidden by
// a draft still in the box).
export function lockComposer(form, ix) {
  const d = ix.disconnect;
  const closed = ix.state === "active" && ix.subtype === "chat" && !!d && d.channel === "chat";
  const why = customerGone(ix) ? goneText(d).toLowerCase() : "the chat was ended";
  for (const el of form.elements) el.disabled = closed;
  form.elements.body.placeholder = closed ? (customerGone(ix) ? "The customer left the chat" : "The chat has ended") : "Write a reply…";
  const line = form.querySelector(".reply-why");
  if (!line) return;
  line.hidden = !closed;
  line.textContent = closed ? `Replies are closed: ${why}, so a message here would not reach them.` : "";
}
