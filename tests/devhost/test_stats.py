"""``host.history_stats``: history size and replay time per instance, over continue_as_new generations."""

from __future__ import annotations

from pathlib import Path

import pytest

from devhost import DevHost
from tests.devhost import apps

pytestmark = pytest.mark.timeout(60)


def test_a_chain_of_three_activities(vhost: DevHost) -> None:
    vhost.run_orchestration("sequence", 1, instance_id="stats-seq", timeout=10)
    stats = vhost.history_stats("stats-seq")
    # episodes replay 2, 6, 10 and 14 events: [OrchestratorStarted, ExecutionStarted], then each episode
    # adds TaskScheduled, OrchestratorCompleted, OrchestratorStarted, TaskCompleted; the last one ends with
    # OrchestratorCompleted and ExecutionCompleted
    assert (stats.generations, stats.episodes, stats.events, stats.events_all_generations) == (1, 4, 16, 16)
    assert stats.events_replayed == 2 + 6 + 10 + 14
    assert stats.runtime_status == "Completed" and stats.sub_orchestrations == []
    assert stats.replay_ms_total > 0
    assert stats.replay_ms_per_episode == pytest.approx(stats.replay_ms_total / 4)
    assert stats.replay_ms_per_event == pytest.approx(stats.replay_ms_total / 32)
    assert stats.replay_ms_max_episode >= stats.replay_ms_last_episode > 0


def test_continue_as_new_generations_are_summed(vhost: DevHost) -> None:
    vhost.run_orchestration(
        "counter", {"value": 1, "round": 0, "rounds": 30}, instance_id="stats-can", timeout=20
    )
    stats = vhost.history_stats("stats-can")
    # generation 1: 2 episodes replaying 2 and 6 events, ending with 8; every later one starts as DTFx
    # starts it, [OrchestratorStarted, ExecutionStarted, OrchestratorCompleted]: 3 and 7 events, ending with 9
    assert (stats.generations, stats.episodes, stats.events) == (30, 60, 9)
    assert stats.events_all_generations == 8 + 29 * 9
    assert stats.events_replayed == (2 + 6) + 29 * (3 + 7)


def test_sub_orchestrations_are_listed_and_measured_by_id(vhost: DevHost) -> None:
    vhost.run_orchestration("parent", instance_id="stats-parent", timeout=10)
    stats = vhost.history_stats("stats-parent")
    assert stats.sub_orchestrations[-1] == "fixed-child-id"
    assert len(stats.sub_orchestrations) == 2
    child = vhost.history_stats("fixed-child-id")
    assert child.runtime_status == "Failed" and child.episodes == 2
    with pytest.raises(KeyError, match="nope"):
        vhost.history_stats("nope")


def test_stats_survive_a_restart_on_the_same_store(tmp_path: Path) -> None:
    with DevHost(apps.app, clock="virtual", store_dir=tmp_path) as host:
        host.run_orchestration("sequence", 1, instance_id="kept", timeout=10)
        before = host.history_stats("kept")
    with DevHost(apps.app, clock="virtual", store_dir=tmp_path) as host:
        assert host.history_stats("kept") == before
