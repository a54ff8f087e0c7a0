// Supervisor: queues live (metrics, service level) and agents' presence and load.
import { api } from "./api.js";
import { duration, h, tableCard } from "./dom.js";

export function supervisor(ctx, main) {
  const { state } = ctx;
  const grid = h("div", { class: "metrics" });
  const board = h("tbody");
  main.replaceChildren(h("h1", { text: "Supervisor" }), h("h2", { text: "Queues, live" }), grid, h("h2", { text: "Agents" }),
    h("div", tableCard("Agent presence"), h("table", { "aria-label": "Agent presence" }, h("thead", {}, h("tr", {}, ["Agent", "Queues", "Status", "Load"].map((t) => h("th", { scope: "col", text: t })))), board)));
  const pct = (sl) => (sl.service_level == null ? "—" : `${Math.round(sl.service_level * 100)}%`);
  function update() {
    const now = Date.now();
    grid.replaceChildren(...[...state.queues.values()].map((q) => {
      const m = state.metrics.get(q.id);
      if (!m) return h("section", { class: "card", "aria-label": q.name }, h("h3", { text: q.name }), h("p", { class: "empty", text: "Loading…" }));
      const longest = m.oldest_waiting_since ? (now - Date.parse(m.oldest_waiting_since)) / 1000 : 0;
      return h("section", { class: "card", "aria-label": q.name }, h("h3", { text: q.name }), h("dl", {},
        ...[["Waiting", m.waiting], ["Active", m.active], ["Longest wait", duration(longest)], ["Available agents", m.available_agents],
          ["Service level (15 min)", pct(m.last_15_minutes)], ["Service level (today)", pct(m.today)],
          ["Avg. speed of answer", m.today.average_speed_of_answer == null ? "—" : duration(m.today.average_speed_of_answer)]]
          .map(([k, v]) => [h("dt", { text: k }), h("dd", { text: String(v) })]).flat()));
    }));
  }
  async function refresh() {
    await Promise.all([...state.queues.keys()].map(async (q) => state.metrics.set(q, await api("GET", `/api/queues/${q}/metrics`))));
    const people = await api("GET", "/api/presence");
    board.replaceChildren(...people.map((p) => h("tr", {}, h("td", { text: p.name }), h("td", { text: p.queues.join(", ") }), h("td", { text: p.status }),
      h("td", { text: Object.entries(p.load).map(([k, v]) => `${v} ${k}`).join(", ") || "—" }))));
    update();
  }
  refresh();
  return (event) => { if (event && event.type === "presence.changed") refresh(); else update(); };
}
