// The agent event stream: resumes from the last cursor after any drop, so nothing is missed or doubled.
export class Live {
  constructor({ onEvent, onStatus, onExpired, onUnauthorized }) {
    Object.assign(this, { onEvent, onStatus, onExpired, onUnauthorized });
    this.cursor = null; this.retry = 0; this.ws = null; this.stopped = false;
  }
  start(token, cursor) { this.token = token; this.cursor = cursor; this.stopped = false; this.open(); }
  stop() { this.stopped = true; this.ws?.close(); }
  open() {
    const url = new URL("/ws/agent", location.href);
    url.protocol = url.protocol.replace("http", "ws");
    url.searchParams.set("token", this.token);
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
      this.onStatus("Reconnecting…");
      setTimeout(() => this.open(), Math.min(10000, 300 * 2 ** this.retry++));
    };
  }
}
