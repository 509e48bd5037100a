"""schemathesis with each role (docs/security.md §1): for generated requests to every
operation, made with a viewer's, an operator's and an admin's token on a server with
auth required, no 5xx, and every status (401/403 included) documented for the
operation. Few examples per operation: the full generation runs in
``test_schemathesis.py`` with auth off."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import status_code_conformance
from tests.conftest import LiveServer, serving

from spurline.services.auth import Role
from spurline.services.secrets import generate_key

EXAMPLES = 3


@pytest.fixture(scope="module")
def secured(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[LiveServer, dict[str, str]]]:
    home = Path(tmp_path_factory.mktemp("roles"))
    with serving(home, "sqlite", auth="required", secret_key=generate_key()) as srv:
        auth = srv.runtime.auth
        # names schemathesis will not guess, so a generated DELETE /tokens/{name} cannot
        # revoke the tokens the test drives the API with
        yield srv, {r.value: auth.create_token(f"st-{r.value}-7q3z", r)[1] for r in Role}


@pytest.mark.parametrize("role", [r.value for r in Role])
def test_each_role_gets_no_5xx_and_only_documented_statuses(
    secured: tuple[LiveServer, dict[str, str]], role: str
) -> None:
    srv, tokens = secured
    schema = schemathesis.openapi.from_url(f"{srv.url}/openapi.json")
    headers = {"Authorization": f"Bearer {tokens[role]}"}
    failures: dict[str, str] = {}
    operations = [result.ok() for result in schema.get_all_operations()]
    operations.sort(key=lambda op: op.method.upper() == "DELETE")
    for operation in operations:

        @given(case=operation.as_strategy(schemathesis.GenerationMode.POSITIVE))
        @settings(
            max_examples=EXAMPLES,
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        def run(case: schemathesis.Case) -> None:
            case.call_and_validate(
                headers=headers, checks=[not_a_server_error, status_code_conformance], timeout=30
            )

        try:
            run()
        except BaseException as exc:
            if not isinstance(exc, Exception | BaseExceptionGroup):
                raise
            failures[operation.label] = f"{type(exc).__name__}: {exc}"
    assert failures == {}, "\n\n".join(f"{k}: {v}" for k, v in failures.items())
