// Direct messages between users: one thread per pair, live from /ws/agent (direct_message.sent / .read events).
// The thread list is always re-read from the API on an event (never counted up locally), so a replayed event
// after a reconnect cannot count a message twice.
import { api, ApiError } from "./api.js";
import { customerName, h, when } from "./dom.js";

export class DirectMessages {
  constructor(ctx, badge) {
    this.ctx = ctx; this.badge = badge;
    this.threads = new Map();   // thread id -> summary {id, other, last, unread, updated_at}
    this.open = null;           // the conversation on screen: {threadId, to, append(message)}
    this.listeners = new Set(); // views to refresh when the list changes
    this.loading = null;
  }

  clear() { this.threads.clear(); this.names?.clear(); this.open = null; this.showBadge(); }

  // Re-reads my threads (coalesced: an event burst costs one request after the one in flight).
  load() {
    if (this.loading) { this.again = true; return this.loading; }
    this.loading = api("GET", "/api/direct-messages").then((list) => {
      this.threads = new Map(list.map((t) => [t.id, t]));
      this.showBadge();
      this.listeners.forEach((f) => f());
    }).catch(() => { /* kept as it was; the next event re-reads */ }).finally(() => {
      this.loading = null;
      if (this.again) { this.again = false; this.load(); }
    });
    return this.loading;
  }

  unread() { return [...this.threads.values()].reduce((n, t) => n + t.unread, 0); }

  showBadge() {
    const n = this.unread();
    this.badge.hidden = !n;
    this.badge.textContent = String(n);
    this.badge.setAttribute("aria-label", `${n} unread`);
  }

  threadWith(userId) { return [...this.threads.values()].find((t) => t.other.id === userId) || null; }

  // From app.js: every direct_message.* event of the agent socket.
  handle(event) {
    const me = this.ctx.state.me.id;
    if (event.type === "direct_message.sent") {
      const m = event.data;
      const other = m.author === me ? m.to : m.author;
      const showing = this.open && (this.open.threadId === m.thread_id || (!this.open.threadId && this.open.to === other));
      if (showing) this.open.append(m);
      else if (m.author !== me) this.ctx.toast(`New message from ${this.threads.get(m.thread_id)?.other.name || this.ctx.person(m.author)}`);
    }
    this.load();
  }

  // "Message <name>" on a completed interaction: opens (or continues) the thread with whoever completed it, linked to it.
  completerButton(ix) {
    const who = ix.completed_by;
    if (ix.state !== "completed" || !who || who === this.ctx.state.me.id || who === "system") return null;
    const name = this.ctx.person(who);
    return h("button", { type: "button", "data-key": "message-completer", text: `Message ${name}`,
      onclick: () => this.ctx.go(`#/messages/to/${encodeURIComponent(who)}/${encodeURIComponent(ix.id)}`) });
  }

  // #/messages, #/messages/<thread id>, #/messages/to/<user id>[/<interaction id>]
  view(main, parts) {
    const [first, second, third] = parts.map((p) => decodeURIComponent(p || ""));
    const list = h("ul", { class: "dm-threads", "aria-label": "Conversations" });
    const pane = h("section", { class: "card dm-pane", "aria-label": "Conversation" });
    main.replaceChildren(h("h1", { text: "Messages" }), h("div", { class: "dm" }, h("nav", { class: "card", "aria-label": "Message threads" }, list), pane));
    const target = first === "to" ? { to: second, interactionId: third || null } : first ? { threadId: first } : null;

    const renderList = () => {
      const items = [...this.threads.values()];
      list.replaceChildren(...(items.length ? items.map((t) => {
        const current = target && (target.threadId === t.id || target.to === t.other.id);
        return h("li", {}, h("a", { href: `#/messages/${t.id}`, "aria-current": current ? "page" : false },
          h("strong", { text: t.other.name }),
          t.unread ? h("span", { class: "badge", "aria-label": `${t.unread} unread`, text: String(t.unread) }) : "",
          h("span", { class: "meta", text: t.last ? `${t.last.author === this.ctx.state.me.id ? "You: " : ""}${t.last.body.slice(0, 60)}` : "" })));
      }) : [h("li", { class: "empty", text: "No messages yet. Open a completed interaction to message whoever completed it." })]));
    };
    this.listeners.add(renderList);
    renderList();
    if (target) this.conversation(pane, target).catch((err) => pane.replaceChildren(h("p", { class: "error", text: err.message || "Could not load this conversation." })));
    else pane.replaceChildren(h("p", { class: "empty", text: "Pick a conversation." }));
    return () => {};
  }

