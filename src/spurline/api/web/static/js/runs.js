// The runs page: live list with filters (status, workflow, type, schedule, start-time
// range, tags, metadata pairs; all in the URL with the API's own names, so a filtered
// view can be bookmarked), counts per status, batch progress bars, and paging that
// holds still while runs are added (later pages are read "until" the moment page 1
// was left).
import { api, subscribe } from "./api.js";
import { $, clear, clearProblems, fieldProblem, fmtDuration, fmtTime, h, labelChips, progressBar, statusBadge } from "./dom.js";
import { scheduleLink } from "./schedules.js";

const STATUSES = ["PENDING", "RUNNING", "PAUSED", "COMPLETED", "FAILED", "CANCELED"];
const PAGE_SIZE = 50;
const MAX_LABELS = 10; // the API takes up to 10 tags and 10 metadata pairs

// A datetime-local value (local time) from a URL value: the form's own, or RFC 3339.
function localInput(value) {
  if (!value) return "";
  if (/^\d{4}-\d\d-\d\dT\d\d:\d\d(:\d\d)?$/.test(value)) return value;
  const d = new Date(value);
  if (Number.isNaN(d.getTime())) return "";
  const p = (n) => String(n).padStart(2, "0");
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())}T${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}`;
}

export default async function runsPage(main) {
  const params = new URLSearchParams(location.search);
  const state = {
    page: Number(params.get("page") || 1),
    until: params.get("until"),
    statuses: new Set(params.getAll("status")),
    tags: params.getAll("tag"),
    metadata: params.getAll("metadata"),
  };
  const form = $("#filters", main);
  const boxes = $("#status-boxes", main);
  const countEls = {};
  for (const st of STATUSES) {
    const input = h("input", { type: "checkbox", name: "status", value: st, checked: state.statuses.has(st) || null });
    countEls[st] = h("span", { class: "count" }, "0");
    boxes.append(h("label", { class: `check st-${st}` }, input, ` ${st.toLowerCase()} `, countEls[st]));
  }
  for (const name of ["workflow_id", "run_type"]) {
    if (params.get(name)) form.elements[name].value = params.get(name);
  }
  // started_after / started_before: the names of bookmarks made before start_date.
  form.elements.start_date.value = localInput(params.get("start_date") || params.get("started_after"));
  form.elements.end_date.value = localInput(params.get("end_date") || params.get("started_before"));
  if (params.get("parent_only") === "false") form.elements.parent_only.checked = false;
  const wfSelect = $("#f-workflow", main);
  api("/wf/?page_size=100").then(({ data }) => {
    for (const wf of data) wfSelect.append(h("option", { value: wf.id }, wf.name));
    if (params.get("workflow_id")) wfSelect.value = params.get("workflow_id");
  });

  const schedSelect = $("#f-schedule", main);
  const wantedSchedule = params.get("schedule_id");
  if (wantedSchedule) schedSelect.append(h("option", { value: wantedSchedule }, wantedSchedule));
  schedSelect.value = wantedSchedule || "";
  api("/wf/schedules/?page_size=100").then(({ data }) => {
    for (const sc of data.schedules) {
      const label = `${sc.name} (${sc.cron_expression || `every ${sc.interval_seconds} s`})`;
      const have = schedSelect.querySelector(`option[value="${CSS.escape(sc.id)}"]`);
      if (have) have.textContent = label;
      else schedSelect.append(h("option", { value: sc.id }, label));
    }
  }).catch(() => { /* the filter still works by id */ });

  // Tags and metadata pairs: each added one is a chip; a chip's button removes it.
  const chips = $("#active-labels", main);
  function renderChips() {
    clear(chips);
    const remove = (list, i) => () => { list.splice(i, 1); changed(); };
    state.tags.forEach((t, i) => chips.append(h("button", { type: "button", class: "chip tag", "aria-label": `Remove tag filter ${t}`, onclick: remove(state.tags, i) }, `tag: ${t} ×`)));
    state.metadata.forEach((m, i) => chips.append(h("button", { type: "button", class: "chip meta", "aria-label": `Remove metadata filter ${m}`, onclick: remove(state.metadata, i) }, `${m} ×`)));
  }
  function addLabel(input, list, kind) {
    clearProblems(input.closest(".field"));
    const value = input.value.trim();
    if (!value) return;
    if (kind === "metadata" && value.indexOf("=") <= 0) {
      fieldProblem(form, "metadata", `${JSON.stringify(value)} is not key=value`);
      return;
    }
    if (list.length >= MAX_LABELS) {
      fieldProblem(form, kind, `at most ${MAX_LABELS} ${kind === "tag" ? "tags" : "pairs"}`);
      return;
    }
    input.value = "";
    if (!list.includes(value)) { list.push(value); changed(); }
  }
  for (const [id, list, kind] of [["#f-tag", state.tags, "tag"], ["#f-meta", state.metadata, "metadata"]]) {
    const input = $(id, main);
    input.addEventListener("keydown", (e) => { if (e.key === "Enter") { e.preventDefault(); addLabel(input, list, kind); } });
    input.addEventListener("change", () => addLabel(input, list, kind));
  }
  form.addEventListener("submit", (e) => e.preventDefault());
  renderChips();

  function query() {
    const q = new URLSearchParams();
    for (const st of form.querySelectorAll("input[name=status]:checked")) q.append("status", st.value);
    for (const name of ["workflow_id", "run_type", "schedule_id"]) if (form.elements[name].value) q.set(name, form.elements[name].value);
    for (const name of ["start_date", "end_date"]) {
      const v = form.elements[name].value;
      if (v) q.set(name, new Date(v).toISOString());
    }
    for (const t of state.tags) q.append("tag", t);
    for (const m of state.metadata) q.append("metadata", m);
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
    for (const name of ["start_date", "end_date"]) if (form.elements[name].value) q.set(name, form.elements[name].value);
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
    if (!data.items.length) tbody.append(h("tr", {}, h("td", { colspan: 8, class: "empty" }, "No runs match.")));
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
  // A filter the API refuses (a bad date) is said once, above the list.
  const filterError = $("#filter-error", main);
  const onError = (e) => { filterError.textContent = e.message; filterError.hidden = false; };
  const ok = (fn) => (data) => { filterError.hidden = true; fn(data); };
  const sub = subscribe(apiPath, ok(render), { interval: 1000, onError });
  const counts = subscribe(countsPath, ok(renderCounts), { interval: 3000, onError });
  function reload() { syncUrl(); sub.refresh(); counts.refresh(); }
  function changed() { state.page = 1; state.until = null; renderChips(); reload(); }
  form.addEventListener("change", (e) => { if (e.target.dataset.field) return; changed(); });
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
    h("td", { class: "type" }, r.run_type,
      r.schedule_id ? [" ", h("a", { href: scheduleLink({ id: r.schedule_id, workflow_id: r.workflow_id }), class: "schedule-link" }, "schedule")] : null,
      r.rerun_of ? [" ", h("a", { href: `/ui/runs/${encodeURIComponent(r.rerun_of)}`, class: "rerun-of", title: `rerun of ${r.rerun_of}` }, "rerun")] : null),
    h("td", {}, labelChips(r.tags, r.metadata)));
}
