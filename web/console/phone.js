// Call audio in the browser: WebRTC to the gateway's voice bridge.  One connection per call, kept across re-renders.
// The gateway decides the part a browser plays on the call; `partOn` mirrors that decision to pick the controls:
// the call's agent (hold, mute), the user consulted on a warm transfer (join, mute, leave), a supervisor monitoring.
// Hold, three-way and a monitor's mode are the call's state, read from the interaction's `call` (the server's truth);
// only the connection and its mute (this browser's own leg) are kept here.
import { api } from "./api.js";
import { h } from "./dom.js";

const phones = new Map();  // interaction id -> { pc, stream, audio, part, muted, wishes }
const connecting = new Set();  // interaction ids whose offer is on its way
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
export function settle(ix, me) {
  const phone = phones.get(ix.id);
  if (!phone) return;
  const part = partOn(ix, me);
  if (part === phone.part) return;
  if (phone.part === "consult" && part === "agent") { phone.part = part; return; }
  if (phone.part === "monitor") api("POST", `/api/interactions/${ix.id}/audio/leave`).catch(() => {});  // monitors are never dropped for us
  close(ix.id);
}

export function closeAll() { [...phones.keys()].forEach(close); }

// The audio controls for this user on a live call (or null).  `redraw` re-renders the controls they sit in.
export function callAudio(ctx, ix, redraw) {
  const part = partOn(ix, ctx.state.me);
  const live = ix.status === "claimed" || phones.has(ix.id);
  if (part === "agent" && live) return agentPhone(ctx, ix, redraw);
  if (part === "consult") return consultPhone(ctx, ix, redraw);
  if (part === "monitor" && live) return monitorPhone(ctx, ix, redraw);
  return null;
}

function agentPhone(ctx, ix, redraw) {
  const phone = phones.get(ix.id);
  const box = group("Call audio");
  if (!phone) return append(box, joinButton(ctx, ix, redraw, "Connect audio"));
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
    : [joinButton(ctx, ix, redraw, "Join consult")]));
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
  if (phone) box.append(status(phone));
  append(box, ...MODES.map(([mode, text]) => {
    const b = button(text, `mode-${mode}`, () => pick(mode), current === mode);
    b.disabled = connecting.has(ix.id);
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

function status(phone) {
  const text = h("span", { class: "status", role: "status", text: `Audio ${phone.pc.connectionState}` });
  phone.pc.onconnectionstatechange = () => { text.textContent = `Audio ${phone.pc.connectionState}`; };
  return text;
}

function joinButton(ctx, ix, redraw, text) {
  const b = button(connecting.has(ix.id) ? "Connecting…" : text, "join", () => join(ctx, ix, redraw));
  b.className = "primary";
  b.disabled = connecting.has(ix.id);
  return b;
}

async function join(ctx, ix, redraw, mode) {
  connecting.add(ix.id);
  redraw();
  try { await connect(ix, partOn(ix, ctx.state.me), mode); } catch (err) { ctx.toast(`Audio not connected: ${err.message}`); }
  connecting.delete(ix.id);
  redraw();
}

// Optimistic: the control shows the new state at once; a refusal puts it back and says why.  Mute is this browser's
// own (`muted`); hold and the monitor's mode are wishes until the interaction's `call` says so (see `shown`).
async function toggle(ctx, ix, redraw, key, path, value) {
  const phone = phones.get(ix.id);
  const own = key === "muted";
  if (own) phone.muted = value; else phone.wishes[key] = { value, version: ix.version };
  redraw();
  try { await api("POST", `/api/interactions/${ix.id}/${path}`, key === "mode" ? { mode: value } : { on: value }); }
  catch (err) {
    if (own) phone.muted = !value; else delete phone.wishes[key];
    ctx.toast(err.message);
  }
  redraw();
}

// The gateway drops this browser's leg at once (rather than noticing the connection is gone), then it closes here.
async function leave(ctx, ix, redraw) {
  try { await api("POST", `/api/interactions/${ix.id}/audio/leave`); } catch (err) { if (err.status !== 409) ctx.toast(err.message); }
  close(ix.id);
  redraw();
}

function close(id) {
  const phone = phones.get(id);
  if (!phone) return;
  phones.delete(id);
  phone.pc.close();
  phone.stream.getTracks().forEach((t) => t.stop());
  phone.audio.remove();
}

async function connect(ix, part, mode) {
  const stream = await navigator.mediaDevices.getUserMedia({ audio: true });
  const pc = new RTCPeerConnection({ iceServers: [] });
  const audio = h("audio", { autoplay: true, "aria-label": "Caller audio" });
  document.body.append(audio);
  try {
    pc.ontrack = (e) => { audio.srcObject = e.streams[0] || new MediaStream([e.track]); };
    stream.getTracks().forEach((t) => pc.addTrack(t, stream));
    await pc.setLocalDescription(await pc.createOffer());
    // The gateway answers in one round trip, without trickle ICE: send the offer once gathering is done.
    if (pc.iceGatheringState !== "complete") {
      await new Promise((done) => { pc.onicegatheringstatechange = () => pc.iceGatheringState === "complete" && done(); setTimeout(done, 3000); });
    }
    const answer = await api("POST", "/api/webrtc/offer", { interaction_id: ix.id, sdp: pc.localDescription.sdp, type: "offer", ...(mode ? { mode } : {}) });
    await pc.setRemoteDescription(answer);
  } catch (err) {
    pc.close(); stream.getTracks().forEach((t) => t.stop()); audio.remove();
    throw err;
  }
  // A hold outlives the connection (a reload): the agent's controls read it from the call's state.  A monitor's
  // mode shows at once, until the interaction that records it arrives.
  phones.set(ix.id, { pc, stream, audio, part, muted: false, wishes: mode ? { mode: { value: mode, version: ix.version } } : {} });
}
