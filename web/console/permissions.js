// Rights per role: what this user may do (the console hides the rest; the server decides all the same),
// and, for admins, the table of checkboxes that changes them.
import { api } from "./api.js";
import { h, tableCard } from "./dom.js";

const ROLES = ["agent", "supervisor", "admin"];
let mine = null;

// Read again on every navigation, so a change an admin makes shows at the user's next step, with no reload.
export async function loadRights() {
  try { mine = (await api("GET", "/api/permissions")).mine; } catch { /* unknown: show everything, the server still refuses */ }
}

// Whether this user's role has the right; before the first read, yes (hiding a button is a courtesy, not the check).
export const can = (right) => !mine || mine[right] !== false;

// The rights as read, as one comparable value: a view redraws only when it changed.
export const rightsKey = () => JSON.stringify(mine);

// What to show instead of a player for a user who may not listen to recordings.
export const noListening = () => h("p", { class: "empty", text: "Listening to recordings needs the right listen_recordings, which your role does not have." });

// -- The admins' screen -------------------------------------------------------------------

export function rightsView(ctx, main) {
  const body = h("tbody");
  const status = h("p", { role: "status", "aria-live": "polite", class: "hint" });
  main.replaceChildren(h("h1", { text: "Rights" }),
    h("p", { text: "What each role may do beyond working its queues. Admins always have every right, so nobody locks everyone out." }),
    h("div", tableCard("Rights per role"), h("table", { "aria-label": "Rights per role" },
      h("thead", {}, h("tr", {}, h("th", { scope: "col", text: "Right" }), ...ROLES.map((r) => h("th", { scope: "col", text: r })))), body)),
    h("div", { class: "controls" }, ...ROLES.filter((r) => r !== "admin").map((role) =>
      h("button", { type: "button", text: `Restore ${role} defaults`, onclick: () => change({ [role]: null }, `${role} rights restored to the defaults`) }))),
    status);

  function render(table) {
    body.replaceChildren(...Object.entries(table.rights).map(([right, action]) => h("tr", {},
      h("th", { scope: "row" }, action, h("span", { class: "meta", text: ` (${right})` })),
      ...ROLES.map((role) => h("td", {}, h("input", {
        type: "checkbox", checked: table.roles[role][right], disabled: role === "admin", "aria-label": `${action}: ${role}`,
        onchange: (e) => change({ [role]: { [right]: e.target.checked } }, `${role} ${e.target.checked ? "now has" : "no longer has"} ${right}`),
      }))))));
  }

  async function change(patch, done) {
    try {
      const table = await api("PATCH", "/api/permissions", patch);
      render(table); mine = table.mine; status.textContent = `Saved: ${done}.`;
    } catch (err) {
      ctx.toast(err.message); status.textContent = "";
      refresh();  // the checkbox goes back to what is stored
    }
  }

  async function refresh() { render(await api("GET", "/api/permissions")); }
  refresh();
  return refresh;  // another admin's change (a permissions.changed event) shows at once
}
