"""One fine-tuning iteration: rollouts -> dataset -> fine-tune -> deploy -> evaluate -> record.

Each stage ends the iteration cleanly on a permanent failure (the error goes into the report and the
run goes on with the next iteration from the last good model); only infrastructure failures that
outlast Durable retries propagate and fail the run.
"""

from __future__ import annotations

from typing import Any

from orchestrators.steps import Run, Step, backoff, fixed
from shared.artifacts import traces_prefix
from shared.contracts import (
    BuildDataset,
    DatasetResult,
    DeleteDeployments,
    DeploymentRef,
    DeploymentResult,
    DeploymentsRemaining,
    FileRef,
    FileResult,
    JobRef,
    JobResult,
    ProbeResult,
    ReportUpdate,
    RolloutRequest,
    StartDeployment,
    StartJob,
    UploadFile,
)
from shared.report import IterationRecord
from shared.traces import RolloutSummary

FILE_DONE = {"processed", "error", "deleted"}
JOB_DONE = {"succeeded", "failed", "cancelled", "unknown"}
DEPLOYMENT_DONE = {"Succeeded", "Failed", "Canceled", "NotFound", "Conflict"}


class IterationEnded(Exception):
    """A stage failed for good; carries the error that goes into the report."""

    def __init__(self, status: str, error: dict[str, Any]) -> None:
        super().__init__(error.get("message", status))
        self.status = status
        self.error = error


def batch_indices(train_size: int, iteration: int, size: int) -> list[int]:
    """The batch iterator: iteration i takes the next ``size`` training tasks, cycling the split."""
    start = (iteration - 1) * size
    return [(start + k) % train_size for k in range(size)]


def rollouts(run: Run, iteration: int, split: str, indices: list[int], deployment: str) -> Step:
    """Fans out one activity per task; returns their summaries (failed rollouts included)."""
    settings = run.state.settings
    tasks = [
        run.call(
            "run_rollout",
            RolloutRequest(
                run_id=run.state.run_id,
                iteration=iteration,
                split=split,  # type: ignore[arg-type]
                rollout_id=f"{split}-{iteration:02d}-{position:03d}-task{index:04d}",
                task_index=index,
                agent=settings.agent,
                dataset=settings.dataset,
                deployment=deployment,
            ),
        )
        for position, index in enumerate(indices)
    ]
    results = yield run.context.task_all(tasks)
    return [RolloutSummary.model_validate(result) for result in results]


def mean_reward(summaries: list[RolloutSummary]) -> float | None:
    """Average over every rollout; a failed rollout scores 0 rather than vanishing from the mean."""
    if not summaries:
        return None
    return sum(item.reward if item.status == "ok" else 0.0 for item in summaries) / len(summaries)


def evaluate(run: Run, iteration: int, deployment: str) -> Step:
    state = run.state
    count = min(state.val_size, state.settings.val_limit or state.val_size)
    summaries = yield from rollouts(run, iteration, "val", list(range(count)), deployment)
    failed = sum(1 for item in summaries if item.status != "ok")
    return mean_reward(summaries), len(summaries), failed


def record(run: Run, update: ReportUpdate) -> Step:
    yield run.call("record_report", update)


