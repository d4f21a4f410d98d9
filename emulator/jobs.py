"""Fine-tuning job routes: create (with Azure's checks and per-resource limits), list, retrieve, cancel,
pause, resume, delete, events and checkpoints. How jobs run lives in ``training``.

Every route first replays due transitions (``training.advance``), so answers never depend on how often
anyone polls. ``queued`` is shown as ``pending``, as Azure does.
"""

from __future__ import annotations

import math
import random
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from emulator.catalog import FOUNDRY_KIND, existing_families, fine_tune_retired_since, iso
from emulator.deployments import state_of
from emulator.errors import ApiError
from emulator.files_api import file_status
from emulator.jsonbody import read_json
from emulator.paging import page, parse_limit
from emulator.profiles import canonical_training_type, profile_of, training_refusal
from emulator.records import FileRecord, JobEvent, JobRecord, ModelRecord
from emulator.store import Store
from emulator.training import (
    ACTIVE,
    WAITING,
    advance,
    checkpoint_steps,
    derived_id,
    event,
    learn_from_files,
    leave_slot,
    metrics,
    metrics_steps,
    pool_of,
    read_examples,
)

NOT_SUPPORTED = "The specified base model does not support fine-tuning."
AUTO_EPOCHS, AUTO_LR = 3, 1.0
MAX_SUFFIX = 18
SEED_MAX = 2**31 - 1


class _Shape(BaseModel):
    """Request shapes: strict JSON types, no NaN; values are range-checked by the route."""

    model_config = ConfigDict(strict=True, allow_inf_nan=False, extra="allow")


class _Hyperparameters(_Shape):
    n_epochs: Any = None
    batch_size: Any = None
    learning_rate_multiplier: Any = None


class _Supervised(_Shape):
    hyperparameters: _Hyperparameters | None = None


class _Method(_Shape):
    type: str = "supervised"
    supervised: _Supervised | None = None


class _Wandb(_Shape):
    project: str
    name: str | None = None
    entity: str | None = None
    tags: list[str] | None = None


class _Integration(_Shape):
    type: str
    wandb: _Wandb


class JobRequest(_Shape):
    """The body of ``POST /fine_tuning/jobs`` (Azure adds ``trainingType`` at the top level)."""

    model: str
    training_file: str
    validation_file: str | None = None
    suffix: str | None = None
    seed: int | None = None
    hyperparameters: _Hyperparameters | None = None
    method: _Method | None = None
    integrations: list[_Integration] | None = None
    trainingType: Any = None  # Azure's wire name


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
        "result_files": [job.result_file] if job.result_file else [],
        "trained_tokens": job.trained_tokens if succeeded else None,
        "error": job.error,
        "seed": job.seed,
        "suffix": job.suffix,
        "organization_id": None,
        "estimated_finish": estimated,
        "integrations": job.integrations,
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
    return int(raw) if kind is int else float(raw)


def _checked_file(store: Store, file_id: str, param: str) -> FileRecord:
    if not file_id:
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


def _parsed(raw: Any) -> JobRequest:
    try:
        return JobRequest.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(part) for part in first["loc"]) or "body"
        raise _bad(f"'{field}': {first['msg']}.", field) from None


def _check_limits(store: Store) -> None:
    """Per-resource job limits (quotas-limits.md, 2026-02-17): jobs in all, and jobs waiting to run."""
    limits = store.config.limits
    if len(store.data.jobs) >= limits.jobs:
        raise _bad(
            f"The quota for fine-tuning jobs is reached. The maximum is {limits.jobs}; finished jobs count "
            "until they are deleted.",
            code="quotaExceeded",
        )
    waiting = sum(1 for j in store.data.jobs.values() if j.status in WAITING)
    if waiting >= limits.queued:
        raise _bad(
            f"The quota for queued fine-tuning jobs is reached. The maximum is {limits.queued}.",
            code="quotaExceeded",
        )


