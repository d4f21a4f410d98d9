"""Activities for Azure OpenAI files and fine-tuning jobs.

Each is idempotent (see shared.azure.finetuning) and raises only transient failures, so Durable retries
are safe and never retry a request Azure has already refused for good.
"""

from __future__ import annotations

import azure.durable_functions as df
import openai

from activities.implements import implements
from shared.azure import finetuning
from shared.azure.clients import artifact_store, openai_client
from shared.azure.errors import describe, raise_if_transient, result_or_error
from shared.azure.finetuning import (
    cancel_job,
    create_job,
    delete_job,
    events_jsonl,
    file_content,
    find_job,
    find_or_upload,
    get_file,
    get_job,
    job_result,
    result_files,
    resume_job,
    training_file_name,
)
from shared.contracts.payloads import (
    CollectedOutputs,
    CollectOutputs,
    FileRef,
    FileResult,
    JobIds,
    JobRef,
    JobResult,
    JobsDeleted,
    StartJob,
    UploadFile,
)
from shared.contracts.specs import (
    CANCEL_FINETUNE_JOB,
    COLLECT_JOB_OUTPUTS,
    DELETE_FILE,
    DELETE_FINETUNE_JOBS,
    GET_FINETUNE_JOB,
    GET_TRAINING_FILE,
    RESUME_FINETUNE_JOB,
    START_FINETUNE_JOB,
    UPLOAD_TRAINING_FILE,
)
from shared.domain.errors import ErrorInfo, Leak
from shared.domain.layout import intent_path, training_events_path, training_results_path

bp = df.Blueprint()


@implements(bp, UPLOAD_TRAINING_FILE)
def upload_training_file(request: UploadFile) -> FileResult:
    content = artifact_store().read_text(request.dataset_blob)
    if content is None:
        missing = ErrorInfo(
            code="DatasetMissing", message=f"dataset blob {request.dataset_blob} does not exist"
        )
        return FileResult(status="error", error=missing)
    name = training_file_name(request.run_id, request.iteration)
    return result_or_error(
        lambda: find_or_upload(openai_client(), name, content.encode("utf-8")),
        lambda error: FileResult(status="error", error=error),
    )


@implements(bp, GET_TRAINING_FILE)
def get_training_file(request: FileRef) -> FileResult:
    return result_or_error(
        lambda: get_file(openai_client(), request.file_id),
        lambda error: FileResult(file_id=request.file_id, status="error", error=error),
    )


@implements(bp, START_FINETUNE_JOB)
def start_finetune_job(request: StartJob) -> JobResult:
    """Records the intent, then finds the job an earlier attempt started or creates it."""
    store = artifact_store()
    intent = intent_path(request.run_id, f"job-{request.iteration:02d}")
    store.write_json(intent, {"state": "creating", "request": request.model_dump()})
    client = openai_client()
    result = result_or_error(
        lambda: job_result(find_job(client, request) or create_job(client, request)),
        lambda error: JobResult(status="failed", error=error),
    )
    store.write_json(
        intent,
        {
            "state": "created" if result.job_id else "refused",
            "request": request.model_dump(),
            "result": result.model_dump(),
        },
    )
    return result


@implements(bp, GET_FINETUNE_JOB)
def get_finetune_job(request: JobRef) -> JobResult:
    return result_or_error(
        lambda: get_job(openai_client(), request.job_id),
        lambda error: JobResult(job_id=request.job_id, status="unknown", error=error),
    )


@implements(bp, CANCEL_FINETUNE_JOB)
def cancel_finetune_job(request: JobRef) -> JobResult:
    return result_or_error(
        lambda: cancel_job(openai_client(), request.job_id),
        lambda error: JobResult(job_id=request.job_id, status="unknown", error=error),
    )


@implements(bp, RESUME_FINETUNE_JOB)
def resume_finetune_job(request: JobRef) -> JobResult:
    return result_or_error(
        lambda: resume_job(openai_client(), request.job_id),
        lambda error: JobResult(job_id=request.job_id, status="unknown", error=error),
    )


@implements(bp, COLLECT_JOB_OUTPUTS)
def collect_job_outputs(request: CollectOutputs) -> CollectedOutputs:
    """Copies a settled job's results file and events into Blob next to its dataset and lists the
    files to delete from Azure (the training file, then the results files). Deleting is the
    orchestrator's next step, one file per call, so a file whose deletion outlasts retries is named as
    leaked whichever it is. Idempotent: copying again writes the same."""
    collected = CollectedOutputs(files=[request.training_file_id])
    if request.job_id is not None:
        try:
            collected.files += _copy_job_outputs(request, request.job_id, collected)
        except Exception as exc:  # noqa: BLE001 - transient re-raised for Durable's retry, permanent noted
            error = raise_if_transient(exc)
            collected.warnings.append(
                ErrorInfo(code=error.code, message=f"job outputs not copied: {error.message}")
            )
    return collected


def _copy_job_outputs(request: CollectOutputs, job_id: str, collected: CollectedOutputs) -> list[str]:
    """Writes the job's results file(s) and events to Blob; returns the results files' ids."""
    client, store = openai_client(), artifact_store()
    ids = result_files(client, job_id)
    for index, file_id in enumerate(ids):
        blob = training_results_path(request.run_id, request.iteration, index)
        content = file_content(client, file_id)
        if content is not None:
            store.write_text(blob, content.decode("utf-8", errors="replace"))
        if content is not None or store.read_text(blob) is not None:
            collected.results_blobs.append(blob)
    events = events_jsonl(client, job_id)
    if events:
        collected.events_blob = training_events_path(request.run_id, request.iteration)
        store.write_text(collected.events_blob, events)
    return ids


@implements(bp, DELETE_FILE)
def delete_file(request: FileRef) -> FileResult:
    """Deletes one file from the resource (a resource holds a limited number); one already gone counts
    as deleted; a refusal is an answer with Azure's reason."""
    return result_or_error(
        lambda: _deleted(request.file_id),
        lambda error: FileResult(file_id=request.file_id, status="error", error=error),
    )


def _deleted(file_id: str) -> FileResult:
    finetuning.delete_file(openai_client(), file_id)
    return FileResult(file_id=file_id, status="deleted")


@implements(bp, DELETE_FINETUNE_JOBS)
def delete_finetune_jobs(request: JobIds) -> JobsDeleted:
    """Deletes finished jobs (and so their models); a job Azure refuses to delete (its model is still
    deployed, say) is an answer with the reason, not an error."""
    answer = JobsDeleted(deleted=[])
    for job_id in request.job_ids:
        try:
            delete_job(openai_client(), job_id)
        except openai.ConflictError as exc:  # 409: a refusal, not a collision to retry
            answer.refused.append(Leak(kind="job", name=job_id, reason=describe(exc).message))
            continue
        except Exception as exc:  # noqa: BLE001 - transient re-raised for Durable's retry, permanent noted
            error = raise_if_transient(exc)
            answer.refused.append(Leak(kind="job", name=job_id, reason=f"{error.code}: {error.message}"))
            continue
        answer.deleted.append(job_id)
    return answer
