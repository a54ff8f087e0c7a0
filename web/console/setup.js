// A fresh install's first steps, on an admin's Queue Home until the gateway can take contacts: a queue, its number,
// agents, the default route, the chat widget.  Each step links to its screen and is ticked when done.
import { api } from "./api.js";
import { h, when } from "./dom.js";
import { loadRouting } from "./admin_routing.js";

const CHAT_OPENED = "switchboard-setup-chat-opened";

// Appends the checklist to ``main`` when something essential is missing (admins only); a no-op otherwise.
export async function setupChecklist(ctx, main) {
  const { state } = ctx;
  if (state.me?.role !== "admin") return;
  let users, routing, refused;
  try { [users, routing, refused] = await Promise.all([api("GET", "/api/users"), loadRouting(), api("GET", "/api/routing/refused")]); } catch { return; }
  const queues = [...state.queues.values()];
  const agents = users.filter((u) => u.role !== "admin" && !u.disabled);
  const essentials = queues.length && agents.length && routing.default_queue;
  if (essentials || !main.isConnected) return;
  const first = queues[0];
  const steps = [
    [queues.length > 0, "Create a queue", "#/admin-queues/new", "Where contacts wait and agents work."],
    [queues.some((q) => q.settings.phone_number), "Set its phone number", first ? `#/admin-queues/${encodeURIComponent(first.id)}` : "#/admin-queues/new", "The number customers call or text."],
    [agents.length > 0, "Add agents", "#/admin-users/new", "People who answer, members of the queue."],
    [!!routing.default_queue, "Set the default route", "#/admin-routing", "The queue that takes what nothing else matches."],
    [!!localStorage.getItem(CHAT_OPENED) || [...state.interactions.values()].some((i) => i.subtype === "chat"), "Open the chat widget", "/chat/", "Try a chat as a customer would."],
  ];
  const done = steps.filter(([ok]) => ok).length;
  const list = h("ol", { class: "checklist" }, steps.map(([ok, text, href, hint]) => h("li", { class: ok ? "done" : "" },
    h("span", { class: "tick", role: "img", "aria-label": ok ? "Done" : "To do", text: ok ? "✓" : "" }),
    h("a", { href, ...(href === "/chat/" ? { target: "_blank", rel: "noopener", onclick: () => localStorage.setItem(CHAT_OPENED, "1") } : {}), text }),
    h("span", { class: "hint", text: hint }))));
  main.querySelector(".setup")?.remove();
  main.querySelector("h1").after(h("section", { class: "card setup", "aria-labelledby": "setup-title" },
    h("h2", { id: "setup-title", text: "Set up this gateway" }),
    h("p", { text: `${done} of ${steps.length} done. Until a queue, an agent and the default route exist, customers who call, text or chat are turned away politely.` }),
    list,
    refused.at ? h("p", { class: "refused", role: "note", text: `Last contact turned away: ${refused.contact}, ${when(refused.at)}. ${refused.reason}` }) : null));
}
