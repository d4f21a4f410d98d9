"""Azure OpenAI files and fine-tuning jobs, made safe to retry.

Uploading a file and creating a job are not idempotent on Azure, and each job costs money. Every
operation here first looks for what an earlier attempt may already have created, by the run's own
marker (the training file's name carries the run id and iteration; a job is found by its training
file), so an activity retried or re-run after a crash never starts a second one.
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterator

import httpx2
from openai import AzureOpenAI, NotFoundError
from openai.types import FileObject
from openai.types.fine_tuning import FineTuningJob

from shared.contracts.payloads import FileResult, JobResult, StartJob
from shared.domain.errors import ErrorInfo

UNUSABLE_FILE_STATES = {"error", "deleted"}


def training_file_name(run_id: str, iteration: int) -> str:
    return f"{run_id}-{iteration:02d}-train.jsonl"


def _files(client: AzureOpenAI) -> Iterator[FileObject]:
    yield from client.files.list(purpose="fine-tune")


def _jobs(client: AzureOpenAI) -> Iterator[FineTuningJob]:
    yield from client.fine_tuning.jobs.list(limit=100)


def file_result(file: FileObject) -> FileResult:
    error = None
    if file.status == "error":
        error = ErrorInfo(code="FileProcessingFailed", message=file.status_details or "Azure gave no details")
    return FileResult(file_id=file.id, status=file.status, error=error)


def find_or_upload(client: AzureOpenAI, filename: str, content: bytes) -> FileResult:
    for file in _files(client):
        if file.filename == filename and file.status not in UNUSABLE_FILE_STATES:
            return file_result(file)
    uploaded = client.files.create(
        file=(filename, io.BytesIO(content), "application/jsonl"), purpose="fine-tune"
    )
    return file_result(uploaded)


def get_file(client: AzureOpenAI, file_id: str) -> FileResult:
    return file_result(client.files.retrieve(file_id))


def job_result(job: FineTuningJob) -> JobResult:
    error = None
    if job.error is not None and (job.error.code or job.error.message):
        # Azure's error as Azure sent it: ``param`` is recorded even when null.
        error = ErrorInfo(
            code=job.error.code or f"Job{job.status.title()}",
            message=job.error.message or job.status,
            param=job.error.param,
        )
    return JobResult(
        job_id=job.id,
        status=job.status,
        fine_tuned_model=job.fine_tuned_model,
        trained_tokens=job.trained_tokens,
        error=error,
    )


def find_job(client: AzureOpenAI, request: StartJob) -> FineTuningJob | None:
    """The job an earlier attempt started for this training file, if any (newest first)."""
    for job in _jobs(client):
        if job.training_file == request.file_id:
            return job
    return None


def create_job(client: AzureOpenAI, request: StartJob) -> FineTuningJob:
    return client.fine_tuning.jobs.create(
        training_file=request.file_id,
        model=request.model,
        suffix=request.suffix,
        seed=request.seed,
        method={
            "type": "supervised",
            "supervised": {
                "hyperparameters": {
                    "n_epochs": request.n_epochs,
                    "batch_size": request.batch_size,
                    "learning_rate_multiplier": request.learning_rate_multiplier,
                }
            },
        },
        extra_body={"trainingType": request.training_type},
    )


def get_job(client: AzureOpenAI, job_id: str) -> JobResult:
    return job_result(client.fine_tuning.jobs.retrieve(job_id))


def cancel_job(client: AzureOpenAI, job_id: str) -> JobResult:
    job = client.fine_tuning.jobs.retrieve(job_id)
    if job.status in {"succeeded", "failed", "cancelled"}:
        return job_result(job)
    return job_result(client.fine_tuning.jobs.cancel(job_id))


def resume_job(client: AzureOpenAI, job_id: str) -> JobResult:
    return job_result(client.fine_tuning.jobs.resume(job_id))


def result_files(client: AzureOpenAI, job_id: str) -> list[str]:
    """The job's result files (Azure writes one per job: per-step loss and token accuracy as CSV)."""
    return list(client.fine_tuning.jobs.retrieve(job_id).result_files or [])


def file_content(client: AzureOpenAI, file_id: str) -> bytes | None:
    """A file's bytes, or None once it is deleted."""
    try:
        return client.files.content(file_id).read()
    except NotFoundError:
        return None


def events_jsonl(client: AzureOpenAI, job_id: str) -> str:
    """Every event of the job, oldest first, one JSON object per line (metrics events carry the
    per-step numbers)."""
    events = [
        event.model_dump(mode="json") for event in client.fine_tuning.jobs.list_events(job_id, limit=100)
    ]
    events.sort(key=lambda event: (event.get("created_at") or 0, event.get("id") or ""))
    return "".join(json.dumps(event) + "\n" for event in events)


def delete_file(client: AzureOpenAI, file_id: str) -> None:
    """Deletes a file from the resource; one already gone counts as deleted."""
    try:
        client.files.delete(file_id)
    except NotFoundError:
        return


def delete_job(client: AzureOpenAI, job_id: str) -> None:
    """Deletes a finished job, and with it its model (Azure's way of deleting a customized model); one
    already gone counts as deleted. The SDK has no method for it: DELETE /fine_tuning/jobs/{id}."""
    try:
        client.delete(f"/fine_tuning/jobs/{job_id}", cast_to=httpx2.Response)
    except NotFoundError:
        return
