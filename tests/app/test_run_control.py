"""Steering a run through the HTTP API: one active run per lineage, the scheduled run's singleton,
approving or rejecting a candidate (or letting the approval time out), and cancelling a run during its
rollouts, its job and its deployment, leaving nothing of it behind but the champion."""

from __future__ import annotations

import json
from typing import Any

import pytest

from api.runs import PRINCIPAL_HEADER, SCHEDULED_PREFIX
from devhost import DevHost
from emulator.launch import TEACHER_DEPLOYMENT, EmulatorHandle
from tests.app.support import lineage
from tests.driver import Custom, Runs

pytestmark = pytest.mark.timeout(300)


def test_a_busy_lineage_refuses_a_second_run_naming_the_first(
    runs: Runs, emulator_reset: EmulatorHandle
) -> None:
    runs.start("busy-first", iterations=1, val_limit=4)
    status, body = runs.post("/api/runs", {"run_id": "busy-second", "lineage": "busy-first"})
    assert status == 409
    assert body["active_run"] == "busy-first"
    assert "busy-first" in body["error"]
    assert runs.finish("busy-first").status == "succeeded"
    assert lineage("busy-first").active_run is None
    status, body = runs.post("/api/runs", {"run_id": "busy-second", "lineage": "busy-first", "iterations": 1})
    assert status == 202, body


def test_the_timer_starts_one_run_per_lineage_at_a_time(runs: Runs, emulator_reset: EmulatorHandle) -> None:
    first = runs.fire_schedule()
    before = runs.instances(SCHEDULED_PREFIX)
    runs.host.fire_timer("scheduled_retrain")
    assert runs.instances(SCHEDULED_PREFIX) == before, (
        "a second tick started another run while the first was going"
    )
    report = runs.finish(first)
    assert report.status in {"succeeded", "completed_with_failures"}
    assert report.lineage == "capital-agent"


# Training hard on all of the first batch's rewarded examples makes a candidate that beats the base model
# clearly (tests/app/test_lineages.py PROMOTING), beyond its confidence bound on four samples a task.
APPROVAL = {
    "iterations": 1,
    # Twice the default batch, every rewarded example kept, trained hard: a candidate clearly better than
    # the base model, so the bound promotes it whatever samples the run id draws (with 24 rollouts one
    # of the two runs' candidates did not clear it).
    "finetune_every_n_rollouts": 48,
    "n_epochs": 3,
    "learning_rate_multiplier": 2.0,
    "data_filter_ratio": 1.0,
    "eval_samples_per_task": 4,
    "promotion": "approval",
    "approval_timeout_seconds": 3600,
}


def awaits_approval(custom: Custom) -> bool:
    return isinstance(custom.get("awaiting"), dict)


@pytest.mark.parametrize(("decision", "outcome"), [("approve", "promoted"), ("reject", "rejected")])
def test_a_waiting_candidate_is_promoted_or_kept_out_by_a_decision(
    patient_runs: Runs, emulator_reset: EmulatorHandle, decision: str, outcome: str
) -> None:
    runs = patient_runs
    run_id = f"approval-{decision}"
    status, body = runs.post(f"/api/runs/{run_id}/approve")
    assert status == 404, body
    runs.start(run_id, **APPROVAL)
    waiting = runs.wait_until(run_id, awaits_approval)["awaiting"]
    response = runs.host.http(
        "POST",
        f"/api/runs/{run_id}/{decision}",
        json={"reason": "reviewed by a test"},
        headers={PRINCIPAL_HEADER: "reviewer@contoso.com"},  # what App Service authentication adds
    )
    body = json.loads(response.get_body())
    assert response.status_code == 202, body
    assert body["candidate"] == waiting["approval"]
    assert (body["reason"], body["approved_by"]) == ("reviewed by a test", "reviewer@contoso.com")
    report = runs.finish(run_id)
    (only,) = report.iterations
    assert only.promotion == outcome
    assert only.comparison is not None
    assert only.comparison.decision == {"approve": "promoted", "reject": "approval_rejected"}[decision]
    assert only.comparison.lower is not None
    assert only.comparison.lower > 0, "only a candidate the bound promotes waits for a decision"
    recorded = only.approval
    assert recorded is not None
    assert (recorded.decision, recorded.reason) == (decision, "reviewed by a test")
    assert recorded.approved_by == "reviewer@contoso.com"
    champion = lineage(run_id).champion
    assert champion is not None
    expected = only.deployment if decision == "approve" else TEACHER_DEPLOYMENT
    assert champion.deployment == expected
    assert report.champion is not None
    assert report.champion.deployment == expected
    if decision == "approve":
        assert champion.approval is not None
        assert champion.approval.model_dump(mode="json") == recorded.model_dump(mode="json"), (
            "the champion says who let it in"
        )
    else:
        assert champion.approval is None, "the base model stays champion by its own right"
    status, body = runs.post(f"/api/runs/{run_id}/{decision}")
    assert status == 409, "a run that waits for nothing refuses a decision"


@pytest.mark.parametrize("name", ["a\tb", "x" * 257])
def test_an_identity_no_provider_would_write_is_refused_naming_the_header(host: DevHost, name: str) -> None:
    response = host.http("POST", "/api/runs/approval-nobody/approve", headers={PRINCIPAL_HEADER: name})
    body = json.loads(response.get_body())
    assert response.status_code == 400, body
    assert body["errors"][0]["field"] == f"(header {PRINCIPAL_HEADER})"


