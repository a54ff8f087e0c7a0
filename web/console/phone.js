// Call audio in the browser: WebRTC to the gateway's voice bridge.  One connection per call, kept across re-renders.
// The gateway decides the part a browser plays on the call; `partOn` mirrors that decision to pick the controls:
// the call's agent (hold, mute), the user consulted on a warm transfer (join, mute, leave), a supervisor monitoring.
// Hold, three-way and a monitor's mode are the call's state, read from the interaction's `call` (the server's truth);
// only the connection and its mute (this browser's own leg) are kept here.  A connection that fails, or a call whose
// audio moved to another gateway process, is connected again by itself (reconnect.js), unless the user left.
import { api } from "./api.js";
import { h } from "./dom.js";
import { GIVE_UP_MS, offer, retry, retryable } from "./reconnect.js";

// interaction id -> { pc, stream, audio, node, part, mode, muted, wishes, ix, me, redraw, label, reconnecting, closed,
//   lostAt: when the audio was lost, until a connection is made again }
const phones = new Map();
const connecting = new Set();  // interaction ids whose offer is on its way
const leaving = new Set();  // interaction ids whose leave is on its way: no new connection until the gateway has it
const lost = new Map();  // interaction id -> its status line, "Audio lost": reconnecting gave up
const MODES = [["listen", "Listen"], ["whisper", "Whisper"], ["barge", "Barge in"]];
const MODE_HINTS = { listen: "Only you hear the call.", whisper: "The agent hears you; the caller does not.", barge: "Everyone on the call hears you." };

export const consultsMe = (ix, me) => ix.consult?.target.kind === "user" && ix.consult.target.id === me.id;

export function partOn(ix, me) {
  if (ix.state !== "active" || ix.type !== "call") return null;
  if (ix.assigned_to === me.id) return "agent";
  if (consultsMe(ix, me)) return "consult";
  return me.role === "agent" ? null : "monitor";
}

// The caller joined agent and consulted party: the interaction's call state says so (only ever during a consult).
export const threeWay = (ix) => Boolean(ix.consult && ix.call?.three_way);

// A control shows what this browser just asked for at once (`wishes`: key -> { value, version }); the wish gives way
// to the interaction's `call` as soon as a newer version arrives (the server's answer, or someone else's change),
// and a refusal drops it.
function shown(phone, ix, key, truth) {
  const wish = phone.wishes[key];
  return wish && ix.version <= wish.version ? wish.value : truth;
}
const heldOf = (phone, ix) => shown(phone, ix, "held", Boolean(ix.call?.held));
const modeOf = (phone, ix, me) => shown(phone, ix, "mode", ix.call?.monitors?.[me.id] ?? null);

// Follows the interaction.  A consult leg that became the agent's (a completed warm transfer) keeps working as is;
// a leg the call moved away from (transferred, consult cancelled, call over) was dropped by the gateway: close it here too.
// The call's audio moved to another process (`type` interaction.audio_moved): this browser's connection went with the
// old one, so it connects again (unless it already reached the new home: a forwarded offer names it).
export function settle(ix, me, event) {
  if (!partOn(ix, me)) lost.delete(ix.id);
  const phone = phones.get(ix.id);
  if (!phone) return;
  const part = partOn(ix, me);
  Object.assign(phone, { ix, me });
  if (part === phone.part) {
    const moved = event?.type === "interaction.audio_moved" ? event.data || {} : null;
    if (moved && !(phone.node && phone.node === moved.to_node && moved.to_node !== moved.from_node)) recover(phone);
    return;
  }
  if (phone.part === "consult" && part === "agent") { phone.part = part; return; }
  if (phone.part === "monitor") api("POST", `/api/interactions/${ix.id}/audio/leave`).catch(() => {});  // monitors are never dropped for us
  close(ix.id);
}

export function closeAll() { [...phones.keys()].forEach(close); }

// The audio controls for this user on a live call (or null).  `redraw` re-renders the controls they sit in.
export function callAudio(ctx, ix, redraw) {
  const part = partOn(ix, ctx.state.me);
  const live = ix.status === "claimed" || phones.has(ix.id);
  const phone = phones.get(ix.id);
  if (phone) Object.assign(phone, { ix, me: ctx.state.me, redraw });
  if (part === "agent" && live) return agentPhone(ctx, ix, redraw);
  if (part === "consult") return consultPhone(ctx, ix, redraw);
  if (part === "monitor" && live) return monitorPhone(ctx, ix, redraw);
  return null;
}

