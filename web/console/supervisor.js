// Supervisor: queues live (metrics, service level), the floor (every waiting and active interaction of one's queues,
// with age, SLA state and who monitors each call) and agents' presence with time in state.
import { api } from "./api.js";
import { ageOf, channelIcon, customerName, duration, h, SLA_LABELS, slaState, statusLabel, tableCard, titleLabel } from "./dom.js";

const WAITING = new Set(["open", "pending"]);
const MODES = { listen: "listening", whisper: "whispering", barge: "barged in" };

export function supervisor(ctx, main) {
  const { state } = ctx;
  const grid = h("div", { class: "metrics" });
  const floor = h("tbody");
  const breaches = h("p", { class: "floor-summary", role: "status", "aria-live": "polite" });
  const board = h("tbody");
  const table = (name, heads, body) => h("div", tableCard(name), h("table", { "aria-label": name },
    h("thead", {}, h("tr", {}, heads.map((t) => h("th", { scope: "col", text: t })))), body));
  main.replaceChildren(h("h1", { text: "Supervisor" }), h("h2", { text: "Queues, live" }), grid,
    h("h2", { text: "Floor" }), breaches,
    table("Waiting and active interactions", ["Type", "Customer", "Queue", "Status", "Age", "SLA", "Monitoring"], floor),
    h("h2", { text: "Agents" }), table("Agent presence", ["Agent", "Queues", "Status", "In state", "Load"], board));
  const pct = (sl) => (sl.service_level == null ? "—" : `${Math.round(sl.service_level * 100)}%`);
  // When each agent's shown status began: the API's for a chosen status, else the presence.changed that announced it.
  const since = new Map();
  let shown = "";  // what the floor's rows were drawn from (ids, versions): they are rebuilt only when it changes

  function metrics(now) {
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

  // Waiting first (oldest first: the next to serve), then the rest by age.
  const onFloor = () => [...state.interactions.values()]
    .filter((ix) => ix.state === "active" && state.queues.has(ix.queue_id))
    .sort((a, b) => (WAITING.has(b.status) - WAITING.has(a.status)) || Date.parse(a.created_at) - Date.parse(b.created_at));

  const monitors = (ix) => Object.entries(ix.call?.monitors || {}).map(([id, mode]) => `${ctx.person(id)} (${MODES[mode] || mode})`).join(", ");

  function drawFloor(items, now) {
    if (!items.length) return floor.replaceChildren(h("tr", {}, h("td", { colspan: 7, class: "empty", text: "Nobody waiting, nothing active." })));
    floor.replaceChildren(...items.map((ix) => h("tr", { "data-id": ix.id },
      h("td", {}, channelIcon(ix)), h("td", {}, h("a", { href: `#/ix/${ix.id}`, text: customerName(ix.customer) })),
      h("td", { text: state.queues.get(ix.queue_id)?.name || ix.queue_id }),
      h("td", { text: statusLabel(ix.status) + ((ix.assigned_to || ix.offered_to) ? ` · ${ctx.person(ix.assigned_to || ix.offered_to)}` : "") }),
      h("td", { class: "age" }), h("td", {}, h("span", { class: "sla" })), h("td", { text: monitors(ix) || "—" }))));
  }

  // Ages, SLA badges and the breach count change in place: the links in the rows are never rebuilt by the clock.
  function tickFloor(now) {
    let breached = 0;
    for (const row of floor.querySelectorAll("tr[data-id]")) {
      const ix = state.interactions.get(row.dataset.id);
      const sla = slaState(ix, state.queues.get(ix.queue_id), now);
      const age = duration(ageOf(ix, now));
      if (row.querySelector(".age").textContent !== age) row.querySelector(".age").textContent = age;
      const badge = row.querySelector(".sla");
      if (!badge.classList.contains(sla)) { badge.className = `sla ${sla}`; badge.textContent = SLA_LABELS[sla]; row.classList.toggle("breached", sla === "breached"); }
      breached += sla === "breached";
    }
    const text = breached ? `${breached} past the SLA threshold` : "All within SLA";
    if (breaches.textContent !== text) { breaches.textContent = text; breaches.classList.toggle("alert", !!breached); }
  }

  function tickAgents(now) {
    for (const cell of board.querySelectorAll("td[data-since]")) cell.textContent = duration((now - Number(cell.dataset.since)) / 1000);
  }

  function update() {
    const now = Date.now();
    metrics(now);
    const items = onFloor();
    const key = items.map((ix) => `${ix.id}:${ix.version}`).join(",");
    if (key !== shown) { shown = key; drawFloor(items, now); }
    tickFloor(now);
    tickAgents(now);
  }

  async function refresh() {
    await Promise.all([...state.queues.keys()].map(async (q) => state.metrics.set(q, await api("GET", `/api/queues/${q}/metrics`))));
    const people = await api("GET", "/api/presence");
    for (const p of people) {
      const seen = since.get(p.user);
      if (seen?.status === p.status && seen.at) continue;  // announced while this page was open: the surest start
      since.set(p.user, { status: p.status, at: p.since ? Date.parse(p.since) : null });
    }
    board.replaceChildren(...people.map((p) => {
      const at = since.get(p.user)?.at;
      return h("tr", { "data-user": p.user }, h("td", { text: p.name }), h("td", { text: p.queues.map((q) => state.queues.get(q)?.name || q).join(", ") }),
        h("td", { text: titleLabel(p.status) }),
        at ? h("td", { "data-since": at }) : h("td", { title: "Began before this page opened", text: "—" }),
        h("td", { text: Object.entries(p.load).map(([k, v]) => `${v} ${k}`).join(", ") || "—" }));
    }));
    update();
  }
  refresh();
  return (event) => {
    if (event?.type !== "presence.changed") return update();
    const { user, status } = event.data;
    if (since.get(user)?.status !== status) since.set(user, { status, at: Date.parse(event.at) });
    refresh();
  };
}
