// Agent console: login, live state from /ws/agent, hash routes to the views.
import { api, auth, ApiError } from "./api.js";
import { adminQueues } from "./admin_queues.js";
import { adminRouting } from "./admin_routing.js";
import { adminUsers, userSaved } from "./admin_users.js";
import { adminWebhooks } from "./admin_webhooks.js";
import { DirectMessages } from "./direct_messages.js";
import { evaluationsView } from "./coaching.js";
import { customerName, h, undelivered, undeliveredReason } from "./dom.js";
import { Live } from "./live.js";
import { clearDrafts } from "./drafts.js";
import { Offers } from "./offers.js";
import { loadRights, rightsKey, rightsView } from "./permissions.js";
import { closeAll, consultsMe, settle } from "./phone.js";
import { completed } from "./completed.js";
import { home } from "./home.js";
import { supervisor } from "./supervisor.js";
import { workspace } from "./workspace.js";

const $ = (id) => document.getElementById(id);
const state = { me: null, queues: new Map(), interactions: new Map(), metrics: new Map(), people: new Map(), filters: { queue: "", type: "", status: "" }, offer: null };
let current = { name: null, update: () => {} };

const live = new Live({
  onEvent: (e) => handle(e),
  onStatus: (s) => { $("live").textContent = s; },
  onExpired: () => load().then((cursor) => live.start(cursor)),
  onUnauthorized: () => logout(),
});

function toast(text) {
  const t = $("toast");
  t.textContent = text; t.hidden = false;
  clearTimeout(toast.timer); toast.timer = setTimeout(() => (t.hidden = true), 4000);
}

function upsert(ix) {
  const known = state.interactions.get(ix.id);
  if (!known || known.version <= ix.version) state.interactions.set(ix.id, ix);
}

// Every command of the workspace and home goes through here: errors become a readable message.
async function act(action, id, body, open = false) {
  try {
    const ix = action === "edit" ? await api("PATCH", `/api/interactions/${id}`, body) : await api("POST", `/api/interactions/${id}/${action}`, body);
    if (ix) { upsert(ix); if (current.name === "workspace") current.update(ix); else current.update(); }
    if (open && ix) go(`#/ix/${ix.id}`);
    return ix;
  } catch (err) {
    toast(err instanceof ApiError ? err.message : "Something went wrong; try again.");
    if (err.status === 403) loadRights().then(() => current.update(current.name === "workspace" ? state.interactions.get(id) : undefined));  // a right withdrawn meanwhile: its controls go
    return null;
  }
}

const go = (hash) => { if (location.hash === hash) route(); else location.hash = hash; };

// People's names by id (the transfer picker's list: everyone but admins); an unknown id shows as itself.
async function loadPeople() {
  try { (await api("GET", "/api/transfer-targets")).users.forEach((u) => state.people.set(u.id, u.name)); } catch { /* names are a nicety */ }
}
const person = (id) => (id === state.me?.id ? state.me.name : state.people.get(id) || id);
const asked = new Set();
// Whether an event must wait for the names it shows (someone new consulting this user): it is handled again once they are in.
function needsNames(ix) {
  const id = ix.consult && consultsMe(ix, state.me) ? ix.consult.by : null;
  if (!id || state.people.has(id) || asked.has(id)) return null;
  asked.add(id);
  return loadPeople();
}

const ctx = { state, act, go, upsert, toast, person };
const dms = (ctx.dms = new DirectMessages(ctx, $("dm-badge")));
const offers = new Offers(ctx);

// Rights hide or show controls.  permissions.changed reaches admins only (sessions/rights.py), so everyone's console also
// reads its rights again on each route, after a 403, and when its tab comes back to the front; a change redraws the view.
async function rereadRights() {
  if (!state.me) return;
  const before = rightsKey();
  await loadRights();
  if (rightsKey() === before) return;
  if (current.name === "workspace") current.update(state.interactions.get(location.hash.split("/")[2]));
  else if (["home", "permissions"].includes(current.name)) current.update();
}

// A text of this agent's that the provider could not deliver: said at once, wherever the agent is in the console.
function undeliveredText(event) {
  const m = event.interaction.messages.find((x) => x.id === event.data?.message_id);
  if (m && m.author === state.me.id && undelivered(m)) toast(`Your text to ${customerName(event.interaction.customer)} was not delivered: ${undeliveredReason(m)}.`);
}

