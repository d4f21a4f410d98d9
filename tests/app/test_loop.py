"""The whole loop, end to end: the real Function App in devhost (virtual clock) against Azurite and
the emulator, driven through its HTTP API like a user would."""

from __future__ import annotations

import itertools
import json

import azure.durable_functions as df
import pytest

from devhost import DevHost
from emulator.launch import EmulatorHandle
from shared.azure.clients import artifact_store
from tests.app.support import lineage
from tests.driver import Runs

BASE_MODEL = "gpt-4.1-mini-2025-04-14"
BATCH = 32
TEACHER, TEACHER_MODEL = "gpt-5.1", "gpt-5.1-2025-11-13"
BASE_DEPLOYMENTS = {TEACHER, "gpt-4.1-mini"}
pytestmark = pytest.mark.timeout(300)


def blob_names(prefix: str) -> list[str]:
    return artifact_store().list_paths(prefix)


def alive(emulator: EmulatorHandle) -> set[str]:
    return {item["name"] for item in emulator.state()["deployments"]}


def test_three_iterations_chain_deploy_prune_and_beat_the_baseline(
    runs: Runs, emulator_reset: EmulatorHandle
) -> None:
    # 32 rollouts a batch: at the base model's skill, 24 often earn fewer than Azure's 10 examples.
    run_id = runs.start("e2e-full", finetune_every_n_rollouts=BATCH)
    report = runs.finish(run_id)
    # The run's JSON beside its report (docs/report.md): read as JSON on purpose, the contract it is.
    code, details = runs.call("GET", f"/api/runs/{run_id}")

    assert code == 200
    assert details["runtime_status"] == "Completed"
    assert report.status == "succeeded"
    assert report.finished_at
    assert details["custom_status"]["stage"] == "finish"
    # Distillation (the default since gpt-4.1-mini's base retired): the teacher's deployment answers the
    # baseline and the first rollouts, and the baseline says it is the teacher's score.
    baseline = report.baseline
    assert baseline is not None
    assert baseline.deployment == TEACHER
    assert (baseline.model, baseline.teacher, baseline.trains) == (TEACHER_MODEL, True, BASE_MODEL)
    assert baseline.start_from == "base"
    assert baseline.val_reward is not None
    iterations = report.iterations
    assert [item.iteration for item in iterations] == [1, 2, 3]
    assert [item.status for item in iterations] == ["succeeded"] * 3, iterations

    # Continuous fine-tuning: each job starts from the previous iteration's model (never the teacher);
    # versions name things.
    assert iterations[0].rollout_deployment == TEACHER
    assert iterations[0].base_model == BASE_MODEL
    assert {job["model"] for job in emulator_reset.state()["jobs"]} <= {BASE_MODEL} | {
        item.fine_tuned_model for item in iterations
    }
    for previous, current in itertools.pairwise(iterations):
        assert current.base_model == previous.fine_tuned_model
    for item in iterations:
        assert item.version == item.iteration
        assert item.fine_tuned_model is not None
        assert item.fine_tuned_model.startswith(f"{BASE_MODEL}.ft-")
        assert item.fine_tuned_model.endswith(f"-v{item.version:02d}")
        assert item.deployment == f"capital-agent_v{item.version:02d}"
        assert item.tasks == BATCH
        assert item.examples_kept is not None
        assert item.examples_total is not None
        assert item.examples_kept < item.examples_total
        assert item.val_reward is not None
        assert item.file_id
        assert item.job_id
        assert item.promotion in {"promoted", "not_better"}
    assert iterations[1].rollout_deployment == "capital-agent_v01"
    job_ids = {item.job_id for item in iterations}
    live_jobs = {job["id"] for job in emulator_reset.state()["jobs"]}
    deleted_jobs = {item.job_id for item in lineage("e2e-full").versions if item.job_deleted_at}
    assert len(job_ids) == 3
    assert live_jobs | deleted_jobs == job_ids, "a job was started twice"

    # Promotion: each candidate was compared with the champion of its iteration, measured beside it on
    # the same tasks, and crowned only when the bound cleared the margin; the last one crowned reigns.
    champion = report.champion
    assert champion is not None
    for item in iterations:
        comparison = item.comparison
        assert comparison is not None
        assert item.promoted == (item.promotion == "promoted") == (comparison.decision == "promoted")
        assert comparison.candidate_deployment == item.deployment
        assert comparison.candidate_reward == pytest.approx(item.val_reward)
        assert comparison.champion_reward == pytest.approx(item.champion_val_reward)
        assert comparison.tasks == 16
        assert comparison.pairs == 16
        assert comparison.lower is not None
        assert (comparison.lower > 0) == item.promoted
    promoted = [item for item in iterations if item.promoted]
    assert promoted, "filtering by reward must produce a candidate better than the base model"
    assert champion.deployment == promoted[-1].deployment == report.promoted_deployment
    assert champion.val_reward == promoted[-1].val_reward
    later = iterations[iterations.index(promoted[0]) + 1 :]
    assert all(
        item.comparison is not None and item.comparison.champion_deployment != "gpt-4.1-mini"
        for item in later
    )

    # Pruning: never the champion; at most max_deployments (2) candidates besides it stay alive.
    record = lineage("e2e-full")
    candidates = {f"capital-agent_v{k:02d}" for k in (1, 2, 3)}
    assert alive(emulator_reset) & candidates == set(record.live_deployments())
    assert len(set(record.live_deployments()) - {champion.deployment}) <= 2
    assert set(report.deployments_deleted) == candidates - set(record.live_deployments())
    assert record.active_run is None, "the run released its lineage"
    assert record.champion is not None
    assert record.champion.deployment == champion.deployment

    # Every artefact is in Blob.
    val_count = baseline.val_rollouts
    assert baseline.traces_prefix == f"traces/{run_id}/00/baseline/"
    assert len(blob_names(baseline.traces_prefix)) == val_count
    for item in iterations:
        i = item.iteration
        assert len(blob_names(f"traces/{run_id}/{i:02d}/train/")) == BATCH
        assert len(blob_names(f"traces/{run_id}/{i:02d}/val/")) == val_count
        assert len(blob_names(f"traces/{run_id}/{i:02d}/champion-val/")) == val_count
        assert blob_names(f"datasets/{run_id}/{i:02d}/") == [
            f"datasets/{run_id}/{i:02d}/{name}"
            for name in (
                "events.jsonl",
                "kept.jsonl",
                "results.csv",
                "sources.jsonl",
                "stats.json",
                "train.jsonl",
            )
        ]
        assert item.results_blobs == [f"datasets/{run_id}/{i:02d}/results.csv"]
        assert item.events_blob == f"datasets/{run_id}/{i:02d}/events.jsonl"
    state = emulator_reset.state()
    ours = [
        f for f in state["files"] if f["filename"].startswith(run_id) or f["purpose"] == "fine-tune-results"
    ]
    assert ours == [], "training and results files are deleted from the resource once copied"
    assert len(state["deleted_files"]) == 6, "3 training files and 3 results files"
    assert blob_names(f"runs/{run_id}/report.json") == [f"runs/{run_id}/report.json"]
    assert blob_names(f"runs/{run_id}/intents/") == [
        f"runs/{run_id}/intents/job-{i:02d}.json" for i in (1, 2, 3)
    ]


