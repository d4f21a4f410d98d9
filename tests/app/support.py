"""Driving the app through its HTTP API in tests: start a run, watch its custom status, read its report
and its lineage."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from devhost import DevHost
from shared.azure.clients import artifact_store
from shared.contracts.payloads import BuildDataset, DatasetResult, ProductionWindow
from shared.domain.layout import lineage_path
from shared.domain.lineage import Lineage
from shared.domain.settings import get_settings
from shared.storage.training_set import build_iteration_dataset
from tests.fixtures.app import TEST_RUN_DEFAULTS


def post(host: DevHost, path: str, body: dict[str, Any] | None = None) -> tuple[int, dict[str, Any]]:
    response = host.http("POST", path, json=body or {})
    return response.status_code, json.loads(response.get_body())


def start(host: DevHost, run_id: str, **settings: Any) -> None:
    status, body = post(host, "/api/runs", {"run_id": run_id, "lineage": run_id, **settings})
    assert status == 202, body


def custom_status(host: DevHost, run_id: str) -> dict[str, Any]:
    status = host.get_status_sync(run_id)
    custom = status.custom_status if status is not None else None
    return custom if isinstance(custom, dict) else {}


def wait_until(
    host: DevHost, run_id: str, condition: Callable[[dict[str, Any]], bool], timeout: float = 120
) -> None:
    deadline = time.monotonic() + timeout
    while not condition(custom_status(host, run_id)):
        assert time.monotonic() < deadline, (
            f"{run_id} never got there; custom status {custom_status(host, run_id)}"
        )
        time.sleep(0.02)


def report_of(host: DevHost, run_id: str) -> dict[str, Any]:
    status = asyncio.run(host.wait_for_completion(run_id, timeout=240))
    assert status.runtime_status is not None
    assert status.runtime_status.value == "Completed", status.output
    response = host.http("GET", f"/api/runs/{run_id}")
    assert response.status_code == 200
    report: dict[str, Any] = json.loads(response.get_body())["report"]
    return report


def lineage(name: str) -> Lineage:
    record = artifact_store().read_model(lineage_path(name), Lineage)
    assert record is not None
    return record


def fire_schedule(host: DevHost) -> str:
    """Fires the retraining timer once; returns the id of the run it started (it must start one)."""

    def scheduled() -> set[str]:
        statuses = asyncio.run(host.client.get_status_all())
        return {s.instance_id or "" for s in statuses if (s.instance_id or "").startswith("scheduled-")}

    before = scheduled()
    host.fire_timer("scheduled_retrain")
    (run_id,) = scheduled() - before
    return run_id


def scheduled_run(host: DevHost, settings_env: pytest.MonkeyPatch, lineage: str, **settings: Any) -> str:
    """Fires the retraining timer with run defaults of ``settings`` in a lineage of its own: a run that
    starts without an HTTP request, so without the POST's checks; returns its id."""
    defaults = {**TEST_RUN_DEFAULTS, "lineage": lineage, **settings}
    settings_env.setenv("RUN_DEFAULTS", json.dumps(defaults))
    get_settings.cache_clear()
    return fire_schedule(host)


def production_dataset(
    agent: str, *, seed: int, days: int
) -> tuple[DatasetResult, list[dict[str, Any]], dict[str, Any]]:
    """Builds iteration 1's dataset of a run named after ``agent`` from its production traces of the
    last ``days`` (min_reward 0.01, every rewarded example kept), as a production run's dataset stage
    does; returns the result, the training file's examples and the stats blob's content."""
    request = BuildDataset(
        run_id=agent,
        iteration=1,
        data_filter_ratio=1.0,
        min_reward=0.01,
        seed=seed,
        source="production",
        production=ProductionWindow(agent=agent, end=datetime.now(UTC) + timedelta(seconds=1), days=days),
    )
    result = build_iteration_dataset(artifact_store(), request)
    text = artifact_store().read_text(result.dataset_blob) or ""
    examples = [json.loads(line) for line in text.splitlines()]
    return result, examples, json.loads(artifact_store().read_text(result.stats_blob) or "{}")
