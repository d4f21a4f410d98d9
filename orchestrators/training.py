"""The fine-tune stage: upload the dataset, wait until Azure has processed it, train, wait for the model,
then copy the job's results into Blob and delete its files from Azure.

Both waits are durable polls: minutes for a file, minutes to hours for a job, at no compute cost. A
resource holds a limited number of files, so every file the stage uploads is deleted once it is no
longer needed, whatever the outcome (the dataset in Blob stays: it is the record).
"""

from __future__ import annotations

from activities.finetuning import (
    cancel_finetune_job,
    collect_job_outputs,
    get_finetune_job,
    get_training_file,
    resume_finetune_job,
    start_finetune_job,
    upload_training_file,
)
from orchestrators.errors import RunCancelled, StageFailed, error_from
from orchestrators.orchestration import Orchestration, Polled, Stage, Step, backoff, fixed
from shared.contracts.payloads import (
    CollectedOutputs,
    CollectOutputs,
    FileRef,
    FileResult,
    JobInFlight,
    JobRef,
    JobResult,
    StartJob,
    UploadFile,
)
from shared.domain.report import IterationReport

FILE_SETTLED = {"processed", "error", "deleted"}
JOB_SETTLED = {"succeeded", "failed", "cancelled", "unknown"}
PAUSED = "paused"


def fine_tune(orch: Orchestration, entry: IterationReport, dataset_blob: str) -> Step[str]:
    """Trains a model on the dataset; raises StageFailed(failed); records file, job and model and
    moves the run's current model on (continuous fine-tuning starts the next job from it)."""
    file_id = yield from upload(orch, entry, dataset_blob)
    model = yield from train(orch, entry, file_id)
    orch.state.current_model = model
    yield from orch.report(iteration=entry)
    return model


def upload(orch: Orchestration, entry: IterationReport, dataset_blob: str) -> Step[str]:
    """Uploads the dataset and waits until it is processed; raises StageFailed(failed) if Azure
    refuses it (deleting it) or takes too long; records the file id."""
    settings = orch.state.settings
    orch.show(Stage.FINE_TUNE, "uploading the training file")
    request = UploadFile(run_id=orch.state.run_id, iteration=entry.iteration, dataset_blob=dataset_blob)
    uploaded = yield from orch.call(upload_training_file, request, FileResult)
    if uploaded.file_id is None:
        raise StageFailed("failed", uploaded.error or {"code": "UploadFailed", "message": "no file id"})
    entry.file_id = uploaded.file_id
    orch.show(Stage.FINE_TUNE, f"file {uploaded.file_id} uploaded; waiting until processed")
    polled = yield from orch.poll(
        get_training_file,
        FileRef(file_id=uploaded.file_id),
        FileResult,
        until=lambda file: file.status in FILE_SETTLED,
        interval=fixed(settings.file_poll_seconds),
        deadline_seconds=settings.file_deadline_seconds,
    )
    if polled.result.status == "processed":
        return uploaded.file_id
    yield from collect_outputs(orch, JobInFlight(file_id=uploaded.file_id, iteration=entry.iteration))
    if polled.timed_out:
        message = f"file still {polled.result.status}; deleted"
        raise StageFailed("failed", {"code": "FileDeadlineExceeded", "message": message})
    raise StageFailed(
        "failed", polled.result.error or {"code": "FileRejected", "message": polled.result.status}
    )