def test_a_second_run_of_the_lineage_continues_it_from_its_champion(
    runs: Runs, emulator_reset: EmulatorHandle
) -> None:
    """The weekly schedule's second week: same lineage and prefix, default settings. No name collides,
    versions continue (v04..v06), the run starts from the first run's champion, and deployments never
    exceed max_deployments plus the champion's."""
    # Learning slowly (a third of the default rate), the lineage still has room to improve in week 2: at
    # the full rate the capital agent's lineage saturates in a week, and week 2 stops NothingToImprove
    # before training (tests/app/test_evaluation.py).
    week = {
        "lineage": "weekly",
        "iterations": 3,
        "finetune_every_n_rollouts": BATCH,
        "learning_rate_multiplier": 0.3,
    }
    first = runs.finish(runs.start("e2e-week-1", **week))
    second = runs.finish(runs.start("e2e-week-2", **week))

    assert first.status == "succeeded"
    assert second.status == "succeeded", second.iterations
    assert [item.version for item in second.iterations] == [4, 5, 6]
    assert [item.deployment for item in second.iterations] == [f"capital-agent_v{k:02d}" for k in (4, 5, 6)]
    champion = first.champion
    assert champion is not None
    assert second.baseline is not None
    assert second.baseline.start_from == "champion"
    assert second.baseline.model == champion.model
    assert second.iterations[0].base_model == champion.model
    record = lineage("weekly")
    assert [item.version for item in record.versions] == [1, 2, 3, 4, 5, 6]
    assert record.champion is not None
    candidates_alive = alive(emulator_reset) - {*BASE_DEPLOYMENTS, record.champion.deployment}
    assert len(candidates_alive) <= 2
    assert candidates_alive == set(record.live_deployments()) - {record.champion.deployment}


