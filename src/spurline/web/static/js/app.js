// Entry point of every UI page: marks the current nav item, shows who is signed in and
// the approvals count, then loads the page's module named by <main data-page>.
import { api, whoami } from "./api.js";

const main = document.getElementById("main");
const page = main.dataset.page;
const nav = { run: "runs", workflow: "workflows" }[page] || page;
const link = document.querySelector(`[data-nav="${nav}"]`);
if (link) link.setAttribute("aria-current", "page");

whoami().then((s) => {
  if (s && s.name) document.getElementById("who").textContent = `${s.name} (${s.role})`;
});

async function approvalsBadge() {
  try {
    const { headers } = await api("/wf/paused_workflows/?page_size=1");
    const n = Number(headers.get("x-total-count") || 0);
    const b = document.getElementById("approvals-count");
    b.textContent = String(n);
    b.hidden = n === 0;
  } catch (e) { /* the badge is a hint; the inbox page shows errors */ }
}
approvalsBadge();
setInterval(approvalsBadge, 5000);

const modules = {
  runs: () => import("./runs.js"),
  run: () => import("./run.js"),
  approvals: () => import("./approvals.js"),
  workflows: () => import("./workflows.js"),
  workflow: () => import("./workflow.js"),
  datasets: () => import("./datasets.js"),
};
if (modules[page]) {
  modules[page]().then((m) => m.default(main)).then(ready);
} else {
  ready();
}

// The page is interactive: tests wait for data-ready, bench/ui.py reads the mark.
function ready() {
  performance.mark("spurline-ready");
  document.body.dataset.ready = "1";
}
