"""The admin API under ``/_emulator/`` (no auth): inspect state, reset, set and clear faults, move the
emulated clock. It exists for tests and demos; Azure has nothing like it."""

from __future__ import annotations

import json
from typing import Any

from pydantic import ValidationError
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from emulator.deployments import deployment_json, purge, state_of
from emulator.faults import FaultConfig
from emulator.files_api import file_json
from emulator.jobs import advance, job_json
from emulator.store import Store


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
            "ft_deployment_quota": c.ft_deployment_quota,
        },
        "files": [file_json(f, now) for f in store.data.files.values() if not f.deleted],
        "jobs": [
            {**job_json(j, now), "internal_status": j.status, "skill": j.skill}
            for j in store.data.jobs.values()
        ],
        "models": [m.model_dump() for m in store.data.models.values()],
        "deployments": [
            {**deployment_json(store, d, now), "model_id": d.model_id, "state": state_of(d, now)}
            for d in store.data.deployments.values()
        ],
        "faults": store.faults.config.model_dump(),
    }


async def get_state(request: Request, store: Store) -> Response:
    return JSONResponse(snapshot(store))


async def reset(request: Request, store: Store) -> Response:
    store.reset()
    request.app.state.limiter.clear()
    return JSONResponse(snapshot(store))


async def get_faults(request: Request, store: Store) -> Response:
    return JSONResponse(store.faults.config.model_dump())


async def set_faults(request: Request, store: Store) -> Response:
    """Merge the faults in the body into the live set (route faults are appended)."""
    try:
        raw = json.loads(await request.body() or b"{}")
        update = FaultConfig.model_validate(raw)
    except (ValueError, ValidationError) as exc:
        return JSONResponse({"error": {"code": "invalidPayload", "message": str(exc)}}, status_code=400)
    store.faults.config = store.faults.config.merged(update, set(raw))
    store.save()
    return JSONResponse(store.faults.config.model_dump())


async def clear_faults(request: Request, store: Store) -> Response:
    store.faults.config = FaultConfig()
    store.save()
    return JSONResponse(store.faults.config.model_dump())


async def clock(request: Request, store: Store) -> Response:
    """``{"advance": seconds}`` moves the emulated clock forward (never back)."""
    try:
        seconds = float(json.loads(await request.body() or b"{}").get("advance", 0))
    except (ValueError, AttributeError, TypeError):
        seconds = -1
    if seconds < 0:
        return JSONResponse(
            {"error": {"code": "invalidPayload", "message": "'advance' must be a number >= 0"}},
            status_code=400,
        )
    store.data.clock_offset += seconds
    store.save()
    return JSONResponse({"now": store.now(), "offset": store.data.clock_offset})
