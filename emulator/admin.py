"""The admin API under ``/_emulator/`` (no auth): inspect state and peaks, reset, set and clear faults,
move the emulated clock, retire models, change the account's rules, put a deployment's rate limits under
pressure. It exists for tests, benchmarks and demos; Azure has nothing like it. Bodies are strict: JSON
types as declared, no extra fields, no repeated keys."""

from __future__ import annotations

import time
from typing import Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from emulator.catalog import existing_families, iso, parse_time, retirement, serializes_writes
from emulator.config import Retirement
from emulator.deployments import deployment_json, expires_at, fine_tuned_in_use, purge, state_of
from emulator.errors import ApiError
from emulator.faults import FaultConfig
from emulator.files_api import file_json
from emulator.jobs import job_json
from emulator.jsonbody import read_json
from emulator.profiles import DEFAULT_EXISTING_FAMILIES, FAMILIES
from emulator.ratelimit import BackgroundLoad, LimitLowering, RateLimiter, deployment_limits
from emulator.records import MAX_CLOCK_OFFSET, DeploymentRecord
from emulator.store import Store
from emulator.training import advance

Body = TypeVar("Body", bound=BaseModel)


class RetireRequest(BaseModel):
    """``POST /_emulator/models/retire`` body: ISO 8601 times, UTC unless they carry an offset."""

    model_config = ConfigDict(extra="forbid", strict=True)

    model: str
    fine_tune: str
    inference: str | None = None


class ClockAdvance(BaseModel):
    """``POST /_emulator/clock`` body: how far to move the emulated clock forward, in seconds."""

    model_config = ConfigDict(extra="forbid", strict=True, allow_inf_nan=False)

    advance: float = Field(ge=0, le=MAX_CLOCK_OFFSET)


class AccountRequest(BaseModel):
    """``POST /_emulator/account`` body: the account rules the command line sets, changed at runtime.
    ``customer: "existing"`` without ``families`` means the gpt-4.1 family; ``families`` alone means
    an existing customer of those families."""

    model_config = ConfigDict(extra="forbid", strict=True)

    customer: Literal["existing", "new"] | None = None
    families: list[str] | None = None
    serialize_deployment_writes: bool | None = None


def _invalid(exc: ValidationError) -> ApiError:
    """The first validation problem as a 400 naming the field."""
    first = exc.errors()[0]
    field = ".".join(str(part) for part in first["loc"]) or "body"
    return ApiError(400, "invalidPayload", f"'{field}': {first['msg']}", param=field)


async def _body(request: Request, model: type[Body]) -> Body:
    """The request body as ``model``, strictly: a 400 names the first field at fault."""
    try:
        return model.model_validate(await read_json(request, None, unique_keys=True), strict=True)
    except ValidationError as exc:
        raise _invalid(exc) from None


def snapshot(store: Store) -> dict[str, Any]:
    now = store.now()
    advance(store, now)
    purge(store, now)
    c = store.config
    return {
        "now": now,
        "config": {
            "subscription": c.subscription,
            "resource_group": c.resource_group,
            "account": c.account,
            "seed": c.seed,
            "time_scale": c.time_scale,
            "chat_latency": c.chat_latency,
            "skill": c.skill,
            "behaviours": list(c.behaviours),
            "base_models": list(c.base_models),
            "limits": c.limits.model_dump(),
            "durations": c.durations.model_dump(),
            "location": c.location,
            "lifecycle": c.lifecycle,
            "open_model_format": c.open_model_format,
            "retired_chat_status": c.retired_chat_status,
            "deployment_names": c.deployment_names,
            "account_kind": c.account_kind,
        },
        "account": _account(store),
        "files": [file_json(f, now) for f in store.data.files.values() if not f.deleted],
        "deleted_files": [file_json(f, now) for f in store.data.files.values() if f.deleted],
        "jobs": [
            {**job_json(j, now), "internal_status": j.status, "skill": j.skill, "skills": j.skills}
            for j in store.data.jobs.values()
        ],
        "models": [_model_state(store, m.id, m.model_dump()) for m in store.data.models.values()],
        "deployments": [_deployment_state(store, d, now) for d in store.data.deployments.values()],
        "faults": store.faults.config.model_dump(),
        "peaks": _peaks(store),
    }


