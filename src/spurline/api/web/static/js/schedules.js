// Schedules (docs/operations.md#schedules): the live table a workflow's page and the
// overview page share (enable/disable, delete), the new-schedule form with the API's
// 422 problems shown next to their fields, and the overview page of every workflow's
// schedules. Managing schedules needs the admin role; others see the table only.
import { allowed, api, subscribe } from "./api.js";
import { $, clear, clearProblems, field, fieldProblem, fmtTime, h, jsonLine, labelChips, showProblems, toast } from "./dom.js";
import { inputFields, readInputs } from "./inputs.js";

const PAGE_SIZE = 50;

// "every 1 h 30 min": an interval in whole units, largest first.
export function fmtInterval(seconds) {
  const parts = [];
  let rest = Number(seconds);
  for (const [unit, n] of [["d", 86400], ["h", 3600], ["min", 60], ["s", 1]]) {
    if (rest >= n) { parts.push(`${Math.floor(rest / n)} ${unit}`); rest %= n; }
  }
  return parts.join(" ") || "0 s";
}

export function scheduleLink(s) {
  return `/ui/workflows/${encodeURIComponent(s.workflow_id)}#schedule-${encodeURIComponent(s.id)}`;
}

// The schedules table: `load(page)` reads {schedules, total}; rows stay live (next and
// last fire move on) and each action re-reads at once.
class ScheduleTable {
  constructor(box, { path, showWorkflow = false, canManage = false, error }) {
    this.box = box;
    this.path = path;
    this.showWorkflow = showWorkflow;
    this.canManage = canManage;
    this.error = error;
    this.page = 1;
    this.names = new Map();
    const heads = ["Name", showWorkflow ? "Workflow" : null, "When", "Time zone", "State", "Next fire", "Last fire", "Misfire", "Inputs", "Tags, metadata", "Runs", canManage ? "Actions" : null];
    this.tbody = h("tbody");
    this.table = h("table", { class: "grid schedules" },
      h("caption", { class: "sr" }, "Schedules, newest first"),
      h("thead", {}, h("tr", {}, heads.filter(Boolean).map((t) => h("th", {}, t)))), this.tbody);
    this.info = h("span", { class: "page-info", "aria-live": "polite" });
    this.prev = h("button", { type: "button", class: "prev", onclick: () => this.go(-1) }, "←");
    this.next = h("button", { type: "button", class: "next", onclick: () => this.go(1) }, "→");
    box.append(h("div", { class: "table-wrap" }, this.table), h("nav", { class: "pager", "aria-label": "Schedule pages" }, this.prev, this.info, this.next));
    this.scrolled = false;
  }

  start() {
    return new Promise((resolve) => {
      this.sub = subscribe(() => `${this.path}${this.path.includes("?") ? "&" : "?"}page=${this.page}&page_size=${PAGE_SIZE}`,
        async (data) => { await this.render(data); resolve(); },
        { interval: 2000, onError: (e) => { this.fail(e); resolve(); } });
    });
  }

  refresh() { this.sub.refresh(); }

  go(step) { this.page += step; this.refresh(); }

  fail(e) {
    this.error.textContent = e.message;
    this.error.hidden = false;
  }

  async render(data) {
    if (this.showWorkflow) await this.loadNames(data.schedules);
    clear(this.tbody);
    for (const s of data.schedules) this.tbody.append(this.row(s));
    const cols = this.table.tHead.rows[0].cells.length;
    if (!data.schedules.length) this.tbody.append(h("tr", {}, h("td", { colspan: cols, class: "empty" }, "No schedules yet.")));
    const pages = Math.max(1, Math.ceil(data.total / PAGE_SIZE));
    this.info.textContent = `page ${this.page} of ${pages} · ${data.total} schedules`;
    this.prev.disabled = this.page <= 1;
    this.next.disabled = this.page >= pages;
    // A link to one schedule (a scheduled run's page links here) shows it once.
    const target = location.hash && document.getElementById(decodeURIComponent(location.hash.slice(1)));
    if (target && !this.scrolled && this.tbody.contains(target)) {
      this.scrolled = true;
      target.scrollIntoView({ block: "center" });
    }
  }

  async loadNames(list) {
    const missing = [...new Set(list.map((s) => s.workflow_id))].filter((id) => !this.names.has(id));
    await Promise.all(missing.map(async (id) => {
      try {
        const { data } = await api(`/wf/${encodeURIComponent(id)}/`);
        this.names.set(id, data.name);
      } catch (e) {
        this.names.set(id, null);
      }
    }));
  }

