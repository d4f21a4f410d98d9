"""One rollout stage as the run orchestrator runs it, on its own: for the benchmarks and the stage tests.

``build_app()`` registers the app's rollout activities, the deployment-limits activity and the rollout
stage's orchestrators, plus ``stage_driver``, an orchestrator that does what the run orchestrator does
for a stage (``orchestrators.rollouts.roll_out`` with the run's own ``Orchestration``) and returns the
stage's ``RolloutStats``. Import it after the app settings are in the environment.
"""

from __future__ import annotations

from typing import Any, Literal

import azure.durable_functions as df
from pydantic import BaseModel, Field

from activities.deployments import bp as deployment_activities
from activities.rollouts import bp as rollout_activities
from orchestrators.orchestration import Orchestration, Step
from orchestrators.rollout_stage import bp as rollout_orchestrators
from orchestrators.rollouts import TaskRange, roll_out
from shared.contracts.payloads import RunState
from shared.domain.settings import get_settings

DRIVER = "stage_driver"


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


def build_app() -> df.DFApp:
    app = df.DFApp()
    for blueprint in (rollout_activities, deployment_activities, rollout_orchestrators):
        app.register_functions(blueprint)

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
