"""Rollout stages under a rate limit (issue 11): the app's stage sub-orchestration, its lanes and its
rollout activity in devhost (virtual clock) against the session emulator, driven by
``bench.stage_driver`` exactly as the run orchestrator drives a stage.

The session emulator runs with ``--rate-limit-scale 100``; a test that wants a tight limit sets the
admin fault ``rate_limit_scale`` (the teacher deployment has capacity 100 of gpt-5.1, 6 RPM per unit
as the emulator counts models outside the quota table, so scale 1 is 600 RPM, 100 requests per 10 s
window). ARM reports the scaled limit in
``properties.rateLimits``, which is what the stage paces to.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Iterator
from types import ModuleType
from typing import Any

import azure.durable_functions as df
import openai
import pytest
from azure.durable_functions.models.DurableOrchestrationStatus import DurableOrchestrationStatus

from bench.stage_driver import DRIVER, StageRun, build_app, stage_instance
from devhost import DevHost
from emulator.launch import TEACHER_DEPLOYMENT, EmulatorHandle
from orchestrators.rollout_stage import LANE_ROLLOUTS_PER_EXECUTION
from shared.agents import get_agent
from shared.azure.clients import artifact_store
from shared.contracts.payloads import CancelRequest
from shared.domain.layout import cancel_request_path
from shared.domain.report import RolloutStats
from tests.driver import Runs

pytestmark = pytest.mark.timeout(240)
DEPLOYMENT = TEACHER_DEPLOYMENT
TRAIN_SIZE = len(get_agent("capital_lookup").load_splits(None).train)


@pytest.fixture
def stage_host(function_app: ModuleType) -> Iterator[DevHost]:
    with DevHost(build_app(), clock="virtual", max_workers=8) as host:
        yield host


def drive(host: DevHost, run: StageRun) -> DurableOrchestrationStatus:
    return host.run_orchestration(DRIVER, run.model_dump(), instance_id=run.run_id, timeout=200)


def stage(host: DevHost, run: StageRun) -> RolloutStats:
    """Runs the stage; its stats, from the driver's output."""
    status = drive(host, run)
    assert status.runtime_status == df.OrchestrationRuntimeStatus.Completed, status.output
    return RolloutStats.model_validate(status.output)


def run_of(run_id: str, group: str, count: int, **settings: Any) -> StageRun:
    return StageRun(
        run_id=run_id, group=group, deployment=DEPLOYMENT, count=count, modulo=TRAIN_SIZE, settings=settings
    )


def fill_the_request_window(emulator: EmulatorHandle) -> int:
    """Another client bursts at the deployment until Azure refuses it: the window is full."""
    client = emulator.azure_openai(max_retries=0)
    sent = 0
    while True:
        try:
            client.chat.completions.create(
                model=DEPLOYMENT, messages=[{"role": "user", "content": "ping"}], max_tokens=1
            )
        except openai.RateLimitError:
            return sent
        sent += 1


def test_a_burst_on_a_tight_limit_ends_with_every_rollout_ok_and_none_scored_zero(
    stage_host: DevHost, emulator_reset: EmulatorHandle
) -> None:
    """48 rollouts (96 chat calls, about the window's share of 100) on a 600-RPM deployment whose
    window another client has just filled: every rollout waits out its 429s and ends ok, and the mean
    reward is the one the same tasks earn without any throttling."""
    emulator_reset.set_faults(rate_limit_scale=1)
    calm = stage(stage_host, run_of("scale-burst", "calm", 48))
    time.sleep(10.5)  # the calm stage's requests leave the 10 s window
    assert fill_the_request_window(emulator_reset) > 0
    burst = stage(stage_host, run_of("scale-burst", "burst", 48))

    assert (burst.ok, burst.failed, burst.throttled, burst.cancelled) == (48, 0, 0, 0)
    assert burst.throttled_retries > 0, "the full window must have answered 429s"
    assert burst.lowest_remaining_requests == 0
    assert burst.reward == calm.reward
    assert (calm.ok, calm.throttled_retries) == (48, 0), "paced below the limit, nothing was refused"
    assert burst.limit_rpm is not None and 590 <= burst.limit_rpm <= 610
    assert burst.limit_source is not None and burst.limit_source.startswith("ARM rateLimits")
    assert burst.traces_prefix == "traces/scale-burst/01/burst/" != calm.traces_prefix


def test_an_eval_stage_under_30_percent_injected_429s_earns_the_same_mean_reward(
    stage_host: DevHost, emulator_reset: EmulatorHandle
) -> None:
    val_size = len(get_agent("capital_lookup").load_splits(None).val)
    clean = stage(
        stage_host, StageRun(**{**run_of("scale-429", "clean", val_size).model_dump(), "split": "val"})
    )
    emulator_reset.set_faults(routes=[{"route": "chat", "status": 429, "rate": 0.3, "retry_after": 0.05}])
    faulty = stage(
        stage_host, StageRun(**{**run_of("scale-429", "faulty", val_size).model_dump(), "split": "val"})
    )

    assert faulty.throttled_retries > 0
    assert (faulty.ok, faulty.failed, faulty.throttled) == (val_size, 0, 0)
    assert faulty.reward == clean.reward
    assert clean.reward is not None and 0 < clean.reward < 1


def test_agent_errors_score_zero_and_count_as_failed(
    stage_host: DevHost, emulator_reset: EmulatorHandle
) -> None:
    """A deployment that does not exist: every chat call is a 404, the agent's error, scored 0."""
    run = run_of("scale-missing", "val", 6).model_copy(update={"deployment": "no-such-deployment"})
    stats = stage(stage_host, run)
    assert (stats.ok, stats.failed, stats.throttled, stats.reward) == (0, 6, 0, 0.0)
    assert stats.limit_rpm is None and stats.limit_source == "not found"


