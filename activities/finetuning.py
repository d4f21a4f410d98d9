"""Activities for Azure OpenAI files and fine-tuning jobs.

Each is idempotent (see shared.finetuning) and raises only transient failures, so Durable retries
are safe and never retry a request Azure has already refused for good.
"""

from __future__ import annotations

from typing import Any

import azure.durable_functions as df

from shared.artifacts import intent_path
from shared.clients import artifact_store, openai_client
from shared.contracts import FileRef, FileResult, JobRef, JobResult, StartJob, UploadFile
from shared.errors import result_or_error
from shared.finetuning import (
    cancel_job,
    create_job,
    find_job,
    find_or_upload,
    get_file,
    get_job,
    job_result,
    training_file_name,
)

bp = df.Blueprint()


@bp.activity_trigger(input_name="payload")
def upload_training_file(payload: dict[str, Any]) -> dict[str, Any]:
    request = UploadFile.model_validate(payload)
    content = artifact_store().read_text(request.dataset_blob)
    if content is None:
        missing = {"code": "DatasetMissing", "message": f"dataset blob {request.dataset_blob} does not exist"}
        return FileResult(status="error", error=missing).model_dump()
    name = training_file_name(request.run_id, request.iteration)
    return result_or_error(
        lambda: find_or_upload(openai_client(), name, content.encode("utf-8")),
        lambda error: FileResult(status="error", error=error),
    )


@bp.activity_trigger(input_name="payload")
def get_training_file(payload: dict[str, Any]) -> dict[str, Any]:
    request = FileRef.model_validate(payload)
    return result_or_error(
        lambda: get_file(openai_client(), request.file_id),
        lambda error: FileResult(file_id=request.file_id, status="error", error=error),
    )


@bp.activity_trigger(input_name="payload")
def start_finetune_job(payload: dict[str, Any]) -> dict[str, Any]:
    """Records the intent, then finds the job an earlier attempt started or creates it."""
    request = StartJob.model_validate(payload)
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
            "state": "created" if result["job_id"] else "refused",
            "request": request.model_dump(),
            "result": result,
        },
    )
    return result


@bp.activity_trigger(input_name="payload")
def get_finetune_job(payload: dict[str, Any]) -> dict[str, Any]:
    request = JobRef.model_validate(payload)
    return result_or_error(
        lambda: get_job(openai_client(), request.job_id),
        lambda error: JobResult(job_id=request.job_id, status="unknown", error=error),
    )


@bp.activity_trigger(input_name="payload")
def cancel_finetune_job(payload: dict[str, Any]) -> dict[str, Any]:
    request = JobRef.model_validate(payload)
    return result_or_error(
        lambda: cancel_job(openai_client(), request.job_id),
        lambda error: JobResult(job_id=request.job_id, status="unknown", error=error),
    )