  leave() { this.open = null; this.listeners.clear(); }

  async conversation(pane, target) {
    const me = this.ctx.state.me;
    if (target.threadId && !this.threads.has(target.threadId)) await this.load();
    const thread = target.threadId ? this.threads.get(target.threadId) : this.threadWith(target.to);
    if (target.threadId && !thread) { pane.replaceChildren(h("p", { class: "error", text: "This conversation is not available." })); return; }
    const to = thread ? thread.other.id : target.to;
    const name = thread ? thread.other.name : this.ctx.person(to);
    const messages = h("ol", { class: "conversation", "aria-label": `Messages with ${name}`, "aria-live": "polite", tabindex: "0" });
    const seen = new Set();
    let before = null;
    const older = h("button", { type: "button", text: "Earlier messages", hidden: true, onclick: () => page() });
    const item = (m) => {
      const link = m.interaction_id ? h("a", { class: "dm-link", href: `#/ix/${encodeURIComponent(m.interaction_id)}`, text: "About an interaction" }) : "";
      if (link) this.about(m.interaction_id).then((who) => { if (who) link.textContent = `About ${who}`; });
      return h("li", { class: m.author === me.id ? "outbound" : "inbound", "data-id": m.id }, m.body, link,
        h("span", { class: "meta", text: `${m.author === me.id ? "You" : name} · ${when(m.at)}` }));
    };
    const append = (m) => {
      if (seen.has(m.id)) return;
      seen.add(m.id);
      messages.querySelector(".empty")?.remove();
      messages.append(item(m));
      messages.scrollTop = messages.scrollHeight;
      if (m.author !== me.id) this.markRead(m.thread_id);
    };
    const page = async () => {
      const q = new URLSearchParams({ limit: "50", ...(before ? { before } : {}) });
      const p = await api("GET", `/api/direct-messages/${thread.id}?${q}`);
      const fresh = p.messages.filter((m) => !seen.has(m.id));
      fresh.forEach((m) => seen.add(m.id));
      messages.prepend(...fresh.map(item));
      before = p.before; older.hidden = !before;
    };
    const link = target.interactionId ? this.ctx.state.interactions.get(target.interactionId) : null;
    const form = h("form", { class: "inline", "aria-label": `Message ${name}`, onsubmit: async (e) => {
      e.preventDefault();
      const body = form.elements.body.value.trim();
      if (!body) return;
      try {
        const m = await api("POST", "/api/direct-messages", { to, body, ...(target.interactionId ? { interaction_id: target.interactionId } : {}) });
        form.reset();
        this.open.threadId = m.thread_id;
        append(m);
      } catch (err) { this.ctx.toast(err instanceof ApiError ? err.message : "Not sent; try again."); }
    } }, h("textarea", { name: "body", rows: 2, "aria-label": `Message to ${name}`, placeholder: `Write to ${name}…`, maxlength: 4000 }),
    h("button", { type: "submit", class: "primary", text: "Send" }));
    pane.replaceChildren(h("h2", { text: name }),
      target.interactionId ? h("p", { class: "hint" }, "Your message will be linked to ",
        h("a", { href: `#/ix/${encodeURIComponent(target.interactionId)}`, text: link ? `the interaction with ${customerName(link.customer)}` : "the interaction" }), ".") : "",
      older, messages, form);
    this.open = { threadId: thread?.id || null, to, append };
    if (thread) {
      await page();
      messages.scrollTop = messages.scrollHeight;
      if (thread.unread) this.markRead(thread.id);
    }
    if (!seen.size) messages.append(h("li", { class: "empty", text: thread ? "No messages yet." : `Start your conversation with ${name}.` }));
    form.elements.body.focus();
  }

  // Whom a linked interaction was with (a completed one is not among the console's live ones): read once, kept.
  about(id) {
    const known = this.ctx.state.interactions.get(id);
    if (known) return Promise.resolve(customerName(known.customer));
    this.names ||= new Map();
    if (!this.names.has(id)) this.names.set(id, api("GET", `/api/interactions/${encodeURIComponent(id)}`).then((ix) => customerName(ix.customer)).catch(() => null));
    return this.names.get(id);
  }

  async markRead(threadId) {
    try { await api("POST", `/api/direct-messages/${threadId}/read`); } catch { /* the badge stays; the next open retries */ }
  }
}
