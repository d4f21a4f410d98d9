"""Lineages that outlive runs and Azure's deployment lifetimes: the champion pointer production reads,
a day passing in the middle of a run, a champion Azure removed and brought back, a rollback, and a
champion whose model the resource no longer has."""

from __future__ import annotations

from typing import Any

from emulator.launch import TEACHER_DEPLOYMENT, EmulatorHandle
from shared.domain.report import RunReport
from tests.app.support import lineage
from tests.driver import Runs

DAY = 24 * 3600
BASE = TEACHER_DEPLOYMENT  # version 0: the deployment the base model learns from (distillation)
# Training hard on all of the first batch's rewarded examples makes a candidate that beats the base model
# clearly (the emulated skill moves almost all the way to the share of good turns in the file, about
# 0.78: emulator/README.md), and four samples of each of the 16 validation tasks put the lower bound of
# that difference well above 0.
PROMOTING = {
    "iterations": 1,
    "n_epochs": 3,
    "learning_rate_multiplier": 2.0,
    "data_filter_ratio": 1.0,
    "eval_samples_per_task": 4,
}


def upkeep(runs: Runs, path: str) -> RunReport:
    status, body = runs.post(path)
    assert status == 202, body
    report = runs.finish(body["upkeep_id"])
    assert report.kind == "upkeep"
    return report


def test_production_reads_the_champion_and_the_lineage(runs: Runs, emulator_reset: EmulatorHandle) -> None:
    # The lineage API's answers are read as JSON: production reads that contract.
    assert runs.call("GET", "/api/lineages/nobody")[0] == 404
    report = runs.finish(runs.start("pointer", **PROMOTING))
    status, champion = runs.call("GET", "/api/lineages/pointer/champion")
    assert status == 200, champion
    assert report.champion is not None
    assert champion["deployment"] == report.champion.deployment == "capital-agent_v01"
    assert champion["model"] == report.iterations[0].fine_tuned_model
    assert champion["state"] == "serving"
    assert champion["run_id"] == "pointer"
    status, record = runs.call("GET", "/api/lineages/pointer")
    assert status == 200
    assert [version["version"] for version in record["versions"]] == [1]
    assert record["active_run"] is None
    assert record["champion"]["state"] == "serving"
    assert [item["reason"] for item in record["champion_history"]] == ["baseline", "promoted"]


def test_a_day_passing_mid_run_expires_the_champion_which_is_brought_back_to_be_compared(
    patient_runs: Runs, emulator_reset: EmulatorHandle
) -> None:
    """Iteration 1's candidate becomes champion on its DeveloperTier deployment; Azure removes that
    deployment (24 h) while iteration 2 trains. Iteration 2 needs the champion beside its candidate: the
    run deploys it again, compares the two on a serving deployment, and ends with a champion serving."""
    runs = patient_runs
    runs.start("midrun-day", **{**PROMOTING, "iterations": 2})
    runs.wait_until(
        "midrun-day", lambda custom: custom.get("iteration") == 2 and custom.get("stage") == "fine-tune"
    )
    first = deployments(emulator_reset)["capital-agent_v01"]
    assert first["sku"]["name"] == "DeveloperTier" and first["expires_at"] is not None
    emulator_reset.advance_clock(DAY + 3600)
    assert "capital-agent_v01" not in deployments(emulator_reset), "Azure removed it after 24 h"

    report = runs.finish("midrun-day")
    assert report.status == "succeeded", [(i.status, i.error) for i in report.iterations]
    one, two = report.iterations
    assert one.promoted, one.comparison
    assert two.comparison is not None
    assert two.comparison.champion_deployment == "capital-agent_v01"
    (beside,) = [stage for stage in two.rollout_stages if stage.group == "champion-val"]
    assert (beside.deployment, beside.ok, beside.failed) == ("capital-agent_v01", beside.rollouts, 0)
    # It served those rollouts after Azure had removed it: the run deployed it again. Then it is the
    # champion's deployment, made after the day passed, or (iteration 2's candidate won) a spare the
    # lineage gives back at the run's end.
    if two.promoted:
        assert "capital-agent_v01" in report.deployments_deleted
        assert "capital-agent_v01" not in deployments(emulator_reset)
    else:
        again = deployments(emulator_reset)["capital-agent_v01"]
        assert again["expires_at"] > first["expires_at"] + DAY, "a new deployment, made after the day"
    status, champion = runs.call("GET", "/api/lineages/midrun-day/champion")
    assert status == 200
    assert champion["state"] == "serving", champion


def deployments(emulator: EmulatorHandle) -> dict[str, dict[str, Any]]:
    """The deployments alive on the emulator, by name."""
    return {item["name"]: item for item in emulator.state()["deployments"]}


def test_a_champion_azure_removed_is_brought_back(patient_runs: Runs, emulator_reset: EmulatorHandle) -> None:
    runs = patient_runs
    runs.finish(runs.start("expired", **PROMOTING))
    emulator_reset.advance_clock(DAY + 3600)
    assert runs.call("GET", "/api/lineages/expired/champion")[1]["state"] == "expired"
    upkeep(runs, "/api/lineages/expired/champion/deploy")
    champion = runs.call("GET", "/api/lineages/expired/champion")[1]
    assert champion["state"] == "serving"
    assert champion["deployment"] == "capital-agent_v01"
    emulator_reset.advance_clock(DAY + 3600)
    second = runs.finish(runs.start("expired-2", lineage="expired", iterations=1))
    assert second.baseline is not None
    assert second.baseline.start_from == "champion"
    assert second.baseline.deployment == "capital-agent_v01", "redeployed before it was evaluated"
    assert second.warnings == []


def test_a_rollback_makes_the_previous_champion_current(
    patient_runs: Runs, emulator_reset: EmulatorHandle
) -> None:
    runs = patient_runs
    runs.finish(runs.start("rollback", **PROMOTING))
    before = lineage("rollback").champion
    assert before is not None
    assert before.deployment == "capital-agent_v01"
    report = upkeep(runs, "/api/lineages/rollback/rollback")
    assert report.status == "succeeded"
    champion = runs.call("GET", "/api/lineages/rollback/champion")[1]
    assert champion["deployment"] == BASE
    assert champion["reason"] == "rollback"
    assert [item.reason for item in lineage("rollback").champion_history] == [
        "baseline",
        "promoted",
        "rollback",
    ]
    again = upkeep(runs, "/api/lineages/rollback/rollback")
    assert runs.call("GET", "/api/lineages/rollback/champion")[1]["deployment"] == "capital-agent_v01"
    assert again.status == "succeeded"


def test_a_champion_whose_model_is_gone_gives_way_to_the_base_model(
    runs: Runs, emulator_reset: EmulatorHandle
) -> None:
    """`make run` twice: Azurite keeps the lineage, the emulator (in memory) forgot its models; the same
    happens when someone deletes the champion on Azure by hand."""
    first = runs.finish(runs.start("forgotten", **PROMOTING))
    assert first.champion is not None
    assert first.champion.deployment == "capital-agent_v01"
    emulator_reset.reset()
    report = runs.finish(runs.start("forgotten-2", lineage="forgotten", iterations=1))
    assert report.status in {"succeeded", "completed_with_failures"}
    assert report.baseline is not None
    assert report.baseline.start_from == "base"
    assert [warning.code for warning in report.warnings] == ["ModelUnavailable"]
    assert lineage("forgotten").champion_history[2].reason == "fallback"
