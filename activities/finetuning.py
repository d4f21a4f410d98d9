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
from shared.errors import raise_if_transient
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
        return FileResult(
            status="error",
            error={
                "code": "DatasetMissing",
                "message": f"dataset blob {request.dataset_blob} does not exist",
            },
        ).model_dump()
    try:
        result = find_or_upload(
            openai_client(), training_file_name(request.run_id, request.iteration), content.encode("utf-8")
        )
    except Exception as exc:  # noqa: BLE001 - classified: transient re-raised, permanent recorded
        result = FileResult(status="error", error=raise_if_transient(exc).as_dict())
    return result.model_dump()


@bp.activity_trigger(input_name="payload")
def get_training_file(payload: dict[str, Any]) -> dict[str, Any]:
    request = FileRef.model_validate(payload)
    try:
        return get_file(openai_client(), request.file_id).model_dump()
    except Exception as exc:  # noqa: BLE001
        return FileResult(
            file_id=request.file_id, status="error", error=raise_if_transient(exc).as_dict()
        ).model_dump()


@bp.activity_trigger(input_name="payload")
def start_finetune_job(payload: dict[str, Any]) -> dict[str, Any]:
    """Records the intent, then finds the job an earlier attempt started or creates it."""
    request = StartJob.model_validate(payload)
    store = artifact_store()
    intent = intent_path(request.run_id, f"job-{request.iteration:02d}")
    store.write_json(intent, {"state": "creating", "request": request.model_dump()})
    client = openai_client()
    try:
        job = find_job(client, request) or create_job(client, request)
    except Exception as exc:  # noqa: BLE001
        result = JobResult(status="failed", error=raise_if_transient(exc).as_dict())
        store.write_json(
            intent, {"state": "refused", "request": request.model_dump(), "result": result.model_dump()}
        )
        return result.model_dump()
    result = job_result(job)
    store.write_json(intent, {"state": "created", "request": request.model_dump(), "job_id": job.id})
    return result.model_dump()


@bp.activity_trigger(input_name="payload")
def get_finetune_job(payload: dict[str, Any]) -> dict[str, Any]:
    request = JobRef.model_validate(payload)
    try:
        return get_job(openai_client(), request.job_id).model_dump()
    except Exception as exc:  # noqa: BLE001
        return JobResult(
            job_id=request.job_id, status="unknown", error=raise_if_transient(exc).as_dict()
        ).model_dump()


@bp.activity_trigger(input_name="payload")
def cancel_finetune_job(payload: dict[str, Any]) -> dict[str, Any]:
    request = JobRef.model_validate(payload)
    try:
        return cancel_job(openai_client(), request.job_id).model_dump()
    except Exception as exc:  # noqa: BLE001
        return JobResult(
            job_id=request.job_id, status="unknown", error=raise_if_transient(exc).as_dict()
        ).model_dump()
