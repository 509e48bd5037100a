"""Operations in the UI, in a real headless Chromium (docs/ui.md): a workflow's
schedules (create, with the API's 422 problems next to their field and nothing
created; enable/disable; delete) and the overview page; scheduled runs naming their
schedule; the runs list filtered by tag, metadata, time range and schedule, kept in
the URL; reruns with lineage both ways, edited inputs, the latest version, retry from
a node and retry of a CANCELED run; webhook triggers whose secret is shown once, and
the notification webhooks of a workflow."""

from __future__ import annotations

import base64
import re
import time
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from playwright.sync_api import expect
from tests.flows import human, links, node, start, wait_status
from tests.ui.conftest import Page
from tests.ui.test_ui_runs import _shot


def _greeter() -> dict[str, Any]:
    return {
        "nodes": [
            node("in", "InputNode", output_schema={"name": "str"}),
            node(
                "greet", "PythonFuncNode", code="return {'greeting': 'hi ' + input_model.In.name}"
            ),
        ],
        "links": links(("in", "greet")),
    }


def _schedules(api: httpx.Client, wf: str) -> list[dict[str, Any]]:
    r = api.get("/wf/schedules/", params={"workflow_id": wf, "page_size": 100})
    assert r.status_code == 200, r.text
    return list(r.json()["schedules"])


def _create(page: Page) -> None:
    page.pw.locator("#schedule-form").get_by_role("button", name="Create schedule").click()


def test_schedules_inline_problems_create_toggle_and_delete(
    page: Page, api: httpx.Client, new_workflow: Callable[..., str], shots: Path
) -> None:
    wf = new_workflow(_greeter(), name="morning report")
    page.open(f"/ui/workflows/{wf}")
    section = page.pw.locator("#schedules")
    expect(section).to_contain_text("No schedules yet.")
    section.locator("summary", has_text="New schedule").click()
    form = page.pw.locator("#schedule-form")

    # The API's 422 names the cron expression and the time zone: each problem is shown
    # under its own field, and nothing is created.
    form.locator("#sched-name").fill("nightly")
    form.locator("#sched-cron").fill("61 * * * *")
    form.locator("#sched-tz").fill("Mars/Olympus")
    _create(page)
    expect(form.locator("#sched-cron-problem")).to_contain_text("'61 * * * *' is not valid")
    expect(form.locator("#sched-tz-problem")).to_contain_text("not a known IANA time zone")
    expect(form.locator("#sched-cron")).to_have_attribute("aria-invalid", "true")
    expect(form.locator("#sched-name-problem")).to_be_hidden()
    assert _schedules(api, wf) == []
    page.pw.evaluate(
        "window.scrollBy(0, document.getElementById('schedule-form').getBoundingClientRect().top)"
    )
    _shot(page, shots / "ui-schedule-problems.png")

    # An interval below a second, and a metadata line that is no pair (checked before
    # anything is sent).
    form.get_by_label("every interval").check()
    form.locator("#sched-interval").fill("0")
    form.locator("#sched-tz").fill("UTC")
    _create(page)
    expect(form.locator("#sched-interval-problem")).to_contain_text("greater than or equal to 1")
    expect(form.locator("#sched-tz-problem")).to_be_hidden()
    form.locator("#sched-interval").fill("3600")
    form.locator("#sched-metadata").fill("no pair here")
    _create(page)
    expect(form.locator("#sched-metadata-problem")).to_contain_text("is not key=value")
    assert _schedules(api, wf) == []

    form.get_by_label("on a cron expression").check()
    form.locator("#sched-cron").fill("30 9 * * 1-5")
    form.locator("#sched-tz").fill("Europe/Berlin")
    form.locator("#sched-misfire").select_option("run_once")
    form.locator("#sched-in-name").fill("Ada")
    form.locator("#sched-tags").fill("daily, eu")
    form.locator("#sched-metadata").fill("team=data\nowner = ops")
    _create(page)
    row = section.locator("tr[data-schedule-id]")
    expect(row).to_have_count(1)
    for text in ("nightly", "30 9 * * 1-5", "Europe/Berlin", "enabled", "run_once", '"Ada"'):
        expect(row).to_contain_text(text)
    expect(row.locator(".chip")).to_have_text(["daily", "eu", "team=data", "owner=ops"])
    (made,) = _schedules(api, wf)
    assert made["initial_inputs"] == {"in": {"name": "Ada"}}
    assert (made["cron_expression"], made["timezone"]) == ("30 9 * * 1-5", "Europe/Berlin")
    assert (made["misfire_policy"], made["enabled"]) == ("run_once", True)
    assert (made["tags"], made["metadata"]) == (["daily", "eu"], {"team": "data", "owner": "ops"})
    assert made["next_run_at"]
    expect(form.locator(".problem:visible")).to_have_count(0)
    section.locator("h2").scroll_into_view_if_needed()
    page.pw.evaluate(
        "window.scrollBy(0, document.getElementById('schedules').getBoundingClientRect().top)"
    )
    _shot(page, shots / "ui-schedules.png")

    # Disable and enable through the toggle route.
    row.get_by_role("button", name="Disable schedule nightly").click()
    expect(row).to_have_attribute("data-enabled", "false")
    expect(row.locator(".next")).to_have_text("\N{EN DASH}")
    assert _schedules(api, wf)[0]["enabled"] is False
    row.get_by_role("button", name="Enable schedule nightly").click()
    expect(row).to_have_attribute("data-enabled", "true")
    assert _schedules(api, wf)[0]["enabled"] is True

    # The overview page lists it with its workflow, and deletes it.
    page.open("/ui/schedules")
    expect(page.pw.locator("nav [data-nav=schedules]")).to_have_attribute("aria-current", "page")
    listed = page.pw.locator(f"#schedule-{made['id']}")
    expect(listed.get_by_role("link", name="morning report")).to_be_visible()
    listed.get_by_role("button", name="Delete schedule nightly").click()
    expect(listed).to_have_count(0)
    assert ("confirm", "Delete schedule nightly? The runs it started stay.") in page.dialogs
    assert api.get(f"/wf/schedules/{made['id']}/").status_code == 404


