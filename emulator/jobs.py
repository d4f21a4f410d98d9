"""Fine-tuning jobs: creation rules, the lifecycle scheduler, and the job routes.

The lifecycle is lazy but exact. ``advance(store, now)`` replays, in time order, every transition due by
``now`` (pending -> queued at ``ready_at``; the earliest queued job starts when the single training slot
is free; a running job finishes when its remaining training time has elapsed), stamping each with the time
it happened rather than the time it was observed. Cancel, pause and resume first advance to now and then
act, so results never depend on how often anyone polls. ``queued`` is shown as ``pending``, as Azure does.
"""

from __future__ import annotations

import json
import math
import random
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from emulator.behaviour import classify, trained_skill
from emulator.errors import ApiError
from emulator.files_api import file_status
from emulator.ids import new_id
from emulator.paging import page, parse_limit
from emulator.records import Checkpoint, JobEvent, JobRecord, ModelRecord
from emulator.store import Store

ACTIVE = {"pending", "queued", "running", "paused"}
TERMINAL = {"succeeded", "failed", "cancelled"}
TRAINING_TYPES = {"standard", "globalstandard", "developertier", "developer"}
NOT_SUPPORTED = "The specified base model does not support fine-tuning."
AUTO_EPOCHS, AUTO_LR = 3, 1.0
MAX_SUFFIX = 18


def _event(job: JobRecord, at: float, message: str, **kw: Any) -> None:
    job.events.append(JobEvent(id=new_id("ftevent"), created_at=at, message=message, **kw))


def _finish(store: Store, job: JobRecord, at: float) -> None:
    job.finished_at = at
    job.remaining = 0.0
    store.data.slot_free_since = at
    if job.will_fail or job.id in store.faults.config.fail_jobs:
        job.status = "failed"
        job.error = {
            "code": "internalError",
            "message": "The job failed due to an internal error (injected by the emulator).",
            "param": None,
        }
        _event(job, at, "Job failed.", level="error")
        return
    started = job.started_at if job.started_at is not None else at
    rng = random.Random(job.id)
    for epoch in range(1, job.n_epochs + 1):
        step = math.ceil(job.steps * epoch / job.n_epochs)
        loss = round(1.6 * math.exp(-1.1 * epoch) + 0.05 + rng.random() * 0.05, 4)
        accuracy = round(min(0.99, 0.6 + 0.1 * epoch + rng.random() * 0.05), 4)
        created = started + (at - started) * epoch / job.n_epochs
        job.checkpoints.append(
            Checkpoint(
                id=new_id("ftchkpt"),
                created_at=created,
                step_number=step,
                train_loss=loss,
                train_mean_token_accuracy=accuracy,
            )
        )
        _event(
            job,
            created,
            f"Step {step}/{job.steps}: training loss={loss}",
            type="metrics",
            data={"step": step, "train_loss": loss, "train_mean_token_accuracy": accuracy},
        )
    job.status = "succeeded"
    store.data.models[job.fine_tuned_model] = ModelRecord(
        id=job.fine_tuned_model,
        root=job.root_model,
        parent=job.model,
        skill=job.skill,
        created_at=at,
        job_id=job.id,
    )
    _event(job, at, "Model uploaded.")
    _event(job, at, "Job succeeded.")


