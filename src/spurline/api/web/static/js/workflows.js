// The workflow list.
import { api } from "./api.js";
import { $, clear, fmtTime, h } from "./dom.js";

export default async function workflowsPage(main) {
  let page = 1;
  const size = 50;
  async function load() {
    const { data, headers } = await api(`/wf/?page=${page}&page_size=${size}`);
    const total = Number(headers.get("x-total-count") || data.length);
    const tbody = clear($("#workflows tbody", main));
    for (const wf of data) {
      tbody.append(h("tr", {},
        h("td", {}, h("a", { href: `/ui/workflows/${encodeURIComponent(wf.id)}` }, wf.name)),
        h("td", {}, wf.description || ""),
        h("td", {}, fmtTime(wf.updated_at)),
        h("td", { class: "mono" }, wf.id)));
    }
    const pages = Math.max(1, Math.ceil(total / size));
    $("#page-info", main).textContent = `page ${page} of ${pages} · ${total} workflows`;
    $("#prev", main).disabled = page <= 1;
    $("#next", main).disabled = page >= pages;
  }
  $("#prev", main).addEventListener("click", () => { page -= 1; load(); });
  $("#next", main).addEventListener("click", () => { page += 1; load(); });
  await load();
}
