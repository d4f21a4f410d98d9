"""What a run trains from and on, when base models retire: a teacher deployment (distillation), a new base
model for an existing lineage (a rebase), models that cannot be fine-tuned again (training from the base
on the lineage's accumulated examples).

- The model a job starts from (``training_parent``): the run's current model when it continues the chain
  of ``base_model`` and the profile allows fine-tuning a fine-tuned model (``continue_from`` latest or
  champion), else ``base_model`` itself. So a run whose rollouts come from a teacher, or from the champion
  of another chain (a rebase), trains ``base_model``, never the teacher.
- A job that starts from the base model trains on the lineage's kept examples so far
  (``accumulation``), built by the dataset activity from Blob: the orchestrator passes only the lineage's
  name and the bound.
- ``base_deployment`` may serve another model than ``base_model`` (``identify_teacher``): the run then
  distils that teacher's rewarded traces into ``base_model``, and its baseline is the teacher's score.
"""

from __future__ import annotations

from orchestrators.orchestration import Orchestration, Stage, Step
from shared.contracts.payloads import Accumulation, DeploymentRef, RunState
from shared.contracts.specs import GET_DEPLOYMENT
from shared.domain.models import descends_from, profile_of


def training_parent(state: RunState) -> str:
    """The model the run's next job starts from (see the module docstring)."""
    settings = state.settings
    base = settings.base_model or ""
    profile = profile_of(base)
    chained = profile is None or profile.from_fine_tuned
    if settings.continue_from == "base" or not chained or not descends_from(state.current_model, base):
        return base
    return state.current_model


def accumulation(state: RunState) -> Accumulation | None:
    """The lineage's earlier examples for a job that starts from the base model; None for a job that
    continues a fine-tuned model (it has learned them)."""
    if training_parent(state) != state.settings.base_model:
        return None
    return Accumulation(lineage=state.lineage, max_examples=state.settings.max_training_examples)


def rebasing_to(state: RunState) -> str | None:
    """The run's base model while the lineage's champion is a model fine-tuned from another base (a rebase
    whose candidates have not beaten it yet), else None."""
    champion, base = state.champion, state.settings.base_model or ""
    if champion is None or champion.version == 0 or descends_from(champion.model, base):
        return None
    return base


def identify_teacher(orch: Orchestration) -> Step[None]:
    """Reads which model ``base_deployment`` serves (ARM); when it is not ``base_model``, notes it as the
    run's teacher, so the base model's start and its baseline name the model that really answers."""
    state, settings = orch.state, orch.state.settings
    deployment = settings.base_deployment or ""
    answer = yield from orch.call(GET_DEPLOYMENT, DeploymentRef(name=deployment))
    served = answer.model
    if served is None or served == settings.base_model:
        return
    state.teacher_model = served
    orch.show(
        Stage.BASELINE,
        f"distillation: {deployment} serves {served}; its rewarded traces train {settings.base_model}",
    )
