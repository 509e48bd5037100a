"""Engine tests run on MemoryPersistence; the probe nodes' call log starts empty."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from tests.engine._harness import CALLS, EVENTS


@pytest.fixture(autouse=True)
def _fresh_probes() -> Iterator[None]:
    CALLS.clear()
    EVENTS.clear()
    yield
    CALLS.clear()
    EVENTS.clear()
