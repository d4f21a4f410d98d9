"""The emulator's own tests run in the world before the 2026 retirements (tests/emulator/support.py,
``BEFORE_RETIREMENTS``): the session emulator and the factory's emulators. The lifecycle rules have tests
of their own, each starting an emulator with ``--lifecycle table``."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from emulator.launch import EmulatorHandle
from tests.emulator.support import start_before_retirements
from tests.fixtures.emulator import SESSION_FLAGS, stopping_all


@pytest.fixture(scope="session")
def emulator() -> Iterator[EmulatorHandle]:
    handle = start_before_retirements(*SESSION_FLAGS)
    try:
        yield handle
    finally:
        handle.stop()


@pytest.fixture
def emulator_factory() -> Iterator[Callable[..., EmulatorHandle]]:
    yield from stopping_all(start_before_retirements)
