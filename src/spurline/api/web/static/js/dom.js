// DOM helpers. Every value from a run goes in as a text node (textContent), never as
// markup, so outputs, logs and names are shown as text whatever they contain.

export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v == null || v === false) continue;
    if (k === "class") el.className = v;
    else if (k === "dataset") Object.assign(el.dataset, v);
    else if (k.startsWith("on") && typeof v === "function") el.addEventListener(k.slice(2), v);
    else if (k === "text") el.textContent = String(v);
    else el.setAttribute(k, v === true ? "" : String(v));
  }
  append(el, children);
  return el;
}

const SVG = "http://www.w3.org/2000/svg";
export function s(tag, attrs = {}, ...children) {
  const el = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v == null) continue;
    if (k === "text") el.textContent = String(v);
    else if (k.startsWith("on") && typeof v === "function") el.addEventListener(k.slice(2), v);
    else el.setAttribute(k, String(v));
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const c of children.flat()) {
    if (c == null || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
}

export function $(sel, root = document) { return root.querySelector(sel); }

export function clear(el) { el.replaceChildren(); return el; }

export function fmtTime(iso) {
  if (!iso) return "–";
  const d = new Date(iso);
  return d.toLocaleString(undefined, { year: "numeric", month: "short", day: "2-digit", hour: "2-digit", minute: "2-digit", second: "2-digit", timeZoneName: "short" });
}

export function fmtDuration(seconds) {
  if (seconds == null) return "–";
  if (seconds < 1) return `${Math.round(seconds * 1000)} ms`;
  if (seconds < 60) return `${seconds.toFixed(1)} s`;
  const m = Math.floor(seconds / 60);
  if (m < 60) return `${m} min ${Math.round(seconds % 60)} s`;
  return `${Math.floor(m / 60)} h ${m % 60} min`;
}

export function statusBadge(status, label) {
  return h("span", { class: `status st-${status}` }, label || status);
}

export function progressBar(pct, label, status) {
  const bar = h("span", { class: status ? `st-${status}` : null });
  bar.style.width = `${Math.max(0, Math.min(100, pct))}%`;
  return h("span", { class: "progress", role: "progressbar", "aria-valuemin": 0, "aria-valuemax": 100, "aria-valuenow": Math.round(pct), "aria-label": label || "progress" }, bar);
}

// A JSON value as a collapsible tree (<details>), objects and arrays open to `open` levels.
export function jsonTree(value, open = 1, key = null) {
  const label = key == null ? null : h("span", { class: "k" }, `${key}: `);
  if (value !== null && typeof value === "object") {
    const entries = Array.isArray(value) ? value.map((v, i) => [i, v]) : Object.entries(value);
    const n = entries.length;
    const summary = Array.isArray(value) ? `[${n} item${n === 1 ? "" : "s"}]` : `{${n} key${n === 1 ? "" : "s"}}`;
    const d = h("details", { class: "json", open: open > 0 || null }, h("summary", {}, label, h("span", { class: "t" }, summary)));
    for (const [k, v] of entries) d.append(jsonTree(v, open - 1, k));
    return d;
  }
  const cls = value === null ? "null" : typeof value;
  return h("div", { class: "leaf" }, label, h("span", { class: `v ${cls}` }, JSON.stringify(value)));
}

export function toast(message, kind = "info") {
  const t = document.getElementById("toast");
  if (!t) return;
  t.className = kind;
  t.textContent = message;
  clearTimeout(toast.timer);
  toast.timer = setTimeout(() => { t.textContent = ""; t.className = ""; }, 5000);
}

// Keyboard activation for non-button elements that act as buttons (SVG nodes).
export function asButton(el, onActivate) {
  el.setAttribute("tabindex", "0");
  el.setAttribute("role", "button");
  el.addEventListener("click", onActivate);
  el.addEventListener("keydown", (e) => {
    if (e.key === "Enter" || e.key === " ") { e.preventDefault(); onActivate(e); }
  });
}

// Problems next to the fields they are about. `err` is an ApiError; a 422's problems
// ({loc: ["body", field, ...], msg}) each go to the form's element
// [data-error-for="field"] (the longest dotted prefix of loc that has one), the field
// named so is marked aria-invalid; the rest, and any other error, go to `general`.
export function showProblems(form, general, err) {
  clearProblems(form, general);
  const rest = [];
  const detail = err && err.detail;
  if (err && err.status === 422 && Array.isArray(detail)) {
    for (const p of detail) {
      const loc = (p.loc || []).filter((x) => x !== "body").map(String);
      let shown = false;
      for (let n = loc.length; n > 0 && !shown; n -= 1) {
        shown = fieldProblem(form, loc.slice(0, n).join("."), p.msg);
      }
      if (!shown) rest.push(loc.length ? `${loc.join(".")}: ${p.msg}` : p.msg);
    }
  } else {
    rest.push(err && err.message ? err.message : String(err));
  }
  if (rest.length && general) {
    general.textContent = rest.join("; ");
    general.hidden = false;
  }
}

// One problem under the field `name` (see showProblems); false when the form has no
// place for it.
export function fieldProblem(form, name, message) {
  const slot = form.querySelector(`[data-error-for="${CSS.escape(name)}"]`);
  if (!slot) return false;
  slot.textContent = slot.textContent ? `${slot.textContent}; ${message}` : message;
  slot.hidden = false;
  const control = form.querySelector(`[data-field="${CSS.escape(name)}"]`);
  if (control) control.setAttribute("aria-invalid", "true");
  return true;
}

export function clearProblems(form, general) {
  for (const slot of form.querySelectorAll("[data-error-for]")) { slot.textContent = ""; slot.hidden = true; }
  for (const el of form.querySelectorAll("[aria-invalid]")) el.removeAttribute("aria-invalid");
  if (general) { general.textContent = ""; general.hidden = true; }
}

// A labelled form control with its problem slot under it: the control carries
// data-field=name and aria-describedby pointing at the slot.
export function field(label, control, name, hint) {
  const slotId = `${control.id || name.replace(/\W/g, "-")}-problem`;
  control.dataset.field = name;
  control.setAttribute("aria-describedby", slotId);
  return h("div", { class: "field" },
    h("label", { class: control.type === "checkbox" ? "check" : null }, control.type === "checkbox" ? [control, ` ${label}`] : [label, control]),
    hint ? h("small", { class: "hint" }, hint) : null,
    h("span", { class: "problem", id: slotId, role: "alert", hidden: true, dataset: { errorFor: name } }));
}

// Tags and metadata pairs as small chips; each links to the runs list filtered by it.
export function labelChips(tags, metadata) {
  const out = h("span", { class: "chips" });
  for (const t of tags || []) {
    out.append(h("a", { class: "chip tag", href: `/ui/?${new URLSearchParams({ tag: t })}`, title: `runs tagged ${t}` }, t));
  }
  for (const [k, v] of Object.entries(metadata || {})) {
    out.append(h("a", { class: "chip meta", href: `/ui/?${new URLSearchParams({ metadata: `${k}=${v}` })}`, title: `runs with ${k}=${v}` }, `${k}=${v}`));
  }
  return out;
}

// A JSON value on one line, cut at `n` characters (the full text in the title).
export function jsonLine(value, n = 80) {
  const text = JSON.stringify(value);
  const el = h("code", { class: "json-line" }, text.length > n ? `${text.slice(0, n - 1)}…` : text);
  if (text.length > n) el.title = text;
  return el;
}
