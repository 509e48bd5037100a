"""``spurline worker`` rejects bad options with a usage error (exit 2) before starting."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from spurline.cli.main import app


@pytest.mark.parametrize(
    ("args", "named"),
    [
        (["--loglevel", "loud"], "--loglevel"),
        (["--concurrency", "0"], "--concurrency"),
        (["--concurrency", "many"], "--concurrency"),
    ],
)
def test_bad_worker_options_are_usage_errors(args: list[str], named: str) -> None:
    result = CliRunner().invoke(app, ["worker", *args])
    assert result.exit_code == 2
    assert named in result.output
