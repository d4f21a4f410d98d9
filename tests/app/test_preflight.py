"""Preflight through the real Function App (devhost) against Azurite and the emulator: ``POST /api/runs``
refuses, with a 400 naming the fix and before it takes a run id or lineage, settings that preflight's
reads already condemn (unknown or retired model, missing deployment, a budget below the estimate); a
run that cannot succeed all the same (a scheduled run, which nobody can answer 400, or a resource
found full) ends before any rollout, with an error naming what to change; a run over its budget
creates no job; ``GET /api/preflight`` answers the same checks without starting anything."""

from __future__ import annotations

import json
from typing import Any

import pytest
from azure.core.exceptions import HttpResponseError

from emulator.launch import EmulatorHandle
from shared.azure.clients import artifact_store
from shared.domain.cost import DEFAULT_PRICING
from shared.domain.errors import CheckRecord
from shared.domain.report import RunReport
from shared.domain.report_view import ReportView
from tests.driver import Runs
from tests.emulator.support import BASE, deploy, fine_tuned_models, success_file, upload

pytestmark = pytest.mark.timeout(300)

CHECKS = ["arm", "chat", "serving", "blob", "model", "offer", "deployments", "files", "budget"]
QUOTA = 10  # the emulator's --ft-deployment-quota default and MAX_FINE_TUNED_DEPLOYMENTS's
FILES = 100  # the emulator's --max-files default and MAX_TRAINING_FILES's


def ended_before_rollouts(runs: Runs, emulator: EmulatorHandle, run_id: str) -> RunReport:
    """Runs ``run_id`` to its end and checks it paid for nothing: no trace, no training file, no job."""
    jobs_before = len(emulator.state()["jobs"])
    report = runs.finish(run_id)
    assert report.status == "failed", report
    assert report.baseline is None
    assert report.iterations == []
    assert artifact_store().list_paths(f"traces/{run_id}/") == []
    state = emulator.state()
    assert [f for f in state["files"] if f["filename"].startswith(run_id)] == []
    assert len(state["jobs"]) == jobs_before
    return report


def failed_checks(report: RunReport) -> dict[str, CheckRecord]:
    assert report.error is not None
    return {check.name: check for check in report.error.checks or []}


def refused_at_the_door(
    runs: Runs, emulator: EmulatorHandle, run_id: str, **settings: Any
) -> list[dict[str, str]]:
    """POSTs a run that preflight's reads condemn; checks the answer is a 400 that took nothing: no
    orchestration, no report, lineage or other blob, no file or job; returns its errors."""
    blobs, state = artifact_store().list_paths(""), emulator.state()
    status, body = runs.post("/api/runs", {"run_id": run_id, "lineage": run_id, **settings})
    assert status == 400, body
    assert runs.status(run_id) is None, "no orchestration was started"
    assert artifact_store().list_paths("") == blobs, "no report, lineage, index or probe blob was written"
    after = emulator.state()
    assert (after["files"], after["jobs"]) == (state["files"], state["jobs"])
    assert [check["name"] for check in body["checks"]] == [
        {"base_model": "model", "base_deployment": "deployment", "budget_usd": "budget"}[error["field"]]
        for error in body["errors"]
    ]
    errors: list[dict[str, str]] = body["errors"]
    return errors


