"""The fine-tune stage: upload the dataset, wait until Azure has processed it, train, wait for the model.

Both waits are durable polls: minutes for a file, minutes to hours for a job, at no compute cost.
"""

from __future__ import annotations

from activities.finetuning import (
    cancel_finetune_job,
    get_finetune_job,
    get_training_file,
    start_finetune_job,
    upload_training_file,
)
from orchestrators.errors import StageFailed
from orchestrators.orchestration import Orchestration, Stage, Step, backoff, fixed
from shared.contracts import FileRef, FileResult, JobRef, JobResult, StartJob, UploadFile
from shared.report import IterationReport

FILE_SETTLED = {"processed", "error", "deleted"}
JOB_SETTLED = {"succeeded", "failed", "cancelled", "unknown"}


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
    refuses it or takes too long; records the file id."""
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
    if polled.timed_out:
        message = f"file still {polled.result.status}"
        raise StageFailed("failed", {"code": "FileDeadlineExceeded", "message": message})
    if polled.result.status != "processed":
        error = polled.result.error or {"code": "FileRejected", "message": polled.result.status}
        raise StageFailed("failed", error)
    return uploaded.file_id


def train(orch: Orchestration, entry: IterationReport, file_id: str) -> Step[str]:
    """Starts the job and waits for its model; raises StageFailed(failed) when it fails, is cancelled
    or overruns its deadline (then it is cancelled); records the job (before waiting) and the model."""
    state, settings = orch.state, orch.state.settings
    started = yield from orch.call(start_finetune_job, job_request(orch, entry, file_id), JobResult)
    if started.job_id is None:
        raise StageFailed("failed", started.error or {"code": "JobRefused", "message": "no job id"})
    entry.job_id = state.active_job = started.job_id
    yield from orch.report(iteration=entry)
    orch.show(Stage.FINE_TUNE, f"job {started.job_id} training from {state.current_model}")
    polled = yield from orch.poll(
        get_finetune_job,
        JobRef(job_id=started.job_id),
        JobResult,
        until=lambda job: job.status in JOB_SETTLED,
        interval=backoff(settings.job_poll_initial_seconds, settings.job_poll_max_seconds),
        deadline_seconds=settings.job_deadline_seconds,
    )
    job = polled.result
    if polled.timed_out:
        yield from cancel_job(orch)
        message = f"job still {job.status}; cancelled"
        raise StageFailed("failed", {"code": "JobDeadlineExceeded", "message": message})
    state.active_job = None
    if job.status != "succeeded" or not job.fine_tuned_model:
        error = job.error or {"code": f"Job{job.status.title()}", "message": job.status}
        raise StageFailed("failed", error)
    entry.fine_tuned_model, entry.trained_tokens = job.fine_tuned_model, job.trained_tokens
    return job.fine_tuned_model


def cancel_job(orch: Orchestration) -> Step[None]:
    """Cancels the job the run is waiting for, so it stops costing money; raises what outlasts retries."""
    job_id = orch.state.active_job
    if job_id is not None:
        yield orch.task(cancel_finetune_job, JobRef(job_id=job_id))
        orch.state.active_job = None


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
