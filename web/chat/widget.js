/*
 * Switchboard chat widget: one script tag on any page.
 *
 *   <script src="https://your-gateway/chat/widget.js" defer></script>
 *
 * It adds a "Chat with us" button; the panel talks to the gateway's /ws/chat.
 * Add data-open="true" to the tag to show the panel at once (the /chat page does).
 * Add data-attributes='{"plan":"pro","language":"es"}' to tell the gateway what the page knows of the
 * customer: routing rules match on these attributes (at most 20; names of letters, digits and _.:-, values
 * strings of up to 500 characters; anything else is refused with an error in the panel). It is read when a
 * chat starts, so a page may set it after the widget loaded (once the customer signed in, say).
 * The session token lives in localStorage, so a reload or a dropped network
 * resumes the same conversation and replays only what was missed.
 * Once a chat has started, "Call us" turns it into a voice call from the
 * browser (WebRTC, answered by the agent's browser); hanging up goes back to chat.
 * A page with its own Content-Security-Policy allows the gateway's origin in script-src and its
 * https/wss origin in connect-src; styles go in as a constructed stylesheet, so style-src needs nothing.
 */
(() => {
  "use strict";
  const script = document.currentScript;
  const origin = new URL(script.src, location.href).origin;
  const wsUrl = origin.replace(/^http/, "ws") + "/ws/chat";
  const STORE = "switchboard-chat:" + origin;
  const saved = () => JSON.parse(localStorage.getItem(STORE) || "null");
  const save = (s) => localStorage.setItem(STORE, JSON.stringify(s));
  const attributes = () => {
    try {
      const given = JSON.parse(script.dataset.attributes || "{}");
      return given && typeof given === "object" && !Array.isArray(given) ? given : {};
    } catch { return {}; }  // a malformed tag must not break the chat: it starts without attributes
  };

  const css = `
  .sbc-launch{position:fixed;right:1rem;bottom:1rem;z-index:2147483000;border:0;border-radius:2rem;padding:.8rem 1.2rem;
    background:#1d4ed8;color:#fff;font:600 1rem system-ui,sans-serif;box-shadow:0 4px 14px rgba(0,0,0,.25);cursor:pointer}
  .sbc-launch:focus-visible,.sbc button:focus-visible,.sbc input:focus-visible,.sbc textarea:focus-visible{outline:3px solid #f59e0b;outline-offset:2px}
  .sbc{position:fixed;right:1rem;bottom:1rem;z-index:2147483001;width:min(24rem,calc(100vw - 2rem));height:min(36rem,calc(100vh - 2rem));
    display:flex;flex-direction:column;background:#fff;color:#111827;border-radius:.8rem;box-shadow:0 10px 30px rgba(0,0,0,.3);
    font:1rem/1.4 system-ui,sans-serif;overflow:hidden}
  .sbc[hidden],.sbc [hidden],.sbc-launch[hidden]{display:none !important}
  .sbc header{display:flex;align-items:center;justify-content:space-between;padding:.7rem 1rem;background:#1d4ed8;color:#fff}
  .sbc header h2{margin:0;font-size:1.05rem}
  .sbc header button{background:transparent;color:#fff;border:0;font-size:1.4rem;cursor:pointer;line-height:1}
  .sbc p{margin:0}
  .sbc .sbc-status{padding:.35rem 1rem;background:#eff6ff;color:#1e3a8a;font-size:.85rem}
  .sbc form.sbc-start{display:flex;flex-direction:column;gap:.6rem;padding:1rem;overflow:auto}
  .sbc label{display:flex;flex-direction:column;font-size:.9rem;gap:.2rem;color:#374151}
  .sbc input,.sbc textarea{font:inherit;padding:.5rem;border:1px solid #9ca3af;border-radius:.4rem}
  .sbc button.sbc-primary{background:#1d4ed8;color:#fff;border:0;border-radius:.4rem;padding:.6rem;font:600 1rem system-ui,sans-serif;cursor:pointer}
  .sbc ol.sbc-log{list-style:none;margin:0;padding:.8rem;flex:1;overflow-y:auto;display:flex;flex-direction:column;gap:.5rem;background:#f9fafb}
  .sbc-log li{max-width:80%;padding:.5rem .7rem;border-radius:.7rem;white-space:pre-wrap;word-wrap:break-word}
  .sbc-log li.customer{align-self:flex-end;background:#1d4ed8;color:#fff;border-bottom-right-radius:.2rem}
  .sbc-log li.agent{align-self:flex-start;background:#e5e7eb;border-bottom-left-radius:.2rem}
  .sbc-log li.notice{align-self:center;background:transparent;color:#4b5563;font-size:.85rem;font-style:italic}
  .sbc-log .meta{display:block;font-size:.72rem;opacity:.8;margin-top:.15rem}
  .sbc .sr-only{position:absolute;width:1px;height:1px;overflow:hidden;clip:rect(0 0 0 0)}
  .sbc .sbc-typing{min-height:1.2rem;padding:0 1rem;font-size:.8rem;color:#4b5563}
  .sbc form.sbc-compose{display:flex;gap:.4rem;padding:.6rem;border-top:1px solid #e5e7eb}
  .sbc form.sbc-compose textarea{flex:1;resize:none;height:2.6rem}
  .sbc .sbc-call{display:flex;align-items:center;gap:.5rem;padding:.45rem 1rem;border-top:1px solid #e5e7eb;font-size:.9rem}
  .sbc .sbc-call p{flex:1}
  .sbc .sbc-call button{border-radius:.4rem;padding:.35rem .8rem;font:600 .9rem system-ui,sans-serif;cursor:pointer;border:1px solid #15803d;background:#15803d;color:#fff}
  .sbc .sbc-call button.sbc-hangup{border-color:#b91c1c;background:#b91c1c}
  .sbc .sbc-end{margin:0 .6rem .6rem;background:transparent;border:1px solid #9ca3af;border-radius:.4rem;padding:.35rem;cursor:pointer;color:#374151}
  @media (max-width:480px){.sbc{right:0;bottom:0;width:100vw;height:100dvh;border-radius:0}}`;

  const el = (tag, attrs = {}, ...kids) => {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs)) {
      if (k === "text") node.textContent = v; else if (v !== false && v != null) node.setAttribute(k, v === true ? "" : v);
    }
    node.append(...kids);
    return node;
  };

  const launch = el("button", { class: "sbc-launch", type: "button", "aria-haspopup": "dialog", "aria-expanded": "false" , text: "Chat with us" });
  const panel = el("section", { class: "sbc", role: "dialog", "aria-modal": "false", "aria-labelledby": "sbc-title", hidden: true });
  const close = el("button", { type: "button", "aria-label": "Close chat", text: "×" });
  const status = el("p", { class: "sbc-status", role: "status", "aria-live": "polite", text: "We usually answer within a few minutes." });
  const startForm = el("form", { class: "sbc-start", "aria-label": "Start a chat" },
    el("label", {}, "Your name", el("input", { name: "name", required: true, autocomplete: "name", maxlength: "200" })),
    el("label", {}, "Email", el("input", { name: "email", type: "email", required: true, autocomplete: "email", maxlength: "254" })),
    el("label", {}, "Mobile (optional, for texts)", el("input", { name: "phone", type: "tel", autocomplete: "tel", placeholder: "+14155550100", pattern: "\\+[1-9][0-9]{6,14}" })),
    el("label", {}, "How can we help?", el("textarea", { name: "topic", rows: "3", maxlength: "500" })),
    el("button", { class: "sbc-primary", type: "submit", text: "Start chat" }));
  const log = el("ol", { class: "sbc-log", "aria-label": "Conversation", "aria-live": "polite", "aria-relevant": "additions", hidden: true });
  const typing = el("p", { class: "sbc-typing", "aria-live": "polite" });
  const input = el("textarea", { name: "message", "aria-label": "Message", placeholder: "Type a message…", maxlength: "4000", rows: "1" });
  const compose = el("form", { class: "sbc-compose", "aria-label": "Send a message", hidden: true }, input,
    el("button", { class: "sbc-primary", type: "submit", text: "Send" }));
  const end = el("button", { class: "sbc-end", type: "button", hidden: true, text: "End chat" });
  // After the end: a new conversation from the same page (the start form keeps who they are, not their question).
  const again = el("button", { class: "sbc-primary", type: "button", hidden: true, text: "Start a new chat" });
  const callState = el("p", { "aria-live": "polite", text: "Prefer to talk?" });
  const callButton = el("button", { type: "button", text: "Call us" });
  const callBar = el("div", { class: "sbc-call", role: "group", "aria-label": "Voice call", hidden: true }, callState, callButton);
  const speaker = el("audio", { autoplay: true });
  panel.append(el("header", {}, el("h2", { id: "sbc-title", text: "Chat with us" }), close), status, startForm, log, typing, callBar, compose, end, again, speaker);

  let ws = null, retry = 0, lastId = null, pending = new Map(), seq = 0, typingTimer = null, sentTyping = 0, ended = false;

  const show = (open) => {
    panel.hidden = !open; launch.hidden = open; launch.setAttribute("aria-expanded", String(open));
    if (open) (startForm.hidden ? input : startForm.querySelector("input")).focus(); else launch.focus();
  };
  const scroll = () => { log.scrollTop = log.scrollHeight; };
  const notice = (text) => { log.append(el("li", { class: "notice", text })); scroll(); };
  const when = (iso) => new Date(iso).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
  const addMessage = (m) => {
    if (m.id && log.querySelector(`[data-id="${CSS.escape(m.id)}"]`)) return;
    const who = m.from === "customer" ? "You" : (m.name || "Agent");
    const li = el("li", { class: m.from, "data-id": m.id || "" }, el("span", { class: "sr-only", text: who + ": " }), m.body,
      el("span", { class: "meta", text: `${who} · ${when(m.at)}${m.from === "customer" ? " · " + (m.status || "sent") : ""}` }));
    log.append(li); scroll();
    if (m.id) lastId = m.id;
  };
  const setReceipt = (id, text) => {
    const meta = log.querySelector(`[data-id="${CSS.escape(id)}"] .meta`);
    if (meta) meta.textContent = meta.textContent.replace(/ · [a-z]+$/, " · " + text);
  };
  const inChat = () => { startForm.hidden = true; log.hidden = false; compose.hidden = false; end.hidden = false; callBar.hidden = !window.RTCPeerConnection; };

  // -- the voice call: the browser's microphone to the agent's browser, through the gateway ------
  // A connection that fails (or stays disconnected for 2 s: the gateway process holding the call died or is stopping)
  // is offered again with the same token; another process takes the call up.  While none holds it the gateway
  // answers 409 no_live_call: that, a network error, an offer unanswered for 10 s and a balancer's 502/503 are tried
  // again after 0.25 s, doubling to 4 s, for up to 60 s from the loss until a connection gets through (an answered
  // offer whose connection fails again does not start them afresh); then the call ends as a dropped one.  A
  // microphone the browser refuses (permission denied, or none) is final.
  // { pc, stream, reconnecting, dropping, settling, lostAt, stop: AbortController (the hang-up's, for an offer in flight) }
  let call = null;
  let liveText = "";
  const post = (path, body, signal) => fetch(origin + path, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body), signal })
    .then(async (r) => {
      if (r.ok) return r.status === 204 ? null : r.json();
      const data = await r.json().catch(() => ({}));
      throw Object.assign(new Error(data.detail || `HTTP ${r.status}`), { status: r.status, code: data.error });
    });
  const retryable = (err) => !["NotAllowedError", "NotFoundError"].includes(err.name)
    && (!err.status || [502, 503].includes(err.status) || (err.status === 409 && err.code === "no_live_call"));
  // The hang-up's signal and the offer's own 10 s (a browser without AbortSignal.any has no timeout).
  const offerSignal = (c) => (AbortSignal.any && AbortSignal.timeout ? AbortSignal.any([c.stop.signal, AbortSignal.timeout(10000)]) : c.stop.signal);
  const callUi = (state, text) => {
    callState.textContent = text;
    if (state === "live") liveText = text;
    callButton.textContent = state === "idle" ? "Call us" : "Hang up";
    callButton.className = state === "idle" ? "" : "sbc-hangup";
    callButton.disabled = state === "connecting";
  };
  const hangUpPeer = (c) => { if (c.pc) { c.pc.onconnectionstatechange = null; c.pc.close(); c.stream.getTracks().forEach((t) => t.stop()); c.pc = null; } };
  const over = () => Object.assign(new Error("This chat has ended."), { status: 410 });
  // Microphone, peer connection, offer, answer, for the call `c`; on an error nothing is left open.  No offer goes
  // out once the call was hung up (`c.stop` aborts one on its way) or the chat's token is gone.
  const dial = async (c) => {
    if (!saved()?.token) throw over();
    c.stream = await navigator.mediaDevices.getUserMedia({ audio: true });
    const pc = c.pc = new RTCPeerConnection();
    try {
      c.stream.getTracks().forEach((t) => pc.addTrack(t, c.stream));
      pc.ontrack = (e) => { speaker.srcObject = e.streams[0] || new MediaStream([e.track]); };
      pc.onconnectionstatechange = () => {
        if (call !== c || c.pc !== pc) return;
        clearTimeout(c.dropping);
        if (pc.connectionState === "connected") {
          c.lostAt = null;  // a loss is over only once a connection gets through
          clearTimeout(c.settling);
          callUi("live", liveText || "On call. The next available agent will answer.");
        }
        if (["failed", "closed"].includes(pc.connectionState)) reconnect(c);
        if (pc.connectionState === "disconnected") c.dropping = setTimeout(() => pc.connectionState === "disconnected" && reconnect(c), 2000);
      };
      await pc.setLocalDescription(await pc.createOffer());
      if (pc.iceGatheringState !== "complete") {
        await new Promise((done) => { pc.onicegatheringstatechange = () => pc.iceGatheringState === "complete" && done(); setTimeout(done, 3000); });
      }
      const token = saved()?.token;
      c.stop.signal.throwIfAborted();
      if (!token) throw over();
      await pc.setRemoteDescription(await post("/api/chat/call", { token, sdp: pc.localDescription.sdp, type: "offer" }, offerSignal(c)));
    } catch (err) {
      hangUpPeer(c);
      throw err;
    }
  };
  const startCall = async () => {
    if (!saved()) return;
    callUi("connecting", "Connecting your call…");
    liveText = "";
    const c = call = { stop: new AbortController() };
    try {
      await dial(c);
      if (c.pc && c.pc.connectionState !== "connected") callUi("ringing", "Calling…");
    } catch (err) {
      if (call === c) endCall(false, `The call could not start: ${err.message}`);
    }
  };
  // One at a time per call; a hang-up meanwhile stops it (and a connection made after all is told to hang up).
  // The 60 s run from the first loss until a connection gets through: an answered offer whose ICE then fails (or
  // never connects) is tried again only within them.
  const reconnect = async (c) => {
    if (c.reconnecting) return;
    c.reconnecting = true;
    c.lostAt = c.lostAt || Date.now();
    const deadline = c.lostAt + 60000;
    clearTimeout(c.settling);
    hangUpPeer(c);
    callUi("reconnecting", "Reconnecting…");
    for (let wait = 250; call === c && Date.now() < deadline; wait = Math.min(wait * 2, 4000)) {
      try {
        await dial(c);
        c.reconnecting = false;
        if (call !== c) {  // hung up while the answer was on its way: the new connection is let go at once
          hangUpPeer(c);
          const token = saved()?.token;
          if (token) post("/api/chat/hangup", { token }).catch(() => {});
        } else if (c.pc?.connectionState === "connected") {
          c.lostAt = null;
        } else {
          const pc = c.pc;  // not through by the deadline: reconnect, which then ends the call at once
          c.settling = setTimeout(() => call === c && c.pc === pc && pc.connectionState !== "connected" && reconnect(c), Math.max(0, deadline - Date.now()));
        }
        return;
      } catch (err) {
        if (!retryable(err) || Date.now() + wait > deadline) break;
      }
      await new Promise((done) => setTimeout(done, wait));
    }
    c.reconnecting = false;
    if (call === c) endCall(false, "The call dropped. You can call again.");
  };
  // A reconnect stops before anything else (`call` no longer its call, its offer in flight aborted), so none of its
  // offers reaches the gateway after the hang-up.
  const endCall = async (tell, text) => {
    const c = call; call = null;
    if (c) { clearTimeout(c.dropping); clearTimeout(c.settling); c.stop.abort(); }
    callUi("idle", text || "Call ended. We can go on here in the chat.");
    const token = saved()?.token;
    // Told before the connection closes, so the gateway records a hang-up rather than a dropped connection.
    if (tell && token) await post("/api/chat/hangup", { token }).catch(() => {});
    if (c) hangUpPeer(c);
  };
  callButton.addEventListener("click", () => (call ? endCall(true) : startCall()));

  // The agent's messages are read when the panel is open on a page in front: the agent sees a read receipt.
  const readNow = () => { if (!panel.hidden && !log.hidden && document.visibilityState === "visible") send({ type: "read" }); };
  const send = (frame) => { if (ws && ws.readyState === WebSocket.OPEN) { ws.send(JSON.stringify(frame)); return true; } return false; };

  const connect = (first) => {
    ws = new WebSocket(wsUrl);
    ws.onopen = () => {
      retry = 0;
      const s = saved();
      if (first) send(first);
      else if (s) send({ type: "resume", token: s.token, after: lastId });
      for (const [cid, body] of pending) send({ type: "message", body, client_id: cid });  // resend what was not acknowledged
    };
    ws.onmessage = (ev) => {
      const f = JSON.parse(ev.data);
      switch (f.type) {
        case "session":
          save({ token: f.token, interaction: f.interaction_id }); inChat();
          f.messages.forEach(addMessage); if (f.messages.some((m) => m.from !== "customer")) readNow();
          status.textContent = f.status === "ended" ? "This chat has ended." : f.agent ? `You are chatting with ${f.agent}.` : "Waiting for the next available agent…";
          break;
        case "message": addMessage(f); typing.textContent = ""; if (f.from !== "customer") readNow(); break;
        case "ack": {
          const body = pending.get(f.client_id); pending.delete(f.client_id);
          const li = log.querySelector(`[data-client="${CSS.escape(f.client_id || "")}"]`);
          if (li) { li.dataset.id = f.id; li.querySelector(".meta").textContent = `You · ${when(f.at)} · delivered`; lastId = f.id; }
          else if (body) addMessage({ id: f.id, body, from: "customer", at: f.at, status: "delivered" });
          break;
        }
        case "receipt": f.ids.forEach((id) => setReceipt(id, "read")); break;
        case "typing": typing.textContent = f.active ? "The agent is typing…" : ""; break;
        case "agent_joined":
          status.textContent = `You are chatting with ${f.name}.`; notice(`${f.name} joined the chat`);
          if (call?.reconnecting) liveText = `On call with ${f.name}.`; else if (call) callUi("live", `On call with ${f.name}.`);
          break;
        case "agent_left":
          status.textContent = "Waiting for the next available agent…";
          notice(f.reason === "transferred" ? "You are being transferred to a colleague, who will be with you shortly" : "The agent left the chat; someone else will be with you shortly");
          break;
        case "channel":
          notice(f.channel === "messaging/text" ? `We'll continue by text message${f.phone ? " at " + f.phone : ""}.`
            : f.channel === "call/webrtc" ? "You are calling from this page."
            : f.channel.startsWith("call/") ? `We'll call you${f.phone ? " at " + f.phone : ""}.`
            : f.channel === "messaging/chat" ? "Back to chat." : "The conversation moved to another channel.");
          break;
        case "ended":
          if (ended) break;  // said once: a later event about the same chat (a note, its completion) says nothing new
          ended = true; status.textContent = "This chat has ended. Thank you!"; notice("Chat ended");
          compose.hidden = true; end.hidden = true; callBar.hidden = true; if (call) endCall(false);
          again.hidden = false;
          localStorage.removeItem(STORE); break;
        case "error":
          if (f.code === "unknown_session") { localStorage.removeItem(STORE); startForm.hidden = false; log.hidden = true; compose.hidden = true; }
          status.textContent = f.detail; break;
      }
    };
    ws.onclose = () => {
      if (ended) return;
      status.textContent = "Reconnecting…";
      setTimeout(() => connect(null), Math.min(10000, 500 * 2 ** retry++));
    };
  };

  startForm.addEventListener("submit", (e) => {
    e.preventDefault();
    const data = Object.fromEntries(new FormData(startForm));
    const frame = { type: "start", name: data.name.trim(), email: data.email.trim() };
    if (data.topic.trim()) frame.topic = data.topic.trim();
    if (data.phone.trim()) frame.phone = data.phone.trim();
    const attrs = attributes();
    if (Object.keys(attrs).length) frame.attributes = attrs;
    ended = false;
    if (ws && ws.readyState === WebSocket.OPEN) send(frame); else connect(frame);
    setTimeout(() => input.focus(), 0);
  });
  compose.addEventListener("submit", (e) => {
    e.preventDefault();
    const body = input.value.trim();
    if (!body) return;
    const cid = `${Date.now().toString(36)}-${seq++}`;
    pending.set(cid, body);
    const li = el("li", { class: "customer", "data-client": cid }, body, el("span", { class: "meta", text: "You · sending…" }));
    log.append(li); scroll();
    send({ type: "message", body, client_id: cid });
    input.value = ""; sentTyping = 0; send({ type: "typing", active: false });
  });
  input.addEventListener("keydown", (e) => {
    if (e.key === "Enter" && !e.shiftKey) { e.preventDefault(); compose.requestSubmit(); }
  });
  input.addEventListener("input", () => {
    const now = Date.now();
    if (now - sentTyping > 3000) { sentTyping = now; send({ type: "typing", active: true }); }
    clearTimeout(typingTimer);
    typingTimer = setTimeout(() => { sentTyping = 0; send({ type: "typing", active: false }); }, 4000);
  });
  end.addEventListener("click", () => send({ type: "end" }));
  again.addEventListener("click", () => {
    // The old socket goes quietly (its close must not reconnect it); the next start opens a fresh one.
    if (ws) { ws.onclose = null; ws.close(); ws = null; }
    again.hidden = true; log.replaceChildren(); log.hidden = true; typing.textContent = ""; lastId = null; pending.clear();
    status.textContent = "We usually answer within a few minutes.";
    startForm.elements.topic.value = ""; startForm.hidden = false; startForm.elements.topic.focus();
  });
  launch.addEventListener("click", () => { show(true); readNow(); });
  close.addEventListener("click", () => show(false));
  panel.addEventListener("keydown", (e) => { if (e.key === "Escape") show(false); });
  log.addEventListener("focusin", () => send({ type: "read" }));
  document.addEventListener("visibilitychange", readNow);

  // A constructed stylesheet (CSSOM) rather than a <style> element: a host page whose CSP has no
  // 'unsafe-inline' for styles (and the gateway's own /chat/ page) applies it all the same.
  if (document.adoptedStyleSheets && window.CSSStyleSheet && "replaceSync" in CSSStyleSheet.prototype) {
    const sheet = new CSSStyleSheet();
    sheet.replaceSync(css);
    document.adoptedStyleSheets = [...document.adoptedStyleSheets, sheet];
  } else {
    document.head.append(el("style", { text: css }));  // browsers without constructable stylesheets
  }
  document.body.append(launch, panel);
  if (saved()) { inChat(); connect(null); }
  if (script.dataset.open === "true" || saved()) show(true);
})();
