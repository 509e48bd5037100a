"""Datasets and batches in the browser: upload the penguins CSV with progress, preview,
start a batch from the workflow page, watch it reach 100 %, download the output,
delete; and a batch parent of 10,000 tasks in total stays usable (docs/ui.md)."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path

import httpx
import orjson
from playwright.sync_api import expect
from tests._penguins import PENGUINS, csv_rows, penguins_csv
from tests.flows import links, node, wait_status
from tests.ui.conftest import Page


def test_upload_penguins_start_a_batch_and_download_its_output(
    page: Page, api: httpx.Client, new_workflow: Callable[..., str], shots: Path
) -> None:
    wf = new_workflow(PENGUINS, name="penguins")
    page.open("/ui/datasets")
    page.pw.locator("#upload-file").set_input_files(str(penguins_csv()))
    page.pw.locator("#upload-name").fill("penguins-ui")
    page.pw.get_by_role("button", name="Upload").click()
    expect(page.pw.locator("#upload-status")).to_have_text("Stored penguins-ui: 344 rows")
    expect(page.pw.locator("#upload-progress")).to_have_attribute("value", "100")
    row = page.pw.locator("#datasets tbody tr", has_text="penguins-ui")
    row.get_by_role("button", name="Preview").click()
    expect(page.pw.locator("#preview-title")).to_have_text("penguins-ui: first 10 of 344 rows")
    first = csv_rows()[0]
    expect(page.pw.locator("#preview-table tbody tr").first).to_contain_text(first["island"])

    page.open(f"/ui/workflows/{wf}")
    page.pw.locator("#batch-dataset").select_option(label="penguins-ui (344 rows)")
    page.pw.locator("#batch-size").fill("50")
    page.pw.get_by_role("button", name="Start batch").click()
    page.pw.wait_for_url(re.compile(r"/ui/runs/R\w+$"))
    run_id = page.pw.url.rsplit("/", 1)[1]
    page.pw.wait_for_selector("body[data-ready='1']", state="attached")
    bar = page.pw.locator("#batch .progress[role=progressbar]")
    expect(bar).to_have_attribute("aria-valuenow", "100", timeout=120_000)
    expect(page.pw.locator("#batch-progress-text")).to_contain_text("344 of 344 rows done")
    expect(page.pw.locator("#dag")).to_be_hidden()  # a batch parent shows rows, not a graph
    _shot_batch(page, shots)
    with page.pw.expect_download() as info:
        page.pw.locator("#batch-download").click()
    lines = Path(info.value.path()).read_bytes().splitlines()
    assert len(lines) == 344
    assert {orjson.loads(x)["status"] for x in lines} <= {"COMPLETED", "FAILED"}
    assert api.get(f"/run/{run_id}/").json()["status"] == "COMPLETED"

    # A dataset the finished batch read can be deleted from the list.
    page.open("/ui/datasets")
    page.pw.locator("#datasets tbody tr", has_text="penguins-ui").get_by_role(
        "button", name="Delete"
    ).click()
    expect(page.pw.locator("#datasets tbody tr", has_text="penguins-ui")).to_have_count(0)
    assert all(d["name"] != "penguins-ui" for d in api.get("/ds/?page_size=100").json())


def _shot_batch(page: Page, shots: Path) -> None:
    path = shots / "ui-batch.png"
    page.pw.evaluate("window.scrollTo(0, 0)")
    page.pw.screenshot(path=str(path))
    assert path.read_bytes()[:4] == b"\x89PNG"


def test_a_batch_parent_of_10000_tasks_opens_and_pages(
    page: Page, api: httpx.Client, new_workflow: Callable[..., str], tmp_path: Path
) -> None:
    # 1,000 rows x 10 tasks (an InputNode fanning out to nine nodes) = 10,000 tasks.
    nodes = [node("in", "InputNode", output_schema={"n": "int"})]
    nodes += [node(f"c{i}", "CoalesceNode") for i in range(8)]
    nodes.append(node("out", "OutputNode"))
    flow = {
        "nodes": nodes,
        "links": links(*[("in", f"c{i}") for i in range(8)], *[(f"c{i}", "out") for i in range(8)]),
    }
    wf = new_workflow(flow, name="wide")
    data = tmp_path / "rows.jsonl"
    data.write_text("".join(json.dumps({"n": i}) + "\n" for i in range(1000)))
    with data.open("rb") as f:
        ds = api.post("/ds/", files={"file": ("rows.jsonl", f)}).json()["id"]
    r = api.post(f"/wf/{wf}/start_batch_run/", json={"dataset_id": ds, "mini_batch_size": 200})
    run_id = r.json()["id"]
    wait_status(api, run_id, ("COMPLETED", "FAILED"), timeout=240)
    children = api.get(f"/run/{run_id}/children/", params={"page_size": 1}).headers
    assert children["x-total-count"] == "1000"
    one = api.get(f"/run/{run_id}/children/", params={"page_size": 1}).json()[0]
    assert len(one["tasks"]) == 10
    page.open(f"/ui/runs/{run_id}")
    expect(page.pw.locator("#batch-progress-text")).to_contain_text("1000 of 1000 rows done")
    expect(page.pw.locator("#batch-rows tbody tr")).to_have_count(100)
    expect(page.pw.locator("#rows-info")).to_have_text("page 1 of 10")
    page.pw.locator("#rows-next").click()
    expect(page.pw.locator("#rows-info")).to_have_text("page 2 of 10")
    expect(page.pw.locator("#batch-rows tbody tr").first).to_contain_text("100")
    # A row's run opens with its ten nodes drawn.
    page.pw.locator("#batch-rows tbody a").first.click()
    page.pw.wait_for_selector("body[data-ready='1']", state="attached")
    expect(page.pw.locator("#dag g.node")).to_have_count(10)
    expect(page.pw.locator("#run-facts")).to_contain_text(run_id)