def _wait_for(check: Callable[[], Any], timeout: float = 60) -> Any:
    deadline = time.monotonic() + timeout
    while not (found := check()):
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)
    return found


def test_a_scheduled_run_names_its_schedule_and_the_list_filters_by_it(
    page: Page, api: httpx.Client, new_workflow: Callable[..., str]
) -> None:
    wf = new_workflow(_greeter(), name="every second")
    body = {
        "workflow_id": wf,
        "name": "ticker",
        "interval_seconds": 1,
        "initial_inputs": {"in": {"name": "clock"}},
        "tags": ["tick"],
    }
    r = api.post("/wf/schedules/", json=body)
    assert r.status_code == 200, r.text
    sched = r.json()["id"]
    runs = _wait_for(lambda: api.get("/run/", params={"schedule_id": sched}).json())
    # Stop it before it crowds the shared server.
    assert api.post(f"/wf/schedules/{sched}/toggle/").json()["enabled"] is False
    run_id = runs[-1]["id"]

    page.open(f"/ui/runs/{run_id}")
    facts = page.pw.locator("#run-facts")
    expect(facts).to_contain_text("scheduled")
    link = page.pw.locator("#run-schedule")
    expect(link).to_have_text("ticker")
    expect(facts.locator(".chip")).to_have_text(["tick"])
    link.click()
    page.pw.wait_for_selector("body[data-ready='1']", state="attached")
    assert page.pw.url.endswith(f"/ui/workflows/{wf}#schedule-{sched}")
    expect(page.pw.locator(f"#schedule-{sched}")).to_be_in_viewport()

    # The runs list by schedule: from the schedule's "runs" link, kept in the URL.
    page.pw.locator(f"#schedule-{sched}").get_by_role("link", name="runs").click()
    page.pw.wait_for_selector("body[data-ready='1']", state="attached")
    rows = page.pw.locator("#runs tbody tr[data-run-id]")
    all_runs = api.get("/run/", params={"schedule_id": sched, "page_size": 100}).json()
    expect(rows).to_have_count(len(all_runs))
    expect(rows.first.locator(".type")).to_contain_text("scheduled")
    expect(page.pw.locator("#f-schedule")).to_have_value(sched)
    assert f"schedule_id={sched}" in page.pw.url