function handle(event) {
  if (event.type === "permissions.changed") { if (current.name === "permissions") current.update(); rereadRights(); return; }
  if (event.type === "queue.metrics") { state.metrics.set(event.data.queue_id, event.data); if (current.name === "supervisor") current.update(); return; }
  if (event.type === "presence.changed") {
    if (event.data.user === state.me.id && ["available", "away"].includes(event.data.status)) $("presence").value = event.data.status;
    if (current.name === "supervisor") current.update(event);
    return;
  }
  if (event.type.startsWith("direct_message.")) { dms.handle(event); return; }
  if (event.type === "chat.typing") { if (current.name === "workspace") current.update({ typing: event.data }); return; }
  // An admin's change: lists and pickers follow (a new queue of one's own also means new work to see: re-read the queues).
  if (event.type === "queue.changed") { state.queues.set(event.data.queue.id, event.data.queue); adminChanged(); return; }
  if (event.type === "user.saved") {
    userSaved(event.data.user);
    if (event.data.user.id === state.me.id) api("GET", "/api/queues").then((qs) => { state.queues = new Map(qs.map((q) => [q.id, q])); adminChanged(); });
    else adminChanged();
    return;
  }
  const ix = event.interaction;
  if (!ix) return;
  const names = needsNames(ix);
  if (names) { names.then(() => handle(event)); return; }
  upsert(ix);
  if (event.type === "interaction.message_status") undeliveredText(event);
  settle(state.interactions.get(ix.id), state.me, event);  // an interaction.audio_moved reconnects its call's audio
  offers.offer(state.interactions.get(ix.id));
  showConsult();
  if (current.name === "workspace") current.update(state.interactions.get(ix.id));
  else if (current.name === "home") current.update();
  else if (current.name === "evaluations") current.update(event);
}

function adminChanged() {
  if (current.name?.startsWith("admin-")) current.update();
  else if (current.name === "home") route();  // its queue picker and the setup checklist are drawn once per route
}

// Someone consulting this user on a warm transfer: a banner leads to the call until they join (the call's own page says it too).
function showConsult() {
  const [, name, id] = location.hash.split("/");
  const ix = [...state.interactions.values()].find((i) => i.state === "active" && consultsMe(i, state.me) && !i.consult.joined_at && !(name === "ix" && id === i.id));
  $("consult").hidden = !ix;
  if (!ix) return;
  const text = `${person(ix.consult.by)} is consulting you about a call from ${customerName(ix.customer)}`;
  if ($("consult-text").textContent !== text) $("consult-text").textContent = text;
  $("consult-open").href = `#/ix/${ix.id}`;
}

// Each route supersedes the one before: a view still loading when the user (or start) routes again is dropped, never
// mounted over the newer one.  Routes wait for start(): a view drawn before the queues and rights are read would be redrawn.
let routing = 0;
let started = false;

async function route() {
  if (!started) return;
  const seq = ++routing;
  const [, name = "home", id, ...rest] = location.hash.split("/");
  dms.leave();
  document.querySelectorAll("[data-nav]").forEach((a) => (a.dataset.nav === name ? a.setAttribute("aria-current", "page") : a.removeAttribute("aria-current")));
  const main = $("main");
  const view = h("div", { class: "view" });
  showConsult();
  await loadRights();
  if (seq !== routing) return;
  // The workspace loads before it shows (the page before it stays until then); the other views draw at once, mounted first.
  const mount = (update, viewName) => {
    if (seq !== routing) return;
    main.replaceChildren(view);
    current = { name: viewName, update };
  };
  try {
    if (name === "ix" && id) {
      const update = await workspace(ctx, view, id);
      mount(update, "workspace");
      return;
    }
    mount(() => {}, "loading");
    if (name === "permissions" && state.me.role === "admin") current = { name: "permissions", update: rightsView(ctx, view) };
    else if (name === "messages") current = { name: "messages", update: dms.view(view, [id, ...rest]) };
    else if (name === "completed") current = { name: "completed", update: completed(ctx, view) };
    else if (name === "evaluations") current = { name: "evaluations", update: evaluationsView(ctx, view) };
    else if (name === "admin-queues" && state.me.role === "admin") current = { name, update: adminQueues(ctx, view, id && decodeURIComponent(id)) };
    else if (name === "admin-users" && state.me.role === "admin") current = { name, update: adminUsers(ctx, view, id && decodeURIComponent(id)) };
    else if (name === "admin-routing" && state.me.role === "admin") current = { name, update: adminRouting(ctx, view) };
    else if (name === "admin-webhooks" && state.me.role === "admin") current = { name, update: adminWebhooks(ctx, view, id && decodeURIComponent(id)) };
    else if (name === "supervisor" && state.me.role !== "agent") current = { name: "supervisor", update: supervisor(ctx, view) };
    else current = { name: "home", update: home(ctx, view) };
  } catch (err) {
    view.replaceChildren(h("h1", { text: "Not available" }), h("p", { class: "error", text: err.message }), h("a", { href: "#/home", text: "Back to Queue Home" }));
    mount(() => {}, "error");
  }
}

