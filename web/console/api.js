// The HTTP API, with the bearer token of this browser tab.
export class ApiError extends Error {
  constructor(status, code, detail) { super(detail || code); this.status = status; this.code = code; }
}

export const auth = {
  get token() { return sessionStorage.getItem("switchboard-token"); },
  set token(t) { t ? sessionStorage.setItem("switchboard-token", t) : sessionStorage.removeItem("switchboard-token"); },
};

export async function api(method, path, body) {
  const headers = { Accept: "application/json" };
  if (auth.token) headers.Authorization = `Bearer ${auth.token}`;
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const res = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  if (res.status === 204) return null;
  const data = res.headers.get("content-type")?.includes("json") ? await res.json() : null;
  if (!res.ok) throw new ApiError(res.status, data?.error || "http_error", data?.detail || res.statusText);
  return data;
}

// Media behind auth (recordings): fetched with the token, played from a blob URL.
export async function blobUrl(path) {
  const res = await fetch(path, { headers: { Authorization: `Bearer ${auth.token}` } });
  if (!res.ok) throw new ApiError(res.status, "http_error", res.statusText);
  return URL.createObjectURL(await res.blob());
}
