// The run view: header, actions, pause decisions, batch rows, the DAG (laid out by
// dagre), the Gantt timeline and the task panel, all kept live by subscribe().
import { allowed, api, ApiError, subscribe, whoami } from "./api.js";
import { $, asButton, clear, clearProblems, field, fieldProblem, fmtDuration, fmtTime, h, jsonTree, labelChips, progressBar, s, showProblems, statusBadge, toast } from "./dom.js";
import { scheduleLink } from "./schedules.js";

const FINISHED = new Set(["COMPLETED", "FAILED", "CANCELED"]);
const NODE_W = 150, NODE_H = 44;

// How a task is drawn: its status, except router-skipped tasks and tasks waiting on a
// paused node. A CANCELED task without an error, in a run that was not canceled, was
// either skipped by a router or canceled because a node upstream failed: the latter
// when a predecessor FAILED or was itself canceled that way (docs/runs-api.md#running).
export function displayState(task, run) {
  if (task.status === "CANCELED" && !task.error && run.status !== "CANCELED") {
    return canceledByFailure(run).has(task.node_id) ? "CANCELED" : "SKIPPED";
  }
  if (task.status === "PENDING" && task.is_downstream_of_pause) return "WAITING";
  return task.status;
}

const byFailure = new WeakMap(); // run view -> node ids canceled because upstream failed

function canceledByFailure(run) {
  let found = byFailure.get(run);
  if (found) return found;
  found = new Set();
  byFailure.set(run, found);
  if (run.status !== "FAILED") return found;
  const def = (run.workflow_version && run.workflow_version.definition) || { links: [] };
  const tasks = new Map((run.tasks || []).map((t) => [t.node_id, t]));
  const preds = new Map();
  for (const l of def.links || []) {
    if (!preds.has(l.target_id)) preds.set(l.target_id, []);
    preds.get(l.target_id).push(l.source_id);
  }
  const memo = new Map();
  const doomed = (id) => {
    if (memo.has(id)) return memo.get(id);
    memo.set(id, false); // a cycle cannot doom itself
    const t = tasks.get(id);
    const result = !!t && t.status === "CANCELED" && !t.error &&
      (preds.get(id) || []).some((p) => {
        const pt = tasks.get(p);
        return !!pt && (pt.status === "FAILED" || doomed(p));
      });
    memo.set(id, result);
    return result;
  };
  for (const id of tasks.keys()) if (doomed(id)) found.add(id);
  return found;
}

export default async function runPage(main) {
  const runId = main.dataset.runId;
  const view = new RunView(main, runId);
  await view.start();
}

class RunView {
  constructor(main, runId) {
    this.main = main;
    this.runId = runId;
    this.run = null;
    this.dagFor = null; // definition hash the DAG was drawn for
    this.nodeEls = new Map();
    this.selected = null;
    this.selectedKey = null;
    this.children = {};
    this.rowsPage = 1;
    this.pauseFormsKey = null;
  }

  async start() {
    // Cancel, retry and reruns need the operator role (docs/security.md): a viewer
    // sees the run without those buttons.
    this.canOperate = await allowed("operator");
    const run = encodeURIComponent(this.runId);
    this.sub = subscribe(`/run/${run}/`, (data) => this.update(data), {
      events: `/run/${run}/events/`,
      interval: () => (this.run && FINISHED.has(this.run.status) ? 2000 : 100),
      onError: (e) => { if (e instanceof ApiError && e.status === 404) this.gone(); },
    });
    await new Promise((resolve) => { this.firstRender = resolve; });
  }

  gone() {
    this.sub.stop();
    clear(this.main).append(h("h1", {}, "Run not found"), h("p", {}, `Run ${this.runId} was deleted.`));
  }

