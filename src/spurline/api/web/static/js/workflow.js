// One workflow: start a run from a form generated from the InputNode's output_schema,
// start a batch from a dataset, its schedules, its webhook triggers and notification
// webhooks (admins), list versions and diff two of them side by side.
import { allowed, api } from "./api.js";
import { $, clear, fmtTime, h, labelChips, toast } from "./dom.js";
import { inputFields, readInputs } from "./inputs.js";
import { workflowSchedules } from "./schedules.js";

export default async function workflowPage(main) {
  const id = main.dataset.workflowId;
  const { data: wf } = await api(`/wf/${encodeURIComponent(id)}/`);
  $("#wf-name", main).textContent = wf.name;
  $("#wf-description", main).textContent = wf.description || "";
  document.title = `${wf.name} · Spurline`;
  buildStartForm(main, wf);
  buildBatchForm(main, wf);
  await Promise.all([buildVersions(main, wf), workflowSchedules($("#schedules", main), wf), buildTriggers(main, wf)]);
}

// Webhook triggers and notification webhooks are admin reads (docs/security.md): other
// roles do not see the section. A trigger's secret is shown once, when it is made.
async function buildTriggers(main, wf) {
  if (!(await allowed("admin"))) return;
  const section = $("#triggers", main);
  section.hidden = false;
  const error = $("#trigger-error", main);
  const fail = (e) => { error.textContent = e.message; error.hidden = false; };
  const base = `/wf/${encodeURIComponent(wf.id)}/triggers/`;
  async function load() {
    const { data } = await api(base);
    const tbody = clear($("#trigger-list tbody", main));
    for (const t of data) {
      tbody.append(h("tr", { dataset: { triggerId: t.id } },
        h("td", {}, t.name),
        h("td", {}, h("code", { class: "url" }, t.url)),
        h("td", {}, labelChips(t.tags, t.metadata)),
        h("td", {}, fmtTime(t.created_at)),
        h("td", {}, t.last_used_at ? fmtTime(t.last_used_at) : "never"),
        h("td", {}, h("button", { type: "button", class: "danger delete", "aria-label": `Delete trigger ${t.name}`, onclick: () => remove(t) }, "Delete"))));
    }
    if (!data.length) tbody.append(h("tr", {}, h("td", { colspan: 6, class: "empty" }, "No triggers.")));
  }
  async function remove(t) {
    if (!confirm(`Delete trigger ${t.name}? Its URL will start nothing any more.`)) return;
    error.hidden = true;
    try {
      await api(`/trigger/${encodeURIComponent(t.id)}/`, { method: "DELETE" });
      toast(`Deleted trigger ${t.name}`);
      $("#trigger-secret", main).hidden = true;
    } catch (e) { fail(e); }
    await load();
  }
  $("#trigger-form", main).addEventListener("submit", async (e) => {
    e.preventDefault();
    error.hidden = true;
    const body = { name: $("#trigger-name", main).value || "webhook" };
    const tags = $("#trigger-tags", main).value.split(",").map((t) => t.trim()).filter(Boolean);
    if (tags.length) body.tags = tags;
    try {
      const { data } = await api(base, { method: "POST", body });
      const box = clear($("#trigger-secret", main));
      box.append(h("p", {}, h("strong", {}, "Copy the secret now: it is not shown again.")),
        h("p", {}, "URL ", h("code", { class: "url" }, data.url)),
        h("p", {}, "Secret ", h("code", { class: "secret" }, data.secret)),
        h("pre", { class: "mono" }, `curl -X POST -H 'X-Spurline-Secret: ${data.secret}' -H 'content-type: application/json' -d '{}' ${data.url}`));
      box.hidden = false;
      await load();
    } catch (err) { fail(err); }
  });
  try {
    await load();
    await loadWebhooks(main, wf);
  } catch (e) { fail(e); }
}