@pytest.mark.parametrize(
    ("settings", "field", "found", "fix"),
    [
        (
            {"base_model": "gpt-4.1-mini-2099-01-01"},
            "base_model",
            "gpt-4.1-mini-2099-01-01 is not among the account's models; this account can fine-tune now: "
            "gpt-4.1-mini-2025-04-14, ",
            "set base_model (BASE_MODEL) to a model this account can fine-tune",
        ),
        (
            {"base_deployment": "no-such-deployment"},
            "base_deployment",
            "no-such-deployment is not among the account's deployments",
            "set base_deployment (BASE_DEPLOYMENT) to a deployment that exists and has succeeded "
            "(the account has: gpt-4.1-mini, gpt-5.1)",
        ),
        (
            {"budget_usd": 0.01},
            "budget_usd",
            # 24 training rollouts and two evaluations of 4 tasks x 1 sample, each rollout expected to
            # read EXPECTED_TOKENS_PER_ROLLOUT (1000) and write 100 tokens. The teacher (gpt-5.1, no
            # default price) serves the batch and the first champion's side; only the candidate's 4
            # are priced, at gpt-4.1-mini's $0.40 / $1.60 per 1M.
            "~15,000 trained tokens ~ $0.0375 + 32 rollouts' chat calls ~ $0.0022 (without "
            "gpt-5.1-2025-11-13: no price; add it to PRICING); $0.0000 spent so far; does not fit",
            "raise budget_usd",
        ),
    ],
)
def test_a_run_preflight_would_refuse_is_a_400_naming_the_fix_and_takes_nothing(
    runs: Runs, emulator_reset: EmulatorHandle, settings: dict[str, Any], field: str, found: str, fix: str
) -> None:
    run_id = f"door-{field.replace('_', '-')}"

    (error,) = refused_at_the_door(runs, emulator_reset, run_id, iterations=1, val_limit=4, **settings)

    assert error["field"] == field
    assert error["error"].startswith(found), error
    assert f"; fix: {fix}" in error["error"]
    # The run id was not used up: the same id with the fix starts.
    fixed = {name: value for name, value in settings.items() if name != field}
    # Every rewarded example kept, so the iteration has Azure's 10 to train on whatever the run id draws.
    assert runs.start(run_id, iterations=1, val_limit=4, data_filter_ratio=1.0, **fixed) == run_id
    assert runs.finish(run_id).status == "succeeded"


def test_a_model_retired_for_fine_tuning_is_refused_before_the_run_starts(
    runs: Runs, emulator_reset: EmulatorHandle
) -> None:
    emulator_reset.admin("POST", "models/retire", {"model": BASE, "fine_tune": "2026-01-01T00:00:00Z"})

    (error,) = refused_at_the_door(runs, emulator_reset, "door-retired")

    assert error["field"] == "base_model"
    assert error["error"].startswith(f"fine-tuning {BASE} retired on 2026-01-01 for this account")
    assert "fix: set base_model (BASE_MODEL) to a model this account can fine-tune" in error["error"]


def test_a_transient_arm_failure_at_the_start_refuses_nothing(
    runs: Runs, emulator_reset: EmulatorHandle
) -> None:
    """ARM answers 503 to both reads of the POST's checks (each tried twice): nothing is known to be
    wrong, so the run starts and checks again itself."""
    emulator_reset.set_faults(routes=[{"route": "arm", "status": 503, "count": 4, "retry_after": 0}])

    run_id = runs.start("door-transient", iterations=1, val_limit=4)

    assert emulator_reset.state()["faults"]["routes"][0]["count"] == 0, "the POST's reads met the 503s"
    assert runs.finish(run_id).status == "succeeded"


def test_a_model_retired_for_fine_tuning_ends_a_scheduled_run_before_any_rollout(
    runs: Runs, emulator_reset: EmulatorHandle, settings_env: pytest.MonkeyPatch
) -> None:
    emulator_reset.admin("POST", "models/retire", {"model": BASE, "fine_tune": "2026-01-01T00:00:00Z"})

    run_id = runs.scheduled_run(settings_env, "preflight-retired")
    report = ended_before_rollouts(runs, emulator_reset, run_id)

    assert report.error is not None
    assert report.error.code == "PreflightFailed"
    assert set(failed_checks(report)) == {"model"}
    model = failed_checks(report)["model"]
    assert model.detail.startswith(f"fine-tuning {BASE} retired on 2026-01-01 for this account")
    assert model.fix is not None
    assert "set base_model (BASE_MODEL)" in model.fix
    assert "model: " + model.detail in report.error.message


