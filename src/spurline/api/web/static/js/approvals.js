// The approvals inbox: every paused run with its open pause, live.
import { subscribe } from "./api.js";
import { $, clear, fmtTime, h } from "./dom.js";

export default async function approvalsPage(main) {
  const tbody = $("#inbox tbody", main);
  subscribe("/wf/paused_workflows/?page_size=100", (items) => {
    clear(tbody);
    $("#inbox-empty", main).hidden = items.length > 0;
    for (const it of items) {
      const p = it.current_pause || {};
      tbody.append(h("tr", { dataset: { runId: it.run.id } },
        h("td", {}, h("a", { href: `/ui/runs/${encodeURIComponent(it.run.id)}`, class: "mono" }, it.run.id)),
        h("td", {}, it.workflow.name),
        h("td", {}, h("code", {}, p.node_id || "")),
        h("td", {}, p.pause_message || ""),
        h("td", {}, fmtTime(p.pause_time))));
    }
  }, { interval: 2000 });
}
