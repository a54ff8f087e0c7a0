// The agent event stream: resumes from the last cursor after any drop, so nothing is missed or doubled.
// Each connection opens with a single-use ticket, so the bearer token never appears in a URL (or a log).
import { api, ApiError } from "./api.js";

export class Live {
  constructor({ onEvent, onStatus, onExpired, onUnauthorized }) {
    Object.assign(this, { onEvent, onStatus, onExpired, onUnauthorized });
    this.cursor = null; this.retry = 0; this.ws = null; this.stopped = false;
  }
  start(cursor) { this.cursor = cursor; this.stopped = false; this.open(); }
  stop() { this.stopped = true; this.ws?.close(); }
  async open() {
    let ticket;
    try {
      ({ ticket } = await api("POST", "/api/auth/ws-ticket"));
    } catch (e) {
      if (this.stopped) return;
      if (e instanceof ApiError && e.status === 401) return this.onUnauthorized();
      return this.reconnect();
    }
    if (this.stopped) return;
    const url = new URL("/ws/agent", location.href);
    url.protocol = url.protocol.replace("http", "ws");
    url.searchParams.set("ticket", ticket);
    if (this.cursor) url.searchParams.set("since", this.cursor);
    const ws = (this.ws = new WebSocket(url));
    ws.onopen = () => { this.retry = 0; this.onStatus("Live"); };
    ws.onmessage = (m) => {
      const event = JSON.parse(m.data);
      if (event.id) this.cursor = event.id;
      this.onEvent(event);
    };
    ws.onclose = (e) => {
      if (this.stopped) return;
      if (e.code === 4401) return this.onUnauthorized();
      if (e.code === 4410) { this.cursor = null; this.onExpired(); return; }
      const m = /since=([0-9]+-[0-9]+)/.exec(e.reason || "");
      if (m) this.cursor = m[1];
      this.reconnect();
    };
  }
  reconnect() {
    this.onStatus("Reconnecting…");
    setTimeout(() => this.open(), Math.min(10000, 300 * 2 ** this.retry++));
  }
}