def _training_type(request: JobRequest) -> tuple[Any, str]:
    """The request's ``trainingType`` as sent (echoed back) and as one of the three tiers."""
    training_type = request.trainingType
    if training_type is None:
        raise _bad(NOT_SUPPORTED + " (the request has no 'trainingType')", "trainingType")
    tier = canonical_training_type(training_type)
    if tier is None:
        raise _bad(
            f"'trainingType' {training_type!r} is not one of Standard, GlobalStandard, developerTier.",
            "trainingType",
        )
    return training_type, tier


def _check_base(store: Store, parent: ModelRecord, now: float) -> None:
    """What the model's profile (emulator/profiles.py) and this account's lifecycle allow, refused with
    the one message Azure is seen to give for a model it will not fine-tune, plus the reason."""
    profile = profile_of(parent.root)
    if not profile.sft:
        raise _bad(f"{NOT_SUPPORTED} ({profile.arm_name} has no supervised fine-tuning)", "model")
    kind = store.config.account_kind
    if profile.open_model and kind != FOUNDRY_KIND:
        # supported: open models are "only supported on Foundry resources"; Azure's answer on another
        # kind of account is not published, so the reason in parentheses is the emulator's.
        raise _bad(
            f"{NOT_SUPPORTED} ({profile.arm_name} is fine-tuned on Foundry resources (kind {FOUNDRY_KIND}) "
            f"only; this account is kind {kind})",
            "model",
        )
    if parent.job_id is not None and not profile.from_fine_tuned:
        raise _bad(
            f"{NOT_SUPPORTED} (a model fine-tuned from {profile.arm_name} cannot be fine-tuned again; start "
            f"from {parent.root})",
            "model",
        )
    retired = fine_tune_retired_since(store, parent.id, now)
    if retired is not None:
        why = ""
        if profile.training_retires_existing and profile.family not in existing_families(store):
            why = f" for accounts that do not already fine-tune the {profile.family} family"
        raise _bad(
            f"{NOT_SUPPORTED} (fine-tuning {profile.arm_name} was retired on {iso(retired)}{why})", "model"
        )


def _hyperparameters(request: JobRequest) -> tuple[int | None, int | None, float | None]:
    method = request.method or _Method()
    if method.type != "supervised":
        raise _bad("Only the 'supervised' fine-tuning method is supported by the emulator.", "method")
    merged = (request.hyperparameters or _Hyperparameters()).model_dump(exclude_none=True)
    if method.supervised is not None and method.supervised.hyperparameters is not None:
        merged.update(method.supervised.hyperparameters.model_dump(exclude_none=True))
    n_epochs = _hyper(merged.get("n_epochs"), "n_epochs", int, 1, 50)
    batch_size = _hyper(merged.get("batch_size"), "batch_size", int, 1, 256)
    lr = _hyper(merged.get("learning_rate_multiplier"), "learning_rate_multiplier", float, 0.01, 10)
    return (
        int(n_epochs) if n_epochs is not None else None,
        int(batch_size) if batch_size is not None else None,
        lr,
    )


