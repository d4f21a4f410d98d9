"""The fine-tune stage: upload the dataset, wait until Azure has processed it, train, wait for the model,
then copy the job's results into Blob and delete its files from Azure.

Both waits are durable polls: minutes for a file, minutes to hours for a job, at no compute cost. A
resource holds a limited number of files, so every file the stage uploads is deleted once it is no
longer needed, whatever the outcome (the dataset in Blob stays: it is the record).
"""

from __future__ import annotations

from orchestrators.errors import StageFailed, error_from
from orchestrators.orchestration import Orchestration, Polled, Stage, Step, backoff, fixed
from orchestrators.record import IterationRecord, JobOutputs, JobStarted, Trained, Uploaded
from shared.contracts.payloads import (
    CollectedOutputs,
    CollectOutputs,
    FileRef,
    FileResult,
    JobInFlight,
    JobRef,
    JobResult,
    ReportChange,
    StartJob,
    UploadFile,
)
from shared.contracts.specs import (
    CANCEL_FINETUNE_JOB,
    COLLECT_JOB_OUTPUTS,
    DELETE_FILE,
    GET_FINETUNE_JOB,
    GET_TRAINING_FILE,
    RESUME_FINETUNE_JOB,
    START_FINETUNE_JOB,
    UPLOAD_TRAINING_FILE,
)
from shared.domain.errors import ErrorInfo, Leak

FILE_SETTLED = {"processed", "error", "deleted"}
JOB_SETTLED = {"succeeded", "failed", "cancelled", "unknown"}
PAUSED = "paused"


def fine_tune(orch: Orchestration, record: IterationRecord, dataset_blob: str) -> Step[Trained]:
    """Trains a model on the dataset; raises StageFailed(failed); folds the file, the job (written before
    it is waited on) and the job's outputs into the record as it learns them; returns the model."""
    file_id = yield from upload(orch, record, dataset_blob)
    return (yield from train(orch, record, file_id))


def upload(orch: Orchestration, record: IterationRecord, dataset_blob: str) -> Step[str]:
    """Uploads the dataset and waits until it is processed; raises StageFailed(failed) if Azure
    refuses it (deleting it) or takes too long, RunCancelled once the file is known to the clean-up;
    returns the file id.

    The upload runs to its end even if the run is cancelled meanwhile, and the file is the run's
    ``active_job`` from then on, so a cancel during the upload or the processing deletes it (a cancel
    that stopped waiting for the upload would leave a file nobody knows about)."""
    state, settings = orch.state, orch.state.settings
    orch.show(Stage.FINE_TUNE, "uploading the training file")
    request = UploadFile(run_id=state.run_id, iteration=record.iteration, dataset_blob=dataset_blob)
    uploaded = yield from orch.call_through(UPLOAD_TRAINING_FILE, request)
    if uploaded.file_id is None:
        orch.stop_if_cancelled_meanwhile()
        raise StageFailed("failed", uploaded.error or ErrorInfo(code="UploadFailed", message="no file id"))
    record.fold(Uploaded(uploaded.file_id))
    state.active_job = JobInFlight(file_id=uploaded.file_id, iteration=record.iteration)
    orch.stop_if_cancelled_meanwhile()
    orch.show(Stage.FINE_TUNE, f"file {uploaded.file_id} uploaded; waiting until processed")
    polled = yield from orch.poll(
        GET_TRAINING_FILE,
        FileRef(file_id=uploaded.file_id),
        until=lambda file: file.status in FILE_SETTLED,
        interval=fixed(settings.file_poll_seconds),
        deadline_seconds=settings.file_deadline_seconds,
    )
    if polled.result.status == "processed":
        return uploaded.file_id
    state.active_job = None
    yield from collect_outputs(orch, JobInFlight(file_id=uploaded.file_id, iteration=record.iteration))
    if polled.timed_out:
        message = f"file still {polled.result.status}; deleted"
        raise StageFailed("failed", ErrorInfo(code="FileDeadlineExceeded", message=message))
    raise StageFailed(
        "failed", polled.result.error or ErrorInfo(code="FileRejected", message=polled.result.status)
    )


