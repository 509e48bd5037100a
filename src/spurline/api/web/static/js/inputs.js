// Form controls for a workflow's inputs, generated from each InputNode's
// output_schema, and reading them back as initial_inputs ({node_id: {field: value}}).
// The start-run form and the new-schedule form share them.
import { h } from "./dom.js";

export function inputNodes(wf) {
  return ((wf.definition && wf.definition.nodes) || []).filter((n) => n.node_type === "InputNode");
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

// One fieldset per InputNode into `container`; `prefix` keeps ids unique per form.
export function inputFields(container, wf, prefix) {
  const nodes = inputNodes(wf);
  for (const node of nodes) {
    const schema = (node.config && node.config.output_schema) || {};
    const fs = h("fieldset", { dataset: { node: node.id } }, h("legend", {}, node.title || node.id));
    for (const [name, type] of Object.entries(schema)) {
      const inputId = `${prefix}-${node.id}-${name}`;
      const kind = typeof type === "string" ? type : "json";
      fs.append(h("label", { for: inputId }, `${name} `, h("small", {}, `(${kind})`)), control(name, kind, inputId));
    }
    container.append(fs);
  }
  if (!nodes.length) container.append(h("p", { class: "hint" }, "This workflow has no InputNode; it starts without inputs."));
}

// The values of the fields inputFields made; empty fields are left out. Throws an
// Error naming the field whose JSON does not parse, or whose int is not whole.
export function readInputs(container) {
  const initial = {};
  for (const fs of container.querySelectorAll("fieldset[data-node]")) {
    const values = {};
    for (const el of fs.querySelectorAll("input, textarea")) {
      const kind = el.dataset.type;
      if (kind === "bool") values[el.name] = el.checked;
      else if (el.value === "") continue;
      else if (kind === "int") {
        // parseInt would turn 2007.5 into 2007 without a word
        const n = Number(el.value);
        if (!Number.isInteger(n)) throw new Error(`${el.name}: a whole number is expected, not ${el.value}`);
        values[el.name] = n;
      }
      else if (kind === "float") values[el.name] = Number(el.value);
      else if (kind === "json") {
        try { values[el.name] = JSON.parse(el.value); } catch (err) { throw new Error(`${el.name}: not valid JSON (${err.message})`); }
      } else values[el.name] = el.value;
    }
    initial[fs.dataset.node] = values;
  }
  return initial;
}
