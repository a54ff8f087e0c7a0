// Merge: folds another active interaction of the same customer into the open one (POST /api/interactions/{id}/merge).
// Offered only where the server would take it: the customer's other active interactions, but not a call
// whose caller is still on the line.  The options load once per change of the customer's list and
// survive the controls being redrawn by live events (the choice is kept by interaction).
import { customerInteractions } from "./customer.js";
import { h, label, when } from "./dom.js";

const loaded = new Map();  // open interaction id -> { key, options, chosen }

const mergeable = (ix, s) => s.id !== ix.id && s.state === "active" && !(s.type === "call" && s.status !== "wrap_up");

export function mergeAction(ctx, ix, redraw) {
  const key = `${ix.customer.id}|${ix.version}`;
  const mine = loaded.get(ix.id);
  if (!mine || mine.key !== key) {
    const entry = { key, options: mine?.options || [], chosen: mine?.chosen || "" };
    loaded.set(ix.id, entry);
    customerInteractions(ix).then((items) => {
      if (loaded.get(ix.id) !== entry) return;
      const before = entry.options.map((s) => s.id).join();
      entry.options = (items || []).filter((s) => mergeable(ix, s));
      if (entry.options.map((s) => s.id).join() !== before) redraw();
    }).catch(() => {});
  }
  const entry = loaded.get(ix.id);
  if (!entry.options.length) return "";
  const pick = h("select", { name: "from", "aria-label": "Interaction to merge into this one", "data-key": "merge-from",
    onchange: () => (entry.chosen = pick.value) },
  entry.options.map((s) => h("option", { value: s.id, selected: s.id === entry.chosen, text: `${label(s.type)}/${s.subtype} · ${label(s.status)} · ${when(s.created_at)}` })));
  return h("form", { class: "inline merge", "aria-label": "Merge", onsubmit: async (e) => {
    e.preventDefault();
    if (await ctx.act("merge", ix.id, { from: pick.value })) entry.chosen = "";
  } }, h("label", {}, "Merge into this", pick), h("button", { type: "submit", "data-key": "merge", text: "Merge" }));
}