def train(orch: Orchestration, record: IterationRecord, file_id: str) -> Step[Trained]:
    """Starts the job and waits for its model; raises StageFailed(failed) when it fails, is cancelled,
    stays paused or overruns its deadline (then it is cancelled); records the job before waiting on it
    and the job's results copied to Blob once it has settled; returns the model.

    Starting the job runs to its end even if the run is cancelled meanwhile: a job started by an
    abandoned call would train, and bill, with nobody to cancel it."""
    state = orch.state
    started = yield from orch.call_through(START_FINETUNE_JOB, job_request(orch, record, file_id))
    job = JobInFlight(file_id=file_id, iteration=record.iteration, job_id=started.job_id)
    if started.job_id is None:
        state.active_job = None
        yield from collect_outputs(orch, job)
        raise StageFailed("failed", started.error or ErrorInfo(code="JobRefused", message="no job id"))
    state.active_job = job
    orch.stop_if_cancelled_meanwhile()
    yield from record.checkpoint(JobStarted(file_id, started.job_id))
    orch.show(Stage.FINE_TUNE, f"job {started.job_id} training from {record.version.parent_model}")
    polled = yield from settle(orch, started.job_id)
    if not polled.timed_out and polled.result.status == PAUSED:
        yield from resume(orch, started.job_id)
        polled = yield from settle(orch, started.job_id)
    if polled.timed_out or polled.result.status == PAUSED:
        yield from cancel_job(orch)
    state.active_job = None
    collected = yield from collect_outputs(orch, job)
    record.fold(JobOutputs(tuple(collected.results_blobs), collected.events_blob))
    result = polled.result
    if polled.timed_out or result.status == PAUSED:
        message = f"job still {result.status} at its deadline or paused again; cancelled"
        raise StageFailed("failed", ErrorInfo(code="JobNotFinished", message=message))
    if result.status != "succeeded" or not result.fine_tuned_model:
        raise StageFailed(
            "failed", result.error or ErrorInfo(code=f"Job{result.status.title()}", message=result.status)
        )
    return Trained(file_id, started.job_id, result.fine_tuned_model, result.trained_tokens)


def settle(orch: Orchestration, job_id: str) -> Step[Polled[JobResult]]:
    """Polls the job with backoff until it ends, pauses or overruns ``job_deadline_seconds``."""
    settings = orch.state.settings
    polled = yield from orch.poll(
        GET_FINETUNE_JOB,
        JobRef(job_id=job_id),
        until=lambda job: job.status in JOB_SETTLED or job.status == PAUSED,
        interval=backoff(settings.job_poll_initial_seconds, settings.job_poll_max_seconds),
        deadline_seconds=settings.job_deadline_seconds,
    )
    return polled


def resume(orch: Orchestration, job_id: str) -> Step[None]:
    """Resumes a paused job (Azure can pause a developer-tier job); raises what outlasts retries."""
    orch.show(Stage.FINE_TUNE, f"job {job_id} paused; resuming it")
    yield from orch.call(RESUME_FINETUNE_JOB, JobRef(job_id=job_id))


def cancel_job(orch: Orchestration) -> Step[None]:
    """Cancels the job the run is waiting for, so it stops costing money; raises what outlasts retries."""
    job = orch.state.active_job
    if job is not None and job.job_id is not None:
        yield from orch.call(CANCEL_FINETUNE_JOB, JobRef(job_id=job.job_id))


def collect_outputs(orch: Orchestration, job: JobInFlight) -> Step[CollectedOutputs]:
    """Copies the job's results and events to Blob, then deletes every file of the job's from Azure,
    one at a time (a cancel arriving meanwhile takes effect once they are dealt with); raises what
    outlasts retries, or RunCancelled afterwards; lists each file that could not be deleted as leaked,
    and outputs that could not be copied as a warning, in the report."""
    request = CollectOutputs(
        run_id=orch.state.run_id, iteration=job.iteration, training_file_id=job.file_id, job_id=job.job_id
    )
    try:
        collected = yield from orch.call_through(COLLECT_JOB_OUTPUTS, request)
    except Exception as exc:  # noqa: BLE001 - a clean-up that outlasts retries is reported, not fatal
        reason = error_from(exc).message
        warning = ErrorInfo(code="OutputsNotCopied", message=f"job outputs not copied: {reason}")
        collected = CollectedOutputs(files=[job.file_id], warnings=[warning])
    leaked: list[Leak] = []
    for file_id in collected.files:
        try:
            deleted = yield from orch.call_through(DELETE_FILE, FileRef(file_id=file_id))
        except Exception as exc:  # noqa: BLE001 - a delete that outlasts retries is reported, not fatal
            deleted = FileResult(file_id=file_id, status="error", error=error_from(exc))
        if deleted.error is not None:
            reason = f"{deleted.error.code}: {deleted.error.message}"
            leaked.append(Leak(kind="file", name=file_id, reason=reason))
    if leaked or collected.warnings:
        yield from orch.report(ReportChange(leaked=leaked or None, warnings=collected.warnings or None))
    orch.stop_if_cancelled_meanwhile()
    return collected


def job_request(orch: Orchestration, record: IterationRecord, file_id: str) -> StartJob:
    """The job for this iteration: from the model its record names as parent (the chain's latest, or the
    base model: orchestrators/lifecycle.py), with the run's hyperparameters, named after the model's
    lineage version."""
    state, settings = orch.state, orch.state.settings
    return StartJob(
        run_id=state.run_id,
        iteration=record.iteration,
        file_id=file_id,
        model=record.version.parent_model,
        suffix=f"v{record.version.version:02d}",
        n_epochs=settings.n_epochs,
        batch_size=settings.batch_size,
        learning_rate_multiplier=settings.learning_rate_multiplier,
        seed=settings.seed,
        training_type=settings.training_type,
    )
