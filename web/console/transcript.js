// The workspace's "transcript" tab: what the caller and the agent said on a transcribed call, as the
// provider's real-time transcription reports it (final utterances only, already in spoken order on the
// interaction), filling in live as `interaction.transcript_segment_added` events arrive, and kept on
// the completed interaction.
import { h } from "./dom.js";

const time = (iso) => new Date(iso).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit", second: "2-digit" });

// Whether an interaction's workspace shows the tab (whether or not its queue's large tabs list it): calls on a
// transcribing queue, and whatever already has live transcript segments (a call since switched to text); never a chat or text.
export const wantsTranscript = (ix, settings) => Boolean(ix.live_transcript?.length ||
  (ix.type === "call" && (settings.transcription || settings.large_tabs?.includes("transcript"))));

export function liveTranscript() {
  const list = h("ol", { class: "conversation transcript", "aria-label": "Live transcript", "aria-live": "polite", tabindex: "0" });
  let shown = null;
  function update(ix) {
    const segments = ix.live_transcript || [];
    const key = `${ix.state}|${ix.type}|${segments.map((s) => s.id).join(",")}`;
    if (key === shown) return;  // other changes (status, notes) leave the transcript and its scroll position alone
    shown = key;
    const following = list.scrollHeight - list.scrollTop - list.clientHeight < 24;
    list.replaceChildren(...(segments.length
      ? segments.map((s) => h("li", { class: s.speaker === "customer" ? "inbound" : "outbound", "data-sequence": s.sequence },
        h("strong", { text: s.speaker === "customer" ? "Customer: " : "Agent: " }), s.text,
        h("span", { class: "meta", text: time(s.at) })))
      : [h("li", { class: "empty", text: ix.state === "active" && ix.type === "call" ? "Nothing transcribed yet: what is said on the call appears here." : "No live transcript." })]));
    if (following) list.scrollTop = list.scrollHeight;  // keep up with the call, unless the agent scrolled back to read
  }
  return { element: list, update };
}
