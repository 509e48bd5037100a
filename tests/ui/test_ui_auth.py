"""The UI against a server that requires sign-in (docs/security.md, docs/ui.md): the
sign-in form, a wrong token, actions through the session cookie with its CSRF token, a
viewer's refused action shown inline, who did what in the run's history, sign-out, and
no Content-Security-Policy violation on the way."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import expect
from tests.conftest import LiveServer, serving
from tests.flows import human, links, node, start, wait_status
from tests.ui.test_ui_runs import _paused, wait_until

from spurline.services.auth import Role

# Every CSP violation the page reports; the listener is added by the browser driver
# (not a page script), so the policy does not apply to it.
CSP_LISTENER = (
    "document.addEventListener('securitypolicyviolation', (e) => "
    "(window.__csp = window.__csp || []).push(e.violatedDirective + ' ' + e.blockedURI))"
)


@pytest.fixture(scope="module")
def secured(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[LiveServer, dict[str, str]]]:
    """A server with auth required and one token per role, named ``t-<role>``."""
    with serving(Path(tmp_path_factory.mktemp("ui-auth")), "sqlite", auth="required") as srv:
        auth = srv.runtime.auth
        yield srv, {r.value: auth.create_token(f"t-{r.value}", r)[1] for r in Role}


def _review() -> dict[str, Any]:
    return {
        "nodes": [
            node("in", "InputNode", output_schema={"text": "str"}),
            human("left", "Check the left branch"),
            human("right", "Check the right branch"),
        ],
        "links": links(("in", "left"), ("in", "right")),
    }


def test_sign_in_act_with_csrf_viewer_refused_and_sign_out(
    browser: Any, secured: tuple[LiveServer, dict[str, str]], tmp_path: Path
) -> None:
    srv, tokens = secured
    admin = httpx.Client(
        base_url=srv.url, timeout=60, headers={"Authorization": f"Bearer {tokens['admin']}"}
    )
    r = admin.post("/wf/", json={"name": "review", "description": "", "definition": _review()})
    assert r.status_code == 200, r.text
    wf_id = str(r.json()["id"])
    run_id = start(admin, str(r.json()["id"]), {"in": {"text": "t"}})
    wait_status(admin, run_id, ("PAUSED",))
    wait_until(lambda: _paused(admin, run_id) == {"left", "right"})

    context = browser.new_context(viewport={"width": 1280, "height": 900})
    context.set_default_timeout(20_000)
    context.add_init_script(CSP_LISTENER)
    pw = context.new_page()
    console: list[str] = []
    errors: list[str] = []
    pw.on("console", lambda m: console.append(f"{m.type}: {m.text}"))
    pw.on("pageerror", lambda e: errors.append(str(e)))
    pw.on("dialog", lambda d: d.accept())
    violations: list[str] = []

    def open_(path: str) -> None:
        pw.goto(srv.url + path)
        pw.wait_for_selector("body[data-ready='1']", state="attached")

    def sign_in(token: str) -> None:
        pw.locator("#token").fill(token)
        pw.get_by_role("button", name="Sign in").click()

    def collect() -> None:
        violations.extend(pw.evaluate("window.__csp || []"))

    try:
        open_("/ui/")
        expect(pw.locator("#sign-in")).to_be_visible()
        expect(pw.locator("#runs")).to_have_count(0)
        sign_in("not-a-token")
        expect(pw.locator("#sign-in .error")).to_contain_text("Not signed in (401)")
        collect()

        sign_in(tokens["operator"])
        expect(pw.locator(f"#runs tbody tr[data-run-id={run_id}]")).to_be_visible()
        expect(pw.locator("#who")).to_contain_text("t-operator (operator)")
        collect()

        # Approve through the cookie: the UI sends the session's CSRF token.
        open_(f"/ui/runs/{run_id}")
        pw.locator("#pause-left").get_by_role("button", name="Approve").click()
        expect(pw.locator("#pause-left")).to_have_count(0)
        # Cancel the run (still paused on the right branch).
        pw.locator("#cancel").click()
        expect(pw.locator("#run-status")).to_have_text("CANCELED")
        history = pw.locator("#history")
        expect(history).to_contain_text("started by t-admin")
        expect(history).to_contain_text("approve by t-operator")
        expect(history).to_contain_text("canceled by t-operator")
        run = admin.get(f"/run/{run_id}/").json()
        assert (run["started_by"], run["canceled_by"]) == ("t-admin", "t-operator")
        collect()

        # Retry a failed run: the history names who started it and who retried it.
        flag = tmp_path / "flag"
        code = f"import os\nassert os.path.exists({str(flag)!r}), 'no flag'\nreturn {{}}"
        flaky = {
            "nodes": [node("in", "InputNode"), node("flaky", "PythonFuncNode", code=code)],
            "links": links(("in", "flaky")),
        }
        wf = admin.post("/wf/", json={"name": "flaky", "description": "", "definition": flaky})
        failed = start(admin, str(wf.json()["id"]))
        wait_status(admin, failed, ("FAILED",))
        open_(f"/ui/runs/{failed}")
        flag.write_text("now it works")
        pw.locator("#retry").click()
        expect(pw.locator("#run-status")).to_have_text("COMPLETED")
        expect(pw.locator("#history")).to_contain_text("started by t-admin")
        expect(pw.locator("#history")).to_contain_text("retried by t-operator")
        collect()
        # An operator reruns (a new run through the session) but does not manage schedules.
        pw.locator("#rerun").click()
        pw.locator("#rerun-form").get_by_role("button", name="Start rerun").click()
        pw.wait_for_url(lambda url: not url.endswith(failed))
        pw.wait_for_selector("body[data-ready='1']", state="attached")
        expect(pw.locator("#run-facts .rerun-of")).to_have_text(failed)
        expect(pw.locator("#history")).to_contain_text("started by t-operator")
        open_(f"/ui/workflows/{wf_id}")
        expect(pw.locator("#schedules .new-schedule-wrap")).to_be_hidden()
        expect(pw.locator("#triggers")).to_be_hidden()
        collect()

        pw.locator("#sign-out").click()
        expect(pw.locator("#sign-in")).to_be_visible()
        collect()

        # A viewer sees the run but an action is refused, with the reason inline.
        second = start(admin, str(r.json()["id"]), {"in": {"text": "u"}})
        wait_until(lambda: _paused(admin, second) == {"left", "right"})
        sign_in(tokens["viewer"])
        expect(pw.locator("#who")).to_contain_text("t-viewer (viewer)")
        open_(f"/ui/runs/{second}")
        pw.locator("#pause-left").get_by_role("button", name="Approve").click()
        expect(pw.locator("#pause-left .error")).to_contain_text(re.compile("operator"))
        assert _paused(admin, second) == {"left", "right"}
        # Buttons of actions the role cannot take are not shown: no cancel, no rerun;
        # on the workflow's page its schedules but no schedule form, and no triggers.
        expect(pw.locator("#run-status")).to_have_text("PAUSED")
        expect(pw.locator("#run-actions button")).to_have_count(0)
        sched = {"workflow_id": wf_id, "name": "weekly", "cron_expression": "0 9 * * 1"}
        assert admin.post("/wf/schedules/", json=sched).status_code == 200
        open_(f"/ui/workflows/{wf_id}")
        expect(pw.locator("#schedules tr[data-schedule-id]")).to_contain_text("weekly")
        expect(pw.locator("#schedules tr[data-schedule-id] button")).to_have_count(0)
        expect(pw.locator("#schedules .new-schedule-wrap")).to_be_hidden()
        expect(pw.locator("#triggers")).to_be_hidden()
        expect(pw.locator("#start-form")).to_be_visible()
        assert admin.get(f"/run/{second}/").json()["status"] == "PAUSED"
        collect()

        pw.locator("#sign-out").click()
        expect(pw.locator("#sign-in")).to_be_visible()
        collect()
    finally:
        context.close()
        admin.close()
    assert errors == []
    assert violations == []
    assert [m for m in console if "Content Security Policy" in m] == []