async function loadWebhooks(main, wf) {
  const { data } = await api("/notifications/webhooks/");
  const mine = data.filter((w) => !w.workflow_id || w.workflow_id === wf.id);
  const tbody = clear($("#webhook-list tbody", main));
  for (const w of mine) {
    tbody.append(h("tr", { dataset: { webhookId: w.id } },
      h("td", {}, h("code", {}, w.url)),
      h("td", {}, (w.events || []).join(", ") || "all"),
      h("td", {}, w.workflow_id ? "this workflow" : "every workflow"),
      h("td", {}, w.enabled ? "enabled" : "disabled"),
      h("td", {}, w.description || "")));
  }
  if (!mine.length) tbody.append(h("tr", {}, h("td", { colspan: 5, class: "empty" }, "No notification webhooks.")));
}

function buildStartForm(main, wf) {
  const fields = $("#start-fields", main);
  inputFields(fields, wf, "in");
  const error = $("#start-error", main);
  $("#start-form", main).addEventListener("submit", async (e) => {
    e.preventDefault();
    error.hidden = true;
    try {
      const initial = readInputs(fields);
      const { data } = await api(`/wf/${encodeURIComponent(wf.id)}/start_run/`, { method: "POST", body: { initial_inputs: initial } });
      location.assign(`/ui/runs/${encodeURIComponent(data.id)}`);
    } catch (err) {
      error.textContent = err.message;
      error.hidden = false;
    }
  });
}

async function buildBatchForm(main, wf) {
  const select = $("#batch-dataset", main);
  const { data } = await api("/ds/?page_size=100");
  for (const ds of data) select.append(h("option", { value: ds.id }, `${ds.name} (${ds.row_count} rows)`));
  if (!data.length) select.append(h("option", { value: "" }, "no dataset yet: upload one under Datasets"));
  const error = $("#batch-error", main);
  $("#batch-form", main).addEventListener("submit", async (e) => {
    e.preventDefault();
    error.hidden = true;
    try {
      const { data: run } = await api(`/wf/${encodeURIComponent(wf.id)}/start_batch_run/`, {
        method: "POST",
        body: { dataset_id: select.value, mini_batch_size: Number($("#batch-size", main).value || 10) },
      });
      location.assign(`/ui/runs/${encodeURIComponent(run.id)}`);
    } catch (err) {
      error.textContent = err.message;
      error.hidden = false;
    }
  });
}

async function buildVersions(main, wf) {
  const { data: versions } = await api(`/wf/${encodeURIComponent(wf.id)}/versions/`);
  const tbody = clear($("#versions tbody", main));
  const a = $("#diff-a", main), b = $("#diff-b", main);
  for (const v of versions) {
    tbody.append(h("tr", {}, h("td", {}, String(v.version)), h("td", {}, v.name), h("td", {}, fmtTime(v.created_at)), h("td", { class: "mono" }, (v.definition_hash || "").slice(0, 12))));
    a.append(h("option", { value: v.version }, `version ${v.version}`));
    b.append(h("option", { value: v.version }, `version ${v.version}`));
  }
  if (versions.length > 1) { a.value = String(versions[1].version); b.value = String(versions[0].version); }
  $("#diff-form", main).addEventListener("submit", async (e) => {
    e.preventDefault();
    const { data } = await api(`/wf/${encodeURIComponent(wf.id)}/version_diff/?a=${a.value}&b=${b.value}`);
    const box = clear($("#diff", main));
    const table = h("table", { class: "diff-table" }, h("thead", {}, h("tr", {}, h("th", { colspan: 2 }, `version ${data.a}`), h("th", { colspan: 2 }, `version ${data.b}`))));
    const body = h("tbody");
    for (const l of data.lines) {
      body.append(h("tr", { class: `d-${l.kind}` },
        h("td", { class: "no" }, l.left_no ?? ""), h("td", { class: "l" }, l.left ?? ""),
        h("td", { class: "no" }, l.right_no ?? ""), h("td", { class: "r" }, l.right ?? "")));
    }
    table.append(body);
    const changed = data.lines.filter((l) => l.kind !== "equal").length;
    box.append(h("p", {}, changed ? `${changed} changed lines` : "The two versions are identical."), h("div", { class: "table-wrap" }, table));
  });
}
