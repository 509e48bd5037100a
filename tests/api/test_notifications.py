"""Notification webhooks over HTTP (docs/operations.md, Notifications): a real receiver
on loopback gets signed deliveries of run events, outages and hanging or failing
endpoints are retried with backoff without holding up runs, and PAUSED notifications
carry approve/decline links that work once, without a token, until they expire.
"""

from __future__ import annotations

import base64
import json
import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from itertools import pairwise
from pathlib import Path
from typing import Any

import httpx
import pytest
from itsdangerous import URLSafeSerializer
from standardwebhooks import Webhook
from tests._receiver import Receiver
from tests.conftest import LiveServer, celery_consumer, make_settings
from tests.flows import human, links, node, wait_status

from spurline.services.notifications import backoff_s

FAST = {
    "webhook_poll_s": 0.05,
    "webhook_backoff_s": 0.1,
    "webhook_backoff_max_s": 0.8,
    "webhook_timeout_s": 3.0,
}
ECHO = {
    "nodes": [
        node("in", "InputNode", output_schema={"n": "int"}),
        node("out", "OutputNode", output_map={"n": "In.n"}),
    ],
    "links": links(("in", "out")),
}
REVIEW = {
    "nodes": [
        node("in", "InputNode", output_schema={"n": "int"}),
        human("review", "Approve n?"),
        node("out", "OutputNode"),
    ],
    "links": links(("in", "review"), ("review", "out")),
}


def new_secret() -> str:
    return "whsec_" + base64.b64encode(os.urandom(32)).decode()


@contextmanager
def notify_serving(home: Path, backend: str, **overrides: Any) -> Iterator[LiveServer]:
    """A live server (and its Celery worker) with fast webhook timings, whose signed
    links point at itself."""
    settings, cleanup = make_settings(home, backend, **{**FAST, **overrides})
    try:
        srv = LiveServer(settings)
        settings.public_url = srv.url
        with srv:
            if settings.executor == "celery":
                with celery_consumer().serving(settings):
                    yield srv
            else:
                yield srv
    finally:
        cleanup()


@pytest.fixture
def server(tmp_path: Path, backend: str) -> Iterator[LiveServer]:
    with notify_serving(tmp_path, backend) as srv:
        yield srv


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    rec = Receiver().start()
    yield rec
    rec.stop()


def subscribe(client: httpx.Client, url: str, secret: str, **body: Any) -> dict[str, Any]:
    r = client.post("/notifications/webhooks/", json={"url": url, "secret": secret, **body})
    assert r.status_code == 201, r.text
    assert secret not in r.text
    return dict(r.json())


def deliveries(client: httpx.Client, hook_id: str, **params: Any) -> list[dict[str, Any]]:
    r = client.get(
        f"/notifications/webhooks/{hook_id}/deliveries/", params={"page_size": 100, **params}
    )
    assert r.status_code == 200, r.text
    return list(r.json())


def wait_until(check: Callable[[], Any], timeout: float = 60) -> Any:
    deadline = time.monotonic() + timeout
    while not (value := check()):
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.05)
    return value


def test_every_notification_of_50_runs_arrives_signed_through_an_outage(
    client: httpx.Client, make_workflow: Callable[..., str], receiver: Receiver
) -> None:
    secret = new_secret()
    hook = subscribe(client, receiver.url, secret)
    wf = make_workflow(ECHO)

    def run_blocking(n: int) -> str:
        r = client.post(f"/wf/{wf}/start_run/", json={"initial_inputs": {"in": {"n": n}}})
        return str(wait_status(client, r.json()["id"], ("COMPLETED",))["id"])

    before = [run_blocking(n) for n in range(25)]
    receiver.wait_for(25)
    receiver.stop()  # the outage: connections refused
    during = [run_blocking(n) for n in range(25, 50)]
    # the runs were not held up; their deliveries failed at least once meanwhile
    failing = wait_until(
        lambda: [d for d in deliveries(client, hook["id"], status="PENDING") if d["attempts"] >= 1]
    )
    assert all("ConnectError" in d["last_error"] for d in failing)
    receiver.start()
    got = receiver.wait_for(50)
    time.sleep(0.3)  # a duplicate would arrive within a few polls
    assert len(receiver.received) == 50

    by_run = {}
    for req in got:
        body = Webhook(secret).verify(req.body, req.headers)
        assert body["type"] == "run.completed"
        assert body["data"]["status"] == "COMPLETED"
        assert body["data"]["workflow_id"] == wf
        by_run[body["data"]["run_id"]] = req.headers["webhook-id"]
    assert set(by_run) == set(before + during)
    with pytest.raises(Exception, match="signature"):
        Webhook(new_secret()).verify(got[0].body, got[0].headers)

    log = wait_until(
        lambda: (
            (d := deliveries(client, hook["id"]))
            and all(x["status"] == "DELIVERED" for x in d)
            and d
        )
    )
    assert len(log) == 50
    assert {d["id"] for d in log} == set(by_run.values())
    retried = [d for d in log if d["attempts"] > 1]
    assert {d["run_id"] for d in retried} <= set(during)
    assert retried, "the outage made no delivery retry"
    assert all(d["last_error"] is None and d["last_status_code"] == 200 for d in log)