def train(orch: Orchestration, entry: IterationReport, file_id: str) -> Step[str]:
    """Starts the job and waits for its model; raises StageFailed(failed) when it fails, is cancelled,
    stays paused or overruns its deadline (then it is cancelled); records the job (before waiting),
    the model, and the job's results copied to Blob."""
    state = orch.state
    started = yield from orch.call(start_finetune_job, job_request(orch, entry, file_id), JobResult)
    job = JobInFlight(file_id=file_id, iteration=entry.iteration, job_id=started.job_id)
    if started.job_id is None:
        yield from collect_outputs(orch, job)
        raise StageFailed("failed", started.error or {"code": "JobRefused", "message": "no job id"})
    entry.job_id, state.active_job = started.job_id, job
    yield from orch.report(iteration=entry)
    orch.show(Stage.FINE_TUNE, f"job {started.job_id} training from {state.current_model}")
    polled = yield from settle(orch, started.job_id)
    if not polled.timed_out and polled.result.status == PAUSED:
        yield from resume(orch, started.job_id)
        polled = yield from settle(orch, started.job_id)
    if polled.timed_out or polled.result.status == PAUSED:
        yield from cancel_job(orch)
    state.active_job = None
    collected = yield from collect_outputs(orch, job)
    entry.results_blobs, entry.events_blob = collected.results_blobs, collected.events_blob
    result = polled.result
    if polled.timed_out or result.status == PAUSED:
        message = f"job still {result.status} at its deadline or paused again; cancelled"
        raise StageFailed("failed", {"code": "JobNotFinished", "message": message})
    if result.status != "succeeded" or not result.fine_tuned_model:
        raise StageFailed(
            "failed", result.error or {"code": f"Job{result.status.title()}", "message": result.status}
        )
    entry.fine_tuned_model, entry.trained_tokens = result.fine_tuned_model, result.trained_tokens
    return result.fine_tuned_model


def settle(orch: Orchestration, job_id: str) -> Step[Polled[JobResult]]:
    """Polls the job with backoff until it ends, pauses or overruns ``job_deadline_seconds``."""
    settings = orch.state.settings
    polled = yield from orch.poll(
        get_finetune_job,
        JobRef(job_id=job_id),
        JobResult,
        until=lambda job: job.status in JOB_SETTLED or job.status == PAUSED,
        interval=backoff(settings.job_poll_initial_seconds, settings.job_poll_max_seconds),
        deadline_seconds=settings.job_deadline_seconds,
    )
    return polled


def resume(orch: Orchestration, job_id: str) -> Step[None]:
    """Resumes a paused job (Azure can pause a developer-tier job); raises what outlasts retries."""
    orch.show(Stage.FINE_TUNE, f"job {job_id} paused; resuming it")
    yield from orch.call(resume_finetune_job, JobRef(job_id=job_id), JobResult)


def cancel_job(orch: Orchestration) -> Step[None]:
    """Cancels the job the run is waiting for, so it stops costing money; raises what outlasts retries."""
    job = orch.state.active_job
    if job is not None and job.job_id is not None:
        yield from orch.call(cancel_finetune_job, JobRef(job_id=job.job_id), JobResult)


def collect_outputs(orch: Orchestration, job: JobInFlight) -> Step[CollectedOutputs]:
    """Copies the job's results and events to Blob and deletes its files from Azure; raises what
    outlasts retries; lists what could not be deleted as leaked in the report."""
    request = CollectOutputs(
        run_id=orch.state.run_id, iteration=job.iteration, training_file_id=job.file_id, job_id=job.job_id
    )
    try:
        collected = yield from orch.call(collect_job_outputs, request, CollectedOutputs)
    except RunCancelled:
        raise
    except Exception as exc:  # noqa: BLE001 - a clean-up that outlasts retries is reported, not fatal
        reason = error_from(exc)["message"]
        collected = CollectedOutputs(leaked=[{"kind": "file", "name": job.file_id, "reason": reason}])
    if collected.leaked or collected.warnings:
        yield from orch.report(leaked=collected.leaked or None, warnings=collected.warnings or None)
    return collected


def job_request(orch: Orchestration, entry: IterationReport, file_id: str) -> StartJob:
    """The job for this iteration: from the run's current model, with the run's hyperparameters."""
    state, settings = orch.state, orch.state.settings
    return StartJob(
        run_id=state.run_id,
        iteration=entry.iteration,
        file_id=file_id,
        model=state.current_model,
        suffix=f"v{entry.version if entry.version is not None else entry.iteration:02d}",
        n_epochs=settings.n_epochs,
        batch_size=settings.batch_size,
        learning_rate_multiplier=settings.learning_rate_multiplier,
        seed=settings.seed,
        training_type=settings.training_type,
    )
