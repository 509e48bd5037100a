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


@pytest.mark.parametrize(("executor", "warned"), [("local", True), ("celery", False)])
def test_worker_warns_when_api_servers_would_not_enqueue(
    monkeypatch: pytest.MonkeyPatch, executor: str, warned: bool
) -> None:
    import spurline.worker.main as worker_main
    from spurline.settings import get_settings

    started: list[str] = []
    # The Celery worker itself blocks until stopped; what is checked here is what
    # the command says before handing over to it.
    monkeypatch.setattr(worker_main, "run_worker", lambda s, c, lvl: started.append(s.executor))
    monkeypatch.setenv("SPURLINE_EXECUTOR", executor)
    get_settings.cache_clear()
    try:
        result = CliRunner().invoke(app, ["worker", "--concurrency", "1"])
    finally:
        get_settings.cache_clear()
    assert started == [executor]
    assert ("SPURLINE_EXECUTOR is not 'celery'" in result.output) is warned