def test_stage_and_lane_outputs_decode_without_sdk_type_warnings(
    stage_host: DevHost, emulator_reset: EmulatorHandle, caplog: pytest.LogCaptureFixture
) -> None:
    """Lanes and the stage return dicts (and a finished lane execution None); the SDK would otherwise
    check them against its orchestrator wrapper's ``-> str`` and warn on every replay."""
    caplog.set_level(logging.WARNING, logger="azure.functions")
    stats = stage(stage_host, run_of("scale-decode", "train", 8, max_concurrent_rollouts=2))
    assert stats.ok == 8
    sdk_warnings = [
        record.getMessage() for record in caplog.records if record.name.startswith("azure.functions")
    ]
    assert sdk_warnings == []


def test_history_does_not_grow_with_the_number_of_rollouts(
    stage_host: DevHost, emulator_reset: EmulatorHandle
) -> None:
    """The same lanes for 16 and 64 rollouts: the driver (the run orchestrator's part) has the same
    history; the stage's is bounded by its lanes (started, limits read, one episode per lane that
    finishes: 8 + 4 per lane at most); every lane execution stays under a fixed size."""
    driver_events = set()
    for count in (16, 64):
        run = run_of(f"scale-history-{count}", "train", count, max_concurrent_rollouts=4)
        stats = stage(stage_host, run)
        assert (stats.ok, stats.concurrency) == (count, 4)
        driver, child = stage_host.history_stats(run.run_id), stage_host.history_stats(stage_instance(run))
        lanes = [stage_host.history_stats(lane) for lane in child.sub_orchestrations]
        assert len(lanes) == 4
        assert sum(lane.generations for lane in lanes) == 4 * math.ceil(
            count / 4 / LANE_ROLLOUTS_PER_EXECUTION
        )
        per_execution = max(lane.events_all_generations / lane.generations for lane in lanes)
        assert per_execution <= 6 * LANE_ROLLOUTS_PER_EXECUTION + 10, per_execution
        assert child.events <= 8 + 4 * 4, child.events
        driver_events.add(driver.events)
    assert len(driver_events) == 1, driver_events


def test_a_cancel_request_stops_the_lanes_at_their_next_rollout(
    stage_host: DevHost, emulator_reset: EmulatorHandle
) -> None:
    """300 rollouts on a 600-RPM deployment would take a minute; once the run's cancel marker is in
    Blob, each lane stops at its next rollout and the stage ends within seconds, the rest counted as
    cancelled (never run, never scored). The driver, like the run orchestrator, then raises
    RunCancelled."""
    emulator_reset.set_faults(rate_limit_scale=1)
    run = run_of("scale-cancel", "train", 300)

    def cancel_soon() -> None:
        time.sleep(3)
        artifact_store().write_json(
            cancel_request_path(run.run_id), CancelRequest(requested=True, reason="t")
        )

    threading.Thread(target=cancel_soon, daemon=True).start()
    status = drive(stage_host, run)

    assert status.runtime_status == df.OrchestrationRuntimeStatus.Failed
    assert "the cancel request stopped" in str(status.output), status.output
    child = stage_host.get_status_sync(stage_instance(run))
    assert child is not None
    stats = RolloutStats.model_validate(child.output)
    # Most of the stage never ran: it stopped at the lanes' next rollouts, not when the work ran out
    # (counted, not timed: a loaded machine stretches the seconds, not the count).
    assert stats.cancelled > 200
    assert stats.ok + stats.failed + stats.throttled + stats.cancelled == 300
    assert stats.failed == stats.throttled == 0


def test_the_report_shows_every_rollout_stage(runs: Runs, emulator_reset: EmulatorHandle) -> None:
    """A one-iteration run under 20 % injected 429s: the baseline's stage and the iteration's train,
    val and champion-val stages are in the report with their counts, limits and trace prefixes; the
    429s were waited out, so nothing is throttled and the evaluation is complete."""
    emulator_reset.set_faults(routes=[{"route": "chat", "status": 429, "rate": 0.2, "retry_after": 0.05}])
    # Every rewarded example kept: the iteration has Azure's 10 to train on, so it reaches its evaluation.
    report = runs.finish(runs.start("scale-report", iterations=1, data_filter_ratio=1.0))
    assert report.baseline is not None
    (baseline,) = report.baseline.rollout_stages
    (entry,) = report.iterations
    train, val, beside = entry.rollout_stages
    stages = (baseline, train, val, beside)
    assert [stage.group for stage in stages] == ["baseline", "train", "val", "champion-val"]
    assert [(stage.rollouts, stage.ok) for stage in stages] == [(16, 16), (24, 24), (16, 16), (16, 16)]
    assert sum(stage.throttled for stage in stages) == 0
    assert sum(stage.throttled_retries for stage in stages) > 0
    assert report.baseline.traces_prefix == baseline.traces_prefix == "traces/scale-report/00/baseline/"
    assert entry.traces_prefix == train.traces_prefix == "traces/scale-report/01/train/"
    assert entry.val_traces_prefix == val.traces_prefix == "traces/scale-report/01/val/"
    assert beside.traces_prefix == "traces/scale-report/01/champion-val/"
    for stage in stages:
        assert len(artifact_store().list_paths(stage.traces_prefix)) == stage.rollouts
        assert stage.limit_rpm is not None and stage.concurrency >= 1
        assert stage.llm_calls >= stage.rollouts
    assert (entry.val_reward, entry.val_throttled, entry.rollouts_throttled) == (val.reward, 0, 0)
    assert entry.promotion in {"promoted", "not_better"}