def test_a_candidate_no_better_than_the_champion_is_not_promoted(
    runs: Runs, emulator_reset: EmulatorHandle
) -> None:
    """Candidates trained with a learning rate so small that they act as the base model does (the
    emulated skill moves by under 1 %), and the champion is the teacher (the lineage's first champion),
    which the emulator gives the base models' one skill: each candidate another draw of an equal model,
    not promoted at the default margin and confidence; the champion (the baseline) stays, in the
    lineage, the report and on the resource, where only the one candidate max_deployments keeps is left."""
    body = {"iterations": 2, "learning_rate_multiplier": 0.01, "data_filter_ratio": 1.0, "max_deployments": 1}
    report = runs.finish(runs.start("e2e-equal", **body))
    assert report.status == "succeeded"
    for item in report.iterations:
        comparison = item.comparison
        assert comparison is not None
        assert comparison.decision in {"not_significant", "worse"}, comparison.reason
        assert comparison.lower is not None
        assert comparison.lower <= comparison.margin == 0.0, "the bound did not clear the margin"
        assert (item.promotion, item.promoted) == ("not_better", False)
        assert comparison.champion_deployment == TEACHER
    assert report.champion is not None
    assert report.champion.deployment == TEACHER
    assert report.champion.reason == "baseline"
    record = lineage("e2e-equal")
    assert record.champion is not None
    assert (record.champion.deployment, record.champion.model) == (TEACHER, TEACHER_MODEL)
    assert [item.reason for item in record.champion_history] == ["baseline"]
    assert TEACHER in alive(emulator_reset)
    # v01 lost, but iteration 2 rolled out on it (the chain): deleted before v02 was deployed; v02 lost
    # in the run's last iteration: deleted at once. Neither holds a slot of the account.
    assert alive(emulator_reset) - BASE_DEPLOYMENTS == set(), "a candidate that lost is deleted"
    assert report.deployments_deleted == ["capital-agent_v01", "capital-agent_v02"]


def test_failed_job_ends_its_iteration_and_the_run_goes_on(
    runs: Runs, emulator_reset: EmulatorHandle
) -> None:
    emulator_reset.set_faults(fail_next_jobs=1)
    # A larger batch, all of whose rewarded examples are kept, gives the base model's second batch
    # enough to learn from (24 rollouts at the base model's skill often earn fewer than Azure's 10). The
    # second job starts from the base model again, on the lineage's examples so far: its batch must reach
    # tasks the first did not (40 of the 60 training tasks each), or it has nothing new (NothingToLearn).
    body = {"iterations": 2, "finetune_every_n_rollouts": 40, "data_filter_ratio": 1.0}
    report = runs.finish(runs.start("e2e-job-fails", **body))
    first, second = report.iterations
    assert first.status == "failed"
    assert first.job_id
    assert first.error is not None
    assert first.error.code
    assert first.fine_tuned_model is None
    assert first.deployment is None
    assert second.status == "succeeded"
    assert second.base_model == BASE_MODEL, "the next iteration starts from the last good model"
    assert second.examples_earlier is not None
    assert second.examples_earlier > 0, "with the failed iteration's kept examples"
    assert report.status == "completed_with_failures"