async def create_job(request: Request, store: Store) -> Response:
    body = _parsed(await read_json(request, {}))
    now = store.now()
    advance(store, now)
    parent = store.data.models.get(body.model)
    if parent is None:
        raise _bad(NOT_SUPPORTED, "model")
    _check_base(store, parent, now)
    training_type, tier = _training_type(body)
    refusal = training_refusal(profile_of(parent.root), tier, store.config.location)
    if refusal is not None:
        raise _bad(f"{NOT_SUPPORTED} ({refusal})", "trainingType")
    training = _checked_file(store, body.training_file, "training_file")
    if body.validation_file is not None:
        _checked_file(store, body.validation_file, "validation_file")
    suffix = body.suffix
    if suffix is not None and not 0 < len(suffix) <= MAX_SUFFIX:
        raise _bad(f"'suffix' must be a string of 1 to {MAX_SUFFIX} characters.", "suffix")
    n_epochs, batch_size, lr = _hyperparameters(body)
    if body.seed is not None and not 0 <= body.seed <= SEED_MAX:
        raise _bad(f"'seed' must be an integer between 0 and {SEED_MAX}.", "seed")
    for n, integration in enumerate(body.integrations or []):
        if integration.type != "wandb":
            raise _bad(f"integrations[{n}].type must be 'wandb'.", f"integrations[{n}].type")
    _check_limits(store)

    hex_id = store.next_hex()
    job_id = f"ftjob-{hex_id}"
    examples = read_examples(store, training.id)
    validation = read_examples(store, body.validation_file) if body.validation_file is not None else None
    epochs = n_epochs or AUTO_EPOCHS
    batch = batch_size or max(1, min(32, round(len(examples) * 0.002)))
    multiplier = lr or AUTO_LR
    learned = learn_from_files(parent, examples, validation, store.config.behaviours, epochs, multiplier)
    running = store.config.scaled(store.config.durations.job_running) * store.faults.config.training_slowdown
    job = JobRecord(
        id=job_id,
        created_at=now,
        model=body.model,
        root_model=parent.root,
        training_file=training.id,
        validation_file=body.validation_file,
        suffix=suffix,
        seed=body.seed if body.seed is not None else random.Random(job_id).randint(0, SEED_MAX),
        hyperparameters={
            "n_epochs": n_epochs if n_epochs is not None else -1,
            "batch_size": batch_size if batch_size is not None else -1,
            "learning_rate_multiplier": lr if lr is not None else -1,
        },
        n_epochs=epochs,
        batch_size=batch,
        learning_rate_multiplier=multiplier,
        training_type=training_type,
        pool=pool_of(training_type),
        integrations=[i.model_dump(exclude_none=True) for i in body.integrations]
        if body.integrations
        else None,
        fine_tuned_model=f"{parent.root}.ft-{hex_id}" + (f"-{suffix}" if suffix else ""),
        skill=learned.skill,
        skills=learned.skills,
        curve=learned.curve,
        trained_tokens=training.tokens * epochs,
        steps=max(1, math.ceil(len(examples) / batch)) * epochs,
        ready_at=now + store.config.scaled(store.config.durations.job_pending),
        training_time=running,
        remaining=running,
        will_fail=store.faults.take_job_failure(job_id),
    )
    event(job, now, "Job created.")
    store.data.jobs[job.id] = job
    store.save()
    location = f"{str(request.base_url).rstrip('/')}{request.url.path.rstrip('/')}/{job.id}"
    return JSONResponse(job_json(job, now), status_code=201, headers={"location": location})


def _get_job(store: Store, job_id: str) -> JobRecord:
    job = store.data.jobs.get(job_id)
    if job is None:
        raise ApiError(404, "jobNotFound", f"Fine-tuning job '{job_id}' not found.")
    return job


def _current(request: Request, store: Store) -> tuple[JobRecord, float]:
    """The job the path names, after replaying transitions due by now."""
    now = store.now()
    advance(store, now)
    return _get_job(store, request.path_params["job_id"]), now


async def retrieve_job(request: Request, store: Store) -> Response:
    job, now = _current(request, store)
    return JSONResponse(job_json(job, now))


async def list_jobs(request: Request, store: Store) -> Response:
    now = store.now()
    advance(store, now)
    jobs = sorted(store.data.jobs.values(), key=lambda j: j.created_at, reverse=True)
    limit = parse_limit(request.query_params.get("limit"), 20, 100)
    return JSONResponse(
        page(jobs, lambda j: j.id, request.query_params.get("after"), limit, lambda j: job_json(j, now))
    )


async def cancel_job(request: Request, store: Store) -> Response:
    job, now = _current(request, store)
    if job.status not in ACTIVE:
        raise _bad(f"Job '{job.id}' has already finished (status '{job.status}') and cannot be cancelled.")
    if job.status == "running":
        leave_slot(store, job, now)
    job.status, job.finished_at = "cancelled", now
    event(job, now, "Job cancelled.")
    store.save()
    return JSONResponse(job_json(job, now))


