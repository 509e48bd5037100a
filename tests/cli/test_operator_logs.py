"""The server's own log and start-up failures (docs/observability.md)."""

from __future__ import annotations

import io
import json
import logging
import socket

from tests.conftest import Cli

from spurline import oplog


def test_serve_on_a_busy_port_says_so_in_one_line(cli: Cli) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        done = cli("serve", "--port", str(port), timeout=60)
    assert done.returncode == 1
    assert done.stdout == ""  # no banner
    assert done.stderr == f"error: cannot listen on 127.0.0.1:{port}: Address already in use\n"


def test_serve_without_its_store_says_so_and_never_prints_the_password(cli: Cli) -> None:
    cli.env["SPURLINE_DATABASE_URL"] = "postgresql+psycopg://ops:hunter2@127.0.0.1:1/spurline"
    done = cli("serve", "--port", "65500", timeout=60)
    assert done.returncode == 1
    assert done.stdout == ""
    lines = done.stderr.splitlines()
    assert len(lines) == 1
    assert lines[0].startswith(
        "error: cannot open the store postgresql+psycopg://ops:***@127.0.0.1:1/spurline: "
    )
    assert "hunter2" not in done.stderr


def _record(formatter: logging.Formatter, **extra: object) -> str:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(formatter)
    handler.addFilter(oplog._Masking())
    logger = logging.getLogger("spurline.test.oplog")
    logger.handlers[:] = [handler]
    logger.propagate = False
    logger.warning("node failed (%s)", "redis://u:pw@host/0 refused", extra=extra)
    return stream.getvalue()


def test_run_lines_carry_run_node_and_attempt_in_text_and_json() -> None:
    text = _record(oplog.TextFormatter(), run_id="R1", node_id="n", attempt=2)
    assert text.endswith(
        " WARNING spurline.test.oplog: node failed (redis://u:***@host/0 refused)"
        " run_id=R1 node_id=n attempt=2\n"
    )
    data = json.loads(_record(oplog.JsonFormatter(), run_id="R1", node_id="n", attempt=2))
    assert {k: v for k, v in data.items() if k != "time"} == {
        "level": "WARNING",
        "logger": "spurline.test.oplog",
        "message": "node failed (redis://u:***@host/0 refused)",
        "run_id": "R1",
        "node_id": "n",
        "attempt": 2,
    }
    assert data["time"].endswith("Z")