def _peaks(store: Store) -> dict[str, int]:
    return {"fine_tuned_deployments": store.data.peak_ft_deployments}


def _model_state(store: Store, model_id: str, fields: dict[str, Any]) -> dict[str, Any]:
    entry = retirement(store, model_id)
    return {**fields, "retirement": entry.model_dump() if entry is not None else None}


def _deployment_state(store: Store, d: DeploymentRecord, now: float) -> dict[str, Any]:
    """The ARM view plus what only the emulator knows: the model id, the state, and when Azure would
    remove the deployment by itself (``expires_at``, Unix seconds, and ``expires_at_iso``)."""
    expiry = expires_at(d)
    return {
        **deployment_json(store, d, now),
        "model_id": d.model_id,
        "state": state_of(d, now),
        "expires_at": expiry,
        "expires_at_iso": iso(expiry) if expiry is not None else None,
        "last_used_at": d.last_used_at,
    }


async def get_state(request: Request, store: Store) -> Response:
    return JSONResponse(snapshot(store))


async def reset(request: Request, store: Store) -> Response:
    store.reset()
    limiter: RateLimiter = request.app.state.limiter
    limiter.clear()
    limiter.apply(store.config.lowerings, store.config.background_loads, time.monotonic())
    return JSONResponse(snapshot(store))


async def get_peaks(request: Request, store: Store) -> Response:
    return JSONResponse(_peaks(store))


async def restart_peaks(request: Request, store: Store) -> Response:
    """Start the marks again from what is in use now (a benchmark's next period)."""
    now = store.now()
    purge(store, now)
    store.data.peak_ft_deployments = fine_tuned_in_use(store, now)
    store.save()
    return JSONResponse(_peaks(store))


async def get_faults(request: Request, store: Store) -> Response:
    return JSONResponse(store.faults.config.model_dump())


async def set_faults(request: Request, store: Store) -> Response:
    """Merge the faults in the body into the live set (route faults are appended)."""
    raw = await read_json(request, {}, unique_keys=True)
    try:
        update = FaultConfig.model_validate(raw, strict=True)
    except ValidationError as exc:
        raise _invalid(exc) from None
    store.faults.config = store.faults.config.merged(update, set(raw))
    store.save()
    return JSONResponse(store.faults.config.model_dump())


async def clear_faults(request: Request, store: Store) -> Response:
    store.faults.config = FaultConfig()
    store.save()
    return JSONResponse(store.faults.config.model_dump())


async def clock(request: Request, store: Store) -> Response:
    """``{"advance": seconds}`` moves the emulated clock forward (never back, never past 100 years)."""
    seconds = (await _body(request, ClockAdvance)).advance
    if store.data.clock_offset + seconds > MAX_CLOCK_OFFSET:
        raise ApiError(
            400,
            "invalidPayload",
            f"'advance' would move the clock more than {MAX_CLOCK_OFFSET:.0f} s (100 years) in all.",
            param="advance",
        )
    store.data.clock_offset += seconds
    store.save()
    return JSONResponse({"now": store.now(), "offset": store.data.clock_offset})


async def retire_model(request: Request, store: Store) -> Response:
    """Set when a model retires for fine-tuning and (optionally) for inference; replaces an earlier entry."""
    body = await _body(request, RetireRequest)
    if body.model not in store.data.models:
        raise ApiError(
            404, "notFound", f"The model '{body.model}' is not known to the emulator.", param="model"
        )
    try:
        fine_tune = parse_time(body.fine_tune)
        inference = parse_time(body.inference) if body.inference is not None else None
    except ValueError as exc:
        raise ApiError(400, "invalidPayload", f"Dates must be ISO 8601: {exc}") from None
    store.data.retirements[body.model] = Retirement(
        model=body.model, fine_tune=fine_tune, inference=inference
    )
    store.save()
    return JSONResponse(_model_state(store, body.model, store.data.models[body.model].model_dump()))