  update(run) {
    const prev = this.run;
    this.run = run;
    this.renderHeader(run);
    this.renderActions(run);
    this.renderPauses(run);
    // A batch parent has no tasks of its own: its rows are the story, not the graph.
    const rowsOnly = run.run_type === "batch" && run.tasks.length === 0;
    $(".run-body", this.main).hidden = rowsOnly;
    $("#timeline", this.main).hidden = rowsOnly;
    if (!rowsOnly) {
      this.renderDag(run);
      this.renderGantt(run);
    }
    if (run.run_type === "batch") this.maybeRenderBatch(run);
    if (!prev || prev.status !== run.status || (run.tasks.some((t) => t.status === "RUNNING") && !FINISHED.has(run.status))) {
      this.loadChildren();
      this.loadHistory();
    }
    if (this.selected) this.renderTask(false);
    if (this.firstRender) { this.firstRender(); this.firstRender = null; }
  }

  renderHeader(run) {
    const st = $("#run-status", this.main);
    st.className = `status st-${run.status}`;
    st.textContent = run.status;
    document.title = `Run ${run.id} · ${run.status} · Spurline`;
    const v = run.workflow_version || {};
    const facts = [
      ["Workflow", h("a", { href: `/ui/workflows/${encodeURIComponent(run.workflow_id)}` }, v.name || run.workflow_id), v.version ? ` (version ${v.version})` : ""],
      ["Type", run.run_type],
      ["Started", fmtTime(run.start_time)],
      ["Ended", fmtTime(run.end_time)],
      ["Duration", fmtDuration(run.duration)],
      ["Progress", `${run.percentage_complete}%`],
    ];
    if (run.parent_run_id) facts.push(["Parent", h("a", { href: `/ui/runs/${encodeURIComponent(run.parent_run_id)}`, class: "mono" }, run.parent_run_id)]);
    if (run.schedule_id) {
      this.loadScheduleName(run.schedule_id);
      facts.push(["Schedule", h("a", { href: scheduleLink({ id: run.schedule_id, workflow_id: run.workflow_id }), id: "run-schedule" }, this.scheduleName || run.schedule_id),
        run.scheduled_for ? [" fired for ", h("time", { datetime: run.scheduled_for }, fmtTime(run.scheduled_for))] : null]);
    }
    const runLink = (id, cls) => h("a", { href: `/ui/runs/${encodeURIComponent(id)}`, class: `mono ${cls}` }, id);
    if (run.rerun_of) facts.push(["Rerun of", runLink(run.rerun_of, "rerun-of")]);
    if (run.reruns && run.reruns.length) facts.push(["Reruns", h("span", { class: "lineage" }, run.reruns.map((id) => runLink(id, "rerun")))]);
    if ((run.tags && run.tags.length) || Object.keys(run.metadata || {}).length) facts.push(["Tags, metadata", labelChips(run.tags, run.metadata)]);
    const dl = clear($("#run-facts", this.main));
    for (const [k, ...vals] of facts) dl.append(h("div", {}, h("dt", {}, k), h("dd", {}, ...vals)));
    const bar = $("#run-bar", this.main);
    bar.style.width = `${run.percentage_complete}%`;
    bar.className = `st-${run.status}`;
    $("#run-message", this.main).textContent = run.message || "";
  }

  // The schedule's name for the header (a deleted schedule keeps showing its id).
  async loadScheduleName(id) {
    if (this.scheduleFor === id) return;
    this.scheduleFor = id;
    try {
      const { data } = await api(`/wf/schedules/${encodeURIComponent(id)}/`);
      this.scheduleName = data.name;
    } catch (e) {
      this.scheduleName = `${id} (deleted)`;
    }
    const link = $("#run-schedule", this.main);
    if (link) link.textContent = this.scheduleName;
  }

  renderActions(run) {
    const box = $("#run-actions", this.main);
    const key = run.status;
    if (box.dataset.key === key) return;
    box.dataset.key = key;
    clear(box);
    if (!this.canOperate) return;
    if (["PENDING", "RUNNING", "PAUSED"].includes(run.status)) {
      box.append(h("button", { type: "button", id: "cancel", class: "danger", onclick: () => this.act("cancel") }, "Cancel run"));
    }
    if (run.status === "FAILED" || run.status === "CANCELED") {
      const label = run.status === "FAILED" ? "Retry failed tasks" : "Retry canceled tasks";
      box.append(h("button", { type: "button", id: "retry", title: "Run this run's failed and canceled tasks again, in place", onclick: () => this.act("retry") }, label));
    }
    if (this.canRerun(run)) {
      box.append(h("button", { type: "button", id: "rerun", "aria-expanded": "false", onclick: (e) => this.toggleRerunForm(e.currentTarget) }, "Rerun…"));
    } else {
      clear($("#rerun-box", this.main));
    }
  }

