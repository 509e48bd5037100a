// The runs page: live list with filters, counts per status, batch progress bars, and
// paging that holds still while runs are added (later pages are read "until" the
// moment page 1 was left).
import { api, subscribe } from "./api.js";
import { $, clear, fmtDuration, fmtTime, h, progressBar, statusBadge } from "./dom.js";

const STATUSES = ["PENDING", "RUNNING", "PAUSED", "COMPLETED", "FAILED", "CANCELED"];
const PAGE_SIZE = 50;

export default async function runsPage(main) {
  const params = new URLSearchParams(location.search);
  const state = {
    page: Number(params.get("page") || 1),
    until: params.get("until"),
    statuses: new Set(params.getAll("status")),
  };
  const form = $("#filters", main);
  const boxes = $("#status-boxes", main);
  const countEls = {};
  for (const st of STATUSES) {
    const input = h("input", { type: "checkbox", name: "status", value: st, checked: state.statuses.has(st) || null });
    countEls[st] = h("span", { class: "count" }, "0");
    boxes.append(h("label", { class: `check st-${st}` }, input, ` ${st.toLowerCase()} `, countEls[st]));
  }
  for (const name of ["workflow_id", "run_type", "started_after", "started_before"]) {
    if (params.get(name)) form.elements[name].value = params.get(name);
  }
  if (params.get("parent_only") === "false") form.elements.parent_only.checked = false;
  const wfSelect = $("#f-workflow", main);
  api("/wf/?page_size=100").then(({ data }) => {
    for (const wf of data) wfSelect.append(h("option", { value: wf.id }, wf.name));
    if (params.get("workflow_id")) wfSelect.value = params.get("workflow_id");
  });

  function query() {
    const q = new URLSearchParams();
    for (const st of form.querySelectorAll("input[name=status]:checked")) q.append("status", st.value);
    for (const name of ["workflow_id", "run_type"]) if (form.elements[name].value) q.set(name, form.elements[name].value);
    for (const name of ["started_after", "started_before"]) {
      const v = form.elements[name].value;
      if (v) q.set(name, new Date(v).toISOString());
    }
    q.set("parent_only", form.elements.parent_only.checked ? "true" : "false");
    q.set("page_size", String(PAGE_SIZE));
    return q;
  }
  function apiPath() {
    const q = query();
    q.set("page", String(state.page));
    if (state.page > 1 && state.until) q.set("until", state.until);
    return `/run_summaries/?${q}`;
  }
  function countsPath() {
    const q = query();
    q.delete("page_size");
    return `/run_counts/?${q}`;
  }
  function syncUrl() {
    const q = query();
    q.delete("page_size");
    for (const name of ["started_after", "started_before"]) if (form.elements[name].value) q.set(name, form.elements[name].value);
    if (state.page > 1) { q.set("page", String(state.page)); q.set("until", state.until); }
    history.replaceState(null, "", `?${q}`);
  }

  const tbody = $("#runs tbody", main);
  let lastData = null;
  let total = null;
  function pageInfo() {
    const first = (state.page - 1) * PAGE_SIZE;
    const shown = lastData ? lastData.items.length : 0;
    const range = shown ? `${first + 1}–${first + shown}` : "none";
    $("#page-info", main).textContent = `Page ${state.page} · runs ${range}${total == null ? "" : ` of ${total}`}`;
  }
  function render(data) {
    lastData = data;
    clear(tbody);
    for (const r of data.items) tbody.append(row(r));
    if (!data.items.length) tbody.append(h("tr", {}, h("td", { colspan: 7, class: "empty" }, "No runs match.")));
    pageInfo();
    $("#prev", main).disabled = state.page <= 1;
    $("#next", main).disabled = !data.has_more;
    const snap = $("#snapshot", main);
    snap.hidden = state.page <= 1;
    if (state.page > 1) $("#until", main).textContent = fmtTime(state.until);
  }
  // Counts read an index entry per run: asked apart from the rows, and less often.
  function renderCounts(data) {
    for (const st of STATUSES) countEls[st].textContent = String(data.counts[st] || 0);
    total = data.total;
    pageInfo();
  }
  const sub = subscribe(apiPath, render, { interval: 1000 });
  const counts = subscribe(countsPath, renderCounts, { interval: 3000 });
  function reload() { syncUrl(); sub.refresh(); counts.refresh(); }
  form.addEventListener("change", () => { state.page = 1; state.until = null; reload(); });
  $("#prev", main).addEventListener("click", () => { state.page -= 1; if (state.page === 1) state.until = null; reload(); });
  $("#next", main).addEventListener("click", () => {
    if (state.page === 1 && lastData) state.until = lastData.until;
    state.page += 1;
    reload();
  });
  $("#to-live", main).addEventListener("click", () => { state.page = 1; state.until = null; reload(); });
}

function row(r) {
  const isBatch = r.rows_total != null;
  const progress = h("td", { class: "prog" },
    progressBar(r.percentage_complete, `${r.percentage_complete}% complete`, r.status),
    h("span", { class: "pct" }, isBatch ? `${r.rows_done}/${r.rows_total} rows` : `${Math.floor(r.percentage_complete)}%`));
  return h("tr", { dataset: { runId: r.id, status: r.status } },
    h("td", {}, h("a", { href: `/ui/runs/${encodeURIComponent(r.id)}`, class: "mono" }, r.id)),
    h("td", {}, h("a", { href: `/ui/workflows/${encodeURIComponent(r.workflow_id)}` }, r.workflow_name)),
    h("td", {}, statusBadge(r.status)),
    h("td", {}, h("time", { datetime: r.start_time }, fmtTime(r.start_time))),
    h("td", {}, fmtDuration(r.duration)),
    progress,
    h("td", {}, r.run_type));
}