def test_failed_deployment_ends_its_iteration_clearly(runs: Runs, emulator_reset: EmulatorHandle) -> None:
    emulator_reset.set_faults(fail_next_deployments=1)
    report = runs.finish(runs.start("e2e-deploy-fails", iterations=1, data_filter_ratio=1.0))
    (only,) = report.iterations
    assert only.status == "failed"
    assert only.fine_tuned_model
    assert only.deployment == "capital-agent_v01"
    assert only.error is not None
    assert "Failed" in only.error.code or only.error.code == "DeploymentFailed"
    assert only.val_reward is None
    assert report.status == "completed_with_failures"
    assert "capital-agent_v01" in report.deployments_deleted, "a failed deployment is not left behind"
    assert "capital-agent_v01" not in alive(emulator_reset)


def test_a_deployment_past_its_deadline_is_deleted(runs: Runs, emulator_reset: EmulatorHandle) -> None:
    """Provisioning that outlasts ``deployment_deadline_seconds`` ends the iteration, and the stuck
    deployment is deleted rather than left on the resource (finding: it was left behind). ARM refuses
    the DELETE while the creation is still in progress (409 RequestConflict): the run waits it out."""
    emulator_reset.set_faults(provisioning_slowdown=50)  # 8 s x 50 emulated: 4 s of real time
    body = {
        "iterations": 1,
        "data_filter_ratio": 1.0,
        "deployment_poll_seconds": 5,
        "deployment_deadline_seconds": 30,
    }
    report = runs.finish(runs.start("e2e-deploy-deadline", **body))
    (only,) = report.iterations
    assert only.status == "failed"
    assert only.error is not None
    assert only.error.code == "DeploymentDeadlineExceeded"
    assert only.deployment == "capital-agent_v01"
    assert report.deployments_deleted == ["capital-agent_v01"]
    assert report.leaked == []
    assert "capital-agent_v01" not in alive(emulator_reset)
    assert report.status == "completed_with_failures"


def test_an_arm_outage_fails_the_run_with_a_reason_and_ends_every_iteration(
    patient_runs: Runs, emulator_reset: EmulatorHandle, caplog: pytest.LogCaptureFixture
) -> None:
    """ARM answers 503 to everything, from iteration 1 on, for longer than the retries: the run fails,
    and its report says why in a code and a message (no traceback) with no iteration left ``running``
    (finding: the error held a traceback and iteration 1 stayed running)."""
    runs = patient_runs
    run_id = runs.start("e2e-arm-outage", iterations=2, data_filter_ratio=1.0)
    runs.wait_until(run_id, lambda custom: custom.get("iteration") == 1)
    emulator_reset.set_faults(routes=[{"route": "arm", "status": 503, "rate": 1.0, "retry_after": 0}])
    status = runs.ended(run_id)
    assert status.runtime_status == df.OrchestrationRuntimeStatus.Failed
    report = runs.report(run_id)
    assert report.status == "failed"
    assert report.finished_at
    (only,) = report.iterations
    assert only.status == "failed"
    assert only.finished_at
    for error in (report.error, only.error):
        assert error is not None
        assert error.model_fields_set == {"code", "message"}, "the report's error holds these alone"
        assert error.code == "InfrastructureFailure"
        assert "ServiceUnavailable" in error.message
        assert "Traceback" not in error.message
        assert 'File "' not in error.message
    assert lineage("e2e-arm-outage").active_run is None, "a failed run releases its lineage"
    (logged,) = [
        record.getMessage() for record in caplog.records if "e2e-arm-outage failed" in record.getMessage()
    ]
    assert "Traceback" in logged, "the traceback goes to the log instead"