  // A new run like this one: finished runs that are not a child run (docs/operations.md).
  canRerun(run) {
    return this.canOperate && FINISHED.has(run.status) && !run.parent_run_id;
  }

  toggleRerunForm(button) {
    const box = $("#rerun-box", this.main);
    if (box.firstChild) { clear(box); button.setAttribute("aria-expanded", "false"); return; }
    button.setAttribute("aria-expanded", "true");
    const original = JSON.stringify(this.run.initial_inputs || {}, null, 2);
    const inputs = h("textarea", { id: "rerun-inputs", rows: 8, class: "mono", spellcheck: "false" });
    inputs.value = original;
    const latest = h("input", { type: "checkbox", id: "rerun-latest" });
    const general = h("p", { class: "error", role: "alert", hidden: true });
    const form = h("form", { id: "rerun-form", class: "card rerun-form", novalidate: true },
      h("h3", {}, "Rerun as a new run"),
      field("Inputs (a JSON object {input node: {field: value}}; as this run's unless changed)", inputs, "initial_inputs"),
      field("On the workflow's latest version (not this run's)", latest, "latest_version"),
      h("div", { class: "actions" }, h("button", { type: "submit" }, "Start rerun"),
        h("button", { type: "button", onclick: () => { clear(box); button.setAttribute("aria-expanded", "false"); } }, "Close")),
      general);
    form.addEventListener("submit", async (e) => {
      e.preventDefault();
      clearProblems(form, general);
      const body = { latest_version: latest.checked };
      if (inputs.value.trim() !== original.trim()) {
        let parsed;
        try {
          parsed = JSON.parse(inputs.value);
        } catch (err) {
          fieldProblem(form, "initial_inputs", `Not valid JSON: ${err.message}`);
          return;
        }
        if (parsed === null || typeof parsed !== "object" || Array.isArray(parsed)) {
          fieldProblem(form, "initial_inputs", "The inputs must be a JSON object, e.g. {\"in\": {\"name\": \"x\"}}");
          return;
        }
        body.initial_inputs = parsed;
      }
      await this.rerun(body, form, general);
    });
    box.append(form);
    inputs.focus();
  }

  // POST /run/{id}/rerun/ and open the new run; problems go next to their field.
  async rerun(body, form, general) {
    try {
      const { data } = await api(`/run/${encodeURIComponent(this.runId)}/rerun/`, { method: "POST", body });
      location.assign(`/ui/runs/${encodeURIComponent(data.id)}`);
    } catch (err) {
      showProblems(form, general, err);
    }
  }

  async act(what) {
    const err = $("#action-error", this.main);
    err.hidden = true;
    if (what === "cancel" && !confirm("Cancel this run and its child runs?")) return;
    const path = what === "cancel"
      ? `/wf/cancel_workflow/${encodeURIComponent(this.runId)}/`
      : `/run/${encodeURIComponent(this.runId)}/retry/`;
    try {
      await api(path, { method: "POST" });
      toast(what === "cancel" ? "Run canceled" : "Retry started");
    } catch (e) {
      err.textContent = e.message;
      err.hidden = false;
    }
    this.sub.refresh();
  }

  renderPauses(run) {
    const paused = run.tasks.filter((t) => t.status === "PAUSED");
    const section = $("#pauses", this.main);
    section.hidden = paused.length === 0;
    const key = paused.map((t) => t.id).join(",");
    if (key === this.pauseFormsKey) return;
    this.pauseFormsKey = key;
    const box = clear($("#pause-forms", this.main));
    for (const t of paused) box.append(this.pauseForm(t));
  }