function agentPhone(ctx, ix, redraw) {
  const phone = phones.get(ix.id);
  const box = group("Call audio");
  if (!phone) return append(box, ...lostLine(ix), joinButton(ctx, ix, redraw, "Connect audio"));
  const held = heldOf(phone, ix);
  return append(box, status(phone),
    button(held ? "Resume" : "Hold", "hold", () => toggle(ctx, ix, redraw, "held", "hold", !held), held),
    muteButton(ctx, ix, redraw, phone),
    button("Disconnect audio", "leave", () => leave(ctx, ix, redraw)));
}

function consultPhone(ctx, ix, redraw) {
  const phone = phones.get(ix.id);
  const who = ctx.person(ix.consult.by);
  const hint = !phone ? `The caller is on hold. Join to talk with ${who} first; if ${who} completes the transfer, the call is yours.`
    : threeWay(ix) ? `The caller is talking with you and ${who}.` : `The caller is on hold while you talk with ${who}.`;
  const box = group("Consult audio");
  append(box, ...(phone ? [status(phone), muteButton(ctx, ix, redraw, phone), button("Leave", "leave", () => leave(ctx, ix, redraw))]
    : [...lostLine(ix), joinButton(ctx, ix, redraw, "Join consult")]));
  return h("section", { class: "notice", "aria-label": "Consult" },
    h("p", {}, h("strong", { text: `${who} is consulting you about this call` }), h("span", { class: "hint", text: hint })), box);
}

function monitorPhone(ctx, ix, redraw) {
  const phone = phones.get(ix.id);
  const current = phone ? modeOf(phone, ix, ctx.state.me) : null;
  const pick = (mode) => {
    if (!phone) return join(ctx, ix, redraw, mode);
    if (mode !== current) toggle(ctx, ix, redraw, "mode", "monitor", mode);
  };
  const box = group("Monitor call");
  append(box, ...(phone ? [status(phone)] : lostLine(ix)));
  append(box, ...MODES.map(([mode, text]) => {
    const b = button(text, `mode-${mode}`, () => pick(mode), current === mode);
    b.disabled = connecting.has(ix.id) || leaving.has(ix.id);
    return b;
  }));
  if (phone) box.append(muteButton(ctx, ix, redraw, phone), button("Stop monitoring", "leave", () => leave(ctx, ix, redraw)));
  const hint = phone ? MODE_HINTS[current] || "Connected." : connecting.has(ix.id) ? "Connecting…" : "Not monitoring: pick how to join the call.";
  return append(box, h("span", { class: "hint", text: hint }));
}

// -- pieces ----------------------------------------------------------------------------

function group(name) {
  return h("div", { class: "phone", role: "group", "aria-label": name }, h("span", { class: "group-label", "aria-hidden": "true", text: name }));
}

function append(box, ...children) { box.append(...children); return box; }

// A toggle (`pressed` true or false) or a plain button (`pressed` undefined); `key` finds it again after a re-render.
function button(text, key, onclick, pressed) {
  return h("button", { type: "button", "data-key": key, "aria-pressed": pressed === undefined ? null : String(pressed), text, onclick });
}

function muteButton(ctx, ix, redraw, phone) {
  return button(phone.muted ? "Unmute" : "Mute", "mute", () => toggle(ctx, ix, redraw, "muted", "mute", !phone.muted), phone.muted);
}

// One status line per connection, kept across re-renders (a polite live region: it is read out when it changes,
// never takes the focus).
function status(phone) {
  phone.label ||= h("span", { class: "status", role: "status", "aria-live": "polite" });
  const text = phone.reconnecting ? "Reconnecting audio…" : `Audio ${phone.pc.connectionState}`;
  if (phone.label.textContent !== text) phone.label.textContent = text;
  return phone.label;
}

const lostLine = (ix) => (lost.has(ix.id) ? [lost.get(ix.id)] : []);

function joinButton(ctx, ix, redraw, text) {
  const b = button(connecting.has(ix.id) ? "Connecting…" : text, "join", () => join(ctx, ix, redraw));
  b.className = "primary";
  b.disabled = connecting.has(ix.id) || leaving.has(ix.id);
  return b;
}

