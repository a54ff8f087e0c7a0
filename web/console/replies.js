// The reply box's manners, both ways with a web-chat customer: Enter sends and Shift+Enter adds a line; the customer
// sees the agent typing (POST /typing, throttled) and the agent sees them typing (`chat.typing` events); the agent's
// reading marks the customer's messages read (POST /read) and the customer's reading shows on the agent's messages.
import { api } from "./api.js";
import { customerGone } from "./disconnect.js";
import { h } from "./dom.js";

const SAY_TYPING_EVERY = 3000;  // while typing, "still typing" at most this often
const STOPPED_AFTER = 4000;  // no key for this long: "stopped typing"
const THEIRS_STALE = 8000;  // the customer's "typing" with no word since (a dropped widget): forgotten

const chat = (ix) => ix.state === "active" && ix.type === "messaging" && ix.subtype === "chat" && !customerGone(ix);

export function replyKeys(form, current) {
  const box = form.elements.body;
  let said = 0, idle = null, on = false;
  const tell = (active) => api("POST", `/api/interactions/${current().id}/typing`, { active }).catch(() => { /* a nicety */ });
  const stop = () => {
    clearTimeout(idle);
    if (said) { said = 0; tell(false); }
  };
  box.addEventListener("keydown", (e) => {
    // Not while an input method composes a character (Enter there picks the candidate).
    if (e.key === "Enter" && !e.shiftKey && !e.isComposing && !e.altKey && !e.ctrlKey && !e.metaKey) {
      e.preventDefault();
      form.requestSubmit();
    }
  });
  box.addEventListener("input", () => {
    if (!on || !chat(current())) return;
    if (!box.value.trim()) return stop();
    const now = Date.now();
    if (now - said > SAY_TYPING_EVERY) { said = now; tell(true); }
    clearTimeout(idle);
    idle = setTimeout(stop, STOPPED_AFTER);
  });
  box.addEventListener("blur", stop);
  return { stop, enabled(yes) { if (on && !yes) stop(); on = yes; } };
}

export function readReceipts(ctx, current) {
  const line = h("p", { class: "chat-state", "aria-live": "polite" });
  let theirs = false, stale = null, asking = null, asked = "";

  function show() {
    const ix = current();
    const last = [...ix.messages].reverse().find((m) => m.direction === "outbound");
    const read = last && last.status === "read" && ix.messages.at(-1).id === last.id;
    line.textContent = theirs && chat(ix) ? "The customer is typing…" : read && ix.subtype === "chat" ? "Read by the customer" : "";
    line.classList.toggle("typing", theirs && chat(ix));
  }

  // The customer's messages are read when the agent handling them has the conversation in front of them.
  function markRead() {
    const ix = current();
    if (asking || document.visibilityState !== "visible" || ix.assigned_to !== ctx.state.me.id || ix.state !== "active") return;
    if (!line.isConnected || line.closest("[role=tabpanel]")?.hidden) return;  // another tab picked: not seen yet
    const unread = ix.messages.filter((m) => m.direction === "inbound" && m.status !== "read").map((m) => m.id).join();
    if (!unread || unread === asked) return;  // the same ones are asked for once (their event may not be in yet)
    asked = unread;
    asking = api("POST", `/api/interactions/${ix.id}/read`).then((done) => done && ctx.upsert(done)).catch(() => { /* read again later */ })
      .finally(() => { asking = null; });
  }
  return {
    element: line,
    markRead,  // also on the workspace's clock: a tab brought back to the front reads what came meanwhile
    update() {
      const ix = current();
      if (ix.messages.at(-1)?.direction === "inbound") theirs = false;  // they sent it: no longer typing
      show();
      markRead();
    },
    typing(data) {
      if (data.from !== "customer") return;
      theirs = Boolean(data.active);
      clearTimeout(stale);
      if (theirs) stale = setTimeout(() => { theirs = false; show(); }, THEIRS_STALE);
      show();
    },
  };
}