  pauseForm(task) {
    const id = `pause-${task.node_id}`;
    const comments = h("input", { type: "text", name: "comments", "aria-label": `Comment for ${task.node_id}` });
    const json = h("textarea", { name: "inputs", rows: 6, spellcheck: "false", "aria-label": `Override output of ${task.node_id} (JSON object)`, class: "mono" });
    json.value = JSON.stringify(task.inputs || {}, null, 2);
    const overrideBox = h("div", { class: "override", hidden: true }, h("label", {}, "Output to use instead (a JSON object)", json));
    const error = h("p", { class: "error", role: "alert", hidden: true });
    const send = async (action) => {
      error.hidden = true;
      let inputs = {};
      if (action === "OVERRIDE") {
        if (overrideBox.hidden) { overrideBox.hidden = false; json.focus(); return; }
        try {
          inputs = JSON.parse(json.value);
        } catch (e) {
          error.textContent = `Not valid JSON: ${e.message}`;
          error.hidden = false;
          json.setAttribute("aria-invalid", "true");
          return;
        }
        if (inputs === null || typeof inputs !== "object" || Array.isArray(inputs)) {
          error.textContent = "The override must be a JSON object, e.g. {\"answer\": 42}";
          error.hidden = false;
          json.setAttribute("aria-invalid", "true");
          return;
        }
        json.removeAttribute("aria-invalid");
      }
      const who = await whoami();
      try {
        await api(`/wf/process_pause_action/${encodeURIComponent(this.runId)}/`, {
          method: "POST",
          body: { action, node_id: task.node_id, user_id: who.name || "ui", comments: comments.value || null, inputs },
        });
        toast(`${action.toLowerCase()}: ${task.node_id}`);
        this.pauseFormsKey = null;
        this.sub.refresh();
      } catch (e) {
        error.textContent = e.message;
        error.hidden = false;
      }
    };
    return h("form", { class: "pause card", id, dataset: { node: task.node_id }, onsubmit: (e) => e.preventDefault() },
      h("h3", {}, "Node ", h("code", {}, task.node_id), " is paused"),
      h("label", {}, "Comment ", comments),
      overrideBox,
      h("div", { class: "actions" },
        h("button", { type: "button", class: "approve", onclick: () => send("APPROVE") }, "Approve"),
        h("button", { type: "button", class: "decline danger", onclick: () => send("DECLINE") }, "Decline"),
        h("button", { type: "button", class: "override", onclick: () => send("OVERRIDE") }, "Override…")),
      error);
  }

  // -- the DAG ---------------------------------------------------------------------

  renderDag(run) {
    const def = (run.workflow_version && run.workflow_version.definition) || { nodes: [], links: [] };
    const hash = (run.workflow_version && run.workflow_version.definition_hash) || "none";
    if (this.dagFor !== hash) {
      this.dagFor = hash;
      this.layoutDag(def, hash);
    }
    this.paintDag(run);
  }

  // Node states onto the drawn graph (cheap: only changed nodes are touched).
  paintDag(run) {
    const byNode = new Map(run.tasks.map((t) => [t.node_id, t]));
    for (const [nodeId, el] of this.nodeEls) {
      const t = byNode.get(nodeId);
      const state = t ? displayState(t, run) : "PENDING";
      if (el.dataset.state !== state) {
        el.dataset.state = state;
        el.setAttribute("class", `node st-${state}${this.selected === nodeId ? " selected" : ""}`);
        el.setAttribute("aria-label", `${nodeId}: ${state.toLowerCase()}`);
        el.querySelector(".state").textContent = state.toLowerCase();
      }
    }
  }

  // The layout runs in a worker (layout-worker.js, dagre); the page stays usable
  // meanwhile and the graph is drawn when the positions arrive.
  layoutDag(def, hash) {
    const box = clear($("#dag", this.main));
    box.append(h("p", { class: "hint", id: "dag-wait" }, "Laying out the graph…"));
    this.nodeEls.clear();
    const nodes = def.nodes || [];
    if (this.worker) this.worker.terminate();
    this.worker = new Worker("/ui/static/js/layout-worker.js");
    this.worker.onmessage = (e) => {
      if (this.dagFor !== hash) return;
      this.drawDag(nodes, e.data);
      this.paintDag(this.run);
      this.loadChildren();
      performance.mark("spurline-graph");
      this.worker.terminate();
      this.worker = null;
    };
    this.worker.onerror = () => {
      clear(box).append(h("p", { class: "error" }, "The graph could not be laid out."));
    };
    this.worker.postMessage({
      nodes: nodes.map((n) => n.id),
      links: (def.links || []).map((l) => [l.source_id, l.target_id]),
      width: NODE_W,
      height: NODE_H,
    });
  }

