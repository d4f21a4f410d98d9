"""host.json ``maxConcurrentActivityFunctions`` bounds ``def`` and ``async def`` activities together;
the throttles (and ``maxEntityOperationBatchSize``, see test_entities.py) are validated as the extension
validates them."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from devhost import DevHost
from tests.devhost import patterns

pytestmark = pytest.mark.timeout(60)


def host_json(directory: Path, durable_task: dict[str, object]) -> Path:
    (directory / "host.json").write_text(
        json.dumps({"version": "2.0", "extensions": {"durableTask": durable_task}})
    )
    return directory


@pytest.mark.parametrize("activity", ["work", "sync_work"])
def test_the_activity_limit_from_host_json_bounds_async_and_sync_activities(
    tmp_path: Path, activity: str
) -> None:
    config = host_json(tmp_path, {"maxConcurrentActivityFunctions": 3})
    with DevHost(patterns.app, clock="virtual", max_workers=8, config_dir=config) as host:
        assert host.engine.limits.activities == 3
        patterns.RUNNING.reset()
        spec = {"activity": activity, "n": 10, "seconds": 0.1}
        status = host.run_orchestration("fan_out", spec, timeout=20)
    assert status.output == list(range(10))
    assert patterns.RUNNING.peak == 3


def test_an_explicit_limit_overrides_host_json(tmp_path: Path) -> None:
    config = host_json(
        tmp_path, {"maxConcurrentActivityFunctions": 3, "maxConcurrentOrchestratorFunctions": 2}
    )
    with DevHost(patterns.app, config_dir=config, max_concurrent_activities=5) as host:
        assert (host.engine.limits.activities, host.engine.limits.orchestrators) == (5, 2)
        patterns.RUNNING.reset()
        host.run_orchestration("fan_out", {"activity": "work", "n": 10, "seconds": 0.1}, timeout=20)
    assert patterns.RUNNING.peak == 5


def test_unset_limits_take_the_extension_defaults(tmp_path: Path) -> None:
    with DevHost(patterns.app, config_dir=host_json(tmp_path, {})) as host:
        expected = 10 * (os.cpu_count() or 1)
        assert (host.engine.limits.activities, host.engine.limits.orchestrators) == (expected, expected)
        assert host.engine.limits.entity_batch == 5000


@pytest.mark.parametrize(
    ("setting", "value"),
    [
        ("maxConcurrentActivityFunctions", 0),
        ("maxConcurrentOrchestratorFunctions", -1),
        ("maxConcurrentActivityFunctions", "8"),
        ("maxEntityOperationBatchSize", 0),
    ],
)
def test_a_limit_that_is_not_a_positive_integer_is_refused(
    tmp_path: Path, setting: str, value: object
) -> None:
    with pytest.raises(ValueError, match=f"extensions.durableTask.{setting} must be a positive integer"):
        DevHost(patterns.app, config_dir=host_json(tmp_path, {setting: value}))


def test_a_host_json_that_is_not_json_is_refused(tmp_path: Path) -> None:
    (tmp_path / "host.json").write_text('{"version": "2.0",')
    with pytest.raises(ValueError, match=r"host.json is not valid JSON .*; fix it or remove it"):
        DevHost(patterns.app, config_dir=tmp_path)
