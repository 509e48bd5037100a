"""The store's disk fills up during a batch and an upload (docs/reliability.md#disk-full).

``SPURLINE_HOME`` (SQLite file, datasets, batch outputs) is a small tmpfs. A filler
file takes every free byte while a batch runs; an upload then gets 507 naming the
problem and leaves no ``.part``; once the filler is deleted the batch finishes by
itself (no restart) with its output file complete and in row order, every row
executed once.
"""

from __future__ import annotations

import errno
import os
import subprocess
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import httpx
import orjson
import pytest
from _procs import Processes, wait_final

ROWS = 344
CAN_MOUNT = os.geteuid() == 0


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 24 MiB tmpfs, unmounted at the end."""
    home = tmp_path / "home"
    home.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=24m", "tmpfs", str(home)], check=True)
    try:
        yield home
    finally:
        subprocess.run(["umount", "-l", str(home)], check=False)


def fill(path: Path) -> None:
    """Write ``path`` until the disk has no space left."""
    block = b"\0" * (1 << 20)
    with path.open("wb", buffering=0) as f:
        for size in (1 << 20, 4096, 512):
            while True:
                try:
                    f.write(block[:size])
                except OSError as exc:
                    assert exc.errno == errno.ENOSPC
                    break


def parts(home: Path) -> list[Path]:
    return sorted(home.rglob("*.part"))


def _upload(client: httpx.Client, name: str, body: bytes) -> httpx.Response:
    return client.post("/ds/", files={"file": (f"{name}.csv", body, "text/csv")})


def _wait_percentage(client: httpx.Client, run_id: str, at_least: float) -> None:
    deadline = time.monotonic() + 30
    while client.get(f"/run/{run_id}/").json()["percentage_complete"] < at_least:
        assert time.monotonic() < deadline
        time.sleep(0.05)


@pytest.mark.skipif(not CAN_MOUNT, reason="mounting a tmpfs needs root")
@pytest.mark.parametrize("database", ["on the full disk", "elsewhere"])
def test_a_full_disk_fails_no_batch_and_leaves_nothing_half_written(
    tmp_path: Path, small_disk: Path, database: str
) -> None:
    """``on the full disk``: SQLite's writes fail too (SQLITE_FULL), the rows wait.
    ``elsewhere``: only the files are on the full disk; every row finishes and the
    batch's output file is what waits for space."""
    log = tmp_path / "executions.log"  # outside the small disk
    # left by a server killed mid-upload: removed when the next one starts
    (small_disk / "datasets").mkdir()
    leftover = small_disk / "datasets" / "D01DEAD.jsonl.part"
    leftover.write_bytes(b'{"x": 1}\n')
    unrecorded = small_disk / "datasets" / "D01GONE.jsonl"
    unrecorded.write_bytes(b'{"x": 1}\n')
    os.utime(unrecorded, (time.time() - 3600, time.time() - 3600))

    on_disk = database == "on the full disk"
    procs = Processes(
        tmp_path,
        {
            "SPURLINE_HOME": str(small_disk),
            **({} if on_disk else {"SPURLINE_DATABASE_URL": f"sqlite:///{tmp_path}/spurline.db"}),
            "SPURLINE_STORE_REQUEST_RETRY_S": "0.5",
            "SPURLINE_TEMPLATES_DIR": str(tmp_path / "no-templates"),
            "SPURLINE_PYTHON_WORKERS": "4",
        },
    )
    try:
        url = procs.serve()
        assert not leftover.exists() and not unrecorded.exists()
        code = (
            "import time\n"
            "x = input_model.In.x\n"
            f"with open({str(log)!r}, 'a') as f:\n"
            "    f.write(f'{x}\\n')\n"
            "time.sleep(0.02)\n"
            "return {'y': 2 * x}"
        )
        definition = {
            "nodes": [
                {
                    "id": "in",
                    "title": "In",
                    "node_type": "InputNode",
                    "config": {"output_schema": {"x": "int"}},
                },
                {
                    "id": "double",
                    "title": "Double",
                    "node_type": "PythonFuncNode",
                    "config": {"code": code},
                },
            ],
            "links": [{"source_id": "in", "target_id": "double"}],
        }
        with httpx.Client(base_url=url, timeout=30) as client:
            r = client.post("/wf/", json={"name": "double", "definition": definition})
            assert r.status_code == 200, r.text
            wf = r.json()["id"]
            csv = "x\n" + "".join(f"{i}\n" for i in range(ROWS))
            r = _upload(client, "rows", csv.encode())
            assert r.status_code == 200, r.text
            ds = r.json()["id"]
            r = client.post(
                f"/wf/{wf}/start_batch_run/", json={"dataset_id": ds, "mini_batch_size": 8}
            )
            assert r.status_code == 200, r.text
            batch = r.json()["id"]
            _wait_percentage(client, batch, 20)

            filler = small_disk / "filler"
            fill(filler)
            try:
                # an upload: 507 naming the problem, nothing half-written
                big = ("x\n" + "".join(f"{i}\n" for i in range(200_000))).encode()
                r = _upload(client, "big", big)
                assert r.status_code == 507, r.text
                assert "no space left on the store's disk" in r.json()["detail"]
                assert int(r.headers["retry-after"]) > 0
                assert parts(small_disk) == []
                # a run started now is refused the same way, or (when SQLite still had
                # room in its files) accepted; never a 500
                r = client.post(f"/wf/{wf}/start_run/", json={"initial_inputs": {"in": {"x": -1}}})
                assert r.status_code in (200, 507), r.text
                print(f"[{database}] start_run on a full disk: {r.status_code}")
                started = [r.json()["id"]] if r.status_code == 200 else []
                if not on_disk:  # every row finishes; the output file waits for space
                    deadline = time.monotonic() + 30
                    while len(log.read_text().split()) < ROWS + len(started):
                        assert time.monotonic() < deadline
                        time.sleep(0.05)
                time.sleep(2)
                # the batch is not failed while the disk is full, and writes nothing half
                assert client.get(f"/run/{batch}/").json()["status"] == "RUNNING"
                assert parts(small_disk) == []
            finally:
                filler.unlink()
            fault_end = time.monotonic()
            runs = wait_final(client, [batch, *started], timeout=60)
            settled = time.monotonic() - fault_end
            print(f"[{database}] disk space back to batch final: {settled:.2f} s")
            assert {r["status"] for r in runs.values()} == {"COMPLETED"}
            assert runs[batch]["percentage_complete"] == 100
            out_id = client.get(f"/run/{batch}/").json()["output_file_id"]
            body = client.get(f"/of/{out_id}/download/").content
            r = client.get("/ds/")
            assert [d["name"] for d in r.json()] == ["rows"]  # the refused upload left no dataset
    finally:
        procs.close()
    lines = [orjson.loads(line) for line in body.splitlines()]
    assert [line["row"] for line in lines] == list(range(ROWS))
    assert {line["status"] for line in lines} == {"COMPLETED"}
    assert [line["outputs"]["double"]["y"] for line in lines] == [2 * i for i in range(ROWS)]
    executed = Counter(log.read_text().split())
    assert executed == Counter({str(i): 1 for i in range(ROWS)} | Counter(str(-1) for _ in started))
    assert parts(small_disk) == []
    output = procs.output()
    assert "Traceback" not in output, output[-6000:]
