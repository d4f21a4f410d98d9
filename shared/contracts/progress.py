"""What a run publishes as its Durable custom status while it runs (``custom_status`` of
``GET /api/runs/{run_id}``, the dashboard's live stage): where it is and what it waits for.

Typed here, below the orchestrators that write it and the HTTP layer that reads it, so both agree on
one shape; it crosses the Durable boundary as JSON (fields never set are left out)."""

from __future__ import annotations

from typing import TypedDict

from pydantic import BaseModel, ConfigDict


class AwaitingApproval(BaseModel):
    """A candidate waits for ``POST .../approve`` or ``/reject`` until ``deadline``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    approval: str
    val_reward: float | None
    champion_val_reward: float | None
    deadline: str


class AwaitingAccount(BaseModel):
    """A deployment write waits for its turn on the account, or for a fine-tuned deployment slot."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    account: str
    position: int
    holder: str | None
    slots_full: bool
    since: str
    deadline: str


class StageDetail(BaseModel):
    """What one stage adds to the progress; a field it does not set keeps its earlier value."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    tasks: int | None = None
    train_reward: float | None = None
    rollouts_failed: int | None = None
    rollouts_throttled: int | None = None
    deployment: str | None = None
    val_reward: float | None = None
    last_status: str | None = None


class StageFields(TypedDict, total=False):
    """``StageDetail``'s fields as keyword arguments: only those given change (None included). Declared
    twice because mypy cannot derive one from the other; tests/shared/test_progress.py keeps them in step."""

    tasks: int
    train_reward: float | None
    rollouts_failed: int
    rollouts_throttled: int
    deployment: str
    val_reward: float | None
    last_status: str


class RunProgress(StageDetail):
    """The run's custom status: the stage and its message, the models and rewards so far, and what the
    run waits for (``awaiting``), if anything."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    run_id: str
    iteration: int
    iterations: int
    stage: str
    message: str
    current_model: str | None = None
    current_deployment: str | None = None
    baseline_val_reward: float | None = None
    last_val_reward: float | None = None
    champion_deployment: str | None = None
    champion_val_reward: float | None = None
    updated_at: str
    awaiting: AwaitingApproval | AwaitingAccount | None = None
