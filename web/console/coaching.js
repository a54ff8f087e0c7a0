// Coaching: a supervisor scores a completed interaction on its queue's form and leaves notes; the agent evaluated reads them.
// The workspace's "coaching" tab (coachingTab) and the Evaluations page (evaluationsView: an agent's own, a supervisor's queues' with roll-ups).
import { api } from "./api.js";
import { customerName, h, tableCard, when } from "./dom.js";
import { can } from "./permissions.js";

const percent = (n) => `${Math.round(n * 100) / 100}%`;
const NOT_AGENTS = new Set(["customer", "system"]);

// Whose work a completed interaction is (the core's coaching.agent_of).
function agentOf(ix) {
  return [ix.completed_by, ix.assigned_to].find((who) => who && !NOT_AGENTS.has(who)) || null;
}

// The weighted score on 0..100 (the core's coaching.score), for the preview while scoring.
function scoreOf(questions, answers) {
  const total = questions.reduce((s, q) => s + q.weight, 0);
  const earned = questions.reduce((s, q) => s + q.weight * (q.scale === "yes_no" ? (answers[q.id] ? 1 : 0) : (answers[q.id] || 0) / q.max), 0);
  return Math.round((10000 * earned) / total) / 100;
}

function answerText(q, a) {
  return q.scale === "yes_no" ? (a ? "Yes" : "No") : `${a} / ${q.max}`;
}

// One evaluation, read-only: score, whose conversation (on the Evaluations page), who and when, each answer, the coaching notes.
function evaluationCard(ctx, e, showAgent = false, customer = null) {
  return h("article", { class: "evaluation", "aria-label": `Evaluation by ${ctx.person(e.evaluator)}, score ${percent(e.score)}` },
    h("header", {}, h("strong", { class: "score", text: percent(e.score) }), customer ? h("strong", { class: "customer", text: customer }) : "",
      h("span", { class: "meta", text: `${showAgent ? `${ctx.person(e.agent)} · ${ctx.state.queues.get(e.queue_id)?.name || e.queue_id} · ` : ""}by ${ctx.person(e.evaluator)} · ${when(e.created_at)} · form v${e.form_version}` +
        (e.updated_at !== e.created_at ? ` · changed ${when(e.updated_at)}` : "") })),
    h("dl", {}, ...e.questions.map((q) => [h("dt", { text: `${q.text} (weight ${q.weight})` }), h("dd", { text: answerText(q, e.answers[q.id]) })]).flat()),
    e.notes ? h("blockquote", { class: "notes" }, h("strong", { text: "Coaching notes: " }), e.notes) : "");
}