def advance(store: Store, now: float) -> None:
    """Apply every job transition due by ``now``, each at the time it was due."""
    changed = False
    jobs = list(store.data.jobs.values())
    while True:
        due: list[tuple[float, int, str, JobRecord]] = [
            (j.ready_at, 0, "ready", j) for j in jobs if j.status == "pending"
        ]
        running = [j for j in jobs if j.status == "running"]
        if running:
            job = running[0]
            assert job.started_at is not None
            due.append((job.started_at + job.remaining, 1, "finish", job))
        else:
            queued = sorted(
                (j for j in jobs if j.status == "queued"), key=lambda j: (j.queued_at or 0.0, j.created_at)
            )
            if queued:
                job = queued[0]
                due.append((max(job.queued_at or 0.0, store.data.slot_free_since), 2, "start", job))
        if not due:
            break
        at, _, kind, job = min(due, key=lambda d: (d[0], d[1], d[3].created_at))
        if at > now:
            break
        changed = True
        if kind == "ready":
            job.status, job.queued_at = "queued", at
            _event(job, at, "Job enqueued. Waiting for jobs ahead to complete.")
        elif kind == "start":
            job.status, job.started_at = "running", at
            _event(job, at, "Job started.")
        else:
            _finish(store, job, at)
    if changed:
        store.save()


def public_status(job: JobRecord) -> str:
    return "pending" if job.status == "queued" else job.status


def job_json(job: JobRecord, now: float) -> dict[str, Any]:
    succeeded = job.status == "succeeded"
    estimated = None
    if job.status == "running" and job.started_at is not None:
        estimated = int(job.started_at + job.remaining)
    return {
        "id": job.id,
        "object": "fine_tuning.job",
        "created_at": int(job.created_at),
        "model": job.model,
        "fine_tuned_model": job.fine_tuned_model if succeeded else None,
        "finished_at": int(job.finished_at) if job.finished_at is not None else None,
        "hyperparameters": job.hyperparameters,
        "method": {"type": "supervised", "supervised": {"hyperparameters": job.hyperparameters}},
        "status": public_status(job),
        "training_file": job.training_file,
        "validation_file": job.validation_file,
        "result_files": [],
        "trained_tokens": job.trained_tokens if succeeded else None,
        "error": job.error,
        "seed": job.seed,
        "suffix": job.suffix,
        "organization_id": None,
        "estimated_finish": estimated,
        "integrations": None,
        "metadata": None,
        "trainingType": job.training_type,
    }


def _bad(message: str, param: str | None = None, code: str = "invalidPayload") -> ApiError:
    return ApiError(400, code, message, param=param)


def _hyper(raw: Any, name: str, kind: type, low: float, high: float) -> int | float | None:
    """A hyperparameter value, or None for auto (absent, "auto" or -1)."""
    if raw is None or raw == "auto" or raw == -1:
        return None
    if (
        isinstance(raw, bool)
        or not isinstance(raw, (int, float))
        or (kind is int and not float(raw).is_integer())
    ):
        raise _bad(f"'{name}' must be 'auto' or a {kind.__name__}.", name)
    if not low <= raw <= high:
        raise _bad(f"'{name}' must be between {low} and {high}.", name)
    return kind(raw)


def _checked_file(store: Store, file_id: Any, param: str) -> Any:
    if not isinstance(file_id, str) or not file_id:
        raise _bad(f"'{param}' is required.", param)
    record = store.data.files.get(file_id)
    if record is None or record.deleted:
        raise _bad(f"The file '{file_id}' given as {param} does not exist.", param)
    if record.purpose != "fine-tune":
        raise _bad(f"The file '{file_id}' was not uploaded with purpose 'fine-tune'.", param)
    status = file_status(record, store.now())
    if status == "error":
        raise _bad(f"The file '{file_id}' failed validation: {record.error}", param)
    if status != "processed":
        raise _bad(
            f"The file '{file_id}' is not ready yet (status '{status}'); wait until it is processed.", param
        )
    return record


async def _json_body(request: Request) -> dict[str, Any]:
    try:
        body = json.loads(await request.body() or b"{}")
    except ValueError:
        raise _bad("The request body is not valid JSON.") from None
    if not isinstance(body, dict):
        raise _bad("The request body must be a JSON object.")
    return body


