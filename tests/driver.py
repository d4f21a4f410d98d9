"""The one way tests drive runs: start them through ``POST /api/runs`` (or the retraining timer), watch
their status, wait for their end and read their report, typed as the app writes it (``RunReport``).

Waits poll ``DevHost.get_status_sync`` on the calling thread instead of ``asyncio.run``: Playwright's
sync API owns the dashboard tests' event loop, and one driver serves every test package.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from azure.durable_functions import OrchestrationRuntimeStatus
from azure.durable_functions.models.DurableOrchestrationStatus import DurableOrchestrationStatus

from api.runs import SCHEDULED_PREFIX
from devhost import DevHost, worker
from shared.domain.report import RunReport
from shared.domain.settings import get_settings

# Short polls and retries so that a run's waits, virtual in tests, need few replays; one sample per
# evaluated task, so a run's evaluations take a quarter of the rollouts (tests of evaluation and
# promotion set eval_samples_per_task themselves).
TEST_RUN_DEFAULTS = {
    "eval_samples_per_task": 1,
    "file_poll_seconds": 5,
    "job_poll_initial_seconds": 5,
    "job_poll_max_seconds": 60,
    "deployment_poll_seconds": 5,
    "retry_first_interval_seconds": 1,
    "retry_max_attempts": 4,
}
TERMINAL = frozenset(
    {
        OrchestrationRuntimeStatus.Completed,
        OrchestrationRuntimeStatus.Failed,
        OrchestrationRuntimeStatus.Terminated,
    }
)
POLL_SECONDS = 0.02

Custom = dict[str, Any]
"""A run's custom status (iteration, stage, message, awaiting, ...): JSON the orchestrator sets."""


@dataclass(frozen=True)
class Runs:
    """Runs of the app hosted by ``host``, driven through its HTTP API as a user would."""

    host: DevHost

    def call(self, method: str, path: str, body: dict[str, Any] | None = None) -> tuple[int, dict[str, Any]]:
        """Any JSON endpoint of the app: the HTTP status and the decoded body, for tests that check an
        answer's contract (a refusal, the lineage API, the run's raw JSON)."""
        response = self.host.http(method, path, json=body)
        decoded: dict[str, Any] = json.loads(response.get_body())
        return response.status_code, decoded

    def post(self, path: str, body: dict[str, Any] | None = None) -> tuple[int, dict[str, Any]]:
        """A POST with a JSON body (empty unless given), as the API's clients send one."""
        return self.call("POST", path, body or {})

    def cancel(self, run_id: str, reason: str | None = None) -> None:
        """Asks the run to cancel (``POST /api/runs/{run_id}/cancel``), which it must accept."""
        status, body = self.post(f"/api/runs/{run_id}/cancel", None if reason is None else {"reason": reason})
        assert status == 202, body

    def start(self, run_id: str, **settings: Any) -> str:
        """Starts a run and returns its id. Unless ``settings`` name a lineage, the run gets one of its own
        named after it: the suite shares one Azurite, and lineages outlive runs."""
        status, body = self.post("/api/runs", {"run_id": run_id, "lineage": run_id, **settings})
        assert status == 202, body
        assert body["statusQueryGetUri"]
        assert body["run_url"].endswith(f"/api/runs/{body['run_id']}")
        started: str = body["run_id"]
        return started

    def status(self, instance_id: str) -> DurableOrchestrationStatus | None:
        """The orchestration's status as the Durable API reports it; None while it does not exist."""
        return self.host.get_status_sync(instance_id)

    def custom(self, run_id: str) -> Custom:
        """The run's custom status; empty before the orchestrator has set one."""
        status = self.status(run_id)
        custom = status.custom_status if status is not None else None
        return custom if isinstance(custom, dict) else {}

    def wait_until(self, run_id: str, condition: Callable[[Custom], bool], timeout: float = 240) -> Custom:
        """Waits until the run's custom status meets ``condition``; returns that custom status."""
        deadline = time.monotonic() + timeout
        while not condition(custom := self.custom(run_id)):
            assert time.monotonic() < deadline, f"{run_id} never got there; custom status {custom}"
            time.sleep(POLL_SECONDS)
        return custom

    def ended(self, instance_id: str, timeout: float = 240) -> DurableOrchestrationStatus:
        """Waits until the orchestration is Completed, Failed or Terminated; returns its last status."""
        deadline = time.monotonic() + timeout
        while (status := self.status(instance_id)) is None or status.runtime_status not in TERMINAL:
            assert time.monotonic() < deadline, f"{instance_id} did not end in {timeout} s: {status}"
            time.sleep(POLL_SECONDS)
        return status

    def report(self, run_id: str) -> RunReport:
        """The report of a run that has ended, as ``GET /api/runs/{run_id}`` answers it."""
        status, body = self.call("GET", f"/api/runs/{run_id}")
        assert status == 200, body
        return RunReport.model_validate(body["report"])

    def finish(self, run_id: str, instance_id: str | None = None) -> RunReport:
        """Waits for the run's orchestration (or ``instance_id``, one that ends it: an upkeep, a
        reconciliation) to complete, and returns the run's report."""
        status = self.ended(instance_id or run_id)
        assert status.runtime_status == OrchestrationRuntimeStatus.Completed, status.output
        return self.report(run_id)

    def fire_schedule(self) -> str:
        """Fires the retraining timer once; returns the id of the run it started (it must start one)."""
        before = self.instances(SCHEDULED_PREFIX)
        self.host.fire_timer("scheduled_retrain")
        (run_id,) = self.instances(SCHEDULED_PREFIX) - before
        return run_id

    def scheduled_run(self, settings_env: pytest.MonkeyPatch, lineage: str, **settings: Any) -> str:
        """Fires the retraining timer with run defaults of ``settings`` in a lineage of its own: a run that
        starts without an HTTP request, so without the POST's checks; returns its id."""
        defaults = {**TEST_RUN_DEFAULTS, "lineage": lineage, **settings}
        settings_env.setenv("RUN_DEFAULTS", json.dumps(defaults))
        get_settings.cache_clear()
        return self.fire_schedule()

    def terminate(self, instance_id: str, reason: str) -> DurableOrchestrationStatus:
        """Terminates the orchestration as an operator would (the Durable API, not the app's cancel) and
        waits until it has ended."""
        worker.run_sync(self.host.client.terminate(instance_id, reason))
        return self.ended(instance_id)

    def instances(self, prefix: str = "") -> set[str]:
        """The ids, starting with ``prefix``, of the orchestration instances the host has, whatever their
        state (a run's stages are instances of their own; ``SCHEDULED_PREFIX`` picks the timer's runs)."""
        statuses = worker.run_sync(self.host.client.get_status_all())
        ids = (status.instance_id or "" for status in statuses)
        return {instance for instance in ids if instance and instance.startswith(prefix)}