  drawDag(nodes, layout) {
    const box = clear($("#dag", this.main));
    const W = NODE_W, H = NODE_H;
    // dagre routes some edges outside the box it reports (above the first rank, e.g.
    // penguins' Metric -> Summary): the view spans every node and edge point instead
    let x0 = 0, y0 = 0, x1 = layout.width, y1 = layout.height;
    for (const p of Object.values(layout.nodes)) {
      x0 = Math.min(x0, p.x - W / 2); y0 = Math.min(y0, p.y - H / 2);
      x1 = Math.max(x1, p.x + W / 2); y1 = Math.max(y1, p.y + H / 2);
    }
    for (const pts of layout.edges) {
      for (const [x, y] of pts) {
        x0 = Math.min(x0, x); y0 = Math.min(y0, y); x1 = Math.max(x1, x); y1 = Math.max(y1, y);
      }
    }
    const pad = 6;
    x0 -= pad; y0 -= pad;
    const gw = Math.max(x1 - x0 + pad, 10), gh = Math.max(y1 - y0 + pad, 10);
    // A small graph scales to the box; a large one keeps its size and scrolls.
    const fit = gw <= 1400;
    const svg = s("svg", { viewBox: `${x0} ${y0} ${gw} ${gh}`, width: fit ? "100%" : gw, height: fit ? null : gh, class: "dag-svg" });
    if (fit) svg.style.maxHeight = `${Math.max(gh, 120)}px`;
    svg.append(s("defs", {}, s("marker", { id: "arrow", viewBox: "0 0 10 10", refX: 9, refY: 5, markerWidth: 6, markerHeight: 6, orient: "auto" }, s("path", { d: "M0,0 L10,5 L0,10 z" }))));
    const edges = s("g", { class: "edges" });
    for (const pts of layout.edges) {
      edges.append(s("path", { d: pts.map((p, i) => `${i ? "L" : "M"}${p[0]},${p[1]}`).join(" "), "marker-end": "url(#arrow)" }));
    }
    svg.append(edges);
    for (const n of nodes) {
      const p = layout.nodes[n.id];
      if (!p) continue;
      const el = s("g", { class: "node st-PENDING", transform: `translate(${p.x - W / 2},${p.y - H / 2})`, "data-node": n.id },
        s("title", { text: `${n.title || n.id} (${n.node_type || ""})` }),
        s("rect", { width: W, height: H, rx: 6 }),
        s("text", { x: 8, y: 18, class: "name", text: clip(n.title || n.id, 20) }),
        s("text", { x: 8, y: 35, class: "state", text: "pending" }));
      asButton(el, () => this.select(n.id));
      this.nodeEls.set(n.id, el);
      svg.append(el);
    }
    box.append(svg);
  }

  // -- the timeline ----------------------------------------------------------------