  row(s) {
    const state = s.enabled ? "enabled" : "disabled";
    const cells = [
      h("td", {}, h("strong", { class: "name" }, s.name), s.disabled_reason ? h("p", { class: "hint reason" }, s.disabled_reason) : null),
      this.showWorkflow ? h("td", {}, h("a", { href: `/ui/workflows/${encodeURIComponent(s.workflow_id)}` }, this.names.get(s.workflow_id) || s.workflow_id)) : null,
      h("td", { class: "when" }, s.cron_expression ? h("code", {}, s.cron_expression) : `every ${fmtInterval(s.interval_seconds)}`),
      h("td", { class: "tz" }, s.timezone),
      h("td", {}, h("span", { class: `status sched-${state}` }, state)),
      h("td", { class: "next" }, s.next_run_at ? h("time", { datetime: s.next_run_at }, fmtTime(s.next_run_at)) : "–"),
      h("td", { class: "last" }, s.last_run_at ? h("time", { datetime: s.last_run_at }, fmtTime(s.last_run_at)) : "never",
        s.last_run_id ? [" ", h("a", { href: `/ui/runs/${encodeURIComponent(s.last_run_id)}`, class: "mono last-run" }, "run")] : null),
      h("td", { class: "misfire" }, s.misfire_policy),
      h("td", { class: "inputs" }, s.initial_inputs ? jsonLine(s.initial_inputs, 60) : "–"),
      h("td", {}, labelChips(s.tags, s.metadata)),
      h("td", {}, h("a", { href: `/ui/?${new URLSearchParams({ schedule_id: s.id })}`, class: "runs-link" }, "runs")),
    ];
    if (this.canManage) {
      cells.push(h("td", { class: "acts" },
        h("button", { type: "button", class: "toggle", "aria-label": `${s.enabled ? "Disable" : "Enable"} schedule ${s.name}`, onclick: () => this.act(s, "toggle") }, s.enabled ? "Disable" : "Enable"),
        h("button", { type: "button", class: "danger delete", "aria-label": `Delete schedule ${s.name}`, onclick: () => this.act(s, "delete") }, "Delete")));
    }
    return h("tr", { id: `schedule-${s.id}`, dataset: { scheduleId: s.id, enabled: String(s.enabled) } }, cells);
  }

  async act(s, what) {
    this.error.hidden = true;
    if (what === "delete" && !confirm(`Delete schedule ${s.name}? The runs it started stay.`)) return;
    const path = `/wf/schedules/${encodeURIComponent(s.id)}/`;
    try {
      if (what === "delete") await api(path, { method: "DELETE" });
      else await api(`${path}toggle/`, { method: "POST" });
      toast(what === "delete" ? `Deleted schedule ${s.name}` : `Schedule ${s.name} ${s.enabled ? "disabled" : "enabled"}`);
    } catch (e) {
      this.fail(e);
    }
    this.refresh();
  }
}

// A workflow's schedules, with the new-schedule form for admins.
export async function workflowSchedules(section, wf) {
  const canManage = await allowed("admin");
  const error = $(".schedule-error", section);
  const table = new ScheduleTable($(".schedules-box", section), {
    path: `/wf/schedules/?${new URLSearchParams({ workflow_id: wf.id })}`, canManage, error,
  });
  $(".new-schedule-wrap", section).hidden = !canManage;
  if (canManage) scheduleForm($(".new-schedule", section), wf, () => table.refresh());
  await table.start();
}

function timeZones() {
  try { return Intl.supportedValuesOf("timeZone"); } catch (e) { return ["UTC"]; }
}

