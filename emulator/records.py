"""Stored shapes: what the emulator remembers about files, jobs, models and deployments.

Records hold inputs and timestamps (Unix seconds, floats), not statuses: statuses are computed from
timestamps when read (see files_api, jobs, deployments), so persistence and restarts need no timers.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from emulator.config import Retirement
from emulator.faults import FaultConfig

# The admin clock moves forward at most this far in all (100 years), so every emulated time stays a
# date that datetime and JSON can represent.
MAX_CLOCK_OFFSET = 100 * 365.25 * 86400


class _Record(BaseModel):
    """Stored shapes reject NaN and infinities, so a bad value can never reach the state file."""

    model_config = ConfigDict(extra="ignore", allow_inf_nan=False)


class FileRecord(_Record):
    id: str
    filename: str
    purpose: str
    bytes: int
    created_at: float
    running_at: float
    ready_at: float
    error: str | None = None
    examples: int = 0
    tokens: int = 0
    deleted: bool = False


class JobEvent(_Record):
    id: str
    created_at: float
    level: str = "info"
    message: str
    type: str = "message"
    data: dict[str, Any] | None = None


class TrainingCurve(_Record):
    """What a job's loss and token-accuracy curves are derived from (emulator/training.py): per skill
    ("" is the model's general skill) the labelled turns of the training and validation files as
    (good, bad), and the model's skill before and after training."""

    before: dict[str, float]
    after: dict[str, float]
    train: dict[str, tuple[int, int]]
    valid: dict[str, tuple[int, int]] = {}


class JobRecord(_Record):
    id: str
    created_at: float
    model: str
    root_model: str
    training_file: str
    validation_file: str | None = None
    suffix: str | None = None
    seed: int
    hyperparameters: dict[str, Any]
    n_epochs: int
    batch_size: int
    learning_rate_multiplier: float
    training_type: Any = None
    pool: str = "standard"  # "standard" (Standard and GlobalStandard) or "developer": separate slots
    integrations: list[dict[str, Any]] | None = None
    fine_tuned_model: str
    skill: float
    skills: dict[str, float] = {}  # the fine-tuned model's named skills (emulator/behaviour.py)
    curve: TrainingCurve | None = None  # None: a job stored before curves were derived from the file
    trained_tokens: int
    steps: int
    # Lifecycle, advanced in time order by training.advance(); "queued" shows as "pending" on the wire.
    status: str = "pending"
    ready_at: float
    queued_at: float | None = None
    started_at: float | None = None
    training_time: float = 0.0  # total running time the job needs
    remaining: float  # running time still needed when the current run segment started
    segments: list[tuple[float, float]] = []  # finished run segments (start, end)
    finished_at: float | None = None
    will_fail: bool = False
    error: dict[str, Any] | None = None
    result_file: str | None = None
    events: list[JobEvent] = []


class ModelRecord(_Record):
    id: str
    root: str
    parent: str | None = None
    skill: float
    skills: dict[str, float] = {}  # named skills ("<plug-in>/<kind>"); a kind not here has ``skill``
    created_at: float
    job_id: str | None = None


class DeploymentRecord(_Record):
    name: str
    model_format: str = "OpenAI"
    model_name: str
    model_version: str
    model_id: str
    sku_name: str
    capacity: int
    preprovisioned: bool = False
    created_at: float
    state_since: float
    ready_at: float
    pending_state: str = "Creating"
    failed: bool = False
    error: dict[str, Any] | None = None
    not_found_until: float = 0.0
    not_ready_until: float = 0.0  # an open model's fine-tuned deployment: DeploymentNotReady until then
    deleting_at: float | None = None
    gone_at: float | None = None
    operation_id: str | None = None
    properties_extra: dict[str, Any] = {}
    tags: dict[str, str] = {}
    # Azure removes fine-tuned deployments by itself: DeveloperTier a fixed time after creation
    # (``lifetime``), the others after ``idle_lifetime`` without a chat call (``last_used_at``).
    lifetime: float | None = None
    idle_lifetime: float | None = None
    last_used_at: float | None = None


class OperationRecord(_Record):
    id: str
    deployment: str
    kind: str  # create | update | delete
    started_at: float
    ends_at: float
    failed: bool = False
    error: dict[str, Any] | None = None


class AccountSettings(_Record):
    """Account rules changed through the admin API; None keeps the command line's value."""

    existing_families: list[str] | None = None
    serialize_deployment_writes: bool | None = None


class StateData(_Record):
    clock_offset: float = Field(default=0.0, ge=0, le=MAX_CLOCK_OFFSET)
    ids_issued: int = Field(default=0, ge=0)
    pool_freed: dict[str, float] = {}  # when a running job last left each training pool
    files: dict[str, FileRecord] = {}
    jobs: dict[str, JobRecord] = {}
    models: dict[str, ModelRecord] = {}
    deployments: dict[str, DeploymentRecord] = {}
    operations: dict[str, OperationRecord] = {}
    retirements: dict[str, Retirement] = {}  # set through the admin API; they override --retire-model
    # The most fine-tuned deployments in use at once since the admin API last restarted the mark
    # (``/_emulator/peaks``): inspection for benchmarks, not Azure behaviour.
    peak_ft_deployments: int = Field(default=0, ge=0)
    # 409 RequestConflict answers given since start-up or the last reset (``/_emulator/account``; each
    # is also logged): inspection, not Azure behaviour.
    request_conflicts: int = Field(default=0, ge=0)
    account: AccountSettings = AccountSettings()
    faults: FaultConfig = FaultConfig()
