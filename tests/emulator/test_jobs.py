"""Fine-tuning jobs: lifecycle, listing, events, checkpoints, cancel/pause/resume, continuous fine-tuning,
the one-running-job rule, injected failures, and every create-time error."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any, cast

import openai
import pytest
from openai import OpenAI
from openai.types.fine_tuning import FineTuningJob, FineTuningJobEvent
from openai.types.fine_tuning.job_create_params import Integration

from tests.emulator.support import (
    azure_status,
    failure_file,
    fine_tuned_model,
    success_file,
    upload,
    wait_for,
    wait_job,
    wait_processed,
)
from tests.fixtures.emulator import EmulatorHandle

pytestmark = pytest.mark.timeout(60)
BASE = "gpt-4.1-mini-2025-04-14"
FT_NAME = re.compile(r"^gpt-4\.1-mini-2025-04-14\.ft-[0-9a-f]{32}-(v\d+)$")


def _processed_file(client: OpenAI, data: bytes | None = None) -> str:
    file = upload(client, data if data is not None else success_file())
    file_id: str = file.id
    assert wait_processed(client, file_id).status == "processed"
    return file_id


def _create(client: OpenAI, file_id: str, model: str = BASE, **kw: Any) -> FineTuningJob:
    kw.setdefault("extra_body", {"trainingType": "developerTier"})
    return client.fine_tuning.jobs.create(model=model, training_file=file_id, **kw)


def _step(event: FineTuningJobEvent) -> int:
    """A metrics event's step: the SDK types ``data`` as ``object``; metrics events carry a JSON object."""
    assert isinstance(event.data, dict), event
    step: int = event.data["step"]
    return step


@pytest.mark.rule("LC3", "LC4", "P5", "P7", "P9")
@pytest.mark.parametrize("surface", ["v1", "azure"])
def test_job_lifecycle(emulator_reset: EmulatorHandle, surface: str) -> None:
    client = emulator_reset.openai_v1() if surface == "v1" else emulator_reset.azure_openai()
    file_id = _processed_file(client)
    job = _create(
        client,
        file_id,
        suffix="v01",
        seed=123,
        method={"type": "supervised", "supervised": {"hyperparameters": {"n_epochs": 2, "batch_size": 4}}},
    )
    assert re.fullmatch(r"ftjob-[0-9a-f]{32}", job.id)
    assert azure_status(job) == "pending"
    assert job.fine_tuned_model is None
    assert job.seed == 123
    assert job.hyperparameters.n_epochs == 2 and job.hyperparameters.learning_rate_multiplier == -1
    extra = job.model_extra  # Azure's own fields, which the SDK's models keep but type optional
    assert extra is not None, job
    assert extra["trainingType"] == "developerTier"
    done = wait_job(client, job.id)
    assert done.status == "succeeded"
    assert done.finished_at is not None
    assert done.trained_tokens is not None
    assert done.trained_tokens > 0
    model = fine_tuned_model(done)
    assert FT_NAME.fullmatch(model)
    assert job.id.removeprefix("ftjob-") in model
    messages = [e.message for e in client.fine_tuning.jobs.list_events(job.id)]
    assert messages[0] == "Job created." and "Job started." in messages and messages[-1] == "Job succeeded."
    checkpoints = list(client.fine_tuning.jobs.checkpoints.list(job.id))
    assert len(checkpoints) == 2
    assert checkpoints[-1].fine_tuned_model_checkpoint.startswith(model)
    assert [j.id for j in client.fine_tuning.jobs.list()] == [job.id]


@pytest.mark.rule("P6")
def test_list_pagination_newest_first(emulator_reset: EmulatorHandle) -> None:
    client = emulator_reset.openai_v1()
    file_id = _processed_file(client)
    ids = [_create(client, file_id).id for _ in range(3)]
    page = client.fine_tuning.jobs.list(limit=2)
    assert [j.id for j in page.data] == ids[::-1][:2] and page.has_more is True
    rest = client.fine_tuning.jobs.list(limit=2, after=page.data[-1].id)
    assert [j.id for j in rest.data] == [ids[0]] and rest.has_more is False


@pytest.mark.rule("P8")
def test_cancel_and_cancel_twice(emulator_reset: EmulatorHandle) -> None:
    client = emulator_reset.openai_v1(max_retries=0)
    job = _create(client, _processed_file(client))
    cancelled = client.fine_tuning.jobs.cancel(job.id)
    assert cancelled.status == "cancelled" and cancelled.fine_tuned_model is None
    with pytest.raises(openai.BadRequestError, match="already finished"):
        client.fine_tuning.jobs.cancel(job.id)
    with pytest.raises(openai.NotFoundError):
        client.fine_tuning.jobs.retrieve("ftjob-" + "0" * 32)


