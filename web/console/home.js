// Queue Home: the active interactions of one's queues, filtered, with ages and SLA states that tick in place.
import { ageOf, channelIcon, customerName, directionIcon, duration, h, select, SLA_LABELS, slaState, STATUS_LABELS, statusLabel, tableCard } from "./dom.js";
import { outboundButtons } from "./outbound.js";
import { can } from "./permissions.js";
import { consultsMe } from "./phone.js";
import { setupChecklist } from "./setup.js";

const TYPES = [["", "All types"], ["call", "Calls"], ["messaging", "Messaging"], ["voicemail", "Voicemail"]];
const STATUSES = [["", "All statuses"], ...["open", "pending", "claimed", "wrap_up"].map((s) => [s, STATUS_LABELS[s]])];


export function home(ctx, main) {
  const { state } = ctx;
  const f = state.filters;
  const queueSel = select("queue", [["", "All my queues"], ...[...state.queues.values()].map((q) => [q.id, q.name])], f.queue, "Queue");
  const typeSel = select("type", TYPES, f.type, "Type");
  const statusSel = select("status", STATUSES, f.status, "Status");
  const tbody = h("tbody");
  const filters = h("form", { class: "filters", "aria-label": "Filter interactions", onchange: () => {
    Object.assign(f, { queue: queueSel.value, type: typeSel.value, status: statusSel.value }); update();
  }, onsubmit: (e) => e.preventDefault() },
  h("label", {}, "Queue", queueSel), h("label", {}, "Type", typeSel), h("label", {}, "Status", statusSel));
  // The heading row: the page's title and its actions (outbound contacts); other panels go between it and the filters.
  const actions = h("div", { class: "actions" });
  let outboundShown = null;
  main.replaceChildren(h("div", { class: "page-head" }, h("h1", { text: "Queue Home" }), actions), filters,
    h("div", tableCard("Active interactions"), h("table", { "aria-label": "Active interactions" },
      h("thead", {}, h("tr", {}, ["Type", "Dir.", "Customer", "Queue", "Tags", "Status", "Age", "SLA", ""].map((t) => h("th", { scope: "col", text: t })))),
      tbody)));
  setupChecklist(ctx, main);  // a fresh install: the admin's first steps

  function update() {
    const now = Date.now();
    if (outboundShown !== can("create_outbound")) {  // redrawn only when the right changes, never under the user's click
      outboundShown = can("create_outbound");
      actions.replaceChildren(outboundButtons(ctx) || "");
    }
    const rows = [...state.interactions.values()]
      .filter((ix) => ix.state === "active" && (state.queues.has(ix.queue_id) || ix.assigned_to === state.me.id || consultsMe(ix, state.me)))
      .filter((ix) => (!f.queue || ix.queue_id === f.queue) && (!f.type || ix.type === f.type) && (!f.status || ix.status === f.status))
      .sort((a, b) => Date.parse(a.created_at) - Date.parse(b.created_at));
    if (!rows.length) return tbody.replaceChildren(h("tr", {}, h("td", { colspan: 9, class: "empty", text: "No active interactions. New ones appear here live." })));
    tbody.replaceChildren(...rows.map((ix) => {
      const queue = state.queues.get(ix.queue_id);
      const sla = slaState(ix, queue, now);
      const mine = ix.assigned_to === state.me.id || ix.offered_to === state.me.id || consultsMe(ix, state.me);
      const canClaim = ix.status === "open" || (ix.status === "pending" && ix.offered_to === state.me.id);
      return h("tr", { "data-id": ix.id, class: ix.offered_to === state.me.id ? "offered" : "" },
        h("td", {}, channelIcon(ix)), h("td", {}, directionIcon(ix)),
        h("td", {}, h("a", { href: `#/ix/${ix.id}`, text: customerName(ix.customer) })),
        h("td", { text: queue?.name || ix.queue_id }),
        h("td", {}, ix.tags.map((t) => h("span", { class: "tag", text: t }))),
        h("td", {}, h("span", { class: "status", text: statusLabel(ix.status) + (ix.assigned_to ? ` · ${ctx.person(ix.assigned_to)}` : "") })),
        h("td", { class: "age", text: duration(ageOf(ix, now)) }),
        h("td", {}, h("span", { class: `sla ${sla}`, text: SLA_LABELS[sla] })),
        h("td", {}, canClaim ? h("button", { type: "button", class: "primary", onclick: () => ctx.act("claim", ix.id, {}, true), "aria-label": `Claim ${customerName(ix.customer)}`, text: "Claim" })
          : mine ? h("a", { href: `#/ix/${ix.id}`, text: "Open" }) : ""));
    }));
  }
  function tick() {
    const now = Date.now();
    for (const row of tbody.querySelectorAll("tr[data-id]")) {
      const ix = state.interactions.get(row.dataset.id);
      if (!ix) continue;
      row.querySelector(".age").textContent = duration(ageOf(ix, now));
      const sla = slaState(ix, state.queues.get(ix.queue_id), now);
      const badge = row.querySelector(".sla");
      if (!badge.classList.contains(sla)) { badge.className = `sla ${sla}`; badge.textContent = SLA_LABELS[sla]; }
    }
  }
  update();
  return (what) => (what === "tick" ? tick() : update());
}

// -- Completed search ------------------------------------------------------------------