// The scoring form: a new evaluation on the queue's current form, or (``mine``: the user's own earlier one) that evaluation
// revised on the form version it was made with, filled in as it stands, saved as a PATCH of what changed.  Calls saved() after a save.
function scoringForm(ctx, ix, form, again, saved, mine = null) {
  const preview = h("output", { class: "score", "aria-live": "polite" });
  const fields = form.questions.map((q) => {
    if (q.scale === "yes_no") {
      const was = mine?.answers[q.id];
      return h("fieldset", { class: "question" }, h("legend", { text: `${q.text} (weight ${q.weight})` }),
        h("label", { class: "choice" }, h("input", { type: "radio", name: q.id, value: "yes", required: true, checked: was === true }), "Yes"),
        h("label", { class: "choice" }, h("input", { type: "radio", name: q.id, value: "no", checked: was === false }), "No"));
    }
    const points = Array.from({ length: q.max + 1 }, (_, i) => h("option", { value: String(i), text: String(i), selected: mine?.answers[q.id] === i }));
    return h("label", { class: "question" }, `${q.text} (weight ${q.weight}, 0 to ${q.max})`,
      h("select", { name: q.id, required: true }, h("option", { value: "", text: "Choose…" }), ...points));
  });
  const answers = () => {
    const data = new FormData(el);
    const out = {};
    for (const q of form.questions) {
      const v = data.get(q.id);
      if (v === null || v === "") continue;
      out[q.id] = q.scale === "yes_no" ? v === "yes" : Number(v);
    }
    return out;
  };
  const showPreview = () => {
    const a = answers();
    const complete = Object.keys(a).length === form.questions.length;
    preview.classList.toggle("pending", !complete);
    preview.textContent = complete ? `Score: ${percent(scoreOf(form.questions, a))}` : "Answer every question to see the score.";
  };
  const el = h("form", { class: "scoring", "aria-label": "Evaluate this interaction", onchange: showPreview, onsubmit: async (e) => {
    e.preventDefault();
    const button = el.querySelector("button[type=submit]");
    button.disabled = true;
    try {
      const notes = el.elements.notes.value.trim();
      if (!mine) await api("POST", `/api/interactions/${ix.id}/evaluations`, { answers: answers(), notes });
      else {
        const changed = Object.fromEntries(Object.entries(answers()).filter(([id, a]) => a !== mine.answers[id]));
        const patch = { ...(Object.keys(changed).length ? { answers: changed } : {}), ...(notes !== mine.notes ? { notes } : {}) };
        if (!Object.keys(patch).length) { ctx.toast("Nothing to save: no answer or note changed."); button.disabled = false; return; }
        await api("PATCH", `/api/evaluations/${mine.id}`, patch);
      }
      ctx.toast(mine ? "Evaluation updated." : "Evaluation saved.");
      saved();
    } catch (err) {
      ctx.toast(err.message);
    }
    button.disabled = false;
  } },
  h("h3", { text: mine ? `Revise your evaluation of ${ctx.person(agentOf(ix))} · form version ${form.version}`
    : `Evaluate ${ctx.person(agentOf(ix))}${again ? " again" : ""} · form version ${form.version}` }), ...fields,
  h("label", { class: "wide" }, "Coaching notes", h("textarea", { name: "notes", rows: 3, placeholder: "What went well, what to work on…", text: mine?.notes || "" })),
  h("div", { class: "actions" }, preview, h("button", { type: "submit", class: "primary", text: mine ? "Save changes" : "Save evaluation" })));
  showPreview();
  return el;
}

// The workspace tab.  update(ix) re-reads only when the interaction's version moved, so a form being filled is not wiped by the clock.
export function coachingTab(ctx, first) {
  const { state } = ctx;
  const panel = h("div", { class: "coaching" });
  let ix = first;
  let shown = null;
  let evaluates = can("evaluate");
  const mayEvaluate = () => can("evaluate") && (state.me.role === "admin" || state.me.queues.includes(ix.queue_id)) && agentOf(ix) && agentOf(ix) !== state.me.id;

  async function refresh() {
    shown = ix.version; evaluates = can("evaluate");
    const evaluations = await api("GET", `/api/interactions/${ix.id}/evaluations`);
    const mine = evaluations.find((e) => e.evaluator === state.me.id);  // newest first: one's own is revised, never doubled
    const form = !mayEvaluate() ? null : mine ? { questions: mine.questions, version: mine.form_version }
      : await api("GET", `/api/queues/${ix.queue_id}/evaluation-form`).catch(() => null);
    const list = evaluations.length ? evaluations.map((e) => evaluationCard(ctx, e)) : [h("p", { class: "empty", text: "No evaluations yet." })];
    const scoring = !mayEvaluate() ? "" : form ? scoringForm(ctx, ix, form, evaluations.length > 0, refresh, mine)
      : h("p", { class: "empty" }, "This queue has no evaluation form yet: set one on the ", h("a", { href: "#/evaluations", text: "Evaluations" }), " page.");
    panel.replaceChildren(h("h2", { text: "Evaluations" }), ...list, scoring);
  }

  function update(next) {
    ix = next;
    if (ix.state !== "completed") {
      shown = null;
      panel.replaceChildren(h("p", { class: "empty", text: "Coaching opens once the interaction is completed." }));
      return;
    }
    if (shown !== ix.version || evaluates !== can("evaluate")) refresh().catch((err) => panel.replaceChildren(h("p", { class: "error", text: err.message })));
  }
  return { panel, update };
}