def test_a_hanging_or_failing_endpoint_never_holds_up_a_run(
    client: httpx.Client, make_workflow: Callable[..., str]
) -> None:
    hanging = Receiver(hang_s=10).start()
    failing = Receiver(status=500).start()
    try:
        wf = make_workflow(ECHO)
        slow = subscribe(client, hanging.url, new_secret(), workflow_id=wf)
        bad = subscribe(client, failing.url, new_secret(), workflow_id=wf)
        first = client.post(f"/wf/{wf}/run/", json={"initial_inputs": {"in": {"n": 1}}})
        assert first.status_code == 200, first.text
        hanging.wait_for(1)  # a delivery now hangs ...
        second = client.post(f"/wf/{wf}/run/", json={"initial_inputs": {"in": {"n": 2}}})
        assert second.json() == {"in": {"n": 2}, "out": {"n": 2}}  # ... and runs go on
        first_id = failing.wait_for(1)[0].headers["webhook-id"]
        calls = wait_until(
            lambda: (
                (c := [r for r in failing.received if r.headers["webhook-id"] == first_id])
                and len(c) >= 4
                and c
            )
        )
        gaps = [b.at - a.at for a, b in pairwise(calls)]
        # each retry waits at least twice as long as the one before: 0.1, 0.2, 0.4 s
        assert [round(g, 1) >= 0.1 * 2**i for i, g in enumerate(gaps[:3])] == [True] * 3, gaps
        timed_out = wait_until(
            lambda: [d for d in deliveries(client, slow["id"]) if d["last_error"]]
        )
        assert "no answer within 3 s" in timed_out[0]["last_error"]
        errors = deliveries(client, bad["id"])
        assert errors and all(d["status"] in ("PENDING", "SENDING") for d in errors)
        assert any(d["last_status_code"] == 500 and "HTTP 500" in d["last_error"] for d in errors)
    finally:
        hanging.stop()
        failing.stop()


def test_backoff_doubles_up_to_its_cap() -> None:
    delays = [backoff_s(n, 2.0, 60.0) for n in range(1, 8)]
    for delay, bound in zip(delays, [2, 4, 8, 16, 32, 60, 60], strict=True):
        assert bound <= delay <= bound * 1.1


def test_a_delivery_fails_after_its_last_attempt(tmp_path: Path) -> None:
    failing = Receiver(status=503).start()
    try:
        with (
            notify_serving(tmp_path, "sqlite", webhook_max_attempts=3) as srv,
            httpx.Client(base_url=srv.url, timeout=60) as client,
        ):
            wf = client.post("/wf/", json={"name": "echo", "definition": ECHO}).json()["id"]
            hook = subscribe(client, failing.url, new_secret(), events=["COMPLETED"])
            client.post(f"/wf/{wf}/run/", json={"initial_inputs": {"in": {"n": 1}}})
            [done] = wait_until(
                lambda: [d for d in deliveries(client, hook["id"]) if d["status"] == "FAILED"]
            )
            assert done["attempts"] == 3
            assert done["last_status_code"] == 503
            assert len(failing.received) == 3
    finally:
        failing.stop()


def _paused_notification(
    client: httpx.Client, make_workflow: Callable[..., str], receiver: Receiver, secret: str
) -> tuple[str, dict[str, Any], str]:
    wf = make_workflow(REVIEW)
    hook = subscribe(client, receiver.url, secret, events=["PAUSED"], workflow_id=wf)
    r = client.post(f"/wf/{wf}/start_run/", json={"initial_inputs": {"in": {"n": 7}}})
    run_id = r.json()["id"]
    wait_status(client, run_id, ("PAUSED",))
    [req] = receiver.wait_for(1)
    body = Webhook(secret).verify(req.body, req.headers)
    assert body["type"] == "run.paused"
    assert body["data"]["run_id"] == run_id
    assert body["data"]["message"] == "Approve n?"
    [pause] = body["data"]["pauses"]
    assert pause["node_id"] == "review"
    return run_id, pause, hook["id"]


def test_an_approve_link_works_once_without_a_token(
    client: httpx.Client, make_workflow: Callable[..., str], receiver: Receiver
) -> None:
    run_id, pause, _ = _paused_notification(client, make_workflow, receiver, new_secret())
    with httpx.Client(timeout=60) as anonymous:  # no Authorization header
        used = anonymous.post(pause["approve_url"], json={"comments": "fine"})
        replay = anonymous.post(pause["approve_url"])
        decline = anonymous.post(pause["decline_url"])
    assert used.status_code == 200, used.text
    run = wait_status(client, run_id, ("COMPLETED",))
    assert run["outputs"]["out"] == {"In": {"n": 7}}
    [history] = client.get(f"/wf/pause_history/{run_id}/").json()
    assert history["resume_action"] == "APPROVE"
    assert history["comments"] == "fine"
    assert history["resume_user_id"].startswith("webhook link")
    assert replay.status_code == 409
    assert "already resolved" in replay.json()["detail"]
    assert decline.status_code == 409


