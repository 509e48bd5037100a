"""The workflows of examples/: each is valid, computes what its description says, and
``spurline serve --load-examples examples`` (what ``make run`` starts) loads them all.
"""

from __future__ import annotations

import socket
import statistics
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from spurline.nodes.registry import parse_definition

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = sorted((REPO / "examples").glob("*.json"))


def example(name: str) -> dict[str, Any]:
    data: dict[str, Any] = orjson.loads((REPO / "examples" / f"{name}.json").read_bytes())
    return data


def test_every_example_is_a_valid_documented_workflow() -> None:
    assert {"hello", "numbers", "penguins"} <= {p.stem for p in EXAMPLES}
    for path in EXAMPLES:
        data = orjson.loads(path.read_bytes())
        assert set(data) == {"name", "description", "definition"}
        assert f"spurline run examples/{path.name}" in data["description"]
        parse_definition(data["definition"])


def test_hello(client: httpx.Client, make_workflow: Callable[..., str]) -> None:
    wf = make_workflow(example("hello")["definition"])
    for name, greeting in (("  Ada   Lovelace ", "Hello, Ada Lovelace!"), ("", "Hello, world!")):
        r = client.post(f"/wf/{wf}/run/", json={"initial_inputs": {"in": {"name": name}}})
        assert r.status_code == 200, r.text
        assert r.json()["out"] == {"greeting": greeting, "shout": greeting.upper()}


def test_numbers_fans_out_and_merges(
    client: httpx.Client, make_workflow: Callable[..., str]
) -> None:
    wf = make_workflow(example("numbers")["definition"])
    values = [3750, 3800, None, "NA", 3250, 6300, "4100", 20000]
    r = client.post(f"/wf/{wf}/run/", json={"initial_inputs": {"data": {"values": values}}})
    assert r.status_code == 200, r.text
    xs = [3750, 3800, 3250, 6300, 4100, 20000]
    # Tukey fences by hand: sorted 3250 3750 3800 4100 6300 20000, exclusive quartiles
    # at positions 1.75 and 5.25: q1 = 3625, q3 = 9725, fences -5525 and 18875.
    assert r.json()["out"] == {
        "n": 6,
        "dropped": 2,
        "mean": 6866.667,
        "median": 3950.0,
        "min": 3250,
        "max": 20000,
        "stdev": round(statistics.stdev(xs), 3),
        "outliers": [20000],
    }
    assert r.json()["stats"].keys() == {"Centre", "Spread", "Outliers"}
    assert (r.json()["outliers"]["low"], r.json()["outliers"]["high"]) == (-5525, 18875)

    r = client.post(f"/wf/{wf}/run/", json={"initial_inputs": {"data": {"values": [1, "x"]}}})
    assert r.status_code == 422
    assert r.json()["detail"]["message"] == (
        "Node 'clean' failed: ValueError: values[1] = 'x' is not a number"
    )


def test_numbers_with_an_empty_list(
    client: httpx.Client, make_workflow: Callable[..., str]
) -> None:
    wf = make_workflow(example("numbers")["definition"])
    r = client.post(f"/wf/{wf}/run/", json={"initial_inputs": {"data": {"values": []}}})
    assert r.status_code == 200, r.text
    assert r.json()["out"] == {
        "n": 0,
        "dropped": 0,
        "mean": None,
        "median": None,
        "min": None,
        "max": None,
        "stdev": None,
        "outliers": [],
    }


@pytest.fixture
def serve(cli: Any) -> Iterator[Callable[..., tuple[subprocess.Popen[str], str]]]:
    """Start ``spurline serve`` subprocesses on the CLI's store; stops them afterwards."""
    started: list[subprocess.Popen[str]] = []

    def start(*args: str) -> tuple[subprocess.Popen[str], str]:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        proc = subprocess.Popen(
            [*cli.argv, "serve", "--port", str(port), *args],
            env=cli.env,
            cwd=REPO,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        started.append(proc)
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while proc.poll() is None and time.monotonic() < deadline:
            try:
                if httpx.get(f"{url}/health").status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.05)
        return proc, url

    yield start
    for proc in started:
        proc.terminate()
        proc.communicate(timeout=30)


def test_serve_loads_the_examples_like_make_run(serve: Any) -> None:
    proc, url = serve("--load-examples", "examples")
    assert proc.poll() is None
    workflows = httpx.get(f"{url}/wf/", params={"page_size": 100}).json()
    names = sorted(w["name"] for w in workflows)
    assert names == sorted(orjson.loads(p.read_bytes())["name"] for p in EXAMPLES)
    assert {"hello", "number statistics", "penguins"} <= set(names)
    penguins = next(w for w in workflows if w["name"] == "penguins")
    bird = {"species": "Gentoo", "body_mass_g": 6300, "island": "Biscoe", "year": 2007}
    r = httpx.post(
        f"{url}/wf/{penguins['id']}/run/",
        json={"initial_inputs": {"penguin": bird}},
        timeout=60,
    )
    assert r.status_code == 200, r.text
    assert r.json()["summary"]["size_class"] == "large"
    proc.terminate()
    proc.communicate(timeout=30)

    # A second start (make run again) updates the same workflows instead of adding copies.
    proc, url = serve("--load-examples", "examples")
    again = httpx.get(f"{url}/wf/", params={"page_size": 100}).json()
    assert sorted((w["name"], w["id"]) for w in again) == sorted(
        (w["name"], w["id"]) for w in workflows
    )
    versions = httpx.get(f"{url}/wf/{penguins['id']}/versions/").json()
    assert [v["version"] for v in versions] == [1]


def test_serve_with_a_missing_examples_folder_exits_2(serve: Any) -> None:
    proc, _ = serve("--load-examples", "no-such-folder")
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 2
    assert stderr == "error: --load-examples no-such-folder: no such folder\n"
