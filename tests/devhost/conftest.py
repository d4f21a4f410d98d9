"""Fixtures for the devhost suite: hosts around the purpose-written apps in ``apps.py``."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from devhost import DevHost
from tests.devhost import patterns
from tests.devhost.apps import app


@pytest.fixture(scope="module")
def vhost() -> Iterator[DevHost]:
    """A virtual-clock host shared by a module (tests use distinct instance ids)."""
    with DevHost(app, clock="virtual", max_workers=8) as host:
        yield host


@pytest.fixture
def rhost() -> Iterator[DevHost]:
    """A real-clock host."""
    with DevHost(app, clock="real", max_workers=4) as host:
        yield host


@pytest.fixture(scope="module")
def phost() -> Iterator[DevHost]:
    """A virtual-clock host for the pattern app (tests use distinct instance ids)."""
    with DevHost(patterns.app, clock="virtual", max_workers=8) as host:
        yield host
