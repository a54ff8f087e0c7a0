// Unsent text kept per user and interaction: a reply or a note half written survives going to another page, an
// offer arriving, or a reload, and goes once it is sent.  sessionStorage (this tab, until it closes): a draft about a
// customer is not left on the machine after the agent's browser session ends.
const PREFIX = "switchboard-draft";

const key = (user, ix, form) => `${PREFIX}:${user}:${ix}:${form}`;

function read(k) {
  try { return JSON.parse(sessionStorage.getItem(k) || "null") || {}; } catch { return {}; }
}

// Keeps the named text fields of ``form`` (a <form> built once per workspace) as the draft ``name`` of interaction
// ``ix`` for ``user``: restored now, saved as typed.  Returns clear(), to call once the form's content was sent.
export function keepDraft(form, user, ix, name) {
  const k = key(user, ix, name);
  const fields = () => [...form.elements].filter((el) => el.name && (el.tagName === "TEXTAREA" || el.type === "text" || el.type === ""));
  const saved = read(k);
  for (const el of fields()) if (typeof saved[el.name] === "string" && !el.value) el.value = saved[el.name];
  form.addEventListener("input", () => {
    const values = Object.fromEntries(fields().map((el) => [el.name, el.value]).filter(([, v]) => v));
    try {
      if (Object.keys(values).length) sessionStorage.setItem(k, JSON.stringify(values)); else sessionStorage.removeItem(k);
    } catch { /* storage full or off: the draft lives as long as the page */ }
  });
  return () => { try { sessionStorage.removeItem(k); } catch { /* nothing kept */ } };
}

// Signing out leaves no draft behind in the tab (the next person to sign in here may be someone else).
export function clearDrafts() {
  try {
    for (const k of Object.keys(sessionStorage)) if (k.startsWith(`${PREFIX}:`)) sessionStorage.removeItem(k);
  } catch { /* nothing kept */ }
}
