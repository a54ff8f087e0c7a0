// Completed interactions: a search by queue, customer, dates and outcome.
import { api } from "./api.js";
import { channelIcon, customerName, h, label, select, tableCard, when } from "./dom.js";

export function completed(ctx, main) {
  const { state } = ctx;
  const results = h("tbody");
  const form = h("form", { class: "filters", "aria-label": "Search completed interactions", onsubmit: async (e) => {
    e.preventDefault();
    const data = Object.fromEntries(new FormData(form));
    const queues = data.queue ? [data.queue] : [...state.queues.keys()];
    const params = new URLSearchParams({ state: "completed", limit: "100" });
    for (const k of ["customer", "since", "until", "outcome"]) if (data[k]) params.set(k, data[k]);
    const lists = await Promise.all(queues.map((q) => api("GET", `/api/queues/${q}/interactions?${params}`)));
    const items = lists.flatMap((l) => l.items).sort((a, b) => Date.parse(b.completed_at) - Date.parse(a.completed_at));
    results.replaceChildren(...(items.length ? items.map((ix) => h("tr", {},
      h("td", {}, channelIcon(ix)), h("td", {}, h("a", { href: `#/ix/${ix.id}`, text: customerName(ix.customer) })),
      h("td", { text: state.queues.get(ix.queue_id)?.name || ix.queue_id }), h("td", { text: label(ix.outcome || (ix.abandoned_at ? "abandoned" : "")) }),
      h("td", { text: ix.disposition || "" }), h("td", { text: ix.completed_by ? ctx.person(ix.completed_by) : "—" }), h("td", { text: when(ix.completed_at) })))
      : [h("tr", {}, h("td", { colspan: 7, class: "empty", text: "Nothing matches." }))]));
  } },
  h("label", {}, "Queue", select("queue", [["", "All my queues"], ...[...state.queues.values()].map((q) => [q.id, q.name])], "", "Queue")),
  h("label", {}, "Customer", h("input", { name: "customer", placeholder: "name, phone or email" })),
  h("label", {}, "From", h("input", { name: "since", type: "date" })), h("label", {}, "To", h("input", { name: "until", type: "date" })),
  h("label", {}, "Outcome", select("outcome", [["", "Any"], ["resolved", "Resolved"], ["unresolved", "Unresolved"]], "", "Outcome")),
  h("button", { type: "submit", class: "primary", text: "Search" }));
  main.replaceChildren(h("h1", { text: "Completed interactions" }), form, h("div", tableCard("Completed interactions"),
    h("table", { "aria-label": "Completed interactions" }, h("thead", {}, h("tr", {}, ["Type", "Customer", "Queue", "Outcome", "Disposition", "Completed by", "Completed"].map((t) => h("th", { scope: "col", text: t })))), results)));
  form.requestSubmit();
  return () => {};
}