  renderGantt(run) {
    const box = $("#gantt", this.main);
    const t0 = Date.parse(run.start_time);
    const nowMs = Date.now();
    const tEnd = run.end_time ? Date.parse(run.end_time) : Math.max(nowMs, t0 + 1);
    const span = Math.max(tEnd - t0, 1);
    const def = (run.workflow_version && run.workflow_version.definition) || { links: [] };
    const upstream = new Map();
    for (const l of def.links || []) {
      if (!upstream.has(l.target_id)) upstream.set(l.target_id, []);
      upstream.get(l.target_id).push(l.source_id);
    }
    const byNode = new Map(run.tasks.map((t) => [t.node_id, t]));
    if (box.childElementCount !== run.tasks.length + 1) {
      clear(box);
      box.append(h("div", { class: "g-row g-axis" }, h("span", { class: "g-label" }, ""), h("span", { class: "g-track" }, h("span", { class: "g-start" }, "0 s"), h("span", { class: "g-end" }))));
      for (const t of run.tasks) {
        const label = h("button", { type: "button", class: "g-label linklike", onclick: () => this.select(t.node_id) }, t.node_id);
        box.append(h("div", { class: "g-row", dataset: { node: t.node_id } }, label, h("span", { class: "g-track" }, h("span", { class: "g-wait" }), h("span", { class: "g-run" }))));
      }
    }
    box.querySelector(".g-end").textContent = fmtDuration(span / 1000);
    const rows = box.querySelectorAll(".g-row[data-node]");
    rows.forEach((rowEl, i) => {
      const t = run.tasks[i];
      if (!t) return;
      const wait = rowEl.querySelector(".g-wait");
      const bar = rowEl.querySelector(".g-run");
      const state = displayState(t, run);
      bar.className = `g-run st-${state}`;
      if (!t.start_time) { bar.style.width = "0"; wait.style.width = "0"; return; }
      const s0 = Date.parse(t.start_time);
      const s1 = t.end_time ? Date.parse(t.end_time) : (FINISHED.has(run.status) ? s0 : nowMs);
      let ready = t0;
      for (const up of upstream.get(t.node_id) || []) {
        const u = byNode.get(up);
        if (u && u.end_time) ready = Math.max(ready, Date.parse(u.end_time));
      }
      ready = Math.min(ready, s0);
      wait.style.left = `${(100 * (ready - t0)) / span}%`;
      wait.style.width = `${(100 * (s0 - ready)) / span}%`;
      bar.style.left = `${(100 * (s0 - t0)) / span}%`;
      bar.style.width = `${Math.max((100 * (s1 - s0)) / span, 0.3)}%`;
      rowEl.title = `${t.node_id}: queued ${fmtDuration((s0 - ready) / 1000)}, ran ${fmtDuration((s1 - s0) / 1000)}`;
    });
  }

  // -- the task panel --------------------------------------------------------------

  select(nodeId) {
    if (this.selected && this.nodeEls.get(this.selected)) this.nodeEls.get(this.selected).classList.remove("selected");
    this.selected = nodeId;
    if (this.nodeEls.get(nodeId)) this.nodeEls.get(nodeId).classList.add("selected");
    this.selectedKey = null;
    this.renderTask(true);
    $("#task-panel", this.main).focus();
  }

  renderTask(fetchExtras) {
    const run = this.run;
    const task = run.tasks.find((t) => t.node_id === this.selected);
    const panel = $("#task-panel", this.main);
    const key = JSON.stringify(task || null) + JSON.stringify(this.children[task && task.id] || null);
    if (key === this.selectedKey && !fetchExtras) return;
    this.selectedKey = key;
    clear(panel);
    // the graph labels nodes by title: the panel names it the same way, id beside it
    const defNodes = (run.workflow_version && run.workflow_version.definition && run.workflow_version.definition.nodes) || [];
    const nodeDef = defNodes.find((n) => n.id === this.selected);
    const title = nodeDef && nodeDef.title && nodeDef.title !== this.selected ? nodeDef.title : null;
    panel.append(h("h2", {}, "Task ", title ? [title, " "] : null, h("code", {}, this.selected)));
    if (!task) { panel.append(h("p", {}, "This node has no task in this run.")); return; }
    const state = displayState(task, run);
    panel.append(
      h("dl", { class: "facts" },
        h("div", {}, h("dt", {}, "Type"), h("dd", {}, task.node_type)),
        h("div", {}, h("dt", {}, "Status"), h("dd", {}, statusBadge(state, state.toLowerCase()))),
        h("div", {}, h("dt", {}, "Started"), h("dd", {}, fmtTime(task.start_time))),
        h("div", {}, h("dt", {}, "Ended"), h("dd", {}, fmtTime(task.end_time))),
        h("div", {}, h("dt", {}, "Attempts"), h("dd", { class: "attempts" }, task.attempts != null ? String(task.attempts) : "–"))));
    if (state === "SKIPPED") panel.append(h("p", { class: "hint" }, "Skipped: a router did not take the branch to this node."));
    if (state === "CANCELED" && !task.error && run.status === "FAILED") panel.append(h("p", { class: "hint" }, "Canceled: a node upstream failed."));
    if (state === "WAITING") panel.append(h("p", { class: "hint" }, "Waits on a paused node."));
    const kids = this.children[task.id] || [];
    if (kids.length) {
      panel.append(h("h3", {}, `Child runs (${kids.length})`), h("ul", { class: "children" },
        kids.map((c) => h("li", {}, h("a", { href: `/ui/runs/${encodeURIComponent(c.id)}`, class: "mono" }, c.id), " ", statusBadge(c.status)))));
    }
    if (this.canRerun(run)) {
      const general = h("p", { class: "error", role: "alert", hidden: true });
      const form = h("form", { class: "retry-from", onsubmit: (e) => { e.preventDefault(); this.rerun({ from_node: task.node_id }, form, general); } },
        h("button", { type: "submit", id: "retry-from" }, "Retry from this node"),
        h("small", { class: "hint" }, " A new run: this node and what depends on it execute again; the other nodes' outputs are reused."),
        general);
      panel.append(form);
    }
    if (task.error) panel.append(h("h3", {}, "Error"), h("pre", { class: "error-text" }, task.error));
    panel.append(h("h3", {}, "Inputs"), h("div", { class: "json-box inputs" }, jsonTree(task.inputs, 2)));
    panel.append(h("h3", {}, "Outputs"), h("div", { class: "json-box outputs" }, jsonTree(task.outputs, 2)));
    const logs = h("div", { class: "logs" });
    const attempts = h("div", { class: "attempt-list" });
    panel.append(h("h3", {}, "Attempts"), attempts, h("h3", {}, "Logs"), logs);
    this.loadExtras(task, logs, attempts);
  }

