"""Fault injection: the failures Azure produces at random, produced here on purpose and reproducibly.

Faults are set by CLI flags at start-up and changed at runtime through ``/_emulator/faults``. Route faults
answer a request with 429/500/503 (rate: a seeded coin per request; count: the next N requests) before it
reaches its handler, except a chat 500/503: Azure's backend fails after the front door admitted the
request, so the chat handler answers it after its rate limiter, where it counts as a request (RS9).
Lifecycle faults mark the next (or a named) job or deployment to fail, slow down provisioning, or make a
fresh deployment answer 404 for a while after it succeeded, as Azure does.
"""

from __future__ import annotations

import random
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from emulator.errors import ApiError, retry_headers

RouteName = Literal["all", "chat", "files", "jobs", "arm"]


MAX_RETRY_AFTER = 7 * 86400.0
MAX_SLOWDOWN = 1000.0
MAX_WINDOW = 365 * 86400.0
FAULT_MESSAGES = {
    429: "Requests have exceeded the rate limit of your current tier (injected by the emulator).",
    500: "The server had an error while processing your request (injected by the emulator).",
    503: "The service is temporarily unavailable (injected by the emulator).",
}


class RouteFault(BaseModel):
    """One error to inject on a route family; exactly one of ``rate`` and ``count`` drives it."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    route: RouteName = "all"
    method: Literal["GET", "POST", "PUT", "PATCH", "DELETE"] | None = Field(
        default=None, description="only requests with this HTTP method (None: any)"
    )
    status: Literal[429, 500, 503] = 429
    rate: float | None = Field(default=None, ge=0, le=1)
    count: int | None = Field(default=None, ge=0, le=2**31 - 1)
    retry_after: float = Field(
        default=1.0, ge=0, le=MAX_RETRY_AFTER, description="seconds, sent as retry-after / retry-after-ms"
    )

    @model_validator(mode="after")
    def _one_trigger(self) -> RouteFault:
        if (self.rate is None) == (self.count is None):
            raise ValueError("give exactly one of 'rate' (0..1) or 'count' (next N requests)")
        return self

    def data_plane_error(self) -> ApiError:
        """The data-plane answer of this fault: its status as the code, with its retry headers."""
        return ApiError(
            self.status,
            str(self.status),
            FAULT_MESSAGES[self.status],
            headers=retry_headers(self.retry_after),
        )


class FaultConfig(BaseModel):
    """All injectable faults. Durations are realistic-scale seconds, multiplied by --time-scale."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    routes: list[RouteFault] = []
    fail_next_jobs: int = Field(default=0, ge=0, le=2**31 - 1)
    fail_jobs: list[str] = []
    fail_next_deployments: int = Field(default=0, ge=0, le=2**31 - 1)
    fail_deployments: list[str] = []
    provisioning_slowdown: float = Field(default=1.0, gt=0, le=MAX_SLOWDOWN)
    training_slowdown: float = Field(
        default=1.0,
        gt=0,
        le=MAX_SLOWDOWN,
        description="multiplies the training time of jobs created while set",
    )
    processing_slowdown: float = Field(
        default=1.0,
        gt=0,
        le=MAX_SLOWDOWN,
        description="multiplies the processing time of files uploaded while set",
    )
    not_found_window: float = Field(default=0.0, ge=0, le=MAX_WINDOW)
    rate_limit_scale: float | None = Field(
        default=None, gt=0, le=1_000_000, description="overrides --rate-limit-scale while set"
    )

    def merged(self, update: FaultConfig, fields: set[str]) -> FaultConfig:
        """This config with the fields a caller set replaced; route faults given are appended."""
        data = self.model_dump()
        for name in fields:
            value = getattr(update, name)
            if name == "routes":
                data["routes"] = data["routes"] + [r.model_dump() for r in value]
            else:
                data[name] = value.model_dump() if isinstance(value, BaseModel) else value
        return FaultConfig.model_validate(data)


class Faults:
    """The live fault set plus a seeded RNG, so a given seed and request sequence fail identically."""

    def __init__(self, config: FaultConfig, seed: int) -> None:
        self.config = config
        self._rng = random.Random(f"faults:{seed}")

    def route_fault(self, route: str, method: str) -> RouteFault | None:
        """The fault to answer this request with, if any; consumes one unit of a count fault."""
        for fault in self.config.routes:
            if fault.route not in ("all", route) or fault.method not in (None, method):
                continue
            if fault.count is not None:
                if fault.count > 0:
                    fault.count -= 1
                    return fault
            elif fault.rate is not None and self._rng.random() < fault.rate:
                return fault
        return None

    def take_job_failure(self, job_id: str) -> bool:
        """Whether a newly created job should fail; consumes a 'next job' fault."""
        if job_id in self.config.fail_jobs:
            return True
        if self.config.fail_next_jobs > 0:
            self.config.fail_next_jobs -= 1
            return True
        return False

    def take_deployment_failure(self, name: str) -> bool:
        """Whether a deployment being provisioned now should end Failed; consumes a 'next' fault."""
        if name in self.config.fail_deployments:
            return True
        if self.config.fail_next_deployments > 0:
            self.config.fail_next_deployments -= 1
            return True
        return False
