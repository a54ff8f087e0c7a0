// Customer Details: the customer's other interactions (across channels and queues this user may see), each a link.
// The list comes from GET /api/customers/{id}; it is read again only when what it depends on changes
// (the customer, the status, a merge), not on every message of the open interaction.
import { api, ApiError } from "./api.js";
import { channelIcon, h, label, when } from "./dom.js";

const cache = new Map();  // customer id -> { key, promise }

// What a change of the open interaction must alter before the customer's list is read again.
const keyOf = (ix) => `${ix.customer.id}|${ix.id}|${ix.status}|${ix.activity.filter((a) => a.kind === "merged" || a.kind === "customer_linked").length}`;

// The customer's interactions (summaries, newest first) as GET /api/customers/{id} gives them, or null if none are visible.
export function customerInteractions(ix) {
  const id = ix.customer.id;
  if (!id) return Promise.resolve(null);
  const key = keyOf(ix);
  const known = cache.get(id);
  if (known && known.key === key) return known.promise;
  const promise = api("GET", `/api/customers/${encodeURIComponent(id)}`)
    .then((body) => body.interactions)
    .catch((err) => { if (err instanceof ApiError && err.status === 404) return null; cache.delete(id); throw err; });
  cache.set(id, { key, promise });
  return promise;
}

const outcome = (s, ix) => (s.merged_into ? (s.merged_into === ix.id ? "merged into this one" : "merged into another") : s.state === "completed" ? `completed${s.outcome ? " · " + s.outcome : ""}` : label(s.status));

// The "Earlier interactions" section; call show(ix) whenever the open interaction changes.
export function customerHistory() {
  const list = h("ol", { class: "history", "aria-label": "Earlier interactions of this customer" });
  const section = h("section", { class: "customer-history" }, h("h2", { text: "History" }), list);
  let shown = null;
  async function show(ix) {
    const key = keyOf(ix);
    if (key === shown) return;
    shown = key;
    let items;
    try { items = await customerInteractions(ix); } catch { list.replaceChildren(h("li", { class: "error", text: "History unavailable; reopen to retry." })); shown = null; return; }
    if (key !== shown) return;  // a newer show() took over meanwhile
    const others = (items || []).filter((s) => s.id !== ix.id);
    list.replaceChildren(...(others.length ? others.map((s) => h("li", {}, channelIcon(s), " ",
      h("a", { href: `#/ix/${s.id}`, text: `${when(s.created_at)} · ${s.queue_id}` }),
      h("span", { class: "meta", text: ` ${outcome(s, ix)}${s.subject ? " · " + s.subject : ""}` })))
      : [h("li", { class: "empty", text: "No earlier interactions." })]));
  }
  return { section, show };
}
