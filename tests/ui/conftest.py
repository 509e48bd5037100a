"""Browser fixtures: one headless Debian Chromium per session driven by Playwright, one
live server (SQLite store) shared by the UI tests, and a fresh page per test.

Chromium is never downloaded: the tests use the system's ``chromium`` (Debian's
package; ``.ci/run`` installs it) or ``SPURLINE_TEST_CHROMIUM``. Without one they
are skipped with the reason shown, and ``make test`` says so loudly.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import expect
from tests.conftest import LiveServer, make_settings

CHROMIUM = os.environ.get("SPURLINE_TEST_CHROMIUM") or shutil.which("chromium") or ""
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
REPO = Path(__file__).resolve().parents[2]
# The machine is shared and often loaded: give assertions on the page time to come true
# (they return as soon as they hold).
expect.set_options(timeout=20_000)


# Module scope, not session: Playwright's sync API keeps an event loop running in the
# main thread while it lives, and later tests that call asyncio.run() would find it.
@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """A headless Chromium per test module (skips every browser test when there is none)."""
    if not CHROMIUM or not Path(CHROMIUM).exists():
        pytest.skip("no Chromium found: apt-get install chromium (or set SPURLINE_TEST_CHROMIUM)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.fixture(scope="session")
def ui_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """One live server for the UI tests (each test makes its own workflows)."""
    settings, cleanup = make_settings(tmp_path_factory.mktemp("ui-store"))
    try:
        with LiveServer(settings) as srv:
            yield srv
    finally:
        cleanup()


@pytest.fixture
def api(ui_server: LiveServer) -> Iterator[httpx.Client]:
    """An HTTP client for the shared server."""
    with httpx.Client(base_url=ui_server.url, timeout=60) as c:
        yield c


@pytest.fixture
def new_workflow(api: httpx.Client) -> Callable[..., str]:
    """Factory: create a workflow on the shared server; returns its id."""

    def make(definition: dict[str, Any], name: str = "ui test") -> str:
        r = api.post("/wf/", json={"name": name, "description": "", "definition": definition})
        assert r.status_code == 200, r.text
        return str(r.json()["id"])

    return make


class Page:
    """A Playwright page on the shared server plus what the test must check: every
    alert/confirm the page raised (confirms are accepted) and uncaught errors."""

    def __init__(self, page: Any, base: str) -> None:
        self.pw = page
        self.base = base
        self.dialogs: list[tuple[str, str]] = []
        self.errors: list[str] = []
        page.on("dialog", self._dialog)
        page.on("pageerror", lambda e: self.errors.append(str(e)))

    def _dialog(self, dialog: Any) -> None:
        self.dialogs.append((dialog.type, dialog.message))
        dialog.accept()

    def open(self, path: str) -> Any:
        """Go to ``path`` and wait until the page's module has rendered."""
        response = self.pw.goto(self.base + path)
        self.pw.wait_for_selector("body[data-ready='1']", state="attached")
        return response


@pytest.fixture
def page(browser: Any, ui_server: LiveServer) -> Iterator[Page]:
    """A fresh browser context and page at 1280 x 900; fails the test on a page error
    or an alert the test did not expect."""
    context = browser.new_context(viewport={"width": 1280, "height": 900}, accept_downloads=True)
    context.set_default_timeout(20_000)
    p = Page(context.new_page(), ui_server.url)
    try:
        yield p
        assert p.errors == []
        assert [d for d in p.dialogs if d[0] == "alert"] == []
    finally:
        context.close()


@pytest.fixture
def shots(tmp_path: Path) -> Path:
    """Where screenshots go: docs/ when SPURLINE_UI_SCREENSHOTS=1 (make screenshots),
    else the test's temporary folder (taken and checked all the same)."""
    return REPO / "docs" if os.environ.get("SPURLINE_UI_SCREENSHOTS") == "1" else tmp_path
