"""Issue 18's "Done when", through the app's HTTP API against the emulator's lifecycle table (the world as
published): a new customer refused before anything is spent and then training gpt-oss-20b from its base on
the lineage's accumulated examples; an existing customer refused once its training date has passed; the
lineage API warning 60 days before its champion retires; a lineage rebased from gpt-4.1-mini to
gpt-oss-20b whose old champion serves until a new candidate beats it."""

from __future__ import annotations

import html
import json
import logging
from datetime import UTC, datetime

import openai
import pytest

from emulator.launch import EmulatorHandle
from shared.azure.clients import artifact_store
from shared.domain.layout import lineage_path
from shared.domain.lineage import Champion, new_lineage
from tests.app.support import lineage
from tests.driver import Runs

pytestmark = pytest.mark.timeout(400)
OSS = "gpt-oss-20b-11"
OPEN_MODELS = "gpt-oss-20b-11, Ministral-3B, Qwen-32B, Llama-3.3-70B-Instruct"
# A candidate that moves far from its parent (tests/app/test_lineages.py, PROMOTING).
HARD = {"n_epochs": 3, "learning_rate_multiplier": 2.0, "seed": 7}


def move_clock_to(emulator: EmulatorHandle, moment: datetime) -> None:
    now = emulator.state()["now"]
    assert moment.timestamp() > now, f"the emulated clock is already past {moment}"
    emulator.advance_clock(moment.timestamp() - now)


def nothing_spent(emulator: EmulatorHandle) -> None:
    state = emulator.state()
    assert (state["files"], state["deleted_files"], state["jobs"]) == ([], [], [])
    assert {item["name"] for item in state["deployments"]} == {"gpt-5.1", "gpt-4.1-mini"}


def test_a_new_customer_with_default_settings_ends_in_preflight_before_anything(
    runs: Runs, emulator_restored: EmulatorHandle
) -> None:
    emulator_restored.admin("POST", "account", {"customer": "new"})
    status, body = runs.post("/api/runs", {"run_id": "new-customer-default"})
    assert status == 400, body
    (error,) = body["errors"]
    assert error["field"] == "base_model"
    assert error["error"].startswith(
        "fine-tuning gpt-4.1-mini-2025-04-14 retired on 2026-10-14 for this account (ARM's model list; "
    )
    assert f"this account can fine-tune now: {OPEN_MODELS}; fix: set base_model" in error["error"]
    assert runs.call("GET", "/api/runs/new-customer-default")[0] == 404

    # A scheduled run has no door: it ends in its own preflight, before its baseline's rollouts.
    run_id = runs.fire_schedule()
    report = runs.finish(run_id)
    assert report.status == "failed"
    assert report.error is not None
    assert report.error.code == "PreflightFailed"
    assert [check.name for check in report.error.checks or []] == ["model"]
    assert "retired on 2026-10-14" in report.error.message
    assert report.baseline is None
    assert report.iterations == []
    assert artifact_store().list_paths(f"traces/{run_id}/") == []
    nothing_spent(emulator_restored)


