"""Azure OpenAI Files: upload (multipart), retrieve, list, delete, content.

Processing is lazy: an upload is ``pending``, then ``running``, then ``processed`` or ``error`` by the
timestamps stored at upload (file_processing x time_scale), with the JSONL validated once at upload.
"""

from __future__ import annotations

from email.parser import BytesParser
from email.policy import HTTP
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from emulator.errors import ApiError
from emulator.jsonbody import read_body
from emulator.paging import page, parse_limit
from emulator.records import FileRecord
from emulator.store import Store
from emulator.validation import validate_training_file

PURPOSES = {"fine-tune", "assistants", "batch", "vision", "user_data", "evals"}
MULTIPART_OVERHEAD = 1024 * 1024  # room for the form's other fields and boundaries


def file_status(record: FileRecord, now: float) -> str:
    if record.deleted:
        return "deleted"
    if now < record.running_at:
        return "pending"
    if now < record.ready_at:
        return "running"
    return "error" if record.error else "processed"


def file_json(record: FileRecord, now: float) -> dict[str, Any]:
    status = file_status(record, now)
    return {
        "id": record.id,
        "object": "file",
        "bytes": record.bytes,
        "created_at": int(record.created_at),
        "filename": record.filename,
        "purpose": record.purpose,
        "status": status,
        "status_details": record.error if status == "error" else None,
    }


def get_file(store: Store, file_id: str) -> FileRecord:
    record = store.data.files.get(file_id)
    if record is None or record.deleted:
        raise ApiError(404, "fileNotFound", f"File with id '{file_id}' not found.")
    return record


async def _parse_multipart(request: Request, limit: int) -> dict[str, tuple[str | None, bytes]]:
    content_type = request.headers.get("content-type", "")
    if not content_type.lower().startswith("multipart/form-data"):
        raise ApiError(400, "invalidPayload", "File uploads must be multipart/form-data.")
    body = await read_body(request, limit + MULTIPART_OVERHEAD)
    message = BytesParser(policy=HTTP).parsebytes(
        f"Content-Type: {content_type}\r\nMIME-Version: 1.0\r\n\r\n".encode() + body
    )
    if not message.is_multipart():
        raise ApiError(400, "invalidPayload", "Malformed multipart body.")
    fields: dict[str, tuple[str | None, bytes]] = {}
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        if not isinstance(name, str):
            continue
        payload = part.get_payload(decode=True)
        fields[name] = (part.get_filename(), payload if isinstance(payload, bytes) else b"")
    return fields


def _check_limits(store: Store, size: int) -> None:
    """Fine-tuning file limits per resource (quotas-limits.md, 2026-02-17): a size per file, a number of
    files and a total size. They count files uploaded with purpose fine-tune, not the results files jobs
    write."""
    limits = store.config.limits
    if size > limits.file_size:
        raise ApiError(
            413, "413", f"The file is {size} bytes; the maximum file size is {limits.file_size} bytes."
        )
    live = [f for f in store.data.files.values() if not f.deleted and f.purpose == "fine-tune"]
    if len(live) >= limits.files:
        raise ApiError(
            400,
            "quotaExceeded",
            f"The quota for fine-tuning files is reached. The maximum is {limits.files}.",
        )
    used = sum(f.bytes for f in live)
    if used + size > limits.file_bytes:
        raise ApiError(
            400,
            "quotaExceeded",
            f"The total size of fine-tuning files would be {used + size} bytes. The maximum is "
            f"{limits.file_bytes} bytes.",
        )


async def create_file(request: Request, store: Store) -> Response:
    fields = await _parse_multipart(request, store.config.limits.file_size)
    if "file" not in fields:
        raise ApiError(400, "invalidPayload", "The 'file' field is required.", param="file")
    purpose = fields.get("purpose", (None, b""))[1].decode("utf-8", "replace").strip()
    if purpose not in PURPOSES:
        raise ApiError(
            400,
            "invalidPayload",
            f"'purpose' must be one of {sorted(PURPOSES)}, got {purpose!r}.",
            param="purpose",
        )
    filename, data = fields["file"]
    if purpose == "fine-tune":
        _check_limits(store, len(data))
    filename = filename or "upload.jsonl"
    error, examples, tokens = None, 0, 0
    if purpose == "fine-tune":
        result = validate_training_file(filename, data, store.config.min_examples)
        error, examples, tokens = result.error, len(result.examples), result.tokens
    now = store.now()
    duration = (
        store.config.scaled(store.config.durations.file_processing) * store.faults.config.processing_slowdown
    )
    record = FileRecord(
        id=f"file-{store.next_hex()}",
        filename=filename,
        purpose=purpose,
        bytes=len(data),
        created_at=now,
        running_at=now + duration / 3,
        ready_at=now + duration,
        error=error,
        examples=examples,
        tokens=tokens,
    )
    store.put_content(record.id, data)
    store.data.files[record.id] = record
    store.save()
    location = f"{str(request.base_url).rstrip('/')}{request.url.path.rstrip('/')}/{record.id}"
    return JSONResponse(file_json(record, now), status_code=201, headers={"location": location})


async def list_files(request: Request, store: Store) -> Response:
    now = store.now()
    purpose = request.query_params.get("purpose")
    order = request.query_params.get("order", "desc")
    if order not in ("asc", "desc"):
        raise ApiError(400, "invalidPayload", "'order' must be 'asc' or 'desc'.", param="order")
    files = [
        f for f in store.data.files.values() if not f.deleted and (purpose is None or f.purpose == purpose)
    ]
    files.sort(key=lambda f: f.created_at, reverse=order == "desc")
    limit = parse_limit(request.query_params.get("limit"), 10000, 10000)
    body = page(files, lambda f: f.id, request.query_params.get("after"), limit, lambda f: file_json(f, now))
    return JSONResponse(body)


async def retrieve_file(request: Request, store: Store) -> Response:
    record = get_file(store, request.path_params["file_id"])
    return JSONResponse(file_json(record, store.now()))


async def delete_file(request: Request, store: Store) -> Response:
    record = get_file(store, request.path_params["file_id"])
    record.deleted = True
    store.drop_content(record.id)
    store.save()
    return JSONResponse({"id": record.id, "object": "file", "deleted": True})


async def file_content(request: Request, store: Store) -> Response:
    record = get_file(store, request.path_params["file_id"])
    return Response(store.get_content(record.id), media_type="application/octet-stream")
