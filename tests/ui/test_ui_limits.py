"""Limits in the browser: an upload over the server's body limit shows progress and
then a clear error with nothing stored; pages stay readable at a phone's width."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import expect
from tests.conftest import LiveServer, make_settings
from tests.flows import links, node
from tests.ui.conftest import Page


@pytest.fixture
def small_limit_server(tmp_path: Path) -> Iterator[LiveServer]:
    """A server whose request body limit is 1 MiB (the default is 10 MiB)."""
    settings, cleanup = make_settings(tmp_path / "store", max_body_bytes=1024 * 1024)
    try:
        with LiveServer(settings) as srv:
            yield srv
    finally:
        cleanup()


def test_an_upload_over_the_limit_is_refused_clearly(
    browser: Any, small_limit_server: LiveServer, tmp_path: Path
) -> None:
    big = tmp_path / "big.csv"
    with big.open("w") as f:
        f.write("n,text\n")
        for i in range(120_000):
            f.write(f"{i},row number {i}\n")
    assert big.stat().st_size > 2 * 1024 * 1024
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    try:
        page = Page(context.new_page(), small_limit_server.url)
        page.open("/ui/datasets")
        page.pw.locator("#upload-file").set_input_files(str(big))
        page.pw.get_by_role("button", name="Upload").click()
        error = page.pw.locator("#upload-error")
        expect(error).to_be_visible()
        expect(error).to_contain_text("413")
        expect(error).to_contain_text("larger than the limit of 1048576 bytes")
        expect(page.pw.locator("#upload-progress")).to_be_visible()
        assert page.errors == []
    finally:
        context.close()
    with httpx.Client(base_url=small_limit_server.url) as c:
        assert c.get("/ds/").json() == []
    # Nothing half-stored: no dataset file either.
    stored = [p for p in small_limit_server.settings.home.rglob("*") if p.suffix == ".jsonl"]
    assert stored == []


@pytest.mark.parametrize("path", ["/ui/", "/ui/datasets", "/ui/workflows", "/ui/approvals"])
def test_pages_fit_a_phone(page: Page, path: str) -> None:
    page.pw.set_viewport_size({"width": 390, "height": 844})
    page.open(path)
    # Nothing but the tables' own scrolling boxes is wider than the screen.
    width = page.pw.evaluate("document.documentElement.scrollWidth")
    wide = page.pw.evaluate(
        """() => [...document.querySelectorAll('body *')]
            .filter(e => e.getBoundingClientRect().right > 390)
            .filter(e => !e.closest('.table-wrap'))
            .slice(0, 5).map(e => e.outerHTML.slice(0, 120))"""
    )
    assert width <= 390, wide


def test_a_run_of_1000_tasks_stays_usable(
    page: Page, api: httpx.Client, new_workflow: Callable[..., str]
) -> None:
    # Input -> 10 parallel chains of 100 or 99 StaticValueNodes -> Output: 1,000 tasks.
    nodes = [node("in", "InputNode")]
    pairs = []
    for c in range(10):
        prev = "in"
        for i in range(100 if c < 8 else 99):
            nid = f"s{c}_{i}"
            nodes.append(node(nid, "StaticValueNode", values={"v": i}))
            pairs.append((prev, nid))
            prev = nid
        pairs.append((prev, "out"))
    nodes.append(node("out", "OutputNode"))
    wf = new_workflow({"nodes": nodes, "links": links(*pairs)}, name="thousand")
    r = api.post(f"/wf/{wf}/run/", json={"initial_inputs": {}}, timeout=300)
    assert r.status_code == 200, r.text
    run = api.get("/run/", params={"workflow_id": wf}).json()[0]
    assert len(run["tasks"]) == 1000
    page.open(f"/ui/runs/{run['id']}")
    expect(page.pw.locator("#run-status")).to_have_text("COMPLETED")
    expect(page.pw.locator("#gantt .g-row[data-node]")).to_have_count(1000)
    # Usable while the graph is laid out: a task opens from the timeline.
    page.pw.locator("#gantt .g-row[data-node=s9_98] button").click()
    expect(page.pw.locator("#task-panel h2")).to_contain_text("s9_98")
    expect(page.pw.locator("#task-panel .outputs")).to_contain_text("v: 98")
    expect(page.pw.locator("#dag g.node[data-state=COMPLETED]")).to_have_count(
        1000, timeout=120_000
    )
