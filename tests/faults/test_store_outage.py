"""PostgreSQL goes away mid-run and comes back (docs/reliability.md#transient-store-errors).

A throwaway PostgreSQL server is stopped with ``-m fast`` (every connection cut) while
14 runs (chains of slow Python nodes, and loops) execute, kept down for a few seconds,
and started again. Nothing is restarted but the database: every run must end
COMPLETED, no node may execute twice, requests during the outage get 503 with
``Retry-After`` (never 500), and no process prints a traceback.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from _procs import Processes, ThrowawayPostgres, postgres_missing, wait_final

MISSING = postgres_missing()
pytestmark = pytest.mark.skipif(MISSING is not None, reason=f"needs PostgreSQL: {MISSING}")

CHAINS, LOOPS, ITERATIONS = 10, 4, 3
OUTAGE_S = 3.0
BROKER = "redis://127.0.0.1:6379/14"


def _step(nid: str, source: str, log: Path, parent: str | None = None) -> dict[str, Any]:
    # one line per execution, written before the work, so a repeated one is counted
    code = (
        "import time\n"
        f"src = input_model.{source}\n"
        "tag = src.tag if hasattr(src, 'tag') else src.In['tag'] + '.' + str(src.index)\n"
        f"with open({str(log)!r}, 'a') as f:\n"
        f"    f.write(tag + ':{nid}\\n')\n"
        "time.sleep(0.5)\n"
        "return {'tag': tag}"
    )
    n: dict[str, Any] = {
        "id": nid,
        "title": nid.capitalize(),
        "node_type": "PythonFuncNode",
        "config": {"code": code},
    }
    if parent:
        n["parent_id"] = parent
    return n


def _input(nid: str, parent: str | None = None) -> dict[str, Any]:
    n: dict[str, Any] = {
        "id": nid,
        "title": nid.capitalize(),
        "node_type": "InputNode",
        "config": {"output_schema": {"tag": "str"}} if parent is None else {},
    }
    if parent:
        n["parent_id"] = parent
    return n


def _links(*pairs: tuple[str, str]) -> list[dict[str, str]]:
    return [{"source_id": s, "target_id": t} for s, t in pairs]


def chain(log: Path) -> dict[str, Any]:
    """in -> a -> b -> c -> d: four slow nodes, about 2 s."""
    return {
        "nodes": [
            _input("in"),
            _step("a", "In", log),
            _step("b", "A", log),
            _step("c", "B", log),
            _step("d", "C", log),
        ],
        "links": _links(("in", "a"), ("a", "b"), ("b", "c"), ("c", "d")),
    }


def loop(log: Path) -> dict[str, Any]:
    """in -> loop of ITERATIONS child runs, one at a time, each one slow node."""
    return {
        "nodes": [
            _input("in"),
            {
                "id": "loop",
                "title": "Loop",
                "node_type": "ForLoopNode",
                "config": {"num_iterations": ITERATIONS, "max_concurrency": 1},
            },
            _input("body", parent="loop"),
            _step("step", "Body", log, parent="loop"),
        ],
        "links": _links(("in", "loop"), ("body", "step")),
    }


class Poller:
    """Requests a run over and over in a thread, noting each answer's status."""

    def __init__(self, url: str, run_id: str) -> None:
        self.url, self.run_id = url, run_id
        self.answers: list[tuple[int, str | None]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def _loop(self) -> None:
        with httpx.Client(base_url=self.url, timeout=30) as client:
            while not self._stop.is_set():
                try:
                    r = client.get(f"/run/{self.run_id}/")
                    self.answers.append((r.status_code, r.headers.get("retry-after")))
                except httpx.HTTPError:
                    self.answers.append((0, None))
                time.sleep(0.05)

    def __enter__(self) -> Poller:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def _wait_under_way(client: httpx.Client, run_ids: list[str], timeout: float = 30) -> None:
    """Wait until one run has finished a slow node while none has ended, so the outage
    falls mid-run: nodes in flight, some done, most still to come."""
    deadline = time.monotonic() + timeout
    while True:
        runs = [client.get(f"/run/{rid}/").json() for rid in run_ids]
        done = [t for r in runs for t in r["tasks"] if t["node_id"] != "in" and t["end_time"]]
        assert all(r["status"] in ("PENDING", "RUNNING") for r in runs)
        if done:
            return
        assert time.monotonic() < deadline, [r["status"] for r in runs]
        time.sleep(0.05)


@pytest.fixture
def postgres() -> Iterator[ThrowawayPostgres]:
    pg = ThrowawayPostgres()
    try:
        pg.start()
        pg.create_database()
        yield pg
    finally:
        pg.close()


@pytest.mark.parametrize("executor", ["local", "celery"])
def test_postgres_restart_mid_run_fails_nothing(
    tmp_path: Path, postgres: ThrowawayPostgres, executor: str
) -> None:
    log = tmp_path / "executions.log"
    env = {
        "SPURLINE_HOME": str(tmp_path / "home"),
        "SPURLINE_DATABASE_URL": postgres.url,
        # a request waits this long for the store, then gets its 503
        "SPURLINE_STORE_REQUEST_RETRY_S": "0.5",
        "SPURLINE_TEMPLATES_DIR": str(tmp_path / "no-templates"),
        # the nodes sleep: enough processes that they do not queue for the pool
        "SPURLINE_PYTHON_WORKERS": "8",
    }
    if executor == "celery":
        env |= {
            "SPURLINE_EXECUTOR": "celery",
            "SPURLINE_BROKER_URL": BROKER,
            "SPURLINE_QUEUE_NAME": f"spurline-fault-{uuid.uuid4().hex[:12]}",
        }
    procs = Processes(tmp_path, env)
    try:
        url = procs.serve()
        if executor == "celery":
            procs.spawn("worker", "--concurrency", "20", "--loglevel", "WARNING", name="worker")
        with httpx.Client(base_url=url, timeout=30) as client:
            flows = {}
            for name, definition in (("chain", chain(log)), ("loop", loop(log))):
                r = client.post("/wf/", json={"name": name, "definition": definition})
                assert r.status_code == 200, r.text
                flows[name] = r.json()["id"]
            run_ids = []
            for i in range(CHAINS + LOOPS):
                wf = flows["chain" if i < CHAINS else "loop"]
                body = {"initial_inputs": {"in": {"tag": f"r{i}"}}}
                r = client.post(f"/wf/{wf}/start_run/", json=body)
                assert r.status_code == 200, r.text
                run_ids.append(r.json()["id"])
            _wait_under_way(client, run_ids)
            with Poller(url, run_ids[0]) as poller:
                postgres.stop()
                time.sleep(OUTAGE_S)
                postgres.start()
                fault_end = time.monotonic()
                runs = wait_final(client, run_ids, timeout=45)
                settled = time.monotonic() - fault_end
            print(f"[{executor}] fault end to every run final: {settled:.2f} s")

            statuses = Counter(run["status"] for run in runs.values())
            assert statuses == {"COMPLETED": CHAINS + LOOPS}, [
                (r["id"], r["status"], r.get("message")) for r in runs.values()
            ]
            # every node of every run executed exactly once
            executed = Counter(log.read_text().split())
            expected = {f"r{i}:{n}" for i in range(CHAINS) for n in "abcd"} | {
                f"r{i}.{k}:step" for i in range(CHAINS, CHAINS + LOOPS) for k in range(ITERATIONS)
            }
            assert set(executed) == expected
            assert [key for key, n in executed.items() if n != 1] == []
            # a node interrupted by the outage would show a second attempt
            again = [
                (r["id"], t["node_id"])
                for r in runs.values()
                for t in r["tasks"]
                if t["attempts"] > 1
            ]
            assert again == []

            codes = Counter(code for code, _ in poller.answers)
            assert codes[500] == 0, codes
            assert codes[503] >= 1, codes  # the outage was seen, and answered 503
            assert all(after for code, after in poller.answers if code == 503)
            assert codes[200] >= 1
            # the last answers, after the outage, are 200 again
            assert poller.answers[-1][0] == 200
    finally:
        procs.close()
    output = procs.output()
    assert "Traceback" not in output, output[-6000:]
