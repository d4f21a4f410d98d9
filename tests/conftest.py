"""Fixtures shared by the whole suite live in tests/fixtures/ as plugins, loaded here.

Property tests (Hypothesis) run under one of two profiles, chosen by ``HYPOTHESIS_PROFILE``:

- ``explore`` (the default, and ``make fuzz``): fresh random examples on every run, so local runs keep
  searching for inputs nobody has tried;
- ``ci`` (.ci/run): the same examples on every run (``derandomize``), so CI judges the change in front of
  it, not the luck of the draw. A property test that finds a new failing input locally prints the blob to
  reproduce it; that input becomes an explicit case before it lands.

Every property test carries ``@pytest.mark.property`` so that ``make fuzz`` finds it; collection fails on
one that does not.
"""

import os

import pytest
from hypothesis import settings

settings.register_profile("explore", print_blob=True)
settings.register_profile("ci", derandomize=True, print_blob=True)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "explore"))

pytest_plugins = ["tests.fixtures.azurite", "tests.fixtures.emulator", "tests.fixtures.app"]


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Refuse a Hypothesis test without the ``property`` marker: ``make fuzz`` would silently miss it."""
    unmarked = [
        item.nodeid
        for item in items
        if isinstance(item, pytest.Function)
        and getattr(item.obj, "is_hypothesis_test", False)
        and item.get_closest_marker("property") is None
    ]
    if unmarked:
        raise pytest.UsageError(f"mark these Hypothesis tests @pytest.mark.property: {', '.join(unmarked)}")