async def create_job(request: Request, store: Store) -> Response:
    body = await _json_body(request)
    now = store.now()
    advance(store, now)
    model_id = body.get("model")
    if not isinstance(model_id, str) or not model_id:
        raise _bad("'model' is required.", "model")
    parent = store.data.models.get(model_id)
    if parent is None:
        raise _bad(NOT_SUPPORTED, "model")
    training_type = body.get("trainingType")
    if training_type is None:
        raise _bad(NOT_SUPPORTED + " (the request has no 'trainingType')", "trainingType")
    if str(training_type).replace(" ", "").lower() not in TRAINING_TYPES and training_type not in (1, 2, 3):
        raise _bad(f"'trainingType' {training_type!r} is not one of Standard, GlobalStandard, developerTier.")
    training = _checked_file(store, body.get("training_file"), "training_file")
    validation_id = body.get("validation_file")
    if validation_id is not None:
        _checked_file(store, validation_id, "validation_file")
    suffix = body.get("suffix")
    if suffix is not None and (not isinstance(suffix, str) or not 0 < len(suffix) <= MAX_SUFFIX):
        raise _bad(f"'suffix' must be a string of 1 to {MAX_SUFFIX} characters.", "suffix")
    method = body.get("method") or {"type": "supervised"}
    if not isinstance(method, dict) or method.get("type", "supervised") != "supervised":
        raise _bad("Only the 'supervised' fine-tuning method is supported by the emulator.", "method")
    hyper = dict(body.get("hyperparameters") or {})
    hyper.update(((method.get("supervised") or {}).get("hyperparameters")) or {})
    n_epochs = _hyper(hyper.get("n_epochs"), "n_epochs", int, 1, 50)
    batch_size = _hyper(hyper.get("batch_size"), "batch_size", int, 1, 256)
    lr = _hyper(hyper.get("learning_rate_multiplier"), "learning_rate_multiplier", float, 0.01, 10)
    seed = body.get("seed")
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)):
        raise _bad("'seed' must be an integer.", "seed")
    active = [j for j in store.data.jobs.values() if j.status in ACTIVE]
    if len(active) > store.config.max_queued_jobs:
        raise _bad(
            f"This resource already has {len(active)} active fine-tuning jobs (1 running, "
            f"{store.config.max_queued_jobs} queued at most).",
            code="quotaExceeded",
        )

    hex_id = store.next_hex()
    job_id = f"ftjob-{hex_id}"
    examples = [
        json.loads(line) for line in store.get_content(training.id).decode().splitlines() if line.strip()
    ]
    epochs = int(n_epochs or AUTO_EPOCHS)
    batch = int(batch_size or max(1, min(32, round(len(examples) * 0.002))))
    multiplier = float(lr or AUTO_LR)
    skill = trained_skill(parent.skill, classify(examples, store.config.behaviours), epochs, multiplier)
    name = f"{parent.root}.ft-{hex_id}" + (f"-{suffix}" if suffix else "")
    scale = store.config.scaled
    job = JobRecord(
        id=job_id,
        created_at=now,
        model=model_id,
        root_model=parent.root,
        training_file=training.id,
        validation_file=validation_id,
        suffix=suffix,
        seed=seed if seed is not None else random.Random(job_id).randint(0, 2**31 - 1),
        hyperparameters={
            "n_epochs": n_epochs if n_epochs is not None else -1,
            "batch_size": batch_size if batch_size is not None else -1,
            "learning_rate_multiplier": lr if lr is not None else -1,
        },
        n_epochs=epochs,
        batch_size=batch,
        learning_rate_multiplier=multiplier,
        training_type=training_type,
        fine_tuned_model=name,
        skill=skill,
        trained_tokens=training.tokens * epochs,
        steps=max(1, math.ceil(len(examples) / batch)) * epochs,
        ready_at=now + scale(store.config.durations.job_pending),
        remaining=scale(store.config.durations.job_running),
        will_fail=store.faults.take_job_failure(job_id),
    )
    _event(job, now, "Job created.")
    store.data.jobs[job.id] = job
    store.save()
    return JSONResponse(job_json(job, now), status_code=201)