async function join(ctx, ix, redraw, mode) {
  lost.delete(ix.id);
  connecting.add(ix.id);
  redraw();
  try { await connect(ix, ctx.state.me, mode, redraw); } catch (err) { ctx.toast(`Audio not connected: ${err.message}`); }
  connecting.delete(ix.id);
  redraw();
}

// Optimistic: the control shows the new state at once; a refusal puts it back and says why.  Mute is this browser's
// own (`muted`); hold and the monitor's mode are wishes until the interaction's `call` says so (see `shown`).
async function toggle(ctx, ix, redraw, key, path, value) {
  const phone = phones.get(ix.id);
  const own = key === "muted";
  if (own) mute(phone, value); else phone.wishes[key] = { value, version: ix.version };
  redraw();
  if (own && phone.reconnecting) return;  // there is no leg to mute meanwhile: the next connection starts as chosen
  try {
    await api("POST", `/api/interactions/${ix.id}/${path}`, key === "mode" ? { mode: value } : { on: value });
    if (key === "mode") phone.mode = value;  // what a reconnect asks for if the call's record of it is not in yet
  }
  catch (err) {
    // A mute the gateway could not take because the call is moving stays: the microphone is off here, and the
    // reconnect mutes the new leg.
    if (own && (phone.reconnecting || retryable(err))) return;
    if (own) mute(phone, !value); else delete phone.wishes[key];
    ctx.toast(err.message);
  }
  redraw();
}

// The user's word is final.  The phone stops first (a reconnect under way ends, its offer in flight is cut off, the
// microphone goes quiet), so no offer of that reconnect can reach the gateway after the leave and give the call a
// fresh leg; then the gateway drops the leg, and only then does the connection close here (closed before, the
// gateway would see a dropped connection race the leave).  A 409 is a leg the gateway had already let go.
async function leave(ctx, ix, redraw) {
  const phone = stop(ix.id);
  leaving.add(ix.id);
  redraw();
  try { await api("POST", `/api/interactions/${ix.id}/audio/leave`); } catch (err) { if (err.status !== 409) ctx.toast(err.message); }
  if (phone) hangUp(phone);
  leaving.delete(ix.id);
  redraw();
}

function close(id) {
  const phone = stop(id);
  if (phone) hangUp(phone);
}

// Off the map and never connected again; the caller closes the connection.
function stop(id) {
  const phone = phones.get(id);
  if (!phone) return null;
  phones.delete(id);
  phone.closed = true;  // a reconnect under way stops (a user who left is never connected again)
  phone.aborter?.abort();
  phone.wake?.();
  clearTimeout(phone.dropping);
  clearTimeout(phone.settling);
  phone.stream?.getTracks().forEach((t) => { t.enabled = false; });
  return phone;
}

function hangUp(conn) {
  if (!conn.pc) return;
  conn.pc.onconnectionstatechange = null;
  conn.pc.close();
  conn.stream.getTracks().forEach((t) => t.stop());
  conn.audio.remove();
}

// Mute is this browser's own: the gateway mutes the leg, and the microphone's track is off too, so a connection
// made again (whose new leg starts unmuted on the gateway) sends nothing before it is muted there.
function mute(phone, on) {
  phone.muted = on;
  phone.stream?.getTracks().forEach((t) => { t.enabled = !on; });
}

async function connect(ix, me, mode, redraw) {
  const part = partOn(ix, me);
  const conn = await dial(ix.id, mode, false);
  // A hold outlives the connection (a reload): the agent's controls read it from the call's state.  A monitor's
  // mode shows at once, until the interaction that records it arrives.
  const phone = { ...conn, part, mode, ix, me, redraw, muted: false, wishes: mode ? { mode: { value: mode, version: ix.version } } : {} };
  phones.set(ix.id, phone);
  watch(phone);
}