def test_a_resource_full_of_fine_tuned_deployments_ends_the_run_before_any_rollout(
    runs: Runs, emulator_reset: EmulatorHandle
) -> None:
    (model,) = fine_tuned_models(emulator_reset)
    for n in range(QUOTA):
        deploy(emulator_reset, f"other-team-{n}", model)
    with pytest.raises(HttpResponseError) as refused:  # Azure's own limit: the preflight counts the same
        deploy(emulator_reset, "one-too-many", model)
    assert refused.value.error is not None
    assert refused.value.error.code == "InsufficientQuota"

    report = ended_before_rollouts(runs, emulator_reset, runs.start("preflight-full-deployments"))

    assert report.error is not None
    assert report.error.code == "ResourceFull"
    check = failed_checks(report)["deployments"]
    assert set(failed_checks(report)) == {"deployments"}
    assert check.detail.startswith(f"{QUOTA} of {QUOTA} fine-tuned deployments in use")
    assert check.fix is not None
    assert "other-team-0" in check.fix


def test_a_resource_full_of_training_files_ends_the_run_before_any_rollout(
    runs: Runs, emulator_reset: EmulatorHandle
) -> None:
    client = emulator_reset.openai_v1()
    for n in range(FILES):
        upload(client, success_file(10), name=f"other-team-{n}.jsonl")
    with pytest.raises(Exception, match="quota for fine-tuning files") as refused:
        upload(client, success_file(10), name="one-too-many.jsonl")
    assert getattr(refused.value, "status_code", None) == 400

    report = ended_before_rollouts(runs, emulator_reset, runs.start("preflight-full-files"))

    assert report.error is not None
    assert report.error.code == "ResourceFull"
    assert set(failed_checks(report)) == {"files"}
    assert failed_checks(report)["files"].detail.startswith(f"{FILES} of {FILES} training files")


def test_a_budget_too_small_for_one_iteration_ends_a_scheduled_run_before_any_rollout(
    runs: Runs, emulator_reset: EmulatorHandle, settings_env: pytest.MonkeyPatch
) -> None:
    run_id = runs.scheduled_run(settings_env, "preflight-budget", budget_usd=0.001)
    report = ended_before_rollouts(runs, emulator_reset, run_id)

    assert report.error is not None
    assert report.error.code == "BudgetExceeded"
    budget = failed_checks(report)["budget"]
    # 24 rollouts x 0.6 kept = 15 x EXPECTED_TOKENS_PER_ROLLOUT (1000) at gpt-4.1-mini developer $2.50/1M;
    # an iteration's 24 + 2 x 16 rollouts (training, candidate and champion on 16 validation tasks) at
    # 1000 tokens read and 100 written each; the teacher's (batch and champion) have no default price,
    # the candidate's 16 are priced at $0.40 and $1.60 per 1M.
    assert budget.detail.startswith(
        "~15,000 trained tokens ~ $0.0375 + 56 rollouts' chat calls ~ $0.0090 (without "
        "gpt-5.1-2025-11-13: no price; add it to PRICING); $0.0000 spent so far; does not fit"
    )
    assert budget.fix is not None
    assert "raise budget_usd" in budget.fix


def test_an_iteration_whose_dataset_would_cross_the_budget_ends_before_its_job(
    runs: Runs, emulator_reset: EmulatorHandle, settings_env: pytest.MonkeyPatch
) -> None:
    """The expected size passes the preflight; the real dataset, priced before the job, does not."""
    settings_env.setenv("EXPECTED_TOKENS_PER_ROLLOUT", "1")
    body = {"iterations": 1, "budget_usd": 0.001, "data_filter_ratio": 1.0}  # Azure's 10 examples
    report = runs.finish(runs.start("preflight-job-budget", **body))

    (entry,) = report.iterations
    assert report.status == "completed_with_failures"
    assert entry.status == "skipped"
    assert entry.error is not None
    assert entry.error.code == "BudgetExceeded"
    assert entry.tasks == 24, "the iteration's rollouts ran"
    assert entry.file_id is None
    assert entry.job_id is None
    assert entry.cost is not None
    assert entry.cost.basis == "dataset"
    assert entry.cost.estimated_usd is not None
    assert entry.cost.estimated_usd > 0.001
    assert entry.cost.total_usd == 0.0, "no job, nothing to pay"
    state = emulator_reset.state()
    assert state["jobs"] == []
    assert [f for f in state["files"] if f["filename"].startswith("preflight-job-budget")] == []