def test_throttling_bursts_are_retried_and_the_run_succeeds(
    runs: Runs, emulator_reset: EmulatorHandle
) -> None:
    emulator_reset.set_faults(
        routes=[
            {"route": "chat", "status": 429, "count": 6, "retry_after": 0},
            {"route": "files", "status": 429, "count": 5, "retry_after": 0},
            {"route": "jobs", "status": 503, "count": 5, "retry_after": 0},
            {"route": "arm", "status": 429, "count": 5, "retry_after": 0},
        ]
    )
    report = runs.finish(runs.start("e2e-throttled", iterations=1, data_filter_ratio=1.0))
    (only,) = report.iterations
    assert only.status == "succeeded", only.error
    assert only.rollouts_failed == 0
    assert len(emulator_reset.state()["jobs"]) == 1


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (b"{not json", "(body)"),
        (b"[1, 2]", "(body)"),
        (json.dumps({"iteratons": 2}).encode(), "iteratons"),
        (json.dumps({"data_filter_ratio": 1.5}).encode(), "data_filter_ratio"),
        (json.dumps({"iterations": "three"}).encode(), "iterations"),
        (json.dumps({"run_id": "Bad Id!"}).encode(), "run_id"),
        (json.dumps({"agent": "nope"}).encode(), "agent"),
        (json.dumps({"deployment_prefix": "bad prefix"}).encode(), "deployment_prefix"),
    ],
)
def test_bad_bodies_get_400_naming_the_field(host: DevHost, body: bytes, field: str) -> None:
    response = host.http("POST", "/api/runs", body=body, headers={"content-type": "application/json"})
    assert response.status_code == 400
    payload = json.loads(response.get_body())
    assert field in [error["field"] for error in payload["errors"]], payload


def test_unknown_run_is_404(host: DevHost) -> None:
    response = host.http("GET", "/api/runs/no-such-run")
    assert response.status_code == 404
    assert "no-such-run" in json.loads(response.get_body())["error"]


def test_a_running_run_id_is_refused(runs: Runs, emulator_reset: EmulatorHandle) -> None:
    run_id = runs.start("e2e-twice", iterations=1)
    status, _ = runs.post("/api/runs", {"run_id": run_id})
    assert status == 409
    runs.finish(run_id)


def test_rollouts_stopped_by_server_errors_are_throttled_never_scored_and_the_iteration_skipped(
    runs: Runs, emulator_reset: EmulatorHandle
) -> None:
    """Every chat call fails with a 500: a transient failure, so each rollout is retried and then
    recorded as throttled (trace kept, marked so), never scored 0; the dataset is too small for Azure,
    and the iteration is skipped with a clear status instead of crashing the run."""
    emulator_reset.set_faults(routes=[{"route": "chat", "status": 500, "rate": 1.0, "retry_after": 0}])
    run_id = runs.start("e2e-all-fail", iterations=1, val_limit=4)
    report = runs.finish(run_id)
    baseline = report.baseline
    assert baseline is not None
    assert (baseline.val_throttled, baseline.val_failed, baseline.val_reward) == (4, 0, None)
    (only,) = report.iterations
    assert only.status == "skipped"
    assert only.error is not None
    assert only.error.code == "NothingToLearn"
    assert (only.rollouts_throttled, only.rollouts_failed, only.train_reward) == (24, 0, None)
    assert only.examples_kept == 0
    assert only.job_id is None
    assert only.deployment is None
    traces = blob_names(f"traces/{run_id}/01/train/")
    assert len(traces) == 24
    first = artifact_store().read_text(traces[0]) or ""
    root = json.loads(first.splitlines()[0])
    assert root["status"] == "error"
    assert root["status_message"].startswith("throttled: 500: "), root["status_message"]
    assert root["attributes"]["durable_finetune.rollout.status"] == "throttled"