// -- The form editor (supervisors and admins) ----------------------------------------------------

// Edits a queue's evaluation form; each save is a new version (evaluations keep the version they were scored on).
function formEditor(ctx, queue) {
  const list = h("ol", { class: "form-questions" });
  const status = h("p", { class: "hint" });
  const row = (q = { id: "", text: "", weight: 1, scale: "points", max: 5 }) => {
    const n = list.children.length + 1;
    const scale = h("select", { name: "scale", "aria-label": `Question ${n} answer` },
      h("option", { value: "points", text: "Points", selected: q.scale === "points" }), h("option", { value: "yes_no", text: "Yes / no", selected: q.scale === "yes_no" }));
    const max = h("input", { name: "max", type: "number", min: "1", max: "100", value: String(q.max), disabled: q.scale === "yes_no" });
    scale.onchange = () => { max.disabled = scale.value === "yes_no"; };
    const li = h("li", { "data-id": q.id },
      h("label", { class: "grow" }, `Question ${n}`, h("input", { name: "text", value: q.text, required: true, maxlength: 500 })),
      h("label", {}, "Weight", h("input", { name: "weight", type: "number", min: "0.01", step: "any", value: String(q.weight), required: true })),
      h("label", {}, "Answer", scale), h("label", {}, "Highest points", max),
      h("button", { type: "button", "aria-label": `Remove question ${n}`, text: "Remove", onclick: () => { li.remove(); renumber(); } }));
    list.append(li);
  };
  // After a removal the rows are rebuilt from what they hold, so labels read Question 1, 2, 3… again.
  const renumber = () => { const current = questions(); list.replaceChildren(); current.forEach(row); };
  const questions = () => {
    const taken = new Set();
    return [...list.children].map((li, i) => {
      const v = (name) => li.querySelector(`[name=${name}]`).value;
      let id = li.dataset.id || `q${i + 1}`;
      while (taken.has(id)) id = `${id}_`;
      taken.add(id);
      return { id, text: v("text").trim(), weight: Number(v("weight")), scale: v("scale"), max: Number(v("max")) || 5 };
    });
  };
  const el = h("form", { class: "card form-editor", "aria-label": `Evaluation form of ${queue.name}`, onsubmit: async (e) => {
    e.preventDefault();
    try {
      const saved = await api("PUT", `/api/queues/${queue.id}/evaluation-form`, { questions: questions() });
      status.textContent = `Version ${saved.version}, saved ${when(saved.created_at)}.`;
      ctx.toast(`Evaluation form version ${saved.version} saved.`);
    } catch (err) {
      ctx.toast(err.message);
    }
  } },
  h("h2", { text: `Evaluation form · ${queue.name}` }), status, list,
  h("div", { class: "actions" }, h("button", { type: "button", text: "Add question", onclick: () => row() }), h("button", { type: "submit", class: "primary", text: "Save form" })));
  api("GET", `/api/queues/${queue.id}/evaluation-form`).then((form) => {
    status.textContent = `Version ${form.version}, saved ${when(form.created_at)}. Saving makes a new version; past evaluations keep theirs.`;
    form.questions.forEach(row);
  }).catch(() => { status.textContent = "No form yet: add the questions agents are scored on, with their weights."; row(); });
  return el;
}

// -- The Evaluations page ---------------------------------------------------------------------

// The customer of each evaluated interaction, by interaction id, into the page's ``customerNames``: each read once per page
// (a customer is renamed rarely); an interaction one may no longer open (a queue left) simply goes unnamed.
async function customersOf(evaluations, customerNames) {
  const missing = [...new Set(evaluations.map((e) => e.interaction_id))].filter((id) => !customerNames.has(id));
  await Promise.all(missing.map((id) => api("GET", `/api/interactions/${id}`).then((ix) => customerNames.set(id, customerName(ix.customer)), () => null)));
  return customerNames;
}