  async loadExtras(task, logsBox, attemptsBox) {
    const run = encodeURIComponent(this.runId);
    try {
      const { data } = await api(`/run/${run}/tasks/${encodeURIComponent(task.id)}/attempts/`);
      const list = Array.isArray(data) ? data : data.items || [];
      attemptsBox.append(list.length ? h("ol", {}, list.map((a) => h("li", {}, statusBadge(a.status || "?"), " ", fmtTime(a.start_time), " ", a.error ? h("pre", { class: "error-text" }, a.traceback || a.error) : ""))) : h("p", { class: "hint" }, "No attempts recorded."));
    } catch (e) {
      attemptsBox.append(h("p", { class: "hint" }, e.status === 404 ? "This server does not record attempts." : e.message));
    }
    try {
      const { data } = await api(`/run/${run}/logs/?node=${encodeURIComponent(task.node_id)}`);
      const lines = Array.isArray(data) ? data : data.items || data.lines || [];
      logsBox.append(lines.length ? h("pre", { class: "log-text" }, lines.map((l) => (typeof l === "string" ? l : `${l.time || l.ts || ""} ${l.stream || l.level || ""} ${l.message || l.line || ""}`)).join("\n")) : h("p", { class: "hint" }, "No log lines."));
    } catch (e) {
      logsBox.append(h("p", { class: "hint" }, e.status === 404 ? "This server does not record logs." : e.message));
    }
  }

  async loadChildren() {
    try {
      const { data } = await api(`/run/${encodeURIComponent(this.runId)}/children_by_task/`);
      this.children = data;
      for (const [taskId, kids] of Object.entries(data)) {
        const task = this.run.tasks.find((t) => t.id === taskId);
        const el = task && this.nodeEls.get(task.node_id);
        if (el && !el.querySelector(".kids")) {
          el.append(s("text", { x: 142, y: 18, class: "kids", "text-anchor": "end", text: `↳${kids.length}` }));
        } else if (el) {
          el.querySelector(".kids").textContent = `↳${kids.length}`;
        }
      }
      if (this.selected) this.renderTask(false);
    } catch (e) { /* children are optional decoration */ }
  }

