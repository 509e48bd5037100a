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
    const r = await fetch("/auth/session/", { credentials: "same-origin" });
    session = r.ok ? await r.json() : { name: null, auth: r.status === 401 ? "required" : "off" };
  } catch (e) {
    session = { name: null, auth: "off" };
  }
  csrfToken = session.csrf_token || null;
  return session;
}

const RANK = { viewer: 1, operator: 2, admin: 3 };

// Whether the signed-in role may do what needs `role` (docs/security.md): the pages
// leave out the buttons and forms of actions the role cannot take. A server that names
// no role (no sessions) decides itself, as it always does.
export async function allowed(role) {
  const who = await whoami();
  if (!who || !who.role) return true;
  return (RANK[who.role] || 0) >= RANK[role];
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
// the returned stop() is called or keepGoing(data) says false. The answer is read
// again every `interval` ms (a number or a function), paused while the tab is
// hidden; an unchanged answer does not re-render. With `events` (the URL of a
// Server-Sent Events stream, docs/observability.md) each event triggers a read at
// once (reads are coalesced) and polling slows to a backstop; a server without the
// stream (404) or a stream that ended falls back to polling.
export function subscribe(path, onData, { interval = 1000, keepGoing = () => true, onError, events } = {}) {
  let stopped = false;
  let last = null;
  let timer = null;
  let busy = false;
  let again = false;
  let source = null;
  let streaming = false;
  const pathOf = typeof path === "function" ? path : () => path;
  async function tick() {
    if (timer) { clearTimeout(timer); timer = null; }
    if (stopped) return;
    if (busy) { again = true; return; }
    busy = true;
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
    busy = false;
    if (again) { again = false; tick(); return; }
    const base = typeof interval === "function" ? interval() : interval;
    const wait = streaming ? Math.max(base, 5000) : base;
    if (!stopped && more) timer = setTimeout(tick, wait);
  }
  function listen() {
    if (!events || !window.EventSource || source) return;
    source = new EventSource(events, { withCredentials: true });
    source.onopen = () => { streaming = true; };
    source.onmessage = () => tick();
    for (const name of ["run", "task", "end"]) source.addEventListener(name, () => tick());
    source.onerror = () => {
      // 404 (no stream on this server) or the run's stream ended: back to polling.
      if (source && source.readyState === EventSource.CLOSED) {
        source = null;
        streaming = false;
        tick();
      }
    };
  }
  listen();
  tick();
  return {
    stop() {
      stopped = true;
      if (timer) clearTimeout(timer);
      if (source) { source.close(); source = null; }
    },
    refresh() {
      if (stopped) return;
      last = null;
      listen();
      tick();
    },
  };
}

function safeDetail(text) {
  try { return JSON.parse(text).detail; } catch (e) { return text; }
}