def fine_tune(run: Run, record_: IterationRecord, dataset_blob: str) -> Step:
    state, settings = run.state, run.state.settings
    upload = FileResult.model_validate(
        (
            yield run.call(
                "upload_training_file",
                UploadFile(run_id=state.run_id, iteration=state.iteration, dataset_blob=dataset_blob),
            )
        )
    )
    if upload.file_id is None:
        raise IterationEnded("failed", upload.error or {"code": "UploadFailed", "message": "upload failed"})
    record_.file_id = upload.file_id
    run.stage(5, f"file {upload.file_id} uploaded, waiting until processed", file_id=upload.file_id)
    result, timed_out = yield from run.poll(
        "get_training_file",
        FileRef(file_id=upload.file_id),
        done=lambda r: r["status"] in FILE_DONE,
        interval=fixed(settings.file_poll_seconds),
        deadline_seconds=settings.file_deadline_seconds,
    )
    file = FileResult.model_validate(result)
    if timed_out:
        raise IterationEnded(
            "failed", {"code": "FileDeadlineExceeded", "message": f"file still {file.status}"}
        )
    if file.status != "processed":
        raise IterationEnded("failed", file.error or {"code": "FileRejected", "message": file.status})

    started = JobResult.model_validate(
        (
            yield run.call(
                "start_finetune_job",
                StartJob(
                    run_id=state.run_id,
                    iteration=state.iteration,
                    file_id=upload.file_id,
                    model=state.current_model,
                    suffix=f"v{state.iteration:02d}",
                    n_epochs=settings.n_epochs,
                    batch_size=settings.batch_size,
                    learning_rate_multiplier=settings.learning_rate_multiplier,
                    seed=settings.seed,
                    training_type=settings.training_type,
                ),
            )
        )
    )
    if started.job_id is None:
        raise IterationEnded("failed", started.error or {"code": "JobRefused", "message": "job not created"})
    record_.job_id = started.job_id
    yield from record(run, ReportUpdate(run_id=state.run_id, iteration=record_))
    run.stage(5, f"job {started.job_id} started from {state.current_model}", job_id=started.job_id)
    result, timed_out = yield from run.poll(
        "get_finetune_job",
        JobRef(job_id=started.job_id),
        done=lambda r: r["status"] in JOB_DONE,
        interval=backoff(settings.job_poll_initial_seconds, settings.job_poll_max_seconds),
        deadline_seconds=settings.job_deadline_seconds,
    )
    job = JobResult.model_validate(result)
    if timed_out:
        yield run.call("cancel_finetune_job", JobRef(job_id=started.job_id))
        raise IterationEnded(
            "failed", {"code": "JobDeadlineExceeded", "message": f"job still {job.status}; cancelled"}
        )
    if job.status != "succeeded" or not job.fine_tuned_model:
        raise IterationEnded(
            "failed", job.error or {"code": f"Job{job.status.title()}", "message": job.status}
        )
    record_.fine_tuned_model = job.fine_tuned_model
    record_.trained_tokens = job.trained_tokens
    # Continuous fine-tuning: the next iteration starts from this model even if its deployment fails.
    state.current_model = job.fine_tuned_model
    return job.fine_tuned_model


def prune(run: Run) -> Step:
    """Deletes the oldest deployments this run created so that the new one fits ``max_deployments``.

    The best-evaluated deployment is kept while anything else can go instead.
    """
    state = run.state
    excess = len(state.deployments) - (state.settings.max_deployments - 1)
    if excess <= 0:
        return []
    order = [d for d in state.deployments if d != state.best_deployment] + [
        d for d in state.deployments if d == state.best_deployment
    ]
    victims = order[:excess]
    run.stage(6, f"deleting {', '.join(victims)} to stay within {state.settings.max_deployments}")
    _, timed_out = yield from run.poll(
        "delete_deployments",
        DeleteDeployments(names=victims),
        done=lambda r: not DeploymentsRemaining.model_validate(r).remaining,
        interval=fixed(state.settings.deployment_poll_seconds),
        deadline_seconds=state.settings.deployment_deadline_seconds,
    )
    if timed_out:
        raise IterationEnded(
            "failed", {"code": "DeleteDeadlineExceeded", "message": f"{victims} not deleted"}
        )
    state.deployments = [d for d in state.deployments if d not in victims]
    yield from record(run, ReportUpdate(run_id=state.run_id, deployments_deleted=victims))
    return victims


def deploy(run: Run, record_: IterationRecord, model: str) -> Step:
    state, settings = run.state, run.state.settings
    name = f"{settings.deployment_prefix}_v{state.iteration:02d}"
    yield from prune(run)
    started = DeploymentResult.model_validate(
        (
            yield run.call(
                "start_deployment",
                StartDeployment(
                    run_id=state.run_id,
                    name=name,
                    model=model,
                    sku_name=settings.sku_name,
                    sku_capacity=settings.sku_capacity,
                ),
            )
        )
    )
    if started.error:
        raise IterationEnded("failed", started.error)
    record_.deployment = name
    state.deployments.append(name)
    run.stage(6, f"deployment {name} {started.state}", deployment=name)
    result, timed_out = yield from run.poll(
        "get_deployment",
        DeploymentRef(name=name),
        done=lambda r: r["state"] in DEPLOYMENT_DONE,
        interval=fixed(settings.deployment_poll_seconds),
        deadline_seconds=settings.deployment_deadline_seconds,
    )
    provisioned = DeploymentResult.model_validate(result)
    if timed_out:
        raise IterationEnded("failed", {"code": "DeploymentDeadlineExceeded", "message": provisioned.state})
    if provisioned.state != "Succeeded":
        raise IterationEnded(
            "failed", provisioned.error or {"code": f"Deployment{provisioned.state}", "message": name}
        )
    run.stage(6, f"deployment {name} succeeded; waiting until it serves")
    result, timed_out = yield from run.poll(
        "probe_deployment",
        DeploymentRef(name=name),
        done=lambda r: r["ready"] or (r.get("error") or {}).get("code") != "DeploymentNotFound",
        interval=fixed(settings.deployment_poll_seconds),
        deadline_seconds=settings.deployment_deadline_seconds,
    )
    probe = ProbeResult.model_validate(result)
    if not probe.ready:
        raise IterationEnded("failed", probe.error or {"code": "DeploymentNotServing", "message": name})
    return name