  async loadHistory() {
    try {
      const { data } = await api(`/wf/pause_history/${encodeURIComponent(this.runId)}/`);
      const list = clear($("#history", this.main));
      const run = this.run || {};
      // Who did what (docs/security.md: with auth on these are token names), as text.
      const actor = (name) => h("span", { class: "who" }, name || "?");
      if (run.started_by) list.append(h("li", { dataset: { event: "started" } }, h("time", { datetime: run.start_time }, fmtTime(run.start_time)), " started by ", actor(run.started_by)));
      if (run.retried_by) list.append(h("li", { dataset: { event: "retried" } }, "retried by ", actor(run.retried_by)));
      if (run.canceled_by) list.append(h("li", { dataset: { event: "canceled" } }, h("time", { datetime: run.end_time }, fmtTime(run.end_time)), " canceled by ", actor(run.canceled_by)));
      $("#history-wrap", this.main).hidden = list.children.length === 0 && data.length === 0;
      for (const p of data) {
        list.append(h("li", {},
          h("time", { datetime: p.pause_time }, fmtTime(p.pause_time)), " ",
          h("code", {}, p.node_id), " paused",
          p.pause_message ? [": ", h("q", {}, p.pause_message)] : "",
          p.resume_action ? [" → ", h("strong", {}, p.resume_action.toLowerCase()), " by ", actor(p.resume_user_id), " at ", fmtTime(p.resume_time)] : " (waiting)",
          p.comments ? [" — ", h("q", {}, p.comments)] : ""));
      }
    } catch (e) { /* a run without pauses */ }
  }

  // -- batch rows ------------------------------------------------------------------

  // Batch rows are read at most once a second while the batch runs, once more at its end.
  maybeRenderBatch(run) {
    const at = Date.now();
    const ended = FINISHED.has(run.status);
    if (this.batchBusy || (!ended && at - (this.batchAt || 0) < 1000) || (ended && this.batchEnded)) return;
    this.batchAt = at;
    this.batchEnded = ended;
    this.batchBusy = true;
    this.renderBatch(run).finally(() => { this.batchBusy = false; });
  }

  async renderBatch(run) {
    const section = $("#batch", this.main);
    section.hidden = false;
    const { data } = await api(`/run/${encodeURIComponent(this.runId)}/batch_rows/?page=${this.rowsPage}&page_size=100`);
    const total = data.rows_total ?? data.total;
    $("#batch-progress-text", this.main).textContent =
      `${data.rows_done} of ${total} rows done (${run.percentage_complete}%), ${data.failed} failed`;
    const bar = $("#batch-bar", this.main);
    bar.style.width = `${run.percentage_complete}%`;
    bar.className = `st-${run.status}`;
    bar.parentElement.setAttribute("role", "progressbar");
    bar.parentElement.setAttribute("aria-valuenow", String(run.percentage_complete));
    bar.parentElement.setAttribute("aria-valuemin", "0");
    bar.parentElement.setAttribute("aria-valuemax", "100");
    bar.parentElement.setAttribute("aria-label", "batch progress");
    const dl = $("#batch-download", this.main);
    if (run.output_file_id && FINISHED.has(run.status)) {
      dl.href = `/of/${encodeURIComponent(run.output_file_id)}/download/`;
      dl.hidden = false;
    }
    const tbody = clear($("#batch-rows tbody", this.main));
    for (const r of data.items) {
      tbody.append(h("tr", { dataset: { status: r.status } },
        h("td", {}, r.seq != null ? String(r.seq) : "–"),
        h("td", {}, h("a", { href: `/ui/runs/${encodeURIComponent(r.id)}`, class: "mono" }, r.id)),
        h("td", {}, statusBadge(r.status)),
        h("td", {}, r.message || "")));
    }
    const pages = Math.max(1, Math.ceil(data.total / 100));
    $("#rows-info", this.main).textContent = `page ${this.rowsPage} of ${pages}`;
    const prev = $("#rows-prev", this.main), next = $("#rows-next", this.main);
    prev.disabled = this.rowsPage <= 1;
    next.disabled = this.rowsPage >= pages;
    prev.onclick = () => { this.rowsPage -= 1; this.renderBatch(this.run); };
    next.onclick = () => { this.rowsPage += 1; this.renderBatch(this.run); };
  }
}

function clip(text, n) {
  const str = String(text);
  return str.length > n ? `${str.slice(0, n - 1)}…` : str;
}
