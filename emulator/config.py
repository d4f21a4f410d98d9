"""Emulator configuration: one immutable object built by the CLI and shared by every module.

Durations are given at realistic scale (seconds, as a small Azure resource would feel) and multiplied by
``time_scale`` where they are used, so tests can run the same lifecycles in milliseconds.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from emulator.faults import FaultConfig
from emulator.ratelimit import BackgroundLoad, LimitLowering

DEFAULT_BASE_MODELS = (
    "gpt-4.1-mini-2025-04-14",
    "gpt-4.1-2025-04-14",
    "gpt-4.1-nano-2025-04-14",
    "gpt-4o-mini-2024-07-18",
    "gpt-4o-2024-08-06",
)
DEFAULT_DEPLOYMENTS = (("gpt-4.1-mini", "gpt-4.1-mini-2025-04-14"),)
INT32_MAX = 2**31 - 1
TEN_YEARS = 10 * 365 * 86400.0
DAY = 86400.0
GIB = 1024**3
MIB = 1024**2


def _duration(default: float) -> float:
    """A duration field: finite, at least 0, at most ten years (so every emulated time stays a date)."""
    return Field(default=default, ge=0, le=TEN_YEARS)


class Durations(BaseModel):
    """Lifecycle durations in seconds, before ``time_scale``. The first six look realistic for a small
    resource; the two lifetimes are Azure's (see emulator/README.md, "Lifecycles")."""

    model_config = ConfigDict(frozen=True, allow_inf_nan=False)

    file_processing: float = _duration(3.0)
    job_pending: float = _duration(3.0)
    job_running: float = _duration(20.0)
    provisioning: float = _duration(8.0)
    update: float = _duration(2.0)
    deleting: float = _duration(2.0)
    developer_lifetime: float = _duration(DAY)
    idle_lifetime: float = _duration(15 * DAY)


class Limits(BaseModel):
    """Per-resource fine-tuning limits. Defaults: quotas-limits.md, revision of 2026-02-17 (see
    emulator/README.md, "Limits"); each is a flag because the numbers change between revisions."""

    model_config = ConfigDict(frozen=True)

    ft_deployments: int = Field(default=10, ge=0, le=INT32_MAX)
    files: int = Field(default=100, ge=0, le=INT32_MAX)
    file_bytes: int = Field(default=GIB, ge=0)
    file_size: int = Field(default=512 * MIB, ge=0)
    jobs: int = Field(default=100, ge=0, le=INT32_MAX)
    running_standard: int = Field(default=3, ge=1, le=INT32_MAX)
    running_developer: int = Field(default=5, ge=1, le=INT32_MAX)
    queued: int = Field(default=20, ge=0, le=INT32_MAX)


class Retirement(BaseModel):
    """When a model stops being accepted for fine-tuning and (optionally) for deployment and inference."""

    model_config = ConfigDict(frozen=True, allow_inf_nan=False)

    model: str = Field(min_length=1)
    fine_tune: float
    inference: float | None = None


class Config(BaseModel):
    """Everything the CLI can set. Frozen: runtime changes (faults) live in the store, not here."""

    model_config = ConfigDict(frozen=True, allow_inf_nan=False)

    host: str = "127.0.0.1"
    port: int = Field(default=0, ge=0, le=65535)
    time_scale: float = Field(default=1.0, ge=0, le=100)
    chat_latency: float = Field(default=0.5, ge=0, le=600)
    rate_window: float = Field(
        default=10.0, gt=0, le=60
    )  # a window longer than the minute is not one Azure uses
    rate_limit_scale: float = Field(default=1.0, gt=0, le=1_000_000)
    seed: int = 0
    state_dir: Path | None = None
    api_key: str | None = None
    skill: float = Field(default=0.35, ge=0, le=1)
    knowledge: float = Field(default=0.2, ge=0, le=1)
    behaviours: tuple[str, ...] = ()
    base_models: tuple[str, ...] = DEFAULT_BASE_MODELS
    deployments: tuple[tuple[str, str], ...] = DEFAULT_DEPLOYMENTS
    base_capacity: int = Field(default=100, ge=1, le=INT32_MAX)
    subscription: str = "00000000-0000-0000-0000-000000000000"
    resource_group: str = "rg-emulator"
    account: str = "aoai-emulator"
    location: str = "eastus2"
    min_examples: int = 10
    limits: Limits = Limits()
    durations: Durations = Durations()
    retirements: tuple[Retirement, ...] = ()
    faults: FaultConfig = FaultConfig()
    # Rate-limit pressure applied at start-up and on reset (emulator/ratelimit.py): Azure lowering a
    # deployment's limits for a while, and other consumers of a deployment.
    lowerings: tuple[LimitLowering, ...] = ()
    background_loads: tuple[BackgroundLoad, ...] = ()

    def scaled(self, seconds: float) -> float:
        """An emulated duration at the configured time scale."""
        return seconds * self.time_scale