def run_iteration(run: Run) -> Step:
    state, settings = run.state, run.state.settings
    i = state.iteration
    record_ = IterationRecord(
        iteration=i,
        started_at=run.now(),
        base_model=state.current_model,
        rollout_deployment=state.current_deployment,
        traces_prefix=traces_prefix(state.run_id, i, "train"),
    )
    try:
        indices = batch_indices(state.train_size, i, settings.finetune_every_n_rollouts)
        run.stage(1, f"{len(indices)} training tasks", tasks=len(indices))
        run.stage(2, f"rollouts go to {state.current_deployment}")
        run.stage(3, f"{len(indices)} rollouts in parallel")
        summaries = yield from rollouts(run, i, "train", indices, state.current_deployment)
        record_.tasks = len(summaries)
        record_.rollouts_failed = sum(1 for item in summaries if item.status != "ok")
        record_.train_reward = mean_reward(summaries)
        run.stage(
            3,
            f"mean reward {record_.train_reward:.3f}",
            train_reward=record_.train_reward,
            rollouts_failed=record_.rollouts_failed,
        )

        run.stage(4, f"keeping top {settings.data_filter_ratio:.0%} by reward")
        dataset = DatasetResult.model_validate(
            (
                yield run.call(
                    "build_dataset",
                    BuildDataset(
                        run_id=state.run_id,
                        iteration=i,
                        data_filter_ratio=settings.data_filter_ratio,
                        seed=settings.seed,
                    ),
                )
            )
        )
        record_.examples_total = dataset.examples_total
        record_.examples_kept = dataset.examples_kept
        record_.dataset_blob = dataset.dataset_blob
        run.stage(
            4,
            f"{dataset.examples_kept}/{dataset.examples_total} examples kept",
            examples_kept=dataset.examples_kept,
        )
        if not dataset.enough_for_azure:
            raise IterationEnded(
                "skipped",
                {"code": "TooFewExamples", "message": "; ".join(dataset.problems) or "not enough examples"},
            )
        yield from record(run, ReportUpdate(run_id=state.run_id, iteration=record_))

        run.stage(5, "uploading training file")
        model = yield from fine_tune(run, record_, dataset.dataset_blob)
        yield from record(run, ReportUpdate(run_id=state.run_id, iteration=record_))

        run.stage(6, f"deploying {model}")
        deployment = yield from deploy(run, record_, model)

        run.stage(7, f"evaluating {deployment}")
        reward, count, failed = yield from evaluate(run, i, deployment)
        record_.val_reward, record_.val_rollouts, record_.val_failed = reward, count, failed
        state.current_deployment = deployment
        state.last_val_reward = reward
        if reward is not None and (state.best_reward is None or reward >= state.best_reward):
            state.best_deployment, state.best_model, state.best_reward = deployment, model, reward
            record_.promoted = True
        record_.status = "succeeded"
    except IterationEnded as ended:
        record_.status = ended.status  # type: ignore[assignment]
        record_.error = ended.error
        state.failed_iterations += 1
    record_.finished_at = run.now()
    run.stage(8, f"iteration {record_.status}", val_reward=record_.val_reward, last_status=record_.status)
    yield from record(
        run,
        ReportUpdate(
            run_id=state.run_id,
            iteration=record_,
            promoted_deployment=state.best_deployment,
            promoted_model=state.best_model,
            promoted_val_reward=state.best_reward,
        ),
    )
    return record_
