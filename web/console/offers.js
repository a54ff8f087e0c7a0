// Incoming offers: announced without ever taking the keyboard focus.  An agent typing a reply elsewhere keeps typing
// (a space once accepted an offer that had grabbed the focus, and threw the draft away); the offer is heard (a short
// beep, a polite live region), seen (the box, a "(1)" badge in the tab's title) and, while the tab is hidden, shown as a
// desktop notification if the agent allowed them from the box's own control (never asked for on load).
import { customerName } from "./dom.js";

const $ = (id) => document.getElementById(id);
const TITLE = document.title;

// A short two-tone beep made on the spot (no sound file to download); silent where the browser has no Web Audio or
// has not been interacted with yet (autoplay rules): the other signals remain.
let audio = null;
function beep() {
  try {
    audio = audio || new (window.AudioContext || window.webkitAudioContext)();
    if (audio.state === "suspended") audio.resume().catch(() => {});
    const start = audio.currentTime;
    [[880, 0], [1320, 0.16]].forEach(([freq, at]) => {
      const osc = audio.createOscillator(), gain = audio.createGain();
      osc.frequency.value = freq;
      gain.gain.setValueAtTime(0.0001, start + at);
      gain.gain.exponentialRampToValueAtTime(0.15, start + at + 0.02);
      gain.gain.exponentialRampToValueAtTime(0.0001, start + at + 0.14);
      osc.connect(gain).connect(audio.destination);
      osc.start(start + at); osc.stop(start + at + 0.15);
    });
  } catch { /* no sound: the live region, the title and the box still tell */ }
}

// Who handed it on and what they said, when an interaction came by a transfer (the core's ``handoff``; shown in the
// offer and the workspace while it is active).
export function transferredBy(ix, person) {
  const t = ix.handoff;
  if (!t) return null;
  return { by: person(t.by), at: t.at, fromQueue: t.from_queue, note: t.note || null };
}

export class Offers {
  // ctx: the console's (state, act, person); the box's markup is in index.html.
  constructor(ctx) {
    this.ctx = ctx;
    this.waiting = new Map();  // offers can overlap (chats have capacity for several): the oldest is shown first
    this.timer = null;
    this.notice = null;
    $("offer-accept").addEventListener("click", () => { const ix = this.take(); if (ix) ctx.act("claim", ix.id, {}, true); });
    $("offer-decline").addEventListener("click", () => { const ix = this.take(); if (ix) ctx.act("decline", ix.id, {}); });
    const enable = $("offer-notify");
    enable.addEventListener("click", async () => {
      try { await Notification.requestPermission(); } catch { /* refused or unsupported */ }
      this.showNotifyControl();
    });
    this.showNotifyControl();
  }

  // The "Enable notifications" control shows only while the browser could still ask (permission "default").
  showNotifyControl() {
    $("offer-notify").hidden = !("Notification" in window) || Notification.permission !== "default";
  }

  // Every interaction event passes here: an offer to this user joins the list, anything else about it leaves.
  offer(ix) {
    const me = this.ctx.state.me;
    const fresh = !this.waiting.has(ix.id);
    if (ix.status === "pending" && ix.offered_to === me.id && ix.offer_expires_at && Date.parse(ix.offer_expires_at) > Date.now()) {
      this.waiting.set(ix.id, ix);
      if (fresh) this.announce(ix);
    } else this.waiting.delete(ix.id);
    this.show();
  }

  // Each new offer is said once, whether or not it is the one the bar shows (the oldest): never by moving the focus.
  announce(ix) {
    const queue = this.ctx.state.queues.get(ix.queue_id)?.name || ix.queue_id;
    const text = `${customerName(ix.customer)} · ${ix.type}/${ix.subtype} · queue ${queue}`;
    $("offer-announce").textContent = `Incoming interaction: ${text}. Accept or decline it in the offer bar.`;
    beep();
    this.notify(ix, text);
  }

  take() {
    const ix = this.ctx.state.offer;
    if (ix) { this.waiting.delete(ix.id); this.show(); }
    return ix;
  }

  clear() { this.waiting.clear(); this.show(); }

  show() {
    const { state } = this.ctx;
    const now = Date.now();
    for (const [id, o] of this.waiting) if (Date.parse(o.offer_expires_at) <= now) this.waiting.delete(id);
    const next = [...this.waiting.values()].sort((a, b) => Date.parse(a.created_at) - Date.parse(b.created_at))[0];
    const box = $("offer");
    clearInterval(this.timer);
    document.title = this.waiting.size ? `(${this.waiting.size}) ${TITLE}` : TITLE;
    if (!next) {
      state.offer = null; box.hidden = true; $("offer-announce").textContent = "";
      this.notice?.close(); this.notice = null;
      return;
    }
    state.offer = next;
    const queue = state.queues.get(next.queue_id)?.name || next.queue_id;
    const text = `${customerName(next.customer)} · ${next.type}/${next.subtype} · queue ${queue}` + (this.waiting.size > 1 ? ` (+${this.waiting.size - 1} more)` : "");
    $("offer-text").textContent = text;
    const from = transferredBy(next, this.ctx.person);
    $("offer-from").hidden = !from;
    $("offer-from").textContent = from ? `Transferred by ${from.by}${from.note ? `: “${from.note}”` : ""}` : "";
    const tick = () => {
      const left = Math.max(0, Math.ceil((Date.parse(next.offer_expires_at) - Date.now()) / 1000));
      $("offer-count").textContent = left;
      if (!left) this.show();
    };
    this.timer = setInterval(tick, 250); tick();
    box.hidden = false;
  }

  notify(ix, text) {
    if (!("Notification" in window) || Notification.permission !== "granted" || document.visibilityState !== "hidden") return;
    this.notice?.close();
    try {
      this.notice = new Notification("Incoming interaction", { body: text, tag: `offer-${ix.id}` });
      this.notice.onclick = () => { window.focus(); this.notice?.close(); };
    } catch { /* some browsers only notify from a service worker: the title and the sound remain */ }
  }
}