export function evaluationsView(ctx, main) {
  const { state } = ctx;
  const agent = state.me.role === "agent";
  const customerNames = new Map();
  const body = h("div");
  const queueSel = h("select", { name: "queue", "aria-label": "Queue" }, h("option", { value: "", text: "All my queues" }),
    ...[...state.queues.values()].map((q) => h("option", { value: q.id, text: q.name })));
  // The chosen queue outlives the view: a re-render (rights re-read, reconnect) keeps what the supervisor picked.
  queueSel.value = state.queues.has(state.evaluationsQueue) ? state.evaluationsQueue : "";
  // The form editor is rebuilt only when the queue changes: a live event refreshes the lists, never a form being edited.
  const editor = h("div");
  let editing;  // the queue whose form the editor holds: choosing it again keeps what is being typed
  const edit = () => {
    if (editing === queueSel.value) return;
    editing = queueSel.value;
    const queue = state.queues.get(editing);
    editor.replaceChildren(queue ? formEditor(ctx, queue) : h("p", { class: "hint", text: "Choose a queue above to edit its evaluation form." }));
  };
  const filters = agent ? "" : h("form", { class: "filters", "aria-label": "Filter evaluations", onchange: () => { state.evaluationsQueue = queueSel.value; load(); edit(); }, onsubmit: (e) => e.preventDefault() },
    h("label", {}, "Queue", queueSel));
  // The editor above the lists: they load and reload under it, so it never moves while someone works in it.
  main.replaceChildren(h("h1", { text: agent ? "My evaluations" : "Evaluations" }), filters, agent ? "" : editor, body);
  if (!agent) edit();

  const table = (label, head, rows) => h("div", tableCard(label), h("table", { "aria-label": label },
    h("thead", {}, h("tr", {}, head.map((t) => h("th", { scope: "col", text: t })))), h("tbody", {}, rows)));

  async function load() {
    const q = agent || !queueSel.value ? "" : `?queue=${encodeURIComponent(queueSel.value)}`;
    try {
      const [evaluations, summary] = await Promise.all([api("GET", `/api/evaluations${q}`), agent ? null : api("GET", `/api/evaluations/summary${q}`)]);
      const parts = [];
      if (summary) {
        parts.push(h("h2", { text: "Averages" }), h("div", { class: "rollups" },
          table("Average score per agent", ["Agent", "Evaluations", "Average"],
            summary.agents.map((r) => h("tr", {}, h("td", { text: ctx.person(r.agent) }), h("td", { text: String(r.count) }), h("td", { text: percent(r.average) })))),
          table("Average score per queue", ["Queue", "Evaluations", "Average"],
            summary.queues.map((r) => h("tr", {}, h("td", { text: state.queues.get(r.queue_id)?.name || r.queue_id }), h("td", { text: String(r.count) }),
              h("td", { text: percent(r.average) }))))));
      }
      parts.push(h("h2", { text: agent ? "Scores and coaching notes on my interactions" : "Latest evaluations" }));
      if (!evaluations.length) parts.push(h("p", { class: "empty", text: "No evaluations yet." }));
      const customers = await customersOf(evaluations, customerNames);
      for (const e of evaluations) {
        const card = evaluationCard(ctx, e, !agent, customers.get(e.interaction_id));
        card.querySelector("header").append(h("a", { href: `#/ix/${e.interaction_id}`, text: "Open interaction" }));
        parts.push(card);
      }
      body.replaceChildren(...parts);
    } catch (err) {
      body.replaceChildren(h("p", { class: "error", text: err.message }));
    }
  }
  load();
  return (event) => { if (event && event.type?.endsWith("evaluated")) load(); };
}
