// Datasets: upload with a progress bar (XMLHttpRequest reports upload progress, fetch
// does not), preview of the first rows, delete.
import { api, describe, whoami } from "./api.js";
import { $, clear, fmtTime, h, toast } from "./dom.js";

export default async function datasetsPage(main) {
  const tbody = $("#datasets tbody", main);
  async function load() {
    const { data } = await api("/ds/?page_size=100");
    clear(tbody);
    for (const ds of data) {
      tbody.append(h("tr", { dataset: { datasetId: ds.id } },
        h("td", {}, ds.name),
        h("td", {}, String(ds.row_count)),
        h("td", {}, ds.columns.join(", ")),
        h("td", {}, fmtTime(ds.uploaded_at)),
        h("td", { class: "actions" },
          h("button", { type: "button", class: "preview", onclick: () => preview(ds) }, "Preview"),
          h("button", { type: "button", class: "danger delete", onclick: () => remove(ds) }, "Delete"))));
    }
  }
  async function preview(ds) {
    const { data } = await api(`/ds/${encodeURIComponent(ds.id)}/preview/?rows=10`);
    const section = $("#preview", main);
    section.hidden = false;
    $("#preview-title", main).textContent = `${ds.name}: first ${data.rows.length} of ${data.row_count} rows`;
    const thead = clear($("#preview-table thead", main));
    thead.append(h("tr", {}, data.columns.map((c) => h("th", {}, c))));
    const body = clear($("#preview-table tbody", main));
    for (const r of data.rows) body.append(h("tr", {}, data.columns.map((c) => h("td", {}, r[c] == null ? "" : typeof r[c] === "object" ? JSON.stringify(r[c]) : String(r[c])))));
  }
  async function remove(ds) {
    if (!confirm(`Delete dataset ${ds.name}?`)) return;
    try {
      await api(`/ds/${encodeURIComponent(ds.id)}/`, { method: "DELETE" });
      toast(`Deleted ${ds.name}`);
      $("#preview", main).hidden = true;
    } catch (e) {
      toast(e.message, "error");
    }
    load();
  }
  $("#upload-form", main).addEventListener("submit", async (e) => {
    e.preventDefault();
    const file = $("#upload-file", main).files[0];
    const error = $("#upload-error", main);
    error.hidden = true;
    if (!file) return;
    const form = new FormData();
    form.append("file", file);
    if ($("#upload-name", main).value) form.append("name", $("#upload-name", main).value);
    const bar = $("#upload-progress", main);
    const status = $("#upload-status", main);
    bar.hidden = false;
    bar.value = 0;
    const session = await whoami();
    const xhr = new XMLHttpRequest();
    xhr.open("POST", "/ds/");
    xhr.withCredentials = true;
    if (session.csrf_token) xhr.setRequestHeader("x-csrf-token", session.csrf_token);
    xhr.upload.addEventListener("progress", (ev) => {
      if (ev.lengthComputable) {
        bar.value = Math.round((100 * ev.loaded) / ev.total);
        status.textContent = `${bar.value}% sent`;
      }
    });
    xhr.addEventListener("load", () => {
      let body = null;
      try { body = JSON.parse(xhr.responseText); } catch (err) { body = null; }
      if (xhr.status >= 200 && xhr.status < 300) {
        status.textContent = `Stored ${body.name}: ${body.row_count} rows`;
        load();
      } else {
        status.textContent = "";
        error.textContent = `Upload refused (${xhr.status}): ${describe(body && body.detail) || xhr.statusText}`;
        error.hidden = false;
      }
    });
    xhr.addEventListener("error", () => {
      status.textContent = "";
      error.textContent = "Upload failed: the connection was closed (is the file over the server's size limit?)";
      error.hidden = false;
    });
    xhr.send(form);
  });
  await load();
}
