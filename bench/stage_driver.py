"""One rollout stage, or one paired evaluation, as the run orchestrator runs it, on its own: for the
benchmarks and the stage and evaluation tests.

``build_app()`` registers the app's rollout and evaluation activities, the deployment-limits activity
and the rollout stage's orchestrators, plus two drivers that do what the run orchestrator does:
``stage_driver`` runs a stage (``orchestrators.rollouts.roll_out`` with the run's own
``Orchestration``) and returns its ``RolloutStats``; ``evaluation_driver`` evaluates two deployments
side by side on the validation tasks and samples and compares them (``evaluate_together``,
``compare`` and ``comparison`` of orchestrators/evaluation.py), returning the ``Comparison`` an
iteration records. Import it after the app settings are in the environment.
"""

from __future__ import annotations

from typing import Any, Literal

import azure.durable_functions as df
from pydantic import BaseModel, Field

from activities.deployments import bp as deployment_activities
from activities.evaluations import bp as evaluation_activities
from activities.rollouts import bp as rollout_activities
from orchestrators.evaluation import compare, comparison
from orchestrators.orchestration import Orchestration, Step
from orchestrators.rollout_stage import bp as rollout_orchestrators
from orchestrators.rollouts import CHAMPION_VAL_GROUP, VAL_GROUP, TaskRange, evaluate_together, roll_out
from shared.agents import get_agent
from shared.contracts.payloads import RunState
from shared.domain.settings import get_settings

DRIVER = "stage_driver"
EVALUATION_DRIVER = "evaluation_driver"


class StageRun(BaseModel):
    """A stage to drive: ``count`` tasks of ``split`` (cycling through ``modulo`` of them)."""

    run_id: str
    group: str
    deployment: str
    count: int
    modulo: int
    split: Literal["train", "val"] = "train"
    iteration: int = 1
    settings: dict[str, Any] = Field(default_factory=dict, description="RunSettings overrides")


def stage_instance(run: StageRun) -> str:
    """The stage's sub-orchestration id (``orchestrators.rollout_stage.stage_instance_id``)."""
    return f"{run.run_id}:rollouts:{run.iteration:02d}:{run.group}"


class EvaluationRun(BaseModel):
    """Two deployments to evaluate side by side as an iteration does: ``candidate`` against
    ``champion`` (the same deployment twice: two draws of one model)."""

    run_id: str
    candidate: str
    champion: str
    iteration: int = 1
    settings: dict[str, Any] = Field(default_factory=dict, description="RunSettings overrides")


def build_app() -> df.DFApp:
    app = df.DFApp()
    for blueprint in (
        rollout_activities,
        evaluation_activities,
        deployment_activities,
        rollout_orchestrators,
    ):
        app.register_functions(blueprint)

    @app.orchestration_trigger(context_name="context", orchestration=EVALUATION_DRIVER)
    def evaluation_driver(context: df.DurableOrchestrationContext) -> Step[dict[str, Any]]:
        run = EvaluationRun.model_validate(context.get_input())
        settings = get_settings().run_settings(run.settings)
        splits = get_agent(settings.agent).load_splits(settings.dataset, settings.split_rule())
        state = RunState(
            run_id=run.run_id,
            settings=settings,
            started_at="driver",
            iteration=run.iteration,
            split=settings.split_rule(),
            train_size=len(splits.train),
            val_size=len(splits.val),
            test_size=len(splits.test),
        )
        orch = Orchestration(context, state)
        groups = [(run.candidate, VAL_GROUP), (run.champion, CHAMPION_VAL_GROUP)]
        candidate, champion = yield from evaluate_together(orch, groups)
        paired = yield from compare(orch, candidate, champion)
        return comparison(orch, candidate, champion, paired).model_dump(mode="json")

    @app.orchestration_trigger(context_name="context", orchestration=DRIVER)
    def stage_driver(context: df.DurableOrchestrationContext) -> Step[dict[str, Any]]:
        run = StageRun.model_validate(context.get_input())
        settings = get_settings().run_settings(run.settings)
        state = RunState(run_id=run.run_id, settings=settings, started_at="driver", iteration=run.iteration)
        tasks = TaskRange(0, run.count, run.modulo)
        stats = yield from roll_out(
            Orchestration(context, state), run.group, run.split, tasks, run.deployment
        )
        return stats.model_dump(mode="json")

    return app