def test_a_new_customer_trains_gpt_oss_from_its_base_on_the_lineages_examples(
    runs: Runs, emulator_restored: EmulatorHandle, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="durable_finetune")
    emulator_restored.admin("POST", "account", {"customer": "new"})
    report = runs.finish(runs.start("oss-three", base_model="gpt-oss-20b", **HARD))

    # What the app chose, and said it chose.
    settings = report.settings
    assert (settings["base_model"], settings["training_type"], settings["continue_from"]) == (
        OSS,
        "GlobalStandard",
        "base",
    )
    assert (settings["sku_name"], settings["sku_capacity"]) == ("GlobalStandard", 100)
    assert [choice.setting for choice in report.choices] == [
        "base_model",
        "training_type",
        "continue_from",
        "sku_name",
        "sku_capacity",
    ]
    assert report.status == "succeeded", report.iterations
    iterations = report.iterations
    assert [item.status for item in iterations] == ["succeeded"] * 3

    # Every job from the base model, never a fine-tuned one: as sent (the activity's intent records) and
    # as the resource lists the jobs the run kept (it deletes those whose models the lineage no longer
    # needs).
    sent = [
        json.loads(artifact_store().read_text(f"runs/oss-three/intents/job-{i:02d}.json") or "{}")
        for i in (1, 2, 3)
    ]
    assert [intent["request"]["model"] for intent in sent] == [OSS] * 3
    assert [intent["request"]["training_type"] for intent in sent] == ["GlobalStandard"] * 3
    assert {job["model"] for job in emulator_restored.state()["jobs"]} == {OSS}
    assert [item.base_model for item in iterations] == [OSS] * 3
    assert all((item.fine_tuned_model or "").startswith(f"{OSS}.ft-") for item in iterations)

    # Each dataset carries the lineage's accumulated examples, each line traceable to its trace.
    earlier = [item.examples_earlier for item in iterations if item.examples_earlier is not None]
    assert len(earlier) == 3, iterations
    assert earlier[0] == 0
    assert 0 < earlier[1] < earlier[2], earlier
    last = iterations[-1]
    assert last.dataset_blob is not None
    assert last.examples_kept is not None
    assert last.examples_earlier is not None
    stats = json.loads(artifact_store().read_text("datasets/oss-three/03/stats.json") or "{}")
    (share,) = stats["accumulated"]["runs"]
    assert (share["run_id"], share["iterations"]) == ("oss-three", [1, 2, 3])
    assert share["examples"] == last.examples_kept
    sources = (artifact_store().read_text("datasets/oss-three/03/sources.jsonl") or "").splitlines()
    lines = (artifact_store().read_text(last.dataset_blob) or "").splitlines()
    assert len(sources) == len(lines) == last.examples_kept
    first = json.loads(sources[0])
    assert (first["run_id"], first["iteration"]) == ("oss-three", 3)
    assert first["trace"].startswith("traces/oss-three/03/train/")
    assert {json.loads(line)["iteration"] for line in sources} == {1, 2, 3}
    own = last.examples_kept - last.examples_earlier
    shown = (
        f"{own}/{last.examples_total} examples kept, with {last.examples_earlier} of the lineage's "
        f"earlier iterations: {last.examples_kept} to train on"
    )
    assert any(record.getMessage().endswith(f"dataset: {shown}") for record in caplog.records), shown

    # GlobalStandard deployments of at least 100 units; evaluation, promotion and the pointer work.
    # (Candidates that lost are deleted as they lose; the champion's deployment stays.)
    ours = [
        item
        for item in emulator_restored.state()["deployments"]
        if item.get("model_id", "").startswith(f"{OSS}.ft-")
    ]
    champion = report.champion
    assert champion is not None
    assert champion.deployment in {item["name"] for item in ours}, "a candidate won"
    assert {(item["sku"]["name"], item["sku"]["capacity"] >= 100) for item in ours} == {
        ("GlobalStandard", True)
    }
    assert {version.sku_name for version in lineage("oss-three").versions} == {"GlobalStandard"}
    assert {version.sku_capacity for version in lineage("oss-three").versions} == {100}
    assert all(item.val_reward is not None for item in iterations)
    # Promotion is paired (docs/report.md, "Promotion"): the champion is the last candidate whose lower
    # bound over the champion of its day cleared the margin, not the best single score; every other
    # candidate was refused by that bound.
    promoted = [item for item in iterations if item.promoted]
    assert promoted, "a candidate won"
    assert champion.deployment == promoted[-1].deployment
    assert champion.val_reward == promoted[-1].val_reward
    for item in iterations:
        comparison = item.comparison
        assert comparison is not None
        assert (comparison.decision == "promoted") == item.promoted, comparison.reason
        assert comparison.lower is not None
        assert (comparison.lower > comparison.margin) == item.promoted, comparison
    # The lineage API's answers are read as JSON, the contract production reads.
    status, pointer = runs.call("GET", "/api/lineages/oss-three/champion")
    assert status == 200
    assert (pointer["deployment"], pointer["state"]) == (champion.deployment, "serving")


def test_an_existing_customer_is_refused_training_after_2027_04_14(
    runs: Runs, emulator_restored: EmulatorHandle
) -> None:
    move_clock_to(emulator_restored, datetime(2027, 4, 15, tzinfo=UTC))
    status, body = runs.post("/api/runs", {"run_id": "after-april"})
    assert status == 400, body
    (error,) = body["errors"]
    assert error["field"] == "base_model"
    assert error["error"].startswith(
        "fine-tuning gpt-4.1-mini-2025-04-14 retired on 2027-04-14 for this account"
    )
    assert f"this account can fine-tune now: {OPEN_MODELS}" in error["error"]
    nothing_spent(emulator_restored)