def test_cost_is_estimated_before_each_job_and_settled_from_trained_tokens(
    runs: Runs, emulator_reset: EmulatorHandle
) -> None:
    """The estimate is the approximation of shared/domain/rate_limits.py; the emulator counts a quarter of the
    characters of each whole JSONL line, JSON syntax included, so the estimate runs 25-33 % below its
    trained_tokens (docs/cost.md); the bound here is that measurement with some room."""
    body = {"iterations": 2, "n_epochs": 2, "budget_usd": 5, "data_filter_ratio": 1.0}
    report = runs.finish(runs.start("preflight-cost", **body))

    price = DEFAULT_PRICING.training_per_1m(BASE, "developerTier")
    assert price is not None
    for entry in report.iterations:
        cost = entry.cost
        assert cost is not None
        assert entry.status == "succeeded", entry
        assert entry.trained_tokens is not None
        assert cost.basis == "dataset"
        assert cost.n_epochs == 2
        assert cost.price_per_1m_tokens == price
        assert cost.actual_tokens == entry.trained_tokens
        assert cost.actual_usd == pytest.approx(entry.trained_tokens * price / 1e6)
        assert cost.total_usd == cost.actual_usd
        error = cost.estimated_tokens / entry.trained_tokens - 1
        assert -0.40 <= error <= -0.15, f"estimate {cost.estimated_tokens} vs trained {entry.trained_tokens}"
    total = report.cost
    assert total is not None
    settled = [e.cost.actual_usd for e in report.iterations if e.cost and e.cost.actual_usd is not None]
    assert len(settled) == len(report.iterations)
    assert total.actual_usd == pytest.approx(sum(settled))
    assert total.total_usd == pytest.approx(total.training_usd + total.hosting_usd)
    assert total.hosting_hours == 0.0, "DeveloperTier deployments bill no hours"
    assert total.budget_usd == 5
    assert ReportView.parse(report.model_dump_json()).cost_usd == total.total_usd


def preflight(host: Any, query: str = "", **request: Any) -> tuple[int, dict[str, Any]]:
    response = host.http("GET", f"/api/preflight{query}", **request)
    return response.status_code, json.loads(response.get_body())


def test_get_preflight_answers_every_check_without_starting_anything(
    host: Any, emulator_reset: EmulatorHandle
) -> None:
    status, body = preflight(host)

    assert status == 200
    assert body["ok"] is True, body
    assert [check["name"] for check in body["checks"]] == CHECKS
    assert all(check["ok"] and check["fix"] is None for check in body["checks"])
    assert (body["model"], body["deployment"]) == (BASE, "gpt-5.1")
    assert body["choices"] == [] and body["warnings"] == []
    lifecycle = body["lifecycle"]
    assert lifecycle["clock"] == "azure"
    dates = {item["model"]: item for item in lifecycle["models"]}
    assert {BASE, "gpt-5.1-2025-11-13"} <= set(dates), "the base model, the teacher (and a champion)"
    assert (dates[BASE]["fine_tune"][:10], dates[BASE]["inference"][:10]) == ("2027-04-14", "2026-10-14")
    assert dates["gpt-5.1-2025-11-13"]["inference"][:10] == "2027-05-15"
    assert lifecycle["trainable_now"][:3] == [BASE, "gpt-4.1-2025-04-14", "gpt-4.1-nano-2025-04-14"]
    assert body["cost"]["basis"] == "expected"
    state = emulator_reset.state()
    assert (state["files"], state["jobs"]) == ([], [])
    assert artifact_store().list_paths("preflight/") == [], "the probe blob is deleted"


