"""How fine-tuning jobs run: the scheduler, and what a job reports while and after it trains.

Scheduler. ``advance(store, now)`` replays, in time order, every transition due by ``now``: pending ->
queued at ``ready_at``; the earliest queued job of a training pool starts when the pool has a free slot;
a running job finishes when its remaining training time has elapsed. Each transition is stamped with the
time it was due, not the time it was observed, so results never depend on how often anyone polls.
Standard and GlobalStandard training share one pool, Developer training has its own (quotas-limits.md,
2026-02-17: 3 and 5 running jobs per resource).

Learning. At creation a job reads its training (and validation) file and works out, from their content
alone, the fine-tuned model's skills (emulator/behaviour.py) and what its curves are made of: for each
skill the files exercise, the labelled turns (good, bad) and the skill before and after training.

Reports. A job's training curve is a pure function of the job. Token accuracy at a step is the share of
the file's labelled turns the model gets right at that point of training: a good turn with the
probability of its skill, a bad turn (a mistake the file teaches) with the probability of making a
mistake, the skill moving from the parent's to the trained model's along ``learned_share`` (most of it
early). Loss is ``-ln(accuracy)``. A file the emulator's plug-ins label nothing in (no turn it can
judge) gives a flat 0.5. Each step adds a little deterministic noise (±0.02); validation metrics come
from the validation file the same way. So a file of examples the parent already gets right shows a
high, flat curve; one that teaches much shows a falling loss; the step count follows from the number
of examples, the batch size and the epochs. What the job has reached follows from how long it has
trained: its finished run segments plus the current one. Metrics events and checkpoints (one per epoch;
Azure keeps the three most recent) are derived from that on read, and a succeeded job gets a
``results.csv`` file (purpose ``fine-tune-results``) with one row per step.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from emulator.behaviour import SkillKey, TrainingSignal, classify_skills, learn, skill_for
from emulator.ids import new_id
from emulator.records import FileRecord, JobEvent, JobRecord, ModelRecord, TrainingCurve

if TYPE_CHECKING:
    from emulator.store import Store

ACTIVE = {"pending", "queued", "running", "paused"}
WAITING = {"pending", "queued"}
TERMINAL = {"succeeded", "failed", "cancelled"}
DEVELOPER_TYPES = {"developertier", "developer"}
MAX_METRICS_EVENTS = 100
KEPT_CHECKPOINTS = 3
GENERAL = ""  # a curve's key for the model's general skill
NEUTRAL_ACCURACY = 0.5  # the accuracy of a file with no turn the plug-ins can judge
LEARNING_PACE = 3.0  # learned_share(p) = (1 - e^(-pace p)) / (1 - e^(-pace)): most learning early
ACCURACY_NOISE = 0.04
LOSS_NOISE = 0.02
RESULTS_COLUMNS = (
    "step",
    "train_loss",
    "train_mean_token_accuracy",
    "valid_loss",
    "validation_mean_token_accuracy",
    "full_valid_loss",
    "full_valid_mean_token_accuracy",
)


def pool_of(training_type: object) -> str:
    """The training pool a ``trainingType`` runs in: "developer" or "standard"."""
    if isinstance(training_type, str) and training_type.replace(" ", "").lower() in DEVELOPER_TYPES:
        return "developer"
    return "standard"


def _slots(store: Store, pool: str) -> int:
    limits = store.config.limits
    return limits.running_developer if pool == "developer" else limits.running_standard


def event(job: JobRecord, at: float, message: str, level: str = "info") -> None:
    job.events.append(JobEvent(id=new_id("ftevent"), created_at=at, message=message, level=level))


def leave_slot(store: Store, job: JobRecord, at: float) -> None:
    """End the job's current run segment at ``at`` and free its slot from then on."""
    assert job.started_at is not None
    job.segments.append((job.started_at, at))
    job.remaining = max(0.0, job.remaining - (at - job.started_at))
    job.started_at = None
    store.data.pool_freed[job.pool] = at


def _due(store: Store, jobs: list[JobRecord]) -> list[tuple[float, int, str, JobRecord]]:
    due: list[tuple[float, int, str, JobRecord]] = [
        (j.ready_at, 0, "ready", j) for j in jobs if j.status == "pending"
    ]
    for job in jobs:
        if job.status == "running" and job.started_at is not None:
            due.append((job.started_at + job.remaining, 1, "finish", job))
    for pool in ("standard", "developer"):
        running = sum(1 for j in jobs if j.status == "running" and j.pool == pool)
        queued = [j for j in jobs if j.status == "queued" and j.pool == pool]
        if running < _slots(store, pool) and queued:
            head = min(queued, key=lambda j: (j.queued_at or 0.0, j.created_at))
            freed = store.data.pool_freed.get(pool, 0.0)
            due.append((max(head.queued_at or 0.0, freed), 2, "start", head))
    return due


