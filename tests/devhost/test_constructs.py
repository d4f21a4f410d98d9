"""Every orchestration construct the app relies on, through DevHost's public API (virtual clock)."""

from __future__ import annotations

import asyncio
import time

import pytest
from azure.durable_functions import OrchestrationRuntimeStatus as Status

from devhost import DevHost
from devhost.history import EventType, parse_time
from tests.devhost import apps
from tests.devhost.support import history_events

pytestmark = pytest.mark.timeout(60)


def test_activity_chain_custom_status_and_json_payloads(vhost: DevHost) -> None:
    status = vhost.run_orchestration("sequence", 3, timeout=10)
    assert status.runtime_status == Status.Completed
    assert status.output["first"] == 6 and status.output["second"] == 12
    assert status.output["echoed"] == {"seen": {"n": 12}, "type": "dict"}  # decoded like the worker does
    assert status.custom_status == {"stage": "done"}
    assert status.input_ == 3
    again = vhost.run_orchestration("sequence", 3, instance_id="seq-fixed", timeout=10)
    same = vhost.run_orchestration("sequence", 3, instance_id="seq-fixed", timeout=10)
    assert again.output["id"] != status.output["id"]
    assert isinstance(same.output["id"], str)


def test_async_fan_out_runs_in_parallel(vhost: DevHost) -> None:
    started = time.monotonic()
    status = vhost.run_orchestration("fan_out", {"n": 20, "seconds": 0.3}, timeout=20)
    elapsed = time.monotonic() - started
    assert status.runtime_status == Status.Completed
    assert status.output == list(range(20))
    assert elapsed < 2.0, f"20 x 0.3 s async activities took {elapsed:.2f} s: not parallel"


def test_sync_fan_out_on_the_thread_pool(vhost: DevHost) -> None:
    status = vhost.run_orchestration("sync_fan_out", timeout=10)
    assert status.output == [i * 2 for i in range(10)]


def test_retry_succeeds_after_failures_with_virtual_waits(vhost: DevHost) -> None:
    status = vhost.run_orchestration(
        "retrying", {"key": "r-ok", "succeed_on": 3, "interval_ms": 5000}, timeout=10
    )
    assert status.output["result"] == "ok after 3"
    assert apps.CALLS["r-ok"] == 3
    assert status.output["elapsed"] >= 10  # two retry intervals of 5 s, in virtual time


def test_retries_exhausted_surface_as_exception(vhost: DevHost) -> None:
    status = vhost.run_orchestration(
        "retrying", {"key": "r-no", "succeed_on": 99, "interval_ms": 1000}, timeout=10
    )
    assert status.runtime_status == Status.Completed
    assert status.output["result"].startswith(
        "gave up: Activity function 'flaky' failed: ValueError: attempt 3"
    )
    assert apps.CALLS["r-no"] == 3  # max_number_of_attempts


def test_fan_out_of_retrying_async_activities(vhost: DevHost) -> None:
    status = vhost.run_orchestration("retry_fan_out", "rf", timeout=20)
    assert status.runtime_status == Status.Completed, status.output
    results = status.output["results"]
    assert [r["index"] for r in results] == list(range(30))
    assert [r["attempts"] for r in results] == [i % 4 + 1 for i in range(30)]
    assert status.output["after"] == 60


def test_task_any_timeout_timer_wins_when_nothing_happens(vhost: DevHost) -> None:
    started = time.monotonic()
    status = vhost.run_orchestration("approval", 24, timeout=10)
    assert status.output["approved"] is None
    assert time.monotonic() - started < 5  # a 24 h timer, virtually


def test_long_polling_loop_of_timers_is_instant(vhost: DevHost) -> None:
    started = time.monotonic()
    status = vhost.run_orchestration("poller", timeout=60)
    assert status.runtime_status == Status.Completed
    assert status.output >= 48 * 3600
    assert status.custom_status == {"poll": 47}
    # 48 hours of durable timers in at most a minute of wall time, even on a loaded machine: the timers
    # fire on devhost's clock, not the wall's.
    assert time.monotonic() - started < 60


def test_a_timer_longer_than_six_days_is_split_into_three_day_legs(vhost: DevHost) -> None:
    status = vhost.run_orchestration("long_wait", instance_id="long-wait", timeout=10)
    assert status.runtime_status == Status.Completed
    assert status.output >= 10 * 86400
    history = history_events(vhost, "long-wait")
    created = [parse_time(e["FireAt"]) for e in history if e["EventType"] == EventType.TIMER_CREATED]
    start = parse_time(history[0]["Timestamp"])
    assert [round((fire - start).total_seconds() / 86400, 3) for fire in created] == [3, 6, 10]


def test_sub_orchestration_success_and_failure(vhost: DevHost) -> None:
    status = vhost.run_orchestration("parent", instance_id="parent-1", timeout=10)
    assert status.output["ok"] == {"child": 42, "parent": "parent-1"}
    assert "child_fails" in status.output["failed"] and "boom: from child" in status.output["failed"]
    child = vhost.get_status_sync("fixed-child-id")
    assert child is not None and child.runtime_status == Status.Failed


