"""Emulator configuration: one immutable object built by the CLI and shared by every module.

Durations are given at realistic scale (seconds, as a small Azure resource would feel) and multiplied by
``time_scale`` where they are used, so tests can run the same lifecycles in milliseconds.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from emulator.faults import FaultConfig
from emulator.profiles import DEFAULT_BASE_MODELS, DEFAULT_EXISTING_FAMILIES
from emulator.ratelimit import BackgroundLoad, LimitLowering

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
    # An open model's fine-tuned deployment answers DeploymentNotReady this long after ARM says Succeeded
    # (Microsoft's fine-tuning skill: "wait 2+ minutes after deployment before first call").
    not_ready: float = _duration(120.0)


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
    """When a model stops being accepted for fine-tuning and for deployment and inference (None: no date;
    a model that cannot be fine-tuned has no fine-tuning date)."""

    model_config = ConfigDict(frozen=True, allow_inf_nan=False)

    model: str = Field(min_length=1)
    fine_tune: float | None
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
    # The region of infra/main.bicep's Azure OpenAI account (openAiLocation): one where the reference model
    # trains on every tier and fine-tuned models deploy on every SKU.
    location: str = "northcentralus"
    min_examples: int = 10
    limits: Limits = Limits()
    durations: Durations = Durations()
    retirements: tuple[Retirement, ...] = ()
    # "table": the retirement dates of emulator/profiles.py; "none": no date unless one is set.
    lifecycle: Literal["table", "none"] = "table"
    # Model families this account already fine-tunes (existing customer): their training retires at the
    # fine-tuned table's date rather than at the base model's retirement.
    existing_families: tuple[str, ...] = DEFAULT_EXISTING_FAMILIES
    # One deployment write (create, update, delete) at a time per account, as Azure's resource provider
    # does; off until the app serializes its writes (issue 20).
    serialize_deployment_writes: bool = False
    # The ARM model.format an open model's deployment must carry: its provider's name ("Microsoft" for
    # gpt-oss) or "OpenAI-OSS"; the other answers 500 (sources disagree, see emulator/README.md).
    open_model_format: Literal["provider", "OpenAI-OSS"] = "provider"
    # Chat on a deployment whose model is retired: 404 "Resource not found" (observed) or 410 (SDK docs).
    retired_chat_status: Literal[404, 410] = 404
    # The account's ARM kind: "AIServices" (a Foundry resource, where open models train) or "OpenAI" (an
    # Azure OpenAI resource, where they do not: supported, "only supported on Foundry resources").
    account_kind: Literal["AIServices", "OpenAI"] = "AIServices"
    # Deployment names: "strict" (2-64 letters, digits, '-', '_') or "lenient" (any, as before).
    deployment_names: Literal["strict", "lenient"] = "strict"
    faults: FaultConfig = FaultConfig()
    # Rate-limit pressure applied at start-up and on reset (emulator/ratelimit.py): Azure lowering a
    # deployment's limits for a while, and other consumers of a deployment.
    lowerings: tuple[LimitLowering, ...] = ()
    background_loads: tuple[BackgroundLoad, ...] = ()

    def scaled(self, seconds: float) -> float:
        """An emulated duration at the configured time scale."""
        return seconds * self.time_scale