def advance(store: Store, now: float) -> None:
    """Apply every job transition due by ``now``, each at the time it was due."""
    changed = False
    jobs = list(store.data.jobs.values())
    while True:
        due = _due(store, jobs)
        if not due:
            break
        at, _, kind, job = min(due, key=lambda d: (d[0], d[1], d[3].created_at))
        if at > now:
            break
        changed = True
        if kind == "ready":
            job.status, job.queued_at = "queued", at
            event(job, at, "Job enqueued. Waiting for jobs ahead to complete.")
        elif kind == "start":
            job.status, job.started_at = "running", at
            event(job, at, "Job started.")
        else:
            _finish(store, job, at)
    if changed:
        store.save()


def _finish(store: Store, job: JobRecord, at: float) -> None:
    leave_slot(store, job, at)
    job.finished_at = at
    if job.will_fail or job.id in store.faults.config.fail_jobs:
        job.status = "failed"
        job.error = {
            "code": "internalError",
            "message": "The job failed due to an internal error (injected by the emulator).",
            "param": None,
        }
        event(job, at, "Job failed.", level="error")
        return
    job.status = "succeeded"
    store.data.models[job.fine_tuned_model] = ModelRecord(
        id=job.fine_tuned_model,
        root=job.root_model,
        parent=job.model,
        skill=job.skill,
        skills=job.skills,
        created_at=at,
        job_id=job.id,
    )
    job.result_file = _write_results(store, job, at)
    event(job, at, "Model uploaded.")
    event(job, at, "Job succeeded.")


def _write_results(store: Store, job: JobRecord, at: float) -> str:
    """Store the job's results.csv; its id is derived from the job's, so it never depends on polling."""
    data = results_csv(job)
    digest = hashlib.sha256(f"{store.config.seed}:results:{job.id}".encode()).hexdigest()[:32]
    record = FileRecord(
        id=f"file-{digest}",
        filename="results.csv",
        purpose="fine-tune-results",
        bytes=len(data),
        created_at=at,
        running_at=at,
        ready_at=at,
    )
    store.put_content(record.id, data)
    store.data.files[record.id] = record
    return record.id


@dataclass(frozen=True)
class StepMetrics:
    """One training step's metrics; validation fields are None without a validation file, and the
    ``full_valid`` ones are set only on the last step of an epoch."""

    step: int
    train_loss: float
    train_mean_token_accuracy: float
    valid_loss: float | None = None
    valid_mean_token_accuracy: float | None = None
    full_valid_loss: float | None = None
    full_valid_mean_token_accuracy: float | None = None

    def as_dict(self) -> dict[str, float]:
        return {name: value for name, value in self.__dict__.items() if value is not None}


@dataclass(frozen=True)
class Learned:
    """What fine-tuning on a file teaches: the new model's skills, and what its curves come from."""

    skill: float
    skills: dict[str, float]
    curve: TrainingCurve


def read_examples(store: Store, file_id: str) -> list[dict[str, Any]]:
    """The examples (parsed JSONL lines) of a processed file."""
    lines = store.get_content(file_id).decode().splitlines()
    return [json.loads(line) for line in lines if line.strip()]


def _counts(signals: Mapping[SkillKey, TrainingSignal]) -> dict[str, tuple[int, int]]:
    return {key or GENERAL: (s.good, s.bad) for key, s in signals.items() if s.labelled}


def learn_from_files(
    parent: ModelRecord,
    training: list[dict[str, Any]],
    validation: list[dict[str, Any]] | None,
    behaviours: tuple[str, ...],
    n_epochs: int,
    lr_multiplier: float,
) -> Learned:
    """The skills a model fine-tuned from ``parent`` on ``training`` gets, and its curve's makings."""
    signals = classify_skills(training, behaviours)
    skill, skills = learn(parent.skill, parent.skills, signals, n_epochs, lr_multiplier)
    valid = classify_skills(validation, behaviours) if validation is not None else {}
    keys = {key for key, s in (*signals.items(), *valid.items()) if s.labelled}
    curve = TrainingCurve(
        before={key or GENERAL: skill_for(key, parent.skill, parent.skills) for key in keys},
        after={key or GENERAL: skill_for(key, skill, skills) for key in keys},
        train=_counts(signals),
        valid=_counts(valid),
    )
    return Learned(skill, skills, curve)


def learned_share(progress: float) -> float:
    """How much of its learning the model has done at ``progress`` (0..1) through the job."""
    return (1 - math.exp(-LEARNING_PACE * progress)) / (1 - math.exp(-LEARNING_PACE))


def agreement(counts: Mapping[str, tuple[int, int]], curve: TrainingCurve, learned: float) -> float:
    """The share of the labelled turns ``counts`` the model gets right when it has done ``learned`` of
    its learning: a good turn with the probability of its skill, a bad one with that of a mistake."""
    right = total = 0.0
    for key, (good, bad) in counts.items():
        skill = curve.before[key] + (curve.after[key] - curve.before[key]) * learned
        right += good * skill + bad * (1 - skill)
        total += good + bad
    return right / total if total else NEUTRAL_ACCURACY