@pytest.mark.rule("LC3", "Q4", "P8")
def test_a_full_pool_queues_jobs_and_pause_resume(emulator_factory: Callable[..., EmulatorHandle]) -> None:
    # 3 s of training at scale 0.01, one Developer training slot
    handle = emulator_factory(
        "--job-running", "300", "--job-pending", "1", "--max-running-developer-jobs", "1"
    )
    client = handle.openai_v1(max_retries=0)
    file_id = _processed_file(client)
    first, second = _create(client, file_id), _create(client, file_id)
    wait_for(lambda: client.fine_tuning.jobs.retrieve(first.id).status == "running")
    assert azure_status(client.fine_tuning.jobs.retrieve(second.id)) == "pending"
    with pytest.raises(openai.BadRequestError):
        client.fine_tuning.jobs.resume(first.id)
    paused = client.fine_tuning.jobs.pause(first.id)
    assert azure_status(paused) == "paused"
    wait_for(lambda: client.fine_tuning.jobs.retrieve(second.id).status == "running")
    assert azure_status(client.fine_tuning.jobs.resume(first.id)) == "pending"
    handle.advance_clock(4)  # the second job's 3 s end; the paused one restarts with under 3 s left
    assert client.fine_tuning.jobs.retrieve(second.id).status == "succeeded"
    assert client.fine_tuning.jobs.retrieve(first.id).status == "running"
    handle.advance_clock(10)
    assert client.fine_tuning.jobs.retrieve(first.id).status == "succeeded"
    events = [e.message for e in client.fine_tuning.jobs.list_events(first.id, limit=100)]
    assert "Job paused." in events and "Job resumed." in events


@pytest.mark.rule("V2", "B4")
def test_continuous_fine_tuning_keeps_root_base(emulator_reset: EmulatorHandle) -> None:
    client = emulator_reset.openai_v1()
    file_id = _processed_file(client)
    first = wait_job(client, _create(client, file_id, suffix="v01").id)
    second = wait_job(client, _create(client, file_id, model=fine_tuned_model(first), suffix="v02").id)
    assert second.status == "succeeded" and second.model == first.fine_tuned_model
    name = FT_NAME.fullmatch(fine_tuned_model(second))
    assert name is not None
    assert name.group(1) == "v02"
    models = {m["id"]: m for m in emulator_reset.state()["models"]}
    assert models[second.fine_tuned_model]["parent"] == first.fine_tuned_model
    assert (
        models[second.fine_tuned_model]["skill"]
        > models[first.fine_tuned_model]["skill"]
        > models[BASE]["skill"]
    )


@pytest.mark.rule("AD3", "AD12", "D1")
def test_injected_job_failures(emulator_reset: EmulatorHandle) -> None:
    client = emulator_reset.openai_v1()
    file_id = _processed_file(client)
    emulator_reset.set_faults(fail_next_jobs=1)
    failed = wait_job(client, _create(client, file_id).id)
    assert failed.status == "failed"
    assert failed.error is not None
    assert failed.error.code == "internalError"
    assert failed.fine_tuned_model is None
    named = _create(client, file_id)
    emulator_reset.set_faults(fail_jobs=[named.id])
    assert wait_job(client, named.id).status == "failed"
    assert wait_job(client, _create(client, file_id).id).status == "succeeded"


@pytest.mark.rule("V2")
def test_create_errors(emulator_reset: EmulatorHandle) -> None:
    client = emulator_reset.openai_v1(max_retries=0)
    good = _processed_file(client)
    broken = upload(client, b'{"messages": []}\n' * 10)
    assert wait_processed(client, broken.id).status == "error"

    def code_of(**kw: Any) -> tuple[str | None, str]:
        with pytest.raises(openai.BadRequestError) as info:
            _create(client, **kw)
        return info.value.code, str(info.value)

    assert "does not support fine-tuning" in code_of(file_id=good, model="gpt-99")[1]
    assert "trainingType" in code_of(file_id=good, extra_body={})[1]
    assert "failed validation" in code_of(file_id=broken.id)[1]
    assert "does not exist" in code_of(file_id="file-" + "0" * 32)[1]
    assert "suffix" in code_of(file_id=good, suffix="x" * 19)[1]
    assert "n_epochs" in code_of(file_id=good, hyperparameters={"n_epochs": 0})[1]
    assert "supervised" in code_of(file_id=good, method={"type": "dpo"})[1]
    unfinished = _create(client, good)
    assert "does not support" in code_of(file_id=good, model=unfinished.fine_tuned_model or "x.ft-0")[1]


@pytest.mark.rule("D2")
def test_file_not_processed_yet(emulator_factory: Callable[..., EmulatorHandle]) -> None:
    handle = emulator_factory("--file-processing", "1000")  # 10 s at scale 0.01
    client = handle.openai_v1(max_retries=0)
    fresh = upload(client, failure_file())
    with pytest.raises(openai.BadRequestError, match="not ready"):
        _create(client, fresh.id)
    assert client.files.retrieve(fresh.id).status in ("pending", "running")


