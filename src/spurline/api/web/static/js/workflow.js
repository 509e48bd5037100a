// One workflow: start a run from a form generated from the InputNode's output_schema,
// start a batch from a dataset, list versions and diff two of them side by side.
import { api } from "./api.js";
import { $, clear, fmtTime, h } from "./dom.js";

export default async function workflowPage(main) {
  const id = main.dataset.workflowId;
  const { data: wf } = await api(`/wf/${encodeURIComponent(id)}/`);
  $("#wf-name", main).textContent = wf.name;
  $("#wf-description", main).textContent = wf.description || "";
  document.title = `${wf.name} · Spurline`;
  buildStartForm(main, wf);
  buildBatchForm(main, wf);
  await buildVersions(main, wf);
}

// Field type names of an output_schema and the form control for each.
function control(name, type, inputId) {
  const t = String(type).toLowerCase();
  if (t === "bool" || t === "boolean") return h("input", { type: "checkbox", id: inputId, name, dataset: { type: "bool" } });
  if (t === "int" || t === "integer") return h("input", { type: "number", step: "1", id: inputId, name, dataset: { type: "int" } });
  if (t === "float" || t === "number") return h("input", { type: "number", step: "any", id: inputId, name, dataset: { type: "float" } });
  if (t === "str" || t === "string") return h("input", { type: "text", id: inputId, name, dataset: { type: "str" } });
  return h("textarea", { id: inputId, name, rows: 3, class: "mono", dataset: { type: "json" }, placeholder: "JSON value" });
}

function inputNodes(wf) {
  return ((wf.definition && wf.definition.nodes) || []).filter((n) => n.node_type === "InputNode");
}

function buildStartForm(main, wf) {
  const fields = $("#start-fields", main);
  const nodes = inputNodes(wf);
  for (const node of nodes) {
    const schema = (node.config && node.config.output_schema) || {};
    const fs = h("fieldset", { dataset: { node: node.id } }, h("legend", {}, node.title || node.id));
    for (const [name, type] of Object.entries(schema)) {
      const inputId = `in-${node.id}-${name}`;
      fs.append(h("label", { for: inputId }, `${name} `, h("small", {}, `(${typeof type === "string" ? type : "json"})`)), control(name, typeof type === "string" ? type : "json", inputId));
    }
    fields.append(fs);
  }
  if (!nodes.length) fields.append(h("p", { class: "hint" }, "This workflow has no InputNode; it starts without inputs."));
  const error = $("#start-error", main);
  $("#start-form", main).addEventListener("submit", async (e) => {
    e.preventDefault();
    error.hidden = true;
    const initial = {};
    try {
      for (const fs of fields.querySelectorAll("fieldset")) {
        const values = {};
        for (const el of fs.querySelectorAll("input, textarea")) {
          const kind = el.dataset.type;
          if (kind === "bool") values[el.name] = el.checked;
          else if (el.value === "") continue;
          else if (kind === "int") values[el.name] = parseInt(el.value, 10);
          else if (kind === "float") values[el.name] = Number(el.value);
          else if (kind === "json") {
            try { values[el.name] = JSON.parse(el.value); } catch (err) { throw new Error(`${el.name}: not valid JSON (${err.message})`); }
          } else values[el.name] = el.value;
        }
        initial[fs.dataset.node] = values;
      }
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