def _noise(job: JobRecord, step: int, salt: str) -> float:
    """Deterministic noise in [-0.5, 0.5) for one metric of one step."""
    digest = hashlib.sha256(f"{job.id}:{step}:{salt}".encode()).hexdigest()
    return int(digest[:8], 16) / float(16**8) - 0.5


def _accuracy_and_loss(job: JobRecord, step: int, exact: float, salt: str) -> tuple[float, float]:
    accuracy = min(0.999, max(0.01, exact + ACCURACY_NOISE * _noise(job, step, salt + "acc")))
    loss = max(0.0, -math.log(accuracy) + LOSS_NOISE * _noise(job, step, salt + "loss"))
    return round(accuracy, 4), round(loss, 4)


def epoch_ends(job: JobRecord) -> list[int]:
    return [math.ceil(job.steps * epoch / job.n_epochs) for epoch in range(1, job.n_epochs + 1)]


def metrics(job: JobRecord, step: int) -> StepMetrics:
    """The job's metrics at ``step`` (1-based), derived from its files (see the module docstring)."""
    curve = job.curve or TrainingCurve(before={}, after={}, train={})
    learned = learned_share(step / job.steps)
    accuracy, loss = _accuracy_and_loss(job, step, agreement(curve.train, curve, learned), "train")
    if job.validation_file is None:
        return StepMetrics(step, loss, accuracy)
    exact = agreement(curve.valid, curve, learned)
    valid_accuracy, valid_loss = _accuracy_and_loss(job, step, exact, "valid")
    if step not in epoch_ends(job):
        return StepMetrics(step, loss, accuracy, valid_loss, valid_accuracy)
    full_accuracy = round(exact, 4)
    full_loss = round(-math.log(max(0.01, exact)), 4)
    return StepMetrics(step, loss, accuracy, valid_loss, valid_accuracy, full_loss, full_accuracy)


def results_csv(job: JobRecord) -> bytes:
    """Azure's results.csv: a header and one row per step, empty cells where a metric is absent."""
    rows = [",".join(RESULTS_COLUMNS)]
    for step in range(1, job.steps + 1):
        values = metrics(job, step).as_dict()
        columns = {**values}
        if "valid_mean_token_accuracy" in values:
            columns["validation_mean_token_accuracy"] = values["valid_mean_token_accuracy"]
        rows.append(",".join(str(columns.get(name, "")) for name in RESULTS_COLUMNS))
    return ("\n".join(rows) + "\n").encode()


def trained(job: JobRecord, now: float) -> float:
    """Seconds of training the job has done by ``now``."""
    done = sum(end - start for start, end in job.segments)
    if job.status == "running" and job.started_at is not None:
        done += max(0.0, now - job.started_at)
    return min(done, _total(job))


def _total(job: JobRecord) -> float:
    return job.training_time or (job.remaining + sum(end - start for start, end in job.segments))


def step_time(job: JobRecord, step: int) -> float | None:
    """When the job reached ``step``, walking its run segments; None if it has not (yet)."""
    needed = _total(job) * step / job.steps
    segments = list(job.segments)
    if job.status == "running" and job.started_at is not None:
        segments.append((job.started_at, math.inf))
    for start, end in segments:
        if needed <= end - start:
            return start + needed
        needed -= end - start
    return None


def reached_count(job: JobRecord, now: float) -> int:
    """How many steps the job has completed by ``now``."""
    if job.status == "succeeded":
        return job.steps
    total = _total(job)
    if total <= 0:
        return 0
    return min(job.steps, math.floor(trained(job, now) / total * job.steps + 1e-9))


def _timed(job: JobRecord, steps: list[int]) -> list[tuple[int, float]]:
    fallback = job.finished_at if job.finished_at is not None else job.created_at
    return [(step, at if (at := step_time(job, step)) is not None else fallback) for step in steps]


def metrics_steps(job: JobRecord, now: float) -> list[tuple[int, float]]:
    """(step, time) of the reached steps that get a metrics event: every step, thinned to about 100
    evenly spaced ones for long jobs, always including the last step once reached."""
    count = reached_count(job, now)
    stride = max(1, math.ceil(job.steps / MAX_METRICS_EVENTS))
    return _timed(job, [s for s in range(stride, count + 1, stride)] + ([count] if count % stride else []))


def checkpoint_steps(job: JobRecord, now: float) -> list[tuple[int, float]]:
    """(step, time) of the checkpoints reached: one at the end of each epoch, the three most recent."""
    count = reached_count(job, now)
    return _timed(job, [s for s in epoch_ends(job) if s <= count][-KEPT_CHECKPOINTS:])


def derived_id(prefix: str, job: JobRecord, step: int) -> str:
    return f"{prefix}-{hashlib.sha256(f'{job.id}:{prefix}:{step}'.encode()).hexdigest()[:32]}"
