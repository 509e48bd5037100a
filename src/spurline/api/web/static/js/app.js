// Entry point of every UI page: marks the current nav item, shows who is signed in and
// the approvals count, then loads the page's module named by <main data-page>.
import { api, describe, whoami } from "./api.js";
import { h } from "./dom.js";

const main = document.getElementById("main");
const page = main.dataset.page;
const nav = { run: "runs", workflow: "workflows" }[page] || page;
const link = document.querySelector(`[data-nav="${nav}"]`);
if (link) link.setAttribute("aria-current", "page");

// A server that requires sign-in (docs/security.md) gets a token form instead of the
// page; the session cookie it sets is then sent by every request.
async function signIn() {
  const token = h("input", { type: "password", id: "token", name: "token", autocomplete: "current-password", required: true });
  const error = h("p", { class: "error", role: "alert", hidden: true });
  const form = h("form", { class: "card", id: "sign-in" },
    h("h1", {}, "Sign in"),
    h("label", { for: "token" }, "API token", token),
    h("button", { type: "submit" }, "Sign in"), error);
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    const r = await fetch("/auth/session/", {
      method: "POST", credentials: "same-origin",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ token: token.value }),
    });
    if (r.ok) { location.reload(); return; }
    let detail = null;
    try { detail = (await r.json()).detail; } catch (err) { detail = null; }
    error.textContent = `Not signed in (${r.status}): ${describe(detail) || r.statusText}`;
    error.hidden = false;
  });
  main.replaceChildren(form);
  token.focus();
}

const session = await whoami();
if (session && session.name && session.auth === "required") {
  // Sign out ends the server's session (the cookie is HttpOnly, so only the server can
  // clear it) and shows the sign-in form again.
  const out = h("button", { type: "button", id: "sign-out", class: "linklike" }, "Sign out");
  out.addEventListener("click", async () => {
    try {
      await api("/auth/session/", { method: "DELETE" });
    } finally {
      location.reload();
    }
  });
  document.getElementById("who").replaceChildren(`${session.name} (${session.role}) `, out);
} else if (session && session.name) {
  document.getElementById("who").textContent = `${session.name} (${session.role})`;
}
const needsSignIn = session && session.auth === "required" && !session.name;

async function approvalsBadge() {
  try {
    const { headers } = await api("/wf/paused_workflows/?page_size=1");
    const n = Number(headers.get("x-total-count") || 0);
    const b = document.getElementById("approvals-count");
    b.textContent = String(n);
    b.hidden = n === 0;
  } catch (e) { /* the badge is a hint; the inbox page shows errors */ }
}
if (!needsSignIn) {
  approvalsBadge();
  setInterval(approvalsBadge, 5000);
}

const modules = {
  runs: () => import("./runs.js"),
  run: () => import("./run.js"),
  approvals: () => import("./approvals.js"),
  workflows: () => import("./workflows.js"),
  workflow: () => import("./workflow.js"),
  schedules: () => import("./schedules.js"),
  datasets: () => import("./datasets.js"),
};
if (needsSignIn) {
  signIn().then(ready);
} else if (modules[page]) {
  modules[page]().then((m) => m.default(main)).then(ready);
} else {
  ready();
}

// The page is interactive: tests wait for data-ready, bench/ui.py reads the mark.
function ready() {
  performance.mark("spurline-ready");
  document.body.dataset.ready = "1";
}