def _get_job(store: Store, job_id: str) -> JobRecord:
    job = store.data.jobs.get(job_id)
    if job is None:
        raise ApiError(404, "jobNotFound", f"Fine-tuning job '{job_id}' not found.")
    return job


async def retrieve_job(request: Request, store: Store) -> Response:
    now = store.now()
    advance(store, now)
    return JSONResponse(job_json(_get_job(store, request.path_params["job_id"]), now))


async def list_jobs(request: Request, store: Store) -> Response:
    now = store.now()
    advance(store, now)
    jobs = sorted(store.data.jobs.values(), key=lambda j: j.created_at, reverse=True)
    limit = parse_limit(request.query_params.get("limit"), 20, 100)
    return JSONResponse(
        page(jobs, lambda j: j.id, request.query_params.get("after"), limit, lambda j: job_json(j, now))
    )


async def cancel_job(request: Request, store: Store) -> Response:
    now = store.now()
    advance(store, now)
    job = _get_job(store, request.path_params["job_id"])
    if job.status not in ACTIVE:
        raise _bad(f"Job '{job.id}' has already finished (status '{job.status}') and cannot be cancelled.")
    if job.status == "running":
        store.data.slot_free_since = now
    job.status, job.finished_at = "cancelled", now
    _event(job, now, "Job cancelled.")
    store.save()
    return JSONResponse(job_json(job, now))


async def pause_job(request: Request, store: Store) -> Response:
    now = store.now()
    advance(store, now)
    job = _get_job(store, request.path_params["job_id"])
    if job.status != "running" or job.started_at is None:
        raise _bad(f"Only a running job can be paused; job '{job.id}' is '{public_status(job)}'.")
    job.remaining = max(0.0, job.remaining - (now - job.started_at))
    job.status, job.started_at = "paused", None
    store.data.slot_free_since = now
    _event(job, now, "Job paused.")
    store.save()
    return JSONResponse(job_json(job, now))


async def resume_job(request: Request, store: Store) -> Response:
    now = store.now()
    advance(store, now)
    job = _get_job(store, request.path_params["job_id"])
    if job.status != "paused":
        raise _bad(f"Only a paused job can be resumed; job '{job.id}' is '{public_status(job)}'.")
    job.status, job.queued_at = "queued", now
    _event(job, now, "Job resumed.")
    store.save()
    return JSONResponse(job_json(job, now))


async def list_events(request: Request, store: Store) -> Response:
    advance(store, store.now())
    job = _get_job(store, request.path_params["job_id"])
    events = sorted(job.events, key=lambda e: e.created_at)
    limit = parse_limit(request.query_params.get("limit"), 20, 100)

    def render(event: JobEvent) -> dict[str, Any]:
        return {
            "id": event.id,
            "object": "fine_tuning.job.event",
            "created_at": int(event.created_at),
            "level": event.level,
            "message": event.message,
            "type": event.type,
            "data": event.data,
        }

    return JSONResponse(page(events, lambda e: e.id, request.query_params.get("after"), limit, render))


async def list_checkpoints(request: Request, store: Store) -> Response:
    advance(store, store.now())
    job = _get_job(store, request.path_params["job_id"])
    limit = parse_limit(request.query_params.get("limit"), 10, 100)

    def render(c: Checkpoint) -> dict[str, Any]:
        return {
            "id": c.id,
            "object": "fine_tuning.job.checkpoint",
            "created_at": int(c.created_at),
            "fine_tuned_model_checkpoint": f"{job.fine_tuned_model}:ckpt-step-{c.step_number}",
            "fine_tuning_job_id": job.id,
            "step_number": c.step_number,
            "metrics": {
                "step": c.step_number,
                "train_loss": c.train_loss,
                "train_mean_token_accuracy": c.train_mean_token_accuracy,
            },
        }

    return JSONResponse(
        page(job.checkpoints, lambda c: c.id, request.query_params.get("after"), limit, render)
    )