def test_runs_list_filters_by_tag_metadata_and_time_in_the_url(
    page: Page, api: httpx.Client, new_workflow: Callable[..., str]
) -> None:
    wf = new_workflow(_greeter(), name="labelled")
    tag, team = f"t-{uuid.uuid4().hex[:8]}", f"team-{uuid.uuid4().hex[:8]}"
    ids = {}
    for name, tags, meta in [
        ("a", [tag, "x"], {"team": f"{team}-a"}),
        ("b", [tag], {"team": f"{team}-b"}),
        ("c", [], {}),
    ]:
        body = {"initial_inputs": {"in": {"name": name}}, "tags": tags, "metadata": meta}
        r = api.post(f"/wf/{wf}/start_run/", json=body)
        assert r.status_code == 200, r.text
        ids[name] = r.json()["id"]
    for run_id in ids.values():
        wait_status(api, run_id, ("COMPLETED",))
    rows = page.pw.locator("#runs tbody tr[data-run-id]")

    def shown(*names: str) -> None:
        expect(rows).to_have_count(len(names))
        for n in names:
            expect(page.pw.locator(f"#runs tr[data-run-id={ids[n]}]")).to_be_visible()

    page.open(f"/ui/?tag={tag}")
    shown("a", "b")
    expect(page.pw.locator(f"#runs tr[data-run-id={ids['a']}] .chip")).to_have_text(
        [tag, "x", f"team={team}-a"]
    )
    # A metadata pair added in the form: the list and the URL follow.
    page.pw.locator("#f-meta").fill(f"team={team}-b")
    page.pw.locator("#f-meta").press("Enter")
    shown("b")
    expect(page.pw).to_have_url(re.compile(rf"tag={tag}.*metadata=team%3D{team}-b"))
    # A bookmark of the filtered view shows the same runs.
    page.pw.reload()
    page.pw.wait_for_selector("body[data-ready='1']", state="attached")
    shown("b")
    expect(page.pw.locator("#active-labels .chip")).to_have_count(2)
    # Not a pair: said next to the field, the filter is unchanged.
    page.pw.locator("#f-meta").fill("team")
    page.pw.locator("#f-meta").press("Enter")
    expect(page.pw.locator("#f-meta-problem")).to_contain_text("is not key=value")
    shown("b")
    page.pw.get_by_role("button", name=f"Remove metadata filter team={team}-b").click()
    shown("a", "b")
    assert "metadata=" not in page.pw.url

    # Time range, with the API's names (RFC 3339 in a hand-made URL works too).
    started = datetime.fromisoformat(api.get(f"/run/{ids['a']}/").json()["start_time"])
    hour = timedelta(hours=1)
    since, until = (started - hour).isoformat(), (started + hour).isoformat()
    page.open(f"/ui/?tag={tag}&start_date={since}&end_date={until}".replace("+", "%2B"))
    shown("a", "b")
    expect(page.pw.locator("#f-after")).not_to_have_value("")
    page.open(f"/ui/?tag={tag}&end_date={(started - hour).isoformat().replace('+', '%2B')}")
    expect(page.pw.locator("#runs tbody")).to_contain_text("No runs match.")

    # The run page shows its tags and metadata; a tag leads to the runs with it.
    page.open(f"/ui/runs/{ids['b']}")
    chips = page.pw.locator("#run-facts .chip")
    expect(chips).to_have_text([tag, f"team={team}-b"])
    chips.first.click()
    page.pw.wait_for_selector("body[data-ready='1']", state="attached")
    shown("a", "b")


def _opened_run(page: Page, *before: str) -> str:
    """Wait for the browser to open a run page other than ``before``; its run id."""
    page.pw.wait_for_url(
        lambda url: (
            re.search(r"/ui/runs/R\w+$", url) is not None and url.rsplit("/", 1)[1] not in before
        )
    )
    page.pw.wait_for_selector("body[data-ready='1']", state="attached")
    return str(page.pw.url.rsplit("/", 1)[1])


def test_rerun_with_edited_inputs_latest_version_and_retry_from_a_node(
    page: Page, api: httpx.Client, new_workflow: Callable[..., str], shots: Path
) -> None:
    wf = new_workflow(_greeter(), name="rerun me")
    first = start(api, wf, {"in": {"name": "Ada"}})
    wait_status(api, first, ("COMPLETED",))
    page.open(f"/ui/runs/{first}")
    page.pw.locator("#rerun").click()
    form = page.pw.locator("#rerun-form")
    inputs = form.locator("#rerun-inputs")
    expect(inputs).to_have_value(re.compile('"name": "Ada"'))
    # Bad JSON: said next to the inputs, no run started.
    inputs.fill('{"in": {"name": ')
    form.get_by_role("button", name="Start rerun").click()
    expect(form.locator("#rerun-inputs-problem")).to_contain_text("Not valid JSON")
    expect(inputs).to_have_attribute("aria-invalid", "true")
    inputs.fill("[1, 2]")
    form.get_by_role("button", name="Start rerun").click()
    expect(form.locator("#rerun-inputs-problem")).to_contain_text("must be a JSON object")
    assert api.get(f"/run/{first}/").json()["reruns"] == []

    inputs.fill('{"in": {"name": "Bob"}}')
    form.get_by_role("button", name="Start rerun").click()
    second = _opened_run(page, first)
    expect(page.pw.locator("#run-status")).to_have_text("COMPLETED")
    expect(page.pw.locator("#run-facts .rerun-of")).to_have_text(first)
    run = api.get(f"/run/{second}/").json()
    assert (run["rerun_of"], run["initial_inputs"]) == (first, {"in": {"name": "Bob"}})
    assert run["outputs"]["greet"] == {"greeting": "hi Bob"}

    # Lineage the other way; then retry from a node of the original.
    page.pw.locator("#run-facts .rerun-of").click()
    page.pw.wait_for_selector("body[data-ready='1']", state="attached")
    expect(page.pw.locator("#run-facts .rerun")).to_have_text([second])
    page.pw.locator("#dag [data-node=greet]").click()
    expect(page.pw.locator("#retry-from")).to_be_visible()
    _shot(page, shots / "ui-rerun.png")
    page.pw.locator("#retry-from").click()
    third = _opened_run(page, first, second)
    expect(page.pw.locator("#run-status")).to_have_text("COMPLETED")
    run = api.get(f"/run/{third}/").json()
    assert (run["rerun_of"], run["outputs"]["greet"]) == (first, {"greeting": "hi Ada"})

    # On the latest version: a new definition, chosen by the checkbox.
    newer = _greeter()
    newer["nodes"][1]["config"]["code"] = "return {'greeting': 'hello ' + input_model.In.name}"
    r = api.put(f"/wf/{wf}/", json={"name": "rerun me", "description": "", "definition": newer})
    assert r.status_code == 200, r.text
    page.open(f"/ui/runs/{first}")
    page.pw.locator("#rerun").click()
    page.pw.locator("#rerun-latest").check()
    page.pw.locator("#rerun-form").get_by_role("button", name="Start rerun").click()
    fourth_id = _opened_run(page, first)
    expect(page.pw.locator("#run-status")).to_have_text("COMPLETED")
    fourth = api.get(f"/run/{fourth_id}/").json()
    assert fourth["outputs"]["greet"] == {"greeting": "hello Ada"}
    assert fourth["workflow_version"]["version"] == 2
    assert api.get(f"/run/{first}/").json()["reruns"] == [second, third, fourth["id"]]