def test_a_decline_link_cancels_the_run(
    client: httpx.Client, make_workflow: Callable[..., str], receiver: Receiver
) -> None:
    run_id, pause, _ = _paused_notification(client, make_workflow, receiver, new_secret())
    assert httpx.post(pause["decline_url"], timeout=60).status_code == 200
    run = wait_status(client, run_id, ("CANCELED",))
    assert run["message"].startswith("Declined by webhook link")


def test_expired_and_tampered_links_are_refused(
    client: httpx.Client, make_workflow: Callable[..., str], receiver: Receiver
) -> None:
    secret = new_secret()
    run_id, pause, hook_id = _paused_notification(client, make_workflow, receiver, secret)
    base, token = pause["approve_url"].rstrip("/").rsplit("/", 1)
    signer = URLSafeSerializer(secret, salt="spurline.pause-link")
    claims = signer.loads(token)
    assert claims["e"] > time.time()
    # the same link, validly signed, with an expiry in the past
    expired = signer.dumps({**claims, "e": time.time() - 1})
    r = httpx.post(f"{base}/{expired}/", timeout=60)
    assert r.status_code == 410
    assert "expired" in r.json()["detail"]
    # a signature made with another key, a garbled token, an unknown webhook
    forged = URLSafeSerializer(new_secret(), salt="spurline.pause-link").dumps(claims)
    for url in (
        f"{base}/{forged}/",
        f"{base}/{token[:-2]}xx/",
        pause["approve_url"].replace(hook_id, "H0"),
    ):
        bad = httpx.post(url, timeout=60)
        assert bad.status_code == 403, url
        assert bad.json() == {"detail": "This link is not valid"}
    assert client.get(f"/run/{run_id}/").json()["status"] == "PAUSED"


def test_webhook_admin_api_and_bad_input(
    client: httpx.Client, make_workflow: Callable[..., str], receiver: Receiver
) -> None:
    secret = new_secret()
    wf = make_workflow(ECHO)
    hook = subscribe(client, receiver.url, secret, workflow_id=wf, description="ops")
    assert hook["events"] == ["COMPLETED", "FAILED", "PAUSED", "CANCELED"]
    assert hook["workflow_id"] == wf and hook["enabled"] is True
    assert client.get(f"/notifications/webhooks/{hook['id']}/").json() == hook
    # /api speaks PySpur's dialect: the same record with naive UTC datetimes
    naive = {k: v.removesuffix("+00:00") if k.endswith("_at") else v for k, v in hook.items()}
    assert client.get("/api/notifications/webhooks/").json() == [naive]
    assert secret not in client.get("/notifications/webhooks/").text

    def problem(body: dict[str, Any]) -> str:
        r = client.post("/notifications/webhooks/", json=body)
        assert r.status_code == 422, r.text
        return json.dumps(r.json()["detail"])

    good = {"url": receiver.url, "secret": secret}
    assert "secret" in problem({**good, "secret": "hunter2"})
    assert "secret" in problem({**good, "secret": "whsec_" + base64.b64encode(b"short").decode()})
    assert "events" in problem({**good, "events": ["RUNNING"]})
    assert "events" in problem({**good, "events": []})
    assert "url" in problem({**good, "url": "ftp://example.com/x"})
    assert "url" in problem({**good, "url": "not a url"})
    missing = client.post("/notifications/webhooks/", json={**good, "workflow_id": "W404"})
    assert missing.status_code == 404
    assert client.get("/notifications/webhooks/H404/").status_code == 404
    assert client.get("/notifications/webhooks/H404/deliveries/").status_code == 404
    assert client.delete("/notifications/webhooks/H404/").status_code == 404
    bad_status = client.get(f"/notifications/webhooks/{hook['id']}/deliveries/?status=NOPE")
    assert bad_status.status_code == 422

    off = client.patch(f"/notifications/webhooks/{hook['id']}/", json={"enabled": False})
    assert off.status_code == 200 and off.json()["enabled"] is False
    client.post(f"/wf/{wf}/run/", json={"initial_inputs": {"in": {"n": 1}}})
    assert deliveries(client, hook["id"]) == []  # disabled: nothing queued
    client.patch(
        f"/notifications/webhooks/{hook['id']}/", json={"enabled": True, "events": ["FAILED"]}
    )
    client.post(f"/wf/{wf}/run/", json={"initial_inputs": {"in": {"n": 2}}})
    assert deliveries(client, hook["id"]) == []  # COMPLETED is not subscribed any more
    assert client.delete(f"/notifications/webhooks/{hook['id']}/").status_code == 204
    assert client.get("/notifications/webhooks/").json() == []
    assert receiver.received == []