// Microphone, peer connection, offer, answer: a connection to the call, or an error with nothing left behind.
// `signal` (a reconnect's) aborting stops it before, or while, the offer is sent.
async function dial(id, mode, muted, signal) {
  const stream = await navigator.mediaDevices.getUserMedia({ audio: true });
  stream.getTracks().forEach((t) => { t.enabled = !muted; });
  const pc = new RTCPeerConnection({ iceServers: [] });
  const audio = h("audio", { autoplay: true, "aria-label": "Caller audio" });
  document.body.append(audio);
  try {
    signal?.throwIfAborted();
    pc.ontrack = (e) => { audio.srcObject = e.streams[0] || new MediaStream([e.track]); };
    stream.getTracks().forEach((t) => pc.addTrack(t, stream));
    await pc.setLocalDescription(await pc.createOffer());
    // The gateway answers in one round trip, without trickle ICE: send the offer once gathering is done.
    if (pc.iceGatheringState !== "complete") {
      await new Promise((done) => { pc.onicegatheringstatechange = () => pc.iceGatheringState === "complete" && done(); setTimeout(done, 3000); });
    }
    const { answer, node } = await offer({ interaction_id: id, sdp: pc.localDescription.sdp, type: "offer", ...(mode ? { mode } : {}) }, signal);
    await pc.setRemoteDescription(answer);
    return { pc, stream, audio, node };
  } catch (err) {
    hangUp({ pc, stream, audio });
    throw err;
  }
}

// A connection that failed (or stayed disconnected for 2 s) is made again while this user is still on the call.
// Only a connection that gets through ends a loss (`lostAt`): an answered offer is not enough.
function watch(phone) {
  const { pc } = phone;
  pc.onconnectionstatechange = () => {
    clearTimeout(phone.dropping);
    if (pc.connectionState === "connected") { phone.lostAt = null; clearTimeout(phone.settling); }
    if (phone.label && !phone.reconnecting) phone.label.textContent = `Audio ${pc.connectionState}`;
    if (["failed", "closed"].includes(pc.connectionState)) recover(phone);
    if (pc.connectionState === "disconnected") phone.dropping = setTimeout(() => pc.connectionState === "disconnected" && recover(phone), 2000);
  };
}

// The same part again (a supervisor: the mode the call records for them, else the last one they had), mute as the
// user left it.  One reconnect at a time per call: news while one runs (the call's move) only cuts its wait short.
// The 60 s run from the first loss until a connection gets through, across offers: one answered whose connection
// then fails (or never connects) is tried again only within them, then the audio is lost.
async function recover(phone) {
  if (phone.closed) return;
  if (phone.reconnecting) { phone.wake?.(); return; }
  const id = phone.ix?.id;
  const onCall = () => !phone.closed && phone.ix && partOn(phone.ix, phone.me) === phone.part;
  if (!onCall()) return;
  phone.reconnecting = true;
  phone.lostAt ??= Date.now();
  const deadline = phone.lostAt + GIVE_UP_MS;
  clearTimeout(phone.dropping);
  clearTimeout(phone.settling);
  hangUp(phone);
  phone.redraw?.();
  const mode = () => (phone.part === "monitor" ? phone.ix.call?.monitors?.[phone.me.id] ?? phone.mode : undefined);
  const aborter = phone.aborter = new AbortController();
  const conn = await retry(() => dial(id, mode(), phone.muted, aborter.signal), onCall, (wake) => { phone.wake = wake; }, deadline);
  phone.reconnecting = false;
  phone.wake = phone.aborter = null;
  if (conn && phone.closed) {  // left (or moved off the call) while the offer was on its way
    hangUp(conn);
    api("POST", `/api/interactions/${id}/audio/leave`).catch(() => {});
    return;
  }
  if (!conn) {
    if (phones.get(id) === phone) {
      close(id);
      lost.set(id, h("span", { class: "status", role: "status", "aria-live": "polite", text: "Audio lost" }));
    }
    phone.redraw?.();
    return;
  }
  Object.assign(phone, conn);
  if (phone.part === "monitor") phone.mode = mode();
  watch(phone);
  // ICE that neither connects nor fails by the deadline ends it all the same (recover then gives up at once).
  if (conn.pc.connectionState === "connected") phone.lostAt = null;
  else phone.settling = setTimeout(() => phone.pc === conn.pc && conn.pc.connectionState !== "connected" && recover(phone), Math.max(0, deadline - Date.now()));
  if (phone.muted) api("POST", `/api/interactions/${id}/mute`, { on: true }).catch(() => {});
  phone.redraw?.();
}