def _account(store: Store) -> dict[str, Any]:
    families = existing_families(store)
    return {
        "customer": "existing" if families else "new",
        "existing_families": list(families),
        "serialize_deployment_writes": serializes_writes(store),
        "request_conflicts": store.data.request_conflicts,
    }


async def get_account(request: Request, store: Store) -> Response:
    return JSONResponse(_account(store))


async def set_account(request: Request, store: Store) -> Response:
    """Change the account's customer status and write serialization; fields not given keep their value."""
    body = await _body(request, AccountRequest)
    unknown = sorted(set(body.families or ()) - FAMILIES)
    if unknown or body.families == [] or (body.customer == "new" and body.families):
        raise ApiError(
            400,
            "invalidPayload",
            f"'families' must list some of {', '.join(sorted(FAMILIES))}, and only for an existing customer.",
            param="families",
        )
    if body.customer == "new":
        store.data.account.existing_families = []
    elif body.families is not None or body.customer == "existing":
        store.data.account.existing_families = body.families or list(DEFAULT_EXISTING_FAMILIES)
    if body.serialize_deployment_writes is not None:
        store.data.account.serialize_deployment_writes = body.serialize_deployment_writes
    store.save()
    return JSONResponse(_account(store))


def _rate_limited_deployments(store: Store) -> dict[str, Any]:
    """Every deployment that exists now and is rate limited, with its configured limits."""
    now = store.now()
    purge(store, now)
    found = {}
    for record in store.data.deployments.values():
        limits = deployment_limits(store, record)
        if limits is not None:
            found[record.name] = limits
    return found


def _rate_status(request: Request, store: Store) -> dict[str, Any]:
    limiter: RateLimiter = request.app.state.limiter
    now = time.monotonic()
    return {
        name: limiter.status(name, now, limits)
        for name, limits in sorted(_rate_limited_deployments(store).items())
    }


async def get_rate_limits(request: Request, store: Store) -> Response:
    """Each rate-limited deployment: limits configured and enforced, what is left, lowerings, background
    load, usage by consumer and the capacity offered since the limiter first saw it."""
    return JSONResponse({"deployments": _rate_status(request, store)})


def _pressured(store: Store, name: str) -> None:
    if name not in _rate_limited_deployments(store):
        known = sorted(_rate_limited_deployments(store))
        raise ApiError(
            404,
            "notFound",
            f"No rate-limited deployment '{name}' exists (provisioned and batch SKUs are not rate "
            f"limited); rate-limited deployments: {known}.",
            param="deployment",
        )


async def _apply_pressure(
    request: Request, store: Store, kind: type[LimitLowering | BackgroundLoad]
) -> Response:
    """Validate a lowering or a background load, check its deployment, start it now."""
    body = await _body(request, kind)
    _pressured(store, body.deployment)
    limiter: RateLimiter = request.app.state.limiter
    if isinstance(body, LimitLowering):
        limiter.lower(body, time.monotonic())
    else:
        limiter.load(body, time.monotonic())
    return JSONResponse({"deployments": _rate_status(request, store)})


async def lower_rate_limits(request: Request, store: Store) -> Response:
    """``{"deployment", "factor", "seconds", "after"}``: Azure lowers the deployment's limits for a while."""
    return await _apply_pressure(request, store, LimitLowering)


async def load_rate_limits(request: Request, store: Store) -> Response:
    """``{"deployment", "share", "seconds", "after"}``: another consumer uses a share of the deployment."""
    return await _apply_pressure(request, store, BackgroundLoad)


async def clear_rate_pressure(request: Request, store: Store) -> Response:
    """End every lowering and background load; windows and usage counters stay."""
    limiter: RateLimiter = request.app.state.limiter
    limiter.clear_pressure()
    return JSONResponse({"deployments": _rate_status(request, store)})
