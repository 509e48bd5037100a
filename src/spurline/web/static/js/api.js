// The one way the UI talks to the server: same-origin fetch with the session cookie
// and the CSRF header (docs/security.md), JSON errors turned into ApiError, and
// subscribe() for live data.

let csrfToken = null;
let session = null;

export class ApiError extends Error {
  constructor(status, detail) {
    super(describe(detail) || `HTTP ${status}`);
    this.status = status;
    this.detail = detail;
  }
}

// A FastAPI "detail" (a string or a list of {loc, msg}) as one readable line.
export function describe(detail) {
  if (detail == null) return "";
  if (typeof detail === "string") return detail;
  if (Array.isArray(detail)) {
    return detail
      .map((d) => (d && d.msg ? `${(d.loc || []).join(".")}: ${d.msg}` : JSON.stringify(d)))
      .join("; ");
  }
  return JSON.stringify(detail);
}

// Who is signed in, and the CSRF token for writes. A server without sessions (404)
// means no auth: writes go without the header.
export async function whoami() {
  if (session !== null) return session;
  try {
    const r = await fetch("/auth/session", { credentials: "same-origin" });
    session = r.ok ? await r.json() : { name: null, auth: r.status === 401 ? "required" : "off" };
  } catch (e) {
    session = { name: null, auth: "off" };
  }
  csrfToken = session.csrf_token || null;
  return session;
}

export async function api(path, { method = "GET", body, headers = {}, raw = false } = {}) {
  const init = { method, credentials: "same-origin", headers: { accept: "application/json", ...headers } };
  if (method !== "GET" && method !== "HEAD") {
    await whoami();
    if (csrfToken) init.headers["x-csrf-token"] = csrfToken;
  }
  if (body instanceof FormData) init.body = body;
  else if (body !== undefined) {
    init.headers["content-type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  const r = await fetch(path, init);
  if (raw) return r;
  const text = await r.text();
  let data = null;
  if (text) {
    try { data = JSON.parse(text); } catch (e) { data = text; }
  }
  if (!r.ok) throw new ApiError(r.status, data && data.detail !== undefined ? data.detail : data);
  return { data, headers: r.headers, status: r.status };
}

// Live data: calls onData(data) now and whenever the answer of `path` changes, until
// the returned stop() is called or keepGoing(data) says false. Polls `interval` ms
// (paused while the tab is hidden); the text is compared so an unchanged answer
// does not re-render.
export function subscribe(path, onData, { interval = 1000, keepGoing = () => true, onError } = {}) {
  let stopped = false;
  let last = null;
  let timer = null;
  const pathOf = typeof path === "function" ? path : () => path;
  async function tick() {
    timer = null;
    if (stopped) return;
    let more = true;
    if (!document.hidden) {
      try {
        const r = await fetch(pathOf(), { credentials: "same-origin", headers: { accept: "application/json" } });
        const text = await r.text();
        if (!r.ok) {
          if (onError) onError(new ApiError(r.status, safeDetail(text)));
        } else if (text !== last) {
          last = text;
          const data = JSON.parse(text);
          onData(data, r.headers);
          more = keepGoing(data);
        }
      } catch (e) {
        if (onError) onError(e);
      }
    }
    const wait = typeof interval === "function" ? interval() : interval;
    if (!stopped && more) timer = setTimeout(tick, wait);
  }
  tick();
  return {
    stop() { stopped = true; if (timer) clearTimeout(timer); },
    refresh() { if (!stopped) { if (timer) clearTimeout(timer); last = null; tick(); } },
  };
}

function safeDetail(text) {
  try { return JSON.parse(text).detail; } catch (e) { return text; }
}
