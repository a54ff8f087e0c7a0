// Admins: the users, and one user's account (gateway/routes/accounts.py): name, role, queues, capacity per channel,
// tag weights, whether they take routed work, password and enabled state.  New: POST; edit: PATCH only what changed.
import { api } from "./api.js";
import { h, select, tableCard } from "./dom.js";
import { choices, chosen, clearErrors, field, mergePatch, parseWeights, showErrors, weightsText } from "./admin_fields.js";

const ROLES = [["agent", "Agent"], ["supervisor", "Supervisor"], ["admin", "Admin"]];
const CHANNELS = ["call", "chat", "text", "voicemail", "email"];
const ROUTABLE = [["", "Role default"], ["true", "Yes"], ["false", "No"]];
const routableText = (u) => (u.routable == null ? (u.role === "agent" ? "yes" : "no") : u.routable ? "yes" : "no");

let users = new Map();

// The user list, read once per screen and kept current by user.saved events.
export async function loadUsers() { users = new Map((await api("GET", "/api/users")).map((u) => [u.id, u])); return users; }
export function userSaved(user) { users.set(user.id, user); }

export function adminUsers(ctx, main, id) {
  if (id) return userEditor(ctx, main, id === "new" ? null : id);
  const body = h("tbody");
  main.replaceChildren(h("h1", { text: "Users" }),
    h("p", { class: "controls" }, h("a", { class: "button primary", href: "#/admin-users/new", text: "New user" })),
    h("div", tableCard("Users"), h("table", { "aria-label": "Users" },
      h("thead", {}, h("tr", {}, ["Name", "Username", "Role", "Queues", "Routed work", "Capacity", "", ""].map((t) => h("th", { scope: "col", text: t })))), body)));
  const queueName = (q) => ctx.state.queues.get(q)?.name || q;
  function update() {
    const list = [...users.values()].sort((a, b) => a.name.localeCompare(b.name));
    body.replaceChildren(...list.map((u) => h("tr", { "data-id": u.id, class: u.disabled ? "disabled" : "" },
      h("th", { scope: "row", text: u.name }), h("td", { text: u.username }), h("td", { text: u.role }),
      h("td", { text: u.queues.map(queueName).join(", ") || "—" }), h("td", { text: routableText(u) }),
      h("td", { text: Object.entries(u.capacity).map(([c, n]) => `${c} ${n}`).join(", ") || "defaults" }),
      h("td", { text: u.disabled ? "disabled" : "" }),
      h("td", {}, h("a", { href: `#/admin-users/${encodeURIComponent(u.id)}`, "aria-label": `Edit ${u.name}`, text: "Edit" })))));
  }
  loadUsers().then(update, (err) => ctx.toast(err.message));
  return update;  // a user.saved or queue.changed event
}

