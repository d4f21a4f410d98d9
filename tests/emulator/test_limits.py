"""Per-resource limits (issue 10), each with a flag, defaults from quotas-limits.md (2026-02-17): files
(count, total bytes), jobs in all (finished ones count until deleted), running jobs per training pool,
queued jobs, fine-tuned deployments."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import openai
import pytest
from openai import OpenAI
from openai.types.fine_tuning import FineTuningJob

from tests.emulator.support import (
    BASE,
    azure_status,
    delete_job,
    deploy,
    fine_tuned_model,
    success_file,
    upload,
    wait_for,
    wait_job,
    wait_processed,
)
from tests.fixtures.emulator import EmulatorHandle

pytestmark = pytest.mark.timeout(60)
GIB = 1024**3


def _job(client: OpenAI, file_id: str, training_type: str = "Standard") -> FineTuningJob:
    return client.fine_tuning.jobs.create(
        model=BASE, training_file=file_id, extra_body={"trainingType": training_type}
    )


def _quota_error(call: Any) -> str:
    with pytest.raises(openai.BadRequestError) as info:
        call()
    assert info.value.code == "quotaExceeded"
    return str(info.value)


@pytest.mark.rule("Q1", "Q2", "Q3", "Q4", "Q5", "Q6", "Q7", "Q8", "AD1")
def test_defaults_are_the_february_2026_numbers(emulator: EmulatorHandle) -> None:
    assert emulator.state()["config"]["limits"] == {
        "ft_deployments": 10,
        "files": 100,
        "file_bytes": GIB,
        "file_size": 512 * 1024**2,
        "jobs": 100,
        "running_standard": 3,
        "running_developer": 5,
        "queued": 20,
    }


@pytest.mark.rule("Q6")
def test_file_count_ignores_results_files(emulator_factory: Callable[..., EmulatorHandle]) -> None:
    handle = emulator_factory("--max-files", "2")
    client = handle.openai_v1(max_retries=0)
    first = upload(client, success_file()).id
    wait_processed(client, first)
    done = wait_job(client, _job(client, first).id)
    assert len(done.result_files) == 1
    upload(client, success_file())  # the results file does not count
    assert "The maximum is 2" in _quota_error(lambda: upload(client, success_file()))
    client.files.delete(first)
    upload(client, success_file())


@pytest.mark.rule("Q7")
def test_total_file_bytes(emulator_factory: Callable[..., EmulatorHandle]) -> None:
    size = len(success_file())
    handle = emulator_factory("--max-file-bytes", str(2 * size + 10))
    client = handle.openai_v1(max_retries=0)
    upload(client, success_file())
    upload(client, success_file())
    assert f"{3 * size} bytes" in _quota_error(lambda: upload(client, success_file()))
    assert client.files.create(file=("notes.txt", b"x" * size), purpose="assistants").id  # other purposes


@pytest.mark.rule("Q2")
def test_finished_jobs_count_until_deleted(emulator_factory: Callable[..., EmulatorHandle]) -> None:
    handle = emulator_factory("--max-jobs", "2")
    client = handle.openai_v1(max_retries=0)
    file_id = upload(client, success_file()).id
    wait_processed(client, file_id)
    first, second = (wait_job(client, _job(client, file_id).id) for _ in range(2))
    assert "The maximum is 2" in _quota_error(lambda: _job(client, file_id))
    assert delete_job(client, first.id) == 204
    assert wait_job(client, _job(client, file_id).id).status == "succeeded"
    assert second.id in [j.id for j in client.fine_tuning.jobs.list()]


@pytest.mark.rule("Q3", "Q4", "LC3")
def test_running_slots_per_training_pool(emulator_factory: Callable[..., EmulatorHandle]) -> None:
    handle = emulator_factory(
        "--job-running", "100000", "--max-running-jobs", "2", "--max-running-developer-jobs", "1"
    )
    client = handle.openai_v1(max_retries=0)
    file_id = upload(client, success_file()).id
    wait_processed(client, file_id)
    standard = [_job(client, file_id, kind).id for kind in ("Standard", "GlobalStandard", "globalstandard")]
    developer = [_job(client, file_id, "developerTier").id for _ in range(2)]
    handle.advance_clock(1)

    def statuses(ids: list[str]) -> list[str]:
        return [client.fine_tuning.jobs.retrieve(i).status for i in ids]

    assert statuses(standard) == ["running", "running", "pending"]
    assert statuses(developer) == ["running", "pending"]
    client.fine_tuning.jobs.cancel(standard[0])
    assert statuses(standard) == ["cancelled", "running", "running"]
    assert statuses(developer) == ["running", "pending"]  # the pools do not share slots


@pytest.mark.rule("Q5")
def test_queued_jobs_limit(emulator_factory: Callable[..., EmulatorHandle]) -> None:
    handle = emulator_factory("--job-running", "100000", "--max-running-jobs", "1", "--max-queued-jobs", "2")
    client = handle.openai_v1(max_retries=0)
    file_id = upload(client, success_file()).id
    wait_processed(client, file_id)
    running = _job(client, file_id)
    wait_for(lambda: client.fine_tuning.jobs.retrieve(running.id).status == "running")
    _job(client, file_id)
    _job(client, file_id)
    assert "queued" in _quota_error(lambda: _job(client, file_id))
    client.fine_tuning.jobs.cancel(running.id)
    handle.advance_clock(1)  # one waiting job starts, freeing a place in the queue
    assert azure_status(_job(client, file_id)) == "pending"


@pytest.mark.rule("LC5", "Q12", "Q13", "Q14", "P7")
def test_deleting_jobs(emulator_reset: EmulatorHandle) -> None:
    client = emulator_reset.openai_v1(max_retries=0)
    file_id = upload(client, success_file()).id
    wait_processed(client, file_id)
    done = wait_job(client, _job(client, file_id).id)
    deploy(emulator_reset, "uses-it", fine_tuned_model(done))
    with pytest.raises(openai.ConflictError) as info:
        delete_job(client, done.id)
    assert info.value.code == "conflict" and "uses-it" in str(info.value)
    emulator_reset.mgmt().deployments.begin_delete(
        emulator_reset.resource_group, emulator_reset.account, "uses-it"
    ).result()
    delete_job(client, done.id)
    with pytest.raises(openai.NotFoundError):
        client.fine_tuning.jobs.retrieve(done.id)
    assert done.fine_tuned_model not in [m["id"] for m in emulator_reset.state()["models"]]
    with pytest.raises(Exception, match="DeploymentModelNotSupported"):
        deploy(emulator_reset, "again", fine_tuned_model(done))  # the model went with its job
    assert client.files.retrieve(done.result_files[0]).purpose == "fine-tune-results"  # results stay

    active = _job(client, file_id)
    with pytest.raises(openai.BadRequestError) as refused:
        delete_job(client, active.id)
    assert refused.value.code == "unexpectedEntityState"
