"""Fixtures for API tests that can share one server per module and backend.

Tests that only read or that reject bad input do not need a fresh store each; a
module that wants one server for all its tests overrides ``client`` with
``shared_client`` (see ``test_bad_input.py``), which keeps the suite fast.
"""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from tests.conftest import DEPLOYMENTS, LiveServer, serving


@pytest.fixture(scope="module", params=DEPLOYMENTS)
def shared_server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LiveServer]:
    """One live server per test module and backend (Celery deployment included), on a
    fresh store."""
    with serving(tmp_path_factory.mktemp("store"), str(request.param)) as srv:
        yield srv


@pytest.fixture
def shared_client(shared_server: LiveServer) -> Iterator[httpx.Client]:
    """An HTTP client for the module's shared server."""
    with httpx.Client(base_url=shared_server.url, timeout=60) as c:
        yield c