@pytest.mark.rule("LC4", "Q19", "Q20", "D3", "P4")
def test_results_file_metrics_and_checkpoints(emulator_reset: EmulatorHandle) -> None:
    client = emulator_reset.azure_openai()
    file_id = _processed_file(client)
    job = _create(
        client,
        file_id,
        validation_file=file_id,
        method={"type": "supervised", "supervised": {"hyperparameters": {"n_epochs": 4, "batch_size": 2}}},
    )
    done = wait_job(client, job.id)
    assert done.status == "succeeded" and len(done.result_files) == 1
    results = client.files.retrieve(done.result_files[0])
    assert (results.purpose, results.filename, results.status) == (
        "fine-tune-results",
        "results.csv",
        "processed",
    )
    rows = [line.split(",") for line in client.files.content(results.id).read().decode().splitlines()]
    assert rows[0] == [
        "step",
        "train_loss",
        "train_mean_token_accuracy",
        "valid_loss",
        "validation_mean_token_accuracy",
        "full_valid_loss",
        "full_valid_mean_token_accuracy",
    ]
    assert [int(r[0]) for r in rows[1:]] == list(range(1, 41))  # 20 examples / batch 2 x 4 epochs
    assert all(r[1] and r[2] and r[3] and r[4] for r in rows[1:])
    assert [int(r[0]) for r in rows[1:] if r[5]] == [10, 20, 30, 40]  # full validation at epoch ends
    assert float(rows[-1][1]) < float(rows[1][1])  # the loss falls

    events = list(client.fine_tuning.jobs.list_events(job.id, limit=100))
    metrics = [e for e in events if e.type == "metrics"]
    assert [_step(e) for e in metrics] == list(range(1, 41))
    assert (
        metrics[-1].message.startswith("Step 40/40: training loss=")
        and "validation loss=" in metrics[-1].message
    )
    assert [e.created_at for e in events] == sorted(e.created_at for e in events)
    checkpoints = list(client.fine_tuning.jobs.checkpoints.list(job.id))
    assert [c.step_number for c in checkpoints] == [20, 30, 40]  # the three most recent epochs
    assert set(checkpoints[-1].metrics.model_dump(exclude_none=True)) == {
        "step",
        "train_loss",
        "train_mean_token_accuracy",
        "valid_loss",
        "valid_mean_token_accuracy",
        "full_valid_loss",
        "full_valid_mean_token_accuracy",
    }


@pytest.mark.rule("LC4")
def test_metrics_appear_while_the_job_runs(emulator_factory: Callable[..., EmulatorHandle]) -> None:
    handle = emulator_factory("--job-running", "100000", "--job-pending", "1")  # 1,000 s of training
    client = handle.openai_v1()
    file_id = _processed_file(client)
    # 20 examples, batch size 1 (auto), 2 epochs: 40 steps of 25 s
    job = _create(
        client, file_id, method={"type": "supervised", "supervised": {"hyperparameters": {"n_epochs": 2}}}
    )
    handle.advance_clock(1)
    assert client.fine_tuning.jobs.retrieve(job.id).status == "running"
    handle.advance_clock(505)  # a little over half of the training

    def metric_steps() -> list[int]:
        events = client.fine_tuning.jobs.list_events(job.id, limit=100)
        return [_step(e) for e in events if e.type == "metrics"]

    assert metric_steps() == list(range(1, 21))
    assert [c.step_number for c in client.fine_tuning.jobs.checkpoints.list(job.id)] == [20]
    client.fine_tuning.jobs.pause(job.id)
    handle.advance_clock(10_000)
    assert metric_steps() == list(range(1, 21))  # a paused job does not train
    assert client.fine_tuning.jobs.retrieve(job.id).result_files == []
    client.fine_tuning.jobs.resume(job.id)
    handle.advance_clock(600)
    assert client.fine_tuning.jobs.retrieve(job.id).status == "succeeded"
    assert metric_steps() == list(range(1, 41))


@pytest.mark.rule("P5", "Q21", "V2")
def test_integrations_are_echoed_and_create_answers_with_location(emulator_reset: EmulatorHandle) -> None:
    client = emulator_reset.azure_openai()
    file_id = _processed_file(client)
    integrations: list[Integration] = [
        {"type": "wandb", "wandb": {"project": "custom-wandb-project", "tags": ["project:tag", "lineage"]}}
    ]
    raw = client.fine_tuning.jobs.with_raw_response.create(
        model=BASE, training_file=file_id, integrations=integrations, extra_body={"trainingType": "Standard"}
    )
    job = raw.parse()
    assert raw.headers["location"] == f"{emulator_reset.url}/openai/fine_tuning/jobs/{job.id}"
    assert job.integrations is not None
    assert [i.model_dump(exclude_none=True) for i in job.integrations] == integrations
    retrieved = client.fine_tuning.jobs.retrieve(job.id).integrations
    assert retrieved is not None
    assert retrieved[0].wandb.project == "custom-wandb-project"
    with pytest.raises(openai.BadRequestError, match="integrations"):
        client.fine_tuning.jobs.create(
            model=BASE,
            training_file=file_id,
            # The refusal under test: a W&B integration without its required project.
            integrations=[cast(Integration, {"type": "wandb", "wandb": {}})],
            extra_body={"trainingType": "Standard"},
        )