// The new-schedule form. Local checks (inputs, metadata lines) and the API's 422
// problems (cron expression, time zone, interval, name ...) are shown next to their
// field; nothing is created until the API accepts the whole schedule.
function scheduleForm(box, wf, onCreated) {
  box.hidden = false;
  const uid = (n) => `sched-${n}`;
  const name = h("input", { type: "text", id: uid("name"), name: "name", required: true, maxlength: 500 });
  const kindCron = h("input", { type: "radio", name: "kind", value: "cron", checked: true });
  const kindInterval = h("input", { type: "radio", name: "kind", value: "interval" });
  const cron = h("input", { type: "text", id: uid("cron"), name: "cron_expression", class: "mono", placeholder: "0 9 * * 1-5", maxlength: 200 });
  const interval = h("input", { type: "number", id: uid("interval"), name: "interval_seconds", min: 1, step: 1, placeholder: "3600" });
  const zoneList = h("datalist", { id: uid("zones") }, timeZones().map((z) => h("option", { value: z })));
  const local = Intl.DateTimeFormat().resolvedOptions().timeZone || "UTC";
  const tz = h("input", { type: "text", id: uid("tz"), name: "timezone", list: uid("zones"), value: local, autocomplete: "off" });
  const misfire = h("select", { id: uid("misfire"), name: "misfire_policy" },
    h("option", { value: "skip" }, "skip missed fires"), h("option", { value: "run_once" }, "run once for missed fires"));
  const enabled = h("input", { type: "checkbox", id: uid("enabled"), name: "enabled", checked: true });
  const inputs = h("div", { class: "schedule-inputs" });
  inputFields(inputs, wf, "sched");
  const tags = h("input", { type: "text", id: uid("tags"), name: "tags", placeholder: "nightly, eu" });
  const meta = h("textarea", { id: uid("metadata"), name: "metadata", rows: 2, class: "mono", placeholder: "team=data" });
  const general = h("p", { class: "error", role: "alert", hidden: true });
  const cronField = field("Cron expression", cron, "cron_expression", "minute hour day month weekday, read in the time zone");
  const intervalField = field("Every (seconds)", interval, "interval_seconds");
  intervalField.hidden = true;
  const inputsSlot = h("span", { class: "problem", role: "alert", hidden: true, dataset: { errorFor: "initial_inputs" } });
  const form = h("form", { id: "schedule-form", novalidate: true },
    field("Name", name, "name"),
    h("fieldset", { class: "kind" }, h("legend", {}, "Fires"),
      h("label", { class: "check" }, kindCron, " on a cron expression"),
      h("label", { class: "check" }, kindInterval, " every interval")),
    cronField, intervalField,
    field("Time zone", tz, "timezone", "IANA name, e.g. Europe/Berlin"), zoneList,
    field("After a downtime", misfire, "misfire_policy"),
    field("Enabled", enabled, "enabled"),
    h("fieldset", { class: "inputs" }, h("legend", {}, "Inputs of each run"), inputs, inputsSlot),
    field("Tags", tags, "tags", "comma separated"),
    field("Metadata", meta, "metadata", "one key=value a line"),
    h("button", { type: "submit" }, "Create schedule"), general);
  const showKind = () => {
    cronField.hidden = !kindCron.checked;
    intervalField.hidden = kindCron.checked;
  };
  kindCron.addEventListener("change", showKind);
  kindInterval.addEventListener("change", showKind);
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    clearProblems(form, general);
    const body = {
      workflow_id: wf.id,
      name: name.value,
      timezone: tz.value.trim(),
      misfire_policy: misfire.value,
      enabled: enabled.checked,
    };
    if (kindCron.checked) body.cron_expression = cron.value.trim() || null;
    else body.interval_seconds = interval.value === "" ? null : Number(interval.value);
    let bad = false;
    try {
      body.initial_inputs = readInputs(inputs);
    } catch (err) {
      bad = fieldProblem(form, "initial_inputs", err.message);
    }
    const tagList = tags.value.split(",").map((t) => t.trim()).filter(Boolean);
    if (tagList.length) body.tags = tagList;
    const pairs = {};
    for (const line of meta.value.split("\n").map((l) => l.trim()).filter(Boolean)) {
      const at = line.indexOf("=");
      if (at <= 0) { bad = fieldProblem(form, "metadata", `${JSON.stringify(line)} is not key=value`); continue; }
      pairs[line.slice(0, at).trim()] = line.slice(at + 1).trim();
    }
    if (Object.keys(pairs).length) body.metadata = pairs;
    if (bad) return;
    try {
      const { data } = await api("/wf/schedules/", { method: "POST", body });
      toast(`Schedule ${data.name} created`);
      form.reset();
      tz.value = local;
      showKind();
      onCreated(data);
    } catch (err) {
      showProblems(form, general, err);
    }
  });
  box.append(form);
}

// The overview page: every workflow's schedules.
export default async function schedulesPage(main) {
  const table = new ScheduleTable($("#schedules-box", main), {
    path: "/wf/schedules/", showWorkflow: true, canManage: await allowed("admin"), error: $("#schedule-error", main),
  });
  await table.start();
}