def test_get_preflight_names_what_to_change_when_a_check_fails(
    host: Any, emulator_reset: EmulatorHandle
) -> None:
    status, body = preflight(host, "?base_deployment=no-such-deployment&budget_usd=0.001")

    assert status == 200
    assert body["ok"] is False
    failed = {check["name"]: check for check in body["checks"] if not check["ok"]}
    assert set(failed) == {"chat", "budget"}
    assert failed["chat"]["detail"].startswith("DeploymentNotFound")
    assert "(the account has: gpt-4.1-mini, gpt-5.1)" in failed["chat"]["fix"]

    _, same = preflight(host, json={"base_deployment": "no-such-deployment", "budget_usd": 0.001})
    assert same["checks"] == body["checks"], "a JSON body means the same as the query"


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("?iterations=%223%22", "iterations"),  # "3": a string where an integer belongs
        ("?budget_usd=-1", "budget_usd"),
        ("?bugdet_usd=1", "bugdet_usd"),
    ],
)
def test_get_preflight_refuses_bad_settings_by_name(host: Any, query: str, field: str) -> None:
    status, body = preflight(host, query)

    assert status == 400
    assert [error["field"] for error in body["errors"]] == [field]


def test_get_preflight_refuses_settings_in_both_query_and_body(host: Any) -> None:
    status, body = preflight(host, "?iterations=2", json={"iterations": 2})

    assert status == 400
    assert "not both" in body["errors"][0]["error"]


def test_hours_of_hourly_billed_deployments_are_recorded_and_priced(
    runs: Runs, emulator_reset: EmulatorHandle
) -> None:
    """Standard fine-tuned deployments bill by the hour: the second job's preflight measures the first
    iteration's deployment from ARM's createdAt (devhost's virtual clock runs ahead of the emulator's,
    so the hours here are only checked for being priced, not for their number)."""
    body = {"iterations": 2, "sku_name": "Standard", "data_filter_ratio": 1.0}
    report = runs.finish(runs.start("preflight-hosting", **body))

    first = report.iterations[0].deployment
    records = {record.deployment: record for record in report.hosting}
    assert first in records, report.hosting
    record = records[first]
    assert (record.sku_name, record.usd_per_hour) == ("Standard", 1.7)
    assert record.usd == pytest.approx(record.hours * 1.7, abs=1e-6)
    assert report.cost is not None
    priced = [r.usd for r in report.hosting if r.usd is not None]
    assert len(priced) == len(report.hosting), report.hosting
    assert report.cost.hosting_usd == pytest.approx(sum(priced))
    assert report.cost.hosting_hours == pytest.approx(sum(r.hours for r in report.hosting))


def test_a_transient_failure_is_a_warning_not_the_end_of_the_run(
    runs: Runs, emulator_reset: EmulatorHandle
) -> None:
    """The preflight's chat call meets 500s through all of the SDK's attempts (1 + 3 retries): nothing
    is known to be wrong with the configuration, so the run goes on and says what it could not verify."""
    emulator_reset.set_faults(routes=[{"route": "chat", "status": 500, "count": 4, "retry_after": 0}])

    report = runs.finish(runs.start("preflight-transient", iterations=1, val_limit=4))

    assert report.baseline is not None
    assert report.baseline.val_rollouts == 4, "the run went on to its baseline"
    (warning,) = [w for w in report.warnings if w.code == "PreflightUnverified"]
    assert warning.message.startswith("not verified (transient): chat: 500: The server had an error")


def test_get_preflight_reports_a_transient_failure_as_one_to_retry(
    host: Any, emulator_reset: EmulatorHandle
) -> None:
    """Request-time clients try twice (one quick retry), then answer."""
    emulator_reset.set_faults(routes=[{"route": "chat", "status": 503, "count": 2, "retry_after": 0}])

    status, body = preflight(host)

    assert status == 200
    failed = [check for check in body["checks"] if not check["ok"]]
    assert [check["name"] for check in failed] == ["chat"]
    assert failed[0]["fix"] == "a transient failure (throttling, a 5xx or a timeout): retry in a minute"