def test_sub_orchestration_with_retry(vhost: DevHost) -> None:
    ok = vhost.run_orchestration(
        "parent_retry", {"key": "sub-ok", "succeed_on": 2, "attempts": 3}, timeout=10
    )
    assert ok.output == "ok after 2"
    failed = vhost.run_orchestration(
        "parent_retry", {"key": "sub-no", "succeed_on": 9, "attempts": 2}, timeout=10
    )
    assert failed.output.startswith("gave up: Orchestrator function 'child_flaky' failed: Activity function")
    assert apps.CALLS["sub-no"] == 2


def test_continue_as_new_keeps_history_bounded(vhost: DevHost) -> None:
    status = vhost.run_orchestration(
        "counter", {"value": 1, "round": 0, "rounds": 30}, instance_id="cnt", timeout=20
    )
    assert status.runtime_status == Status.Completed
    assert status.output["round"] == 29
    history = history_events(vhost, "cnt")
    assert len(history) < 12, "history must restart with each continue_as_new"


def test_activity_failure_fails_the_orchestration(vhost: DevHost) -> None:
    status = vhost.run_orchestration("fails_directly", timeout=10)
    assert status.runtime_status == Status.Failed
    assert "Activity function 'boom' failed: RuntimeError: boom: direct" in status.output


def test_unknown_activity_is_named(vhost: DevHost) -> None:
    status = vhost.run_orchestration("calls_missing", timeout=10)
    assert status.runtime_status == Status.Failed
    assert "no_such_activity" in status.output


def test_unknown_orchestrator_is_refused_by_name(vhost: DevHost) -> None:
    with pytest.raises(Exception, match="no_such_orchestrator"):
        asyncio.run(vhost.client.start_new("no_such_orchestrator", None, None))


def test_non_determinism_is_caught(vhost: DevHost) -> None:
    apps.NONDETERMINISTIC["flip"] = False
    status = vhost.run_orchestration("nondeterministic", timeout=10)
    assert status.runtime_status == Status.Failed
    assert status.output == (
        "Non-Deterministic workflow detected: A previous execution of this orchestration scheduled an "
        "activity task named 'double' with sequence number 0, but the current orchestration replay instead "
        "scheduled a task named 'echo' with this sequence number.  Was a change made to the orchestrator "
        "code after this instance had already started running?"
    )


def test_terminate_running_instance_and_purge(vhost: DevHost) -> None:
    async def scenario() -> None:
        client = vhost.client
        instance_id = await client.start_new("waits_forever", "to-terminate", None)
        with pytest.raises(Exception):  # noqa: B017 - the SDK raises a bare Exception on 409
            await client.start_new("waits_forever", "to-terminate", None)
        await client.terminate(instance_id, "no longer needed")
        status = await vhost.wait_for_completion(instance_id, timeout=10)
        assert status.runtime_status == Status.Terminated
        assert status.output == "no longer needed"
        result = await client.purge_instance_history(instance_id)
        assert result.instances_deleted == 1
        assert not await client.get_status(instance_id)

    asyncio.run(scenario())


def test_start_new_replaces_a_finished_instance(vhost: DevHost) -> None:
    vhost.run_orchestration("sequence", 1, instance_id="reuse", timeout=10)
    second = vhost.run_orchestration("sequence", 2, instance_id="reuse", timeout=10)
    assert second.output["first"] == 4


async def test_client_from_a_pytest_asyncio_test(vhost: DevHost) -> None:
    instance_id = await vhost.client.start_new("sequence", None, 10)
    status = await vhost.wait_for_completion(instance_id, timeout=10)
    assert status.output["second"] == 40
    fetched = await vhost.client.get_status(instance_id)
    assert fetched.runtime_status == Status.Completed and fetched.output == status.output


def test_external_event_wins_over_timeout(rhost: DevHost) -> None:
    async def scenario() -> None:
        instance_id = await rhost.client.start_new("approval", None, 1)  # a real 1 h timeout
        await rhost.client.raise_event(instance_id, "approve", {"by": "alice"})
        status = await rhost.wait_for_completion(instance_id, timeout=10)
        assert status.output == {"approved": {"by": "alice"}}

    asyncio.run(scenario())


def test_real_clock_waits_for_timers(rhost: DevHost) -> None:
    started = time.monotonic()
    status = rhost.run_orchestration(
        "retrying", {"key": "real", "succeed_on": 2, "interval_ms": 700}, timeout=10
    )
    assert status.output["result"] == "ok after 2"
    assert time.monotonic() - started >= 0.7


def test_virtual_idle_seconds_paces_timer_skips() -> None:
    with DevHost(apps.app, clock="virtual", virtual_idle_seconds=0.2) as host:
        started = time.monotonic()
        spec = {"key": "paced", "succeed_on": 3, "interval_ms": 60_000}
        status = host.run_orchestration("retrying", spec, timeout=10)
        real = time.monotonic() - started
    assert status.output["result"] == "ok after 3"
    assert status.output["elapsed"] >= 120  # two one-minute retry timers, virtually
    assert 0.4 <= real < 5