// Loads the queues and their active interactions; returns the cursor to follow live from without a gap.
async function load() {
  state.queues = new Map((await api("GET", "/api/queues")).map((q) => [q.id, q]));
  // First what is one's own in any queue (a call one is consulted on may be in a queue one is not in);
  // its cursor, read first, is the earliest, so following from it leaves no gap.
  const mine = await api("GET", "/api/me/interactions");
  mine.items.forEach(upsert);
  let cursor = mine.cursor;
  for (const q of state.queues.keys()) {
    const list = await api("GET", `/api/queues/${q}/interactions?state=active&limit=500`);
    cursor = cursor || list.cursor;
    list.items.forEach(upsert);
  }
  await dms.load();  // after the cursor: a message in between is replayed, and the list is re-read, never counted twice
  return cursor;
}

async function start() {
  try {
    state.me = await api("GET", "/api/me");
  } catch {
    return showLogin();
  }
  $("login").hidden = true; $("app").hidden = false;
  $("me").textContent = `${state.me.name} (${state.me.role})`;
  document.querySelector('[data-nav="supervisor"]').hidden = state.me.role === "agent";
  document.querySelector('[data-nav="permissions"]').hidden = state.me.role !== "admin";
  document.querySelectorAll("[data-admin]").forEach((a) => (a.hidden = state.me.role !== "admin"));
  const [cursor] = await Promise.all([load(), loadPeople()]);
  state.interactions.forEach((ix) => offers.offer(ix));  // an offer still ringing for this user (a reload) shows again
  live.start(cursor);
  started = true;
  if (!location.hash) location.hash = "#/home"; else route();
}

function showLogin() {
  $("app").hidden = true; $("login").hidden = false;
  $("login-form").querySelector("input").focus();
}

async function logout() {
  live.stop();
  try { await api("POST", "/api/auth/logout"); } catch { /* already gone */ }
  closeAll();
  started = false; routing++;
  auth.token = null; dms.clear(); state.interactions.clear(); state.people.clear(); offers.clear(); showConsult(); showLogin();
}

$("login-form").addEventListener("submit", async (e) => {
  e.preventDefault();
  const data = Object.fromEntries(new FormData(e.target));
  try {
    const r = await api("POST", "/api/auth/login", { username: data.username, password: data.password });
    auth.token = r.token; $("login-error").textContent = ""; e.target.reset(); start();
  } catch (err) {
    $("login-error").textContent = err.status === 401 ? "Wrong username or password." : err.message;
  }
});
$("logout").addEventListener("click", () => { clearDrafts(); logout(); });  // an expired session keeps them for the next sign-in
$("presence").addEventListener("change", async (e) => {
  try { await api("PUT", "/api/me/presence", { status: e.target.value }); } catch (err) { toast(err.message); }
});
window.addEventListener("hashchange", route);
window.addEventListener("focus", rereadRights);
document.addEventListener("visibilitychange", () => { if (document.visibilityState === "visible") rereadRights(); });
// Ages and SLA states tick in place; nothing interactive is rebuilt by the clock.
setInterval(() => { if (current.name === "home") current.update("tick"); else if (current.name === "supervisor") current.update(); else if (current.name === "workspace") current.update(null); }, 1000);

if (auth.token) start(); else showLogin();
