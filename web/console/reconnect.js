// Call audio that comes back by itself.  When the gateway process holding a call dies or drains, another one takes
// the call over (`interaction.audio_moved`) and waits for the browsers that were on it; a browser whose connection
// failed for any other reason offers again the same way.  While no process holds the call, an offer is answered
// 409 `no_live_call` (Retry-After: 1): that, a network error, and a balancer's 502/503 are worth another try, with
// a backoff (0.25 s doubling to 4 s) for up to 60 s from the loss until a connection is made (the caller's deadline:
// an offer answered whose connection then fails again does not start the 60 s afresh).  Anything else (403: the
// call is no longer this user's, 422) is final, and so is a microphone the browser refuses (permission denied, or
// none there): asking again cannot change that.
import { ApiError, auth } from "./api.js";

const FIRST_MS = 250, MAX_MS = 4000, OFFER_MS = 10_000;
export const GIVE_UP_MS = 60_000;
const FINAL_MEDIA = ["NotAllowedError", "NotFoundError"];

export const retryable = (err) => !FINAL_MEDIA.includes(err?.name)
  && (!(err instanceof ApiError) || [502, 503].includes(err.status) || (err.status === 409 && err.code === "no_live_call"));

// Runs `attempt` until it answers, an error is final, `wanted()` turns false, or `deadline` (ms since the epoch)
// has passed (then null: no attempt starts after it).
// `waker(fn)` receives a function that cuts the current wait short (news that the call has a home again, or the
// user left).
export async function retry(attempt, wanted, waker, deadline = Date.now() + GIVE_UP_MS) {
  for (let wait = FIRST_MS; ; wait = Math.min(wait * 2, MAX_MS)) {
    if (!wanted() || Date.now() >= deadline) return null;
    try { return await attempt(); } catch (err) { if (!retryable(err)) return null; }
    if (Date.now() + wait > deadline) return null;
    await new Promise((done) => { const t = setTimeout(done, wait); waker(() => { clearTimeout(t); done(); }); });
  }
}

// The SDP offer, and which process answered it (a forwarded offer names its home): after a move, a connection
// already made to the call's new home need not be made again.  `signal` aborts it (the user left: no offer may
// reach the gateway after their leave); it gives up by itself after 10 s, so one hung request cannot stall the retries.
export async function offer(body, signal) {
  const timeout = AbortSignal.timeout(OFFER_MS);
  const res = await fetch("/api/webrtc/offer", {
    method: "POST",
    signal: signal ? AbortSignal.any([signal, timeout]) : timeout,
    headers: { Accept: "application/json", "Content-Type": "application/json", Authorization: `Bearer ${auth.token}` },
    body: JSON.stringify(body),
  });
  const data = res.headers.get("content-type")?.includes("json") ? await res.json() : null;
  if (!res.ok) throw new ApiError(res.status, data?.error || "http_error", data?.detail || res.statusText);
  return { answer: data, node: res.headers.get("x-switchboard-forwarded-to") || res.headers.get("x-switchboard-node") };
}
