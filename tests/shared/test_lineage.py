"""The lineage record: claiming, version reservation that never reuses a name, champions; and the
ETag-conditional read-modify-write that keeps concurrent writers from losing each other's changes."""

from __future__ import annotations

import re
import threading
from typing import Any

import pytest
from azure.storage.blob import BlobServiceClient
from hypothesis import given
from hypothesis import strategies as st

from shared.domain.lineage import (
    ActiveRun,
    Champion,
    Lineage,
    LineageBusyError,
    ModelVersion,
    champion_deployment_name,
    claim,
    crown,
    deployment_name,
    mark_deleted,
    mark_jobs_deleted,
    models_to_forget,
    new_lineage,
    previous_champion,
    release,
    reserve_version,
)
from shared.domain.settings import DEPLOYMENT_PREFIX_PATTERN, STRICT_DEPLOYMENT_NAME_PATTERN
from shared.storage.artifacts import ArtifactStore

NOW = "2026-11-25T00:00:00+00:00"


def run(run_id: str) -> ActiveRun:
    return ActiveRun(run_id=run_id, instance_id=run_id, since=NOW)


def entry(run_id: str, iteration: int) -> ModelVersion:
    return ModelVersion(version=0, run_id=run_id, iteration=iteration, parent_model="base", created_at=NOW)


def champion(version: int, model: str) -> Champion:
    return Champion(
        version=version,
        model=model,
        deployment=f"p_v{version:02d}",
        val_reward=0.5,
        since=NOW,
        run_id="r1",
        reason="promoted",
    )


def test_deployment_names_grow_past_two_digits() -> None:
    assert deployment_name("agent", 1) == "agent_v01"
    assert deployment_name("agent", 99) == "agent_v99"
    assert deployment_name("agent", 100) == "agent_v100"


def test_one_active_run_at_a_time_and_takeover_of_an_ended_run() -> None:
    lineage = claim(new_lineage("l", "p", NOW), run("r1"))
    assert lineage.active_run == run("r1")
    assert claim(lineage, run("r1")) == lineage, "claiming again is a no-op"
    with pytest.raises(LineageBusyError, match="r1"):
        claim(lineage, run("r2"))
    taken_over = claim(lineage, run("r2"), take_over="r1")
    assert taken_over.active_run == run("r2")
    assert release(taken_over, "r1") == taken_over, "only the holder releases"
    assert release(taken_over, "r2").active_run is None


def test_versions_continue_across_runs_and_skip_names_taken_by_others() -> None:
    lineage = new_lineage("l", "p", NOW)
    for iteration in (1, 2, 3):
        lineage = reserve_version(lineage, entry("r1", iteration), taken=set())
    assert [item.version for item in lineage.versions] == [1, 2, 3]
    lineage = reserve_version(lineage, entry("r2", 1), taken={"p_v04", "p_v05"})
    reserved = lineage.version_of("r2", 1)
    assert reserved is not None
    assert reserved.version == 6
    assert lineage.next_version == 7
    again = reserve_version(lineage, entry("r2", 1), taken=set())
    assert again == lineage, "a retried reservation keeps its version"


def test_crowning_is_idempotent_and_rollback_finds_the_previous_champion() -> None:
    lineage = crown(new_lineage("l", "p", NOW), champion(0, "base"))
    lineage = crown(lineage, champion(2, "ft-2"))
    assert crown(lineage, champion(2, "ft-2")) == lineage
    assert lineage.champion is not None
    assert lineage.champion.model == "ft-2"
    assert [item.model for item in lineage.champion_history] == ["base", "ft-2"]
    previous = previous_champion(lineage)
    assert previous is not None
    assert previous.model == "base"


def store_for(azurite: Any, container: str) -> ArtifactStore:
    service = BlobServiceClient.from_connection_string(azurite.connection_string)
    return ArtifactStore(service.get_container_client(container))


def test_concurrent_updates_lose_nothing(azurite: Any) -> None:
    """Four writers each reserve two versions for their own run at the same time: every reservation
    survives, with distinct versions, because a write over a changed blob is retried, not applied."""
    store = store_for(azurite, "lineage-concurrency")
    path = "lineages/l/lineage.json"
    store.update_model(path, Lineage, lambda current: current or new_lineage("l", "p", NOW))
    errors: list[BaseException] = []

    def writer(run_id: str) -> None:
        try:
            for iteration in (1, 2):

                def change(current: Lineage | None, iteration: int = iteration) -> Lineage:
                    assert current is not None
                    return reserve_version(current, entry(run_id, iteration), taken=set())

                store.update_model(path, Lineage, change)
        except BaseException as exc:  # noqa: BLE001 - re-raised in the main thread below
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(f"r{k}",)) for k in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    final = store.read_model(path, Lineage)
    assert final is not None
    assert sorted(item.version for item in final.versions) == list(range(1, 9))
    assert final.next_version == 9


def trained(version: int, deployment: str | None = None) -> ModelVersion:
    return ModelVersion(
        version=version,
        run_id="r1",
        iteration=version,
        parent_model="base",
        created_at=NOW,
        model=f"ft-{version}",
        job_id=f"job-{version}",
        deployment=deployment,
        status="trained",
    )


def test_jobs_are_forgotten_unless_a_champion_the_latest_or_a_deployment_needs_them() -> None:
    lineage = new_lineage("l", "p", NOW).model_copy(
        update={"versions": [trained(1), trained(2), trained(3, "p_v03"), trained(4, "p_v04"), trained(5)]}
    )
    lineage = crown(crown(lineage, champion(2, "ft-2")), champion(4, "ft-4"))
    lineage = mark_deleted(lineage, ["p_v04"], NOW)
    assert [item.version for item in models_to_forget(lineage)] == [1], (
        "kept: 2 (previous champion), 3 (deployed), 4 (champion), 5 (latest)"
    )
    forgotten = mark_jobs_deleted(lineage, ["job-1"], NOW)
    assert models_to_forget(forgotten) == []
    assert mark_jobs_deleted(forgotten, ["job-1"], "later") == forgotten, "a replayed stamp keeps the first"


@pytest.mark.property
@given(prefix=st.from_regex(DEPLOYMENT_PREFIX_PATTERN, fullmatch=True), version=st.integers(1, 9999))
def test_every_name_the_app_makes_is_a_name_azure_accepts(prefix: str, version: int) -> None:
    """Any prefix the settings accept gives deployment names of Azure's strictest rule (2 to 64
    letters, digits, '-' and '_'; no '.'), up to version 9999."""
    for name in (deployment_name(prefix, version), champion_deployment_name(prefix, version)):
        assert re.fullmatch(STRICT_DEPLOYMENT_NAME_PATTERN, name), name