def test_silence_is_a_reject_when_the_approval_times_out(runs: Runs, emulator_reset: EmulatorHandle) -> None:
    report = runs.finish(runs.start("approval-silence", **APPROVAL))
    (only,) = report.iterations
    assert only.promotion == "approval_timed_out"
    assert only.comparison is not None
    assert only.comparison.decision == "approval_timed_out"
    assert only.approval is None, "nobody decided"
    assert report.champion is not None
    assert report.champion.deployment == TEACHER_DEPLOYMENT


def leftovers(emulator: EmulatorHandle, run_id: str) -> tuple[list[str], list[dict[str, Any]], list[str]]:
    """The run's deployments, jobs not in a final state and live training files on the emulator."""
    state = emulator.state()
    deployments = [
        d["name"] for d in state["deployments"] if (d.get("tags") or {}).get("durable-finetune-run") == run_id
    ]
    jobs = [j for j in state["jobs"] if j["status"] not in {"succeeded", "failed", "cancelled"}]
    files = [f["id"] for f in state["files"] if f["filename"].startswith(run_id)]
    return deployments, jobs, files


def test_cancel_during_rollouts_stops_before_anything_is_paid_for(
    patient_runs: Runs, emulator_reset: EmulatorHandle
) -> None:
    runs = patient_runs
    emulator_reset.set_faults(rate_limit_scale=0.001)  # every chat call waits: the run sits in rollouts
    runs.start("cancel-rollouts", iterations=2, val_limit=4)
    runs.wait_until("cancel-rollouts", lambda custom: custom.get("stage") == "baseline")
    runs.cancel("cancel-rollouts", "changed my mind")
    emulator_reset.clear_faults()
    report = runs.finish("cancel-rollouts")
    assert report.status == "cancelled"
    assert report.error is not None
    assert report.error.code == "Cancelled"
    assert "changed my mind" in report.error.message
    assert report.iterations == []
    assert emulator_reset.state()["jobs"] == []
    assert leftovers(emulator_reset, "cancel-rollouts") == ([], [], [])
    assert lineage("cancel-rollouts").active_run is None
    status, body = runs.post("/api/runs/cancel-rollouts/cancel")
    assert status == 409, body


def test_cancel_during_a_job_cancels_the_job_and_deletes_its_file(
    patient_runs: Runs, emulator_reset: EmulatorHandle
) -> None:
    runs = patient_runs
    emulator_reset.set_faults(training_slowdown=1000)
    runs.start("cancel-job", iterations=1, data_filter_ratio=1.0)
    runs.wait_until("cancel-job", lambda custom: "training from" in str(custom.get("message")))
    runs.cancel("cancel-job")
    report = runs.finish("cancel-job")
    assert report.status == "cancelled"
    (only,) = report.iterations
    assert only.status == "cancelled"
    (job,) = emulator_reset.state()["jobs"]
    assert job["id"] == only.job_id
    assert job["status"] == "cancelled"
    assert leftovers(emulator_reset, "cancel-job") == ([], [], [])


def test_cancel_during_a_deployment_leaves_nothing_of_the_run_but_the_champion(
    patient_runs: Runs, emulator_reset: EmulatorHandle
) -> None:
    runs = patient_runs
    emulator_reset.set_faults(provisioning_slowdown=200)
    runs.start("cancel-deploy", iterations=1, data_filter_ratio=1.0)
    runs.wait_until("cancel-deploy", lambda custom: custom.get("deployment") is not None)
    runs.cancel("cancel-deploy")
    report = runs.finish("cancel-deploy")
    assert report.status == "cancelled"
    (only,) = report.iterations
    assert only.deployment in report.deployments_deleted
    assert report.leaked == []
    assert leftovers(emulator_reset, "cancel-deploy") == ([], [], [])
    assert report.champion is not None
    assert report.champion.deployment == TEACHER_DEPLOYMENT


def test_a_terminated_run_is_reconciled_by_the_janitor(
    patient_runs: Runs, emulator_reset: EmulatorHandle
) -> None:
    """The Durable API's terminate stops the orchestration at once and runs nothing of the app's: its job
    trains on and its report says running, until the janitor's pass reconciles it."""
    emulator_reset.set_faults(training_slowdown=1000)
    runs = patient_runs
    runs.start("terminated", iterations=1, data_filter_ratio=1.0)
    runs.wait_until("terminated", lambda custom: "training from" in str(custom.get("message")))
    runs.terminate("terminated", "stopped by hand")
    (job,) = emulator_reset.state()["jobs"]
    assert job["status"] == "running", "terminate leaves the job training"

    runs.host.fire_timer("reconcile_stale_runs")
    report = runs.finish("terminated", instance_id="terminated:reconcile")
    assert report.status == "terminated"
    assert report.error is not None
    assert report.error.code == "Terminated"
    (job,) = emulator_reset.state()["jobs"]
    assert job["status"] == "cancelled"
    assert leftovers(emulator_reset, "terminated") == ([], [], [])
    assert lineage("terminated").active_run is None
    status, body = runs.post("/api/runs", {"run_id": "terminated-2", "lineage": "terminated"})
    assert status == 202, body