def test_the_lineage_api_and_the_scheduled_run_warn_before_the_champion_retires(
    runs: Runs,
    emulator_restored: EmulatorHandle,
    settings_env: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    report = runs.finish(runs.start("retiring", iterations=1, **HARD))
    champion = report.champion
    assert champion is not None
    assert champion.reason == "promoted", "a gpt-4.1-mini model is the champion"
    status, record = runs.call("GET", "/api/lineages/retiring")
    assert record["lifecycle"]["warnings"] == []

    move_clock_to(emulator_restored, datetime(2027, 8, 16, 12, tzinfo=UTC))  # 58.5 days before 2027-10-14
    status, record = runs.call("GET", "/api/lineages/retiring")
    assert status == 200
    assert record["lifecycle"]["clock"] == "azure"
    (warning,) = [w for w in record["lifecycle"]["warnings"] if w.startswith("the champion")]
    assert warning == (
        f"the champion {champion.deployment} ({champion.model}) stops serving on 2027-10-14 (in 58 "
        "days) and no rebase has succeeded: rebase the lineage: run it with base_model set to a model this "
        f"account can fine-tune ({OPEN_MODELS})"
    )
    dates = {item["model"]: item for item in record["lifecycle"]["models"]}
    assert dates[champion.model]["inference"].startswith("2027-10-14")
    page = runs.host.http("GET", "/api/dashboard/lineages/retiring").get_body().decode()
    assert f"<li data-lifecycle-warning>{html.escape(warning)}</li>" in page
    assert "<dt>Champion serves until</dt><dd>2027-10-14" in page

    # The weekly run of that lineage says it too, in its report and its log. It cannot train any more
    # (gpt-4.1-mini's training ended on 2027-04-14), so preflight ends it; its rollouts would have gone
    # to the champion, which still serves.
    run_id = runs.scheduled_run(settings_env, "retiring")
    scheduled = runs.finish(run_id)
    assert scheduled.status == "failed"
    assert scheduled.error is not None
    (refused,) = scheduled.error.checks or []
    assert refused.name == "model"
    assert refused.detail.startswith(f"fine-tuning {champion.model} retired on 2027-04-14 for this account")
    lifecycle = [w.message for w in scheduled.warnings if w.code == "LifecycleWarning"]
    assert [w for w in lifecycle if w.startswith("the champion")] == [warning]
    assert any(warning in record.getMessage() for record in caplog.records if record.levelname == "WARNING")

    move_clock_to(emulator_restored, datetime(2027, 10, 15, tzinfo=UTC))
    status, pointer = runs.call("GET", "/api/lineages/retiring/champion")
    assert pointer["state"] == "retired"
    assert pointer["deployment"] == champion.deployment
    with pytest.raises(openai.NotFoundError):  # the champion's deployment answers no call any more
        emulator_restored.openai_v1().chat.completions.create(
            model=champion.deployment, messages=[{"role": "user", "content": "Capital of France?"}]
        )


def test_a_rebased_lineage_keeps_its_champion_until_a_new_candidate_beats_it(
    runs: Runs, emulator_restored: EmulatorHandle
) -> None:
    """gpt-4.1-mini (an existing customer's chain) to gpt-oss-20b: the first rebased candidate waits for an
    approval that never comes (silence is a reject; a margin no candidate can clear would now stop the
    run NothingToImprove before it trains), so the old champion keeps serving; the next run's candidate
    beats it."""
    old = runs.finish(runs.start("rebase-a", lineage="rebased", iterations=1, **HARD)).champion
    assert old is not None
    assert old.model.startswith("gpt-4.1-mini-2025-04-14.ft-")

    # Four samples of each validation task: with one, the old champion's 13 of 16 leave too few tasks to
    # gain on for any candidate to be promoted, and the run would stop NothingToImprove before training.
    unapproved = {"promotion": "approval", "approval_timeout_seconds": 1, "eval_samples_per_task": 4}
    held = runs.finish(
        runs.start("rebase-b", lineage="rebased", iterations=1, base_model="gpt-oss-20b", **unapproved)
    )
    assert held.rebase is not None
    assert held.rebase.from_base == "gpt-4.1-mini-2025-04-14"
    assert held.rebase.to_base == OSS
    (candidate,) = held.iterations
    assert (candidate.base_model, candidate.promoted) == (OSS, False)
    # Refused by the bound, or promoted by it and then not approved in time: either way not crowned.
    assert candidate.comparison is not None
    assert candidate.comparison.decision in {"not_significant", "worse", "approval_timed_out"}
    assert candidate.rollout_deployment == old.deployment, "the old champion teaches the new chain"
    assert candidate.examples_earlier is not None
    assert candidate.examples_earlier > 0, "trained on the lineage's accumulated examples"
    assert held.champion is not None
    assert held.champion.deployment == old.deployment
    status, pointer = runs.call("GET", "/api/lineages/rebased/champion")
    assert (pointer["deployment"], pointer["state"]) == (old.deployment, "serving")

    runs.start(
        "rebase-c",
        lineage="rebased",
        iterations=1,
        base_model="gpt-oss-20b",
        eval_samples_per_task=4,
        **HARD,
    )
    won = runs.finish("rebase-c")
    (winner,) = won.iterations
    assert winner.promotion == "promoted", won.iterations
    assert winner.champion_val_reward is not None
    status, pointer = runs.call("GET", "/api/lineages/rebased/champion")
    assert pointer["deployment"] == winner.deployment != old.deployment
    assert pointer["model"].startswith(f"{OSS}.ft-")

    status, record = runs.call("GET", "/api/lineages/rebased")
    assert status == 200
    chains = record["chains"]
    assert [chain["base_model"] for chain in chains] == ["gpt-4.1-mini-2025-04-14", OSS]
    assert chains[0]["rebase"] is None
    assert chains[1]["rebase"]["run_id"] == "rebase-b"
    assert [version["base_model"] for version in record["versions"]] == ["gpt-4.1-mini-2025-04-14", OSS, OSS]
    page = runs.host.http("GET", "/api/dashboard/lineages/rebased").get_body().decode()
    assert '<tr data-chain="gpt-4.1-mini-2025-04-14">' in page
    assert f'<tr data-chain="{OSS}">' in page
    assert "rebase from <code>gpt-4.1-mini-2025-04-14</code>" in page
    run_page = runs.host.http("GET", "/api/dashboard/runs/rebase-b").get_body().decode()
    assert f"<dd data-rebase><code>gpt-4.1-mini-2025-04-14</code> → <code>{OSS}</code>" in run_page


def test_a_lineage_whose_champion_is_the_retired_base_deployment_falls_back_to_the_teacher(
    runs: Runs, emulator_restored: EmulatorHandle
) -> None:
    """A lineage from before 2026-10-14 (as `make run`'s .azurite/ keeps it): its champion is version 0,
    gpt-4.1-mini's own base deployment, which answers 404 now. The run does not fail on it: the champion
    cannot serve, so the teacher takes its place, with a warning."""
    old = Champion(
        version=0,
        model="gpt-4.1-mini-2025-04-14",
        deployment="gpt-4.1-mini",
        val_reward=0.4,
        since="2026-09-01T00:00:00+00:00",
        run_id="before-retirement",
        reason="baseline",
    )
    record = new_lineage("pre-retirement", "capital-agent", old.since).model_copy(
        update={"champion": old, "champion_history": [old]}
    )
    artifact_store().write_json(lineage_path("pre-retirement"), record)

    report = runs.finish(runs.start("after-retirement", lineage="pre-retirement", iterations=1, val_limit=4))

    assert report.status in {"succeeded", "completed_with_failures"}, report.error
    (warning,) = [w for w in report.warnings if w.code == "ModelUnavailable"]
    assert warning.message.startswith("the champion gpt-4.1-mini-2025-04-14 cannot serve")
    assert report.baseline is not None
    assert (report.baseline.deployment, report.baseline.teacher) == ("gpt-5.1", True)
    history = lineage("pre-retirement").champion_history
    assert [(item.deployment, item.reason) for item in history[:2]] == [
        ("gpt-4.1-mini", "baseline"),
        ("gpt-5.1", "fallback"),
    ]


def test_a_rollout_deployment_whose_model_retired_is_refused_at_the_door(
    runs: Runs, emulator_restored: EmulatorHandle
) -> None:
    """gpt-4.1-mini's own base deployment answers 404 since 2026-10-14: a run that would roll out there
    is refused before it starts, with the date and the way on (a teacher)."""
    status, body = runs.post("/api/runs", {"run_id": "retired-rollouts", "base_deployment": "gpt-4.1-mini"})
    assert status == 400, body
    (error,) = body["errors"]
    assert error["field"] == "base_deployment"
    assert error["error"] == (
        "deployment gpt-4.1-mini: gpt-4.1-mini-2025-04-14 was retired for inference on 2026-10-14; fix: set "
        "base_deployment (BASE_DEPLOYMENT) to a deployment of a current model, e.g. a teacher such as "
        "gpt-5.1: the run distils its rewarded traces into base_model (docs/models.md, 'Distillation')"
    )
    nothing_spent(emulator_restored)