async def pause_job(request: Request, store: Store) -> Response:
    job, now = _current(request, store)
    if job.status != "running" or job.started_at is None:
        raise _bad(f"Only a running job can be paused; job '{job.id}' is '{public_status(job)}'.")
    leave_slot(store, job, now)
    job.status = "paused"
    event(job, now, "Job paused.")
    store.save()
    return JSONResponse(job_json(job, now))


async def resume_job(request: Request, store: Store) -> Response:
    job, now = _current(request, store)
    if job.status != "paused":
        raise _bad(f"Only a paused job can be resumed; job '{job.id}' is '{public_status(job)}'.")
    job.status, job.queued_at = "queued", now
    event(job, now, "Job resumed.")
    store.save()
    return JSONResponse(job_json(job, now))


async def delete_job(request: Request, store: Store) -> Response:
    """Delete a finished job and with it the model it produced, as deleting a customized model does on
    Azure; refused while the job is active or while that model is deployed."""
    job, now = _current(request, store)
    if job.status in ACTIVE:
        raise ApiError(
            400,
            "unexpectedEntityState",
            f"Job '{job.id}' is '{public_status(job)}'; cancel it before deleting it.",
        )
    deployed = [
        d.name
        for d in store.data.deployments.values()
        if d.model_id == job.fine_tuned_model and state_of(d, now) is not None
    ]
    if job.status == "succeeded" and deployed:
        raise ApiError(
            409,
            "conflict",
            f"The model '{job.fine_tuned_model}' of job '{job.id}' is deployed ({', '.join(deployed)}); "
            "delete the deployment before deleting the model.",
        )
    del store.data.jobs[job.id]
    if job.status == "succeeded":
        store.data.models.pop(job.fine_tuned_model, None)
    store.save()
    return Response(status_code=204)


def _event_json(event_record: JobEvent) -> dict[str, Any]:
    return {
        "id": event_record.id,
        "object": "fine_tuning.job.event",
        "created_at": int(event_record.created_at),
        "level": event_record.level,
        "message": event_record.message,
        "type": event_record.type,
        "data": event_record.data,
    }


def _metrics_events(job: JobRecord, now: float) -> list[JobEvent]:
    derived = []
    for step, at in metrics_steps(job, now):
        values = metrics(job, step)
        message = f"Step {step}/{job.steps}: training loss={values.train_loss}"
        if values.valid_loss is not None:
            message += f", validation loss={values.valid_loss}"
        derived.append(
            JobEvent(
                id=derived_id("ftevent", job, step),
                created_at=at,
                message=message,
                type="metrics",
                data={**values.as_dict(), "total_steps": job.steps},
            )
        )
    return derived


async def list_events(request: Request, store: Store) -> Response:
    """Stored message events and the metrics events the job has reached, oldest first."""
    job, now = _current(request, store)
    merged = [(e, 1) for e in job.events] + [(e, 0) for e in _metrics_events(job, now)]
    events = [e for e, _ in sorted(merged, key=lambda pair: (pair[0].created_at, pair[1]))]
    limit = parse_limit(request.query_params.get("limit"), 20, 100)
    return JSONResponse(page(events, lambda e: e.id, request.query_params.get("after"), limit, _event_json))


async def list_checkpoints(request: Request, store: Store) -> Response:
    job, now = _current(request, store)
    limit = parse_limit(request.query_params.get("limit"), 10, 100)

    def render(reached: tuple[int, float]) -> dict[str, Any]:
        step, at = reached
        return {
            "id": derived_id("ftchkpt", job, step),
            "object": "fine_tuning.job.checkpoint",
            "created_at": int(at),
            "fine_tuned_model_checkpoint": f"{job.fine_tuned_model}:ckpt-step-{step}",
            "fine_tuning_job_id": job.id,
            "step_number": step,
            "metrics": metrics(job, step).as_dict(),
        }

    checkpoints = checkpoint_steps(job, now)
    return JSONResponse(
        page(
            checkpoints,
            lambda c: derived_id("ftchkpt", job, c[0]),
            request.query_params.get("after"),
            limit,
            render,
        )
    )