function userEditor(ctx, main, userId) {
  let stored = null;
  const status = h("p", { class: "form-status", role: "status", "aria-live": "polite" });
  const form = h("form", { class: "card admin-form", novalidate: true, onsubmit: save });
  const controls = {};
  main.replaceChildren(h("h1", { text: userId ? "User" : "New user" }), form);
  (userId ? api("GET", `/api/users/${encodeURIComponent(userId)}`) : Promise.resolve(null)).then((u) => { stored = u; draw(); },
    (err) => main.replaceChildren(h("h1", { text: "User not found" }), h("p", { class: "error", text: err.message }), h("a", { href: "#/admin-users", text: "Back to the users" })));

  function draw() {
    const u = stored || { username: "", name: "", role: "agent", queues: [], tags: {}, capacity: {}, routable: null, disabled: false };
    main.querySelector("h1").textContent = stored ? `User: ${stored.name}` : "New user";
    form.setAttribute("aria-label", stored ? `User ${stored.name}` : "New user");
    Object.assign(controls, {
      username: h("input", { name: "username", value: u.username, required: true, maxlength: 64, readonly: !!stored, autocomplete: "off" }),
      name: h("input", { name: "name", value: u.name, required: true, maxlength: 200, autocomplete: "off" }),
      password: h("input", { name: "password", type: "password", minlength: 8, autocomplete: "new-password", required: !stored }),
      role: select("role", ROLES, u.role),
      queues: choices("Queues", [...ctx.state.queues.values()].map((q) => [q.id, q.name]), u.queues, "queues"),
      routable: select("routable", ROUTABLE, u.routable == null ? "" : String(u.routable)),
      tags: h("input", { name: "tags", value: weightsText(u.tags), placeholder: "spanish=2" }),
      disabled: h("input", { name: "disabled", type: "checkbox", checked: u.disabled }),
    });
    const capacity = Object.fromEntries(CHANNELS.map((c) => [c, h("input", { name: `capacity-${c}`, type: "number", min: 0, max: 100, step: 1, value: u.capacity[c] ?? "", placeholder: "default" })]));
    controls.capacity = capacity;
    if (!ctx.state.queues.size) controls.queues.append(h("p", { class: "hint" }, "No queues yet: ", h("a", { href: "#/admin-queues/new", text: "create one" }), " first."));
    form.replaceChildren(
      h("fieldset", {}, h("legend", { text: "Account" }),
        field("Username", controls.username, "username", stored ? "The username never changes." : "What they sign in with."),
        field("Name", controls.name, "name"),
        field(stored ? "New password" : "Password", controls.password, "password", stored ? "Leave empty to keep it; a new one signs them out elsewhere." : "At least 8 characters."),
        field("Role", controls.role, "role"),
        stored ? field("Disabled (cannot sign in; signed out everywhere)", controls.disabled, "disabled") : null),
      h("fieldset", {}, h("legend", { text: "Work" }), controls.queues,
        field("Takes routed work", controls.routable, "routable", "Offers and routing to this person. Role default: agents yes, supervisors and admins no."),
        h("fieldset", { class: "capacity" }, h("legend", { text: "Capacity (at once, per channel; empty: the default)" }),
          ...CHANNELS.map((c) => field(c, capacity[c], `capacity.${c}`))),
        field("Tag weights", controls.tags, "tags", "tag=weight, comma separated: routing prefers this person for contacts with the tag.")),
      h("div", { class: "actions" }, h("a", { href: "#/admin-users", text: "Back to the users" }),
        h("button", { type: "submit", class: "primary", text: stored ? "Save changes" : "Create user" })),
      status);
    if (!stored) controls.username.focus();
  }

  function read() {
    const capacity = {};
    for (const c of CHANNELS) if (controls.capacity[c].value !== "") capacity[c] = Number(controls.capacity[c].value);
    const r = controls.routable.value;
    return {
      username: controls.username.value.trim(), name: controls.name.value.trim(), role: controls.role.value,
      queues: chosen(controls.queues), tags: parseWeights(controls.tags.value, "tags"), capacity,
      routable: r === "" ? null : r === "true", disabled: controls.disabled.checked,
    };
  }

  async function save(e) {
    e.preventDefault();
    status.textContent = "";
    try {
      const user = read();
      const password = controls.password.value;
      let saved;
      if (stored) {
        const before = { name: stored.name, role: stored.role, queues: stored.queues, tags: stored.tags, capacity: stored.capacity, routable: stored.routable ?? null, disabled: stored.disabled };
        const { username: _, ...after } = user;
        const patch = mergePatch(before, after);
        if (password) patch.password = password;
        if (!Object.keys(patch).length) { clearErrors(form); status.textContent = "Nothing changed."; return; }
        saved = await api("PATCH", `/api/users/${encodeURIComponent(stored.id)}`, patch);
      } else {
        const { disabled: _, routable, ...rest } = user;
        saved = await api("POST", "/api/users", { ...rest, password, ...(routable == null ? {} : { routable }) });
      }
      userSaved(saved);
      clearErrors(form);
      if (!stored) { ctx.toast(`User ${saved.name} created.`); ctx.go("#/admin-users"); return; }
      stored = saved; controls.password.value = "";
      status.textContent = `Saved ${saved.name}.`;
    } catch (err) {
      status.textContent = showErrors(form, err, (x) => (x.code === "already_exists" ? "username" : x.code === "not_found" ? "queues" : null));
    }
  }
  return () => {};
}
