"""Emulator configuration: one immutable object built by the CLI and shared by every module.

Durations are given at realistic scale (seconds, as a small Azure resource would feel) and multiplied by
``time_scale`` where they are used, so tests can run the same lifecycles in milliseconds.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from emulator.faults import FaultConfig

DEFAULT_BASE_MODELS = (
    "gpt-4.1-mini-2025-04-14",
    "gpt-4.1-2025-04-14",
    "gpt-4.1-nano-2025-04-14",
    "gpt-4o-mini-2024-07-18",
    "gpt-4o-2024-08-06",
)
DEFAULT_DEPLOYMENTS = (("gpt-4.1-mini", "gpt-4.1-mini-2025-04-14"),)


class Durations(BaseModel):
    """Realistic-looking lifecycle durations in seconds, before ``time_scale``."""

    model_config = ConfigDict(frozen=True)

    file_processing: float = 3.0
    job_pending: float = 3.0
    job_running: float = 20.0
    provisioning: float = 8.0
    update: float = 2.0
    deleting: float = 2.0


class Config(BaseModel):
    """Everything the CLI can set. Frozen: runtime changes (faults) live in the store, not here."""

    model_config = ConfigDict(frozen=True)

    host: str = "127.0.0.1"
    port: int = 0
    time_scale: float = Field(1.0, ge=0)
    chat_latency: float = Field(0.5, ge=0)
    rate_window: float = Field(10.0, gt=0)
    rate_limit_scale: float = Field(1.0, gt=0)
    seed: int = 0
    state_dir: Path | None = None
    api_key: str | None = None
    skill: float = Field(0.35, ge=0, le=1)
    knowledge: float = Field(0.2, ge=0, le=1)
    behaviours: tuple[str, ...] = ()
    base_models: tuple[str, ...] = DEFAULT_BASE_MODELS
    deployments: tuple[tuple[str, str], ...] = DEFAULT_DEPLOYMENTS
    base_capacity: int = 100
    subscription: str = "00000000-0000-0000-0000-000000000000"
    resource_group: str = "rg-emulator"
    account: str = "aoai-emulator"
    location: str = "eastus2"
    ft_deployment_quota: int = 5
    max_files: int = 50
    max_queued_jobs: int = 20
    min_examples: int = 10
    durations: Durations = Durations()
    faults: FaultConfig = FaultConfig()

    def scaled(self, seconds: float) -> float:
        """An emulated duration at the configured time scale."""
        return seconds * self.time_scale
