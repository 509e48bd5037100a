"""The UI in a real headless Chromium: start a run from the form and watch it finish,
pause decisions (approve, decline, override with valid and invalid JSON), cancel,
retry, the runs list, escaping of hostile values, and the 404 page (docs/ui.md)."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
from playwright.sync_api import expect
from tests.conftest import REPO
from tests.flows import human, links, node, sleeper_flow, start, tasks_by_node, wait_status
from tests.ui.conftest import Page


def _gated_greeting(flag: Path) -> dict[str, Any]:
    # The node runs until the test creates ``flag``, so the page is seen RUNNING first.
    code = (
        f"import os, time\nwhile not os.path.exists({str(flag)!r}):\n    time.sleep(0.02)\n"
        "return {'greeting': 'hi ' + input_model.In.name * input_model.In.times}"
    )
    return {
        "nodes": [
            node("in", "InputNode", output_schema={"name": "str", "times": "int", "loud": "bool"}),
            node("greet", "PythonFuncNode", code=code),
            node("out", "OutputNode", output_map={"greeting": "Greet.greeting"}),
        ],
        "links": links(("in", "greet"), ("greet", "out")),
    }


def test_start_a_run_from_the_form_and_watch_it_complete(
    page: Page, api: httpx.Client, new_workflow: Callable[..., str], tmp_path: Path
) -> None:
    flag = tmp_path / "go"
    wf = new_workflow(_gated_greeting(flag), name="form run")
    page.open(f"/ui/workflows/{wf}")
    form = page.pw.locator("#start-form")
    # The form is generated from the InputNode's output_schema: one control per field.
    expect(form.locator("input[name=name][data-type=str]")).to_be_visible()
    expect(form.locator("input[name=times][type=number]")).to_be_visible()
    expect(form.locator("input[name=loud][type=checkbox]")).to_be_visible()
    form.locator("input[name=name]").fill("ab")
    form.locator("input[name=times]").fill("2")
    form.get_by_role("button", name="Start run").click()
    page.pw.wait_for_url(re.compile(r"/ui/runs/R\w+$"))
    run_id = page.pw.url.rsplit("/", 1)[1]
    navigations: list[str] = []
    page.pw.on("framenavigated", lambda f: navigations.append(f.url))
    page.pw.wait_for_selector("body[data-ready='1']", state="attached")
    # Seen RUNNING while the node waits, then COMPLETED, all without a reload.
    expect(page.pw.locator("#dag [data-node=greet]")).to_have_attribute("data-state", "RUNNING")
    expect(page.pw.locator("#run-status")).to_have_text("RUNNING")
    flag.write_text("go")
    expect(page.pw.locator("#run-status")).to_have_text("COMPLETED", timeout=30_000)
    expect(page.pw.locator("#dag [data-node=greet]")).to_have_attribute("data-state", "COMPLETED")
    assert navigations == []
    page.pw.locator("#dag [data-node=greet]").click()
    expect(page.pw.locator("#task-panel .outputs")).to_contain_text('"hi abab"')
    run = api.get(f"/run/{run_id}/").json()
    assert run["initial_inputs"] == {"in": {"name": "ab", "times": 2, "loud": False}}
    assert run["outputs"]["out"] == {"greeting": "hi abab"}


def _two_reviews() -> dict[str, Any]:
    return {
        "nodes": [
            node("in", "InputNode", output_schema={"text": "str"}),
            human("left", "Check the left branch"),
            human("right", "Check the right branch"),
            node("after_left", "PythonFuncNode", code="return {'ok': True}"),
            node("after_right", "PythonFuncNode", code="return {'ok': True}"),
        ],
        "links": links(
            ("in", "left"), ("in", "right"), ("left", "after_left"), ("right", "after_right")
        ),
    }


def test_approve_one_paused_node_and_decline_another(
    page: Page, api: httpx.Client, new_workflow: Callable[..., str], shots: Path
) -> None:
    run_id = start(api, new_workflow(_two_reviews(), name="two reviews"), {"in": {"text": "t"}})
    wait_status(api, run_id, ("PAUSED",))
    wait_until(lambda: _paused(api, run_id) == {"left", "right"})
    page.open(f"/ui/runs/{run_id}")
    expect(page.pw.locator("#dag [data-node=left]")).to_have_attribute("data-state", "PAUSED")
    expect(page.pw.locator("#dag [data-node=after_left]")).to_have_attribute(
        "data-state", "WAITING"
    )
    expect(page.pw.locator("#pause-left")).to_be_visible()
    _shot(page, shots / "ui-run-paused.png")
    # The inbox lists the run.
    inbox = page.pw.context.new_page()
    inbox.goto(f"{page.base}/ui/approvals")
    expect(inbox.locator(f"#inbox tr[data-run-id={run_id}]").first).to_be_visible()
    inbox.close()

    left = page.pw.locator("#pause-left")
    left.locator("input[name=comments]").fill("fine")
    left.get_by_role("button", name="Approve").click()
    expect(page.pw.locator("#pause-left")).to_have_count(0)
    right = page.pw.locator("#pause-right")
    right.get_by_role("button", name="Decline").click()
    expect(page.pw.locator("#run-status")).to_have_text(re.compile("FAILED|CANCELED|COMPLETED"))
    expect(page.pw.locator("#history")).to_contain_text("approve by")
    expect(page.pw.locator("#history")).to_contain_text("decline by")
    history = {p["node_id"]: p for p in api.get(f"/wf/pause_history/{run_id}/").json()}
    assert history["left"]["resume_action"] == "APPROVE"
    assert history["left"]["comments"] == "fine"
    assert history["right"]["resume_action"] == "DECLINE"
    tasks = tasks_by_node(api.get(f"/run/{run_id}/").json())
    assert tasks["after_left"]["status"] == "COMPLETED"
    assert tasks["after_right"]["status"] != "COMPLETED"


def _paused(api: httpx.Client, run_id: str) -> set[str]:
    run = api.get(f"/run/{run_id}/").json()
    return {t["node_id"] for t in run["tasks"] if t["status"] == "PAUSED"}


def wait_until(check: Callable[[], bool], timeout: float = 30) -> None:
    """Poll ``check`` until it is true (AssertionError after ``timeout`` s)."""
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.02)


def _shot(page: Page, path: Path) -> None:
    page.pw.screenshot(path=str(path), full_page=False)
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_override_with_invalid_then_edited_json(
    page: Page, api: httpx.Client, new_workflow: Callable[..., str]
) -> None:
    flow = {
        "nodes": [
            node("in", "InputNode", output_schema={"text": "str"}),
            human("review", "Fix the text"),
            node("out", "OutputNode", output_map={"final": "Review.text"}),
        ],
        "links": links(("in", "review"), ("review", "out")),
    }
    run_id = start(api, new_workflow(flow, name="override"), {"in": {"text": "draft"}})
    wait_status(api, run_id, ("PAUSED",))
    sent: list[str] = []
    page.pw.on("request", lambda r: sent.append(r.url) if "process_pause_action" in r.url else None)
    page.open(f"/ui/runs/{run_id}")
    form = page.pw.locator("#pause-review")
    form.get_by_role("button", name="Override…").click()
    box = form.locator("textarea[name=inputs]")
    expect(box).to_be_visible()
    box.fill('{"text": "final", ')
    form.get_by_role("button", name="Override…").click()
    expect(form.locator(".error")).to_contain_text("Not valid JSON")
    expect(box).to_have_attribute("aria-invalid", "true")
    box.fill("[1, 2]")
    form.get_by_role("button", name="Override…").click()
    expect(form.locator(".error")).to_contain_text("must be a JSON object")
    assert sent == []
    assert api.get(f"/run/{run_id}/").json()["status"] == "PAUSED"

    box.fill('{"text": "edited by a person"}')
    form.get_by_role("button", name="Override…").click()
    expect(page.pw.locator("#run-status")).to_have_text("COMPLETED")
    assert len(sent) == 1
    assert api.get(f"/run/{run_id}/").json()["outputs"]["out"] == {"final": "edited by a person"}


def test_cancel_a_running_run(
    page: Page, api: httpx.Client, new_workflow: Callable[..., str], tmp_path: Path
) -> None:
    run_id = start(api, new_workflow(sleeper_flow(tmp_path / "pid"), name="sleeper"))
    wait_status(api, run_id, ("RUNNING",))
    page.open(f"/ui/runs/{run_id}")
    expect(page.pw.locator("#dag [data-node=nap]")).to_have_attribute("data-state", "RUNNING")
    page.pw.locator("#cancel").click()
    expect(page.pw.locator("#run-status")).to_have_text("CANCELED")
    assert ("confirm", "Cancel this run and its child runs?") in page.dialogs
    assert api.get(f"/run/{run_id}/").json()["status"] == "CANCELED"
    expect(page.pw.locator("#cancel")).to_have_count(0)


def test_retry_a_failed_run(
    page: Page, api: httpx.Client, new_workflow: Callable[..., str], tmp_path: Path
) -> None:
    flag = tmp_path / "flag"
    code = (
        f"import os\nif not os.path.exists({str(flag)!r}):\n"
        "    raise RuntimeError('flag missing')\nreturn {'ok': True}"
    )
    flow = {
        "nodes": [node("in", "InputNode"), node("flaky", "PythonFuncNode", code=code)],
        "links": links(("in", "flaky")),
    }
    run_id = start(api, new_workflow(flow, name="flaky"))
    wait_status(api, run_id, ("FAILED",))
    page.open(f"/ui/runs/{run_id}")
    expect(page.pw.locator("#run-status")).to_have_text("FAILED")
    page.pw.locator("#dag [data-node=flaky]").press("Enter")  # keyboard opens the task
    expect(page.pw.locator("#task-panel .error-text").first).to_contain_text("flag missing")
    flag.write_text("now it works")
    page.pw.locator("#retry").click()
    expect(page.pw.locator("#run-status")).to_have_text("COMPLETED")
    expect(page.pw.locator("#dag [data-node=flaky]")).to_have_attribute("data-state", "COMPLETED")


def test_runs_list_is_live_filters_and_counts(
    page: Page, api: httpx.Client, new_workflow: Callable[..., str], shots: Path
) -> None:
    flow = {
        "nodes": [node("in", "InputNode", output_schema={"n": "int"}), node("out", "OutputNode")],
        "links": links(("in", "out")),
    }
    wf = new_workflow(flow, name="listed")
    first = start(api, wf, {"in": {"n": 1}})
    wait_status(api, first, ("COMPLETED",))
    page.open(f"/ui/?workflow_id={wf}")
    rows = page.pw.locator("#runs tbody tr[data-run-id]")
    expect(rows).to_have_count(1)
    expect(page.pw.locator("label.st-COMPLETED .count")).to_have_text("1")
    second = start(api, wf, {"in": {"n": 2}})
    # The new run appears without a reload, newest first.
    expect(rows).to_have_count(2)
    expect(rows.first).to_have_attribute("data-run-id", second)
    page.pw.locator("#status-boxes input[value=FAILED]").check()
    expect(rows).to_have_count(0)
    page.pw.locator("#status-boxes input[value=FAILED]").uncheck()
    expect(rows).to_have_count(2)
    page.pw.set_viewport_size({"width": 1280, "height": 720})
    page.open("/ui/")
    expect(page.pw.locator("#runs tbody tr[data-run-id]").first).to_be_visible()
    _shot(page, shots / "ui-runs.png")


def test_hostile_values_are_shown_as_text(
    page: Page, api: httpx.Client, new_workflow: Callable[..., str]
) -> None:
    evil_name = '<img src=x onerror="alert(2)"><b>bold</b>'
    script = "<script>alert(1)</script>"
    flow = {
        "nodes": [
            node("in", "InputNode"),
            node("evil", "PythonFuncNode", code=f"return {{'html': {script!r}}}"),
        ],
        "links": links(("in", "evil")),
    }
    wf = new_workflow(flow, name=evil_name)
    run_id = start(api, wf)
    wait_status(api, run_id, ("COMPLETED",))
    page.open(f"/ui/?workflow_id={wf}")
    expect(page.pw.locator("#runs tbody")).to_contain_text(evil_name)
    page.open(f"/ui/runs/{run_id}")
    expect(page.pw.locator("#run-facts")).to_contain_text(evil_name)
    page.pw.locator("#dag [data-node=evil]").click()
    expect(page.pw.locator("#task-panel .outputs")).to_contain_text(script)
    page.open(f"/ui/workflows/{wf}")
    expect(page.pw.locator("#wf-name")).to_have_text(evil_name)
    # Nothing was parsed as markup: no injected element, no alert.
    assert page.pw.locator("main img, main b, main script").count() == 0
    page.pw.wait_for_timeout(200)
    assert [d for d in page.dialogs if d[0] == "alert"] == []


def test_unknown_run_is_a_404_page(page: Page) -> None:
    response = page.open("/ui/runs/R_does_not_exist")
    assert response.status == 404
    expect(page.pw.locator("h1")).to_have_text("Run not found")
    expect(page.pw.locator("#missing-id")).to_have_text("R_does_not_exist")


def test_root_redirects_and_docs_work_offline(page: Page) -> None:
    # Any request leaving the machine is aborted; the pages must not even try.
    page.pw.route(re.compile(r"^https?://(?!127\.0\.0\.1)"), lambda route: route.abort())
    outside: list[str] = []
    page.pw.on("request", lambda r: outside.append(r.url) if "127.0.0.1" not in r.url else None)
    page.pw.goto(page.base + "/")
    assert page.pw.url == page.base + "/ui/"
    page.pw.goto(page.base + "/docs")
    expect(page.pw.locator(".swagger-ui .info .title")).to_contain_text("Spurline")
    expect(page.pw.locator(".swagger-ui .opblock-tag").first).to_be_visible()
    page.pw.goto(page.base + "/redoc")
    expect(page.pw.locator("#redoc h1").first).to_contain_text("Spurline")
    # the footer's logo is drawn (from the bundle served here, not ReDoc's CDN)
    expect(page.pw.locator("img[alt='redocly logo']")).to_have_count(1)
    assert [u for u in outside if not u.startswith("data:")] == []


def test_version_diff_and_child_run_from_its_node(
    page: Page, api: httpx.Client, new_workflow: Callable[..., str]
) -> None:
    child = new_workflow(
        {
            "nodes": [
                node("in", "InputNode", output_schema={"n": "int"}),
                node("out", "OutputNode", output_map={"n": "In.n"}),
            ],
            "links": links(("in", "out")),
        },
        name="child",
    )
    flow = {
        "nodes": [
            node("in", "InputNode", output_schema={"n": "int"}),
            node("sub", "SubworkflowNode", workflow_id=child, input_map={"n": "In.n"}),
        ],
        "links": links(("in", "sub")),
    }
    wf = new_workflow(flow, name="nested")
    flow2 = {**flow, "nodes": [*flow["nodes"], node("extra", "OutputNode")]}
    flow2["links"] = [*flow["links"], *links(("sub", "extra"))]
    r = api.put(f"/wf/{wf}/", json={"name": "nested", "description": "", "definition": flow2})
    assert r.status_code == 200, r.text
    page.open(f"/ui/workflows/{wf}")
    expect(page.pw.locator("#versions tbody tr")).to_have_count(2)
    page.pw.get_by_role("button", name="Show diff").click()
    expect(page.pw.locator("#diff")).to_contain_text("changed lines")
    inserted = page.pw.locator("#diff tr.d-insert td.r, #diff tr.d-replace td.r")
    expect(inserted.filter(has_text='"extra"').first).to_be_visible()

    run_id = start(api, wf, {"in": {"n": 5}})
    wait_status(api, run_id, ("COMPLETED",))
    page.open(f"/ui/runs/{run_id}")
    page.pw.locator("#dag [data-node=sub]").focus()
    page.pw.keyboard.press("Enter")
    links_to_child = page.pw.locator("#task-panel .children a")
    expect(links_to_child).to_have_count(1)
    links_to_child.click()
    page.pw.wait_for_selector("body[data-ready='1']", state="attached")
    expect(page.pw.locator("#run-facts")).to_contain_text(run_id)  # the Parent link
    expect(page.pw.locator("#run-facts")).to_contain_text("child")


def test_a_node_canceled_by_a_failure_upstream_is_not_shown_as_skipped(
    page: Page, api: httpx.Client, new_workflow: Callable[..., str]
) -> None:
    flow = {
        "nodes": [
            node("in", "InputNode"),
            node("div", "PythonFuncNode", code="return {'x': 1 / 0}"),
            node("after", "PythonFuncNode", code="return {'y': 1}"),
        ],
        "links": links(("in", "div"), ("div", "after")),
    }
    run_id = start(api, new_workflow(flow, name="upstream failure"))
    wait_status(api, run_id, ("FAILED",))
    assert tasks_by_node(api.get(f"/run/{run_id}/").json())["after"]["status"] == "CANCELED"
    page.open(f"/ui/runs/{run_id}")
    expect(page.pw.locator("#dag [data-node=div]")).to_have_attribute("data-state", "FAILED")
    after = page.pw.locator("#dag [data-node=after]")
    expect(after).to_have_attribute("data-state", "CANCELED")
    after.press("Enter")
    expect(page.pw.locator("#task-panel")).to_contain_text("Canceled: a node upstream failed.")
    expect(page.pw.locator("#task-panel")).not_to_contain_text("a router did not take")


def test_the_start_form_refuses_a_fraction_in_an_int_field(
    page: Page, api: httpx.Client, new_workflow: Callable[..., str], tmp_path: Path
) -> None:
    wf = new_workflow(_gated_greeting(tmp_path / "never"), name="int field")
    before = api.get(f"/wf/{wf}/runs/").headers["x-total-count"]
    page.open(f"/ui/workflows/{wf}")
    form = page.pw.locator("#start-form")
    form.locator("input[name=name]").fill("ab")
    form.locator("input[name=times]").fill("2.5")
    form.get_by_role("button", name="Start run").click()
    expect(page.pw.locator("#start-error")).to_have_text(
        "times: a whole number is expected, not 2.5"
    )
    assert api.get(f"/wf/{wf}/runs/").headers["x-total-count"] == before


def test_every_node_and_edge_of_the_graph_is_inside_its_view(
    page: Page, api: httpx.Client, new_workflow: Callable[..., str]
) -> None:
    # dagre routes penguins' Metric -> Summary edge above the first rank, outside the
    # box it reports; the view must still hold it (fresh-user trial)
    definition = json.loads((REPO / "examples" / "penguins.json").read_text())
    wf = new_workflow(definition.get("definition", definition), name="penguins graph")
    run_id = start(api, wf, {"penguin": {"species": "Gentoo"}})
    wait_status(api, run_id, ("COMPLETED", "FAILED"))
    page.open(f"/ui/runs/{run_id}")
    expect(page.pw.locator("#dag .edges path").first).to_be_attached()
    outside = page.pw.evaluate(
        """() => {
        const svg = document.querySelector('#dag svg');
        const [x, y, w, h] = svg.getAttribute('viewBox').split(' ').map(Number);
        const out = [];
        for (const el of svg.querySelectorAll('.edges path, g.node')) {
          const b = el.getBBox();
          const m = el.transform && el.transform.baseVal.consolidate();
          const dx = m ? m.matrix.e : 0, dy = m ? m.matrix.f : 0;
          if (b.x + dx < x || b.y + dy < y || b.x + dx + b.width > x + w
              || b.y + dy + b.height > y + h) out.push(el.getAttribute('d') || el.dataset.node);
        }
        return out;
    }"""
    )
    assert page.pw.locator("#dag .edges path").count() >= 5
    assert outside == []


def test_the_task_panel_names_the_node_as_the_graph_does(
    page: Page, api: httpx.Client, new_workflow: Callable[..., str]
) -> None:
    flow = {
        "nodes": [node("in", "InputNode"), node("f", "PythonFuncNode", code="return {'x': 1}")],
        "links": links(("in", "f")),
    }
    flow["nodes"][1]["title"] = "Fetch"
    run_id = start(api, new_workflow(flow, name="titled"), {"in": {"a": 1}})
    wait_status(api, run_id, ("COMPLETED",))
    page.open(f"/ui/runs/{run_id}")
    page.pw.locator("#dag [data-node=f]").press("Enter")
    panel = page.pw.locator("#task-panel")
    expect(panel.locator("h2")).to_have_text("Task Fetch f")
    # times say their zone; a collapsed object says what the count is of
    expect(panel.locator("dd").nth(2)).to_have_text(
        re.compile(r"\d\d:\d\d:\d\d.* [A-Z]{2,5}[+-]?\d*$")
    )
    expect(panel.locator(".json summary .t").first).to_have_text("{1 key}")
