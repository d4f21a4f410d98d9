"""Evaluations a run can trust (issue 19), through devhost and the emulator: the app's rollout stages,
its comparison activity and its decision, on real deployments of models the emulator trained.

- the same model evaluated as candidate and as champion (two independent draws of its samples) is
  promoted in at most 6 of 40 seeded trials at the default confidence 0.9;
- a model trained on the teacher's failed rollouts is refused at promotion_margin 0, and one trained
  on its successes promoted;
- a champion at 1.000 ends the next run NothingToImprove before any file or job exists;
- no validation or test task, and no production trace asking one, reaches a training file;
- a lineage's first run records its split, and later runs keep it (or fail before paying for another).

The candidates are made as the emulator makes any model: a fine-tuning job on a training file built
by the app's own dataset builder from the app's own rollout traces.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from types import ModuleType

import azure.durable_functions as df
import pytest
from azure.durable_functions.models.DurableOrchestrationStatus import DurableOrchestrationStatus

from bench.stage_driver import DRIVER, EVALUATION_DRIVER, EvaluationRun, StageRun, build_app
from devhost import DevHost
from emulator.launch import TEACHER_DEPLOYMENT, EmulatorHandle
from shared.agents import get_agent
from shared.agents.tasks import SplitRule, normalized_prompt
from shared.agents.traces import Span, parse_jsonl
from shared.azure.clients import artifact_store
from shared.domain.dataset import TraceSet, build_dataset, rollout_reward
from shared.domain.layout import dataset_stats_path
from shared.domain.report import Comparison, RolloutStats
from tests.driver import Runs
from tests.emulator.agent_runs import fine_tune_and_deploy
from tests.emulator.support import success_file
from tests.shared.otlp_support import Recorder, conversation

pytestmark = pytest.mark.timeout(300)
# The deployment a run starts from: the teacher (gpt-5.1, distillation: gpt-4.1-mini's base deployment is
# retired), whose rollouts train gpt-4.1-mini; the emulator gives every base model one skill.
BASE, BASE_MODEL = TEACHER_DEPLOYMENT, "gpt-5.1-2025-11-13"
TRIALS = 40
FALSE_PROMOTIONS_ALLOWED = 6
"""34 of 40 not promoted: a false-promotion rate of 0.1 gives 4 on average; 6 or fewer in 40 trials
happens with probability 0.79 at exactly 0.1, and the test is conservative (ties), so the seeded
trials sit well inside it (a broken bound, promoting on any positive difference, gives about 17)."""


@pytest.fixture
def eval_host(function_app: ModuleType) -> Iterator[DevHost]:
    with DevHost(build_app(), clock="virtual", max_workers=8) as host:
        yield host


def evaluate(host: DevHost, runs: list[EvaluationRun]) -> list[Comparison]:
    """Iterations' evaluations of each run's candidate beside its champion, all at once, and their
    decisions."""

    async def all_of() -> list[DurableOrchestrationStatus]:
        for run in runs:
            await host.client.start_new(EVALUATION_DRIVER, run.run_id, run.model_dump())
        return [await host.wait_for_completion(run.run_id, timeout=250) for run in runs]

    statuses = asyncio.run(all_of())
    for status in statuses:
        assert status.runtime_status == df.OrchestrationRuntimeStatus.Completed, status.output
    return [Comparison.model_validate(status.output) for status in statuses]


def trained_on(host: DevHost, emulator: EmulatorHandle, name: str, *, successes: bool) -> str:
    """Deploys, as ``name``, a model fine-tuned from the base model on the teacher's training rollouts (48
    of them, through the app's stage): the ones that earned their reward, or the failures where it answered
    without looking the capital up (the emulator labels those turns bad: emulator/README.md). The app's
    dataset builder makes the file from those traces alone."""
    train_size = len(get_agent("capital_lookup").load_splits(None).train)
    run = StageRun(run_id=f"{name}-data", group="train", deployment=BASE, count=48, modulo=train_size)
    status = host.run_orchestration(DRIVER, run.model_dump(), instance_id=run.run_id, timeout=200)
    assert status.runtime_status == df.OrchestrationRuntimeStatus.Completed, status.output
    store = artifact_store()
    prefix = RolloutStats.model_validate(status.output).traces_prefix
    traces = {path: parse_jsonl(store.read_text(path) or "") for path in store.list_paths(prefix)}

    def chosen(path: str, spans: list[Span]) -> bool:
        if successes:
            return rollout_reward(path, spans) == 1.0
        looked_up = any(span.operation == "execute_tool" for span in spans)
        return rollout_reward(path, spans) == 0.0 and not looked_up

    picked = {path: spans for path, spans in traces.items() if chosen(path, spans)}
    jsonl, dataset = build_dataset([TraceSet("rollouts", picked, lambda _k, _s: 1.0)], ratio=1.0, seed=1)
    assert dataset.examples_kept >= 10, dataset
    fine_tune_and_deploy(emulator, jsonl, name, n_epochs=3)
    return name


def test_a_candidate_equal_to_the_champion_is_not_promoted_in_34_of_40_seeded_trials(
    eval_host: DevHost, emulator_reset: EmulatorHandle
) -> None:
    """The base deployment evaluated twice per trial, as candidate and as champion: each trial's run id
    seeds its samples, so the two evaluations are independent draws of one model."""
    # Eight validation tasks, one sample each: 16 rollouts a trial, 640 in all (the bound is exact for any
    # number of tasks, so fewer keep the test's claim and its time in CI).
    tasks = {"val_limit": 8}
    runs = [
        EvaluationRun(run_id=f"equal-{trial:02d}", candidate=BASE, champion=BASE, settings=tasks)
        for trial in range(TRIALS)
    ]
    comparisons = evaluate(eval_host, runs)
    promoted = [c for c in comparisons if c.decision == "promoted"]
    assert len(promoted) <= FALSE_PROMOTIONS_ALLOWED, [c.reason for c in promoted]
    # Honest draws: the two evaluations of one model do differ (else nothing could ever be promoted).
    assert sum(1 for c in comparisons if c.difference != 0) >= TRIALS * 3 // 4
    assert {(c.confidence, c.margin, c.method) for c in comparisons} == {(0.9, 0.0, "sign_flip_exact")}
    assert all(c.pairs == c.tasks == 8 and c.unpaired == 0 for c in comparisons)


def test_a_worse_candidate_is_refused_at_margin_0_and_a_better_one_promoted(
    eval_host: DevHost, emulator_reset: EmulatorHandle
) -> None:
    """Trained on the teacher's failures, a candidate scores clearly below it and is refused at the
    default promotion_margin 0; trained on its successes, clearly above it, and promoted. Four samples of
    each of the 16 validation tasks, the default."""
    worse = trained_on(eval_host, emulator_reset, "worse", successes=False)
    better = trained_on(eval_host, emulator_reset, "better", successes=True)
    skills = {model["id"]: model["skill"] for model in emulator_reset.state()["models"]}
    trained = {model.rsplit("-", 1)[-1]: skill for model, skill in skills.items() if ".ft-" in model}
    assert trained["worse"] < skills[BASE_MODEL] < trained["better"], "truly worse, truly better"
    samples = {"eval_samples_per_task": 4}
    refused, promoted = evaluate(
        eval_host,
        [
            EvaluationRun(run_id="worse-vs-base", candidate=worse, champion=BASE, settings=samples),
            EvaluationRun(run_id="better-vs-base", candidate=better, champion=BASE, settings=samples),
        ],
    )
    assert refused.margin == 0.0
    assert refused.decision == "worse", refused.reason
    assert refused.difference is not None and refused.lower is not None
    assert refused.lower < refused.difference < 0
    assert promoted.decision == "promoted", promoted.reason
    assert promoted.lower is not None and promoted.lower > 0
    assert (refused.tasks, refused.pairs, promoted.pairs) == (16, 64, 64)


def test_a_champion_at_1_ends_the_run_with_nothing_to_improve_before_anything_is_paid_for(
    runs: Runs, emulator_reset: EmulatorHandle
) -> None:
    """A lineage whose first model is an expert (fine-tuned on perfect tool-using answers: skill 0.99, a
    rollout right 98.5 % of the time, and on this run's seeded samples every time) scores 1.000 on its
    validation samples. Not even a perfect candidate could be promoted over it, so the run measures its
    test score and ends succeeded, without uploading a file, starting a job or deploying anything."""
    expert = fine_tune_and_deploy(emulator_reset, success_file(40).decode(), "expert", n_epochs=6)
    before = emulator_reset.state()

    report = runs.finish(runs.start("saturated", base_model=expert, base_deployment="expert", iterations=3))

    assert report.status == "succeeded"
    assert report.iterations == []
    assert [warning.code for warning in report.warnings] == ["NothingToImprove"]
    baseline = report.baseline
    assert baseline is not None
    assert (baseline.deployment, baseline.champion_deployment) == ("expert", "expert")
    assert baseline.champion_val_reward == 1.0, "the champion solves every validation sample"
    headroom = baseline.headroom
    assert headroom is not None
    assert (headroom.room, headroom.best_lower, headroom.margin, headroom.tasks) == (
        False,
        0.0,
        0.0,
        16,
    )
    after = emulator_reset.state()
    files = [f["id"] for f in after["files"] + after["deleted_files"]]
    assert files == [f["id"] for f in before["files"] + before["deleted_files"]], "no file was uploaded"
    assert [job["id"] for job in after["jobs"]] == [job["id"] for job in before["jobs"]], "no job started"
    assert [d["name"] for d in after["deployments"]] == [d["name"] for d in before["deployments"]]
    test = report.champion_test_start
    assert test is not None
    assert test.deployment == "expert"
    assert test.reward is not None
    assert test.rollouts == test.tasks > 0
    assert report.champion_test_end == test, "the champion did not change, nor did its test score"


def test_no_validation_or_test_task_reaches_a_training_file_from_rollouts_or_production(
    runs: Runs, emulator_reset: EmulatorHandle
) -> None:
    """A run on its rollouts and on production traffic, where users also asked a validation task's and a
    test task's question (in their own spelling): those two traces are held out, counted, and nothing
    in the training file asks a validation or test task's question."""
    splits = get_agent("capital_lookup").load_splits(None)
    held_out = {normalized_prompt(task.prompt): task.task_id for task in splits.held_out()}
    asked = {
        "production question one": None,
        "production question two": None,
        f"  {splits.val[0].prompt.upper()}!! ": splits.val[0].task_id,
        splits.test[0].prompt.lower().rstrip("?"): splits.test[0].task_id,
    }
    recorder = Recorder(**{"service.name": "held-out-users"})
    traces = [conversation(recorder, question, answer="Paris") for question in asked]
    host = runs.host
    posted = host.http(
        "POST", "/api/v1/traces", body=recorder.protobuf(), headers={"Content-Type": "application/x-protobuf"}
    )
    assert posted.status_code == 200
    assert (
        host.http("POST", "/api/feedback", json=[{"trace_id": t, "reward": 1.0} for t in traces]).status_code
        == 200
    )

    report = runs.finish(
        runs.start(
            "held-out", source="both", production_agent="held-out-users", iterations=1, data_filter_ratio=1.0
        )
    )

    (entry,) = report.iterations
    assert entry.dataset_blob is not None, entry
    stats = json.loads(artifact_store().read_text(dataset_stats_path("held-out", 1)) or "{}")
    assert (stats["held_out"], stats["sources"]["production"]["held_out"]) == (2, 2)
    assert stats["sources"]["rollouts"]["held_out"] == 0, "training rollouts run training tasks only"
    examples = [
        json.loads(line) for line in (artifact_store().read_text(entry.dataset_blob) or "").splitlines()
    ]
    questions = {
        normalized_prompt(message["content"])
        for example in examples
        for message in example["messages"]
        if message["role"] == "user"
    }
    assert questions, "the file has examples"
    assert not questions & set(held_out), [held_out[q] for q in questions & set(held_out)]
    train_prompts = {normalized_prompt(task.prompt) for task in splits.train}
    assert questions - train_prompts == {"production question one", "production question two"}


def test_a_lineage_keeps_the_split_its_first_run_recorded(runs: Runs, emulator_reset: EmulatorHandle) -> None:
    """The first run asks for other shares than the defaults and the lineage records them; a later run
    that leaves the shares unset evaluates and tests on the recorded split, and one that asks for the
    defaults fails SplitMismatch before its baseline. Three validation tasks each (``val_limit``) leave no
    candidate a chance, so every run stops after its baseline and test: cheap, and nothing is trained."""
    rule = SplitRule(validation_share=0.3, test_share=0.2)
    recorded = get_agent("capital_lookup").load_splits(None, rule)
    default = get_agent("capital_lookup").load_splits(None)
    assert len(recorded.test) != len(default.test), "the two rules must give the test split another size"
    quick = {"lineage": "kept-split", "val_limit": 3}

    first = runs.finish(runs.start("split-first", validation_share=0.3, test_share=0.2, **quick))
    assert first.status == "succeeded"
    assert [warning.code for warning in first.warnings] == ["NothingToImprove"]
    split = runs.call("GET", "/api/lineages/kept-split")[1]["split"]
    assert (split["rule"]["validation_share"], split["rule"]["test_share"]) == (0.3, 0.2)
    assert (split["train"], split["validation"], split["test"], split["run_id"]) == (
        len(recorded.train),
        len(recorded.val),
        len(recorded.test),
        "split-first",
    )

    later = runs.finish(runs.start("split-later", **quick))
    assert later.status == "succeeded"
    assert later.champion_test_start is not None
    assert later.champion_test_start.tasks == len(recorded.test), "tested on the recorded split"
    assert runs.call("GET", "/api/lineages/kept-split")[1]["split"] == split

    refused = runs.finish(runs.start("split-other", validation_share=0.2, **quick))
    assert refused.status == "failed"
    assert refused.error is not None
    assert refused.error.code == "SplitMismatch"
    assert "validation_share 0.2 (the lineage's is 0.3)" in refused.error.message
    assert refused.baseline is None, "refused before anything was evaluated"