def test_retry_a_canceled_run(
    page: Page, api: httpx.Client, new_workflow: Callable[..., str]
) -> None:
    flow = {
        "nodes": [node("in", "InputNode"), human("check", "Check it")],
        "links": links(("in", "check")),
    }
    run_id = start(api, new_workflow(flow, name="canceled then retried"))
    wait_status(api, run_id, ("PAUSED",))
    assert api.post(f"/wf/cancel_workflow/{run_id}/").status_code == 200
    page.open(f"/ui/runs/{run_id}")
    expect(page.pw.locator("#run-status")).to_have_text("CANCELED")
    retry = page.pw.locator("#retry")
    expect(retry).to_have_text("Retry canceled tasks")
    retry.click()
    expect(page.pw.locator("#run-status")).to_have_text("PAUSED")
    expect(page.pw.locator("#pause-check")).to_be_visible()
    assert api.get(f"/run/{run_id}/").json()["canceled_by"] is None


def test_webhook_trigger_secret_is_shown_once(
    page: Page, api: httpx.Client, new_workflow: Callable[..., str]
) -> None:
    wf = new_workflow(_greeter(), name="triggered")
    hook = {
        "url": "http://127.0.0.1:9/hook",
        "secret": "whsec_" + base64.b64encode(b"k" * 32).decode(),
        "events": ["FAILED"],
        "workflow_id": wf,
        "description": "pager",
    }
    r = api.post("/notifications/webhooks/", json=hook)
    assert r.status_code == 201, r.text
    page.open(f"/ui/workflows/{wf}")
    section = page.pw.locator("#triggers")
    expect(section).to_be_visible()
    # The notification webhooks of this workflow, read-only, never their secret.
    listed = section.locator(f"#webhook-list tr[data-webhook-id={r.json()['id']}]")
    expect(listed).to_contain_text("http://127.0.0.1:9/hook")
    expect(listed).to_contain_text("FAILED")
    expect(listed).to_contain_text("this workflow")
    assert hook["secret"] not in page.pw.content()
    expect(section.locator("#trigger-list")).to_contain_text("No triggers.")
    section.locator("#trigger-name").fill("from CI")
    section.get_by_role("button", name="Create trigger").click()
    secret = section.locator("#trigger-secret .secret")
    expect(secret).to_be_visible()
    value = secret.text_content() or ""
    (trigger,) = api.get(f"/wf/{wf}/triggers/").json()
    expect(section.locator("#trigger-list tbody tr")).to_contain_text(trigger["url"])
    # The secret works once copied, and is never shown again.
    r = api.post(trigger["url"], json={"name": "ci"}, headers={"X-Spurline-Secret": value})
    assert r.status_code == 202, r.text
    page.open(f"/ui/workflows/{wf}")
    expect(section.locator("#trigger-list tbody tr")).to_contain_text("from CI")
    assert value not in page.pw.content()
    section.get_by_role("button", name="Delete trigger from CI").click()
    expect(section.locator("#trigger-list")).to_contain_text("No triggers.")
    assert api.get(f"/wf/{wf}/triggers/").json() == []
