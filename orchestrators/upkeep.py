"""Lineage upkeep between runs: bring the champion back after Azure removed its deployment, or make the
previous champion current again (a rollback), redeploying it if it is gone.

An upkeep holds the lineage like a run does (one at a time, never beside a run) and leaves a report of
its own at ``runs/{upkeep_id}/report.json`` (``kind: upkeep``), so what it did is on the record.
"""

from __future__ import annotations

from typing import Any

import azure.durable_functions as df

from orchestrators.errors import RunEnded
from orchestrators.lineage import Start, adopt, champion_from, claim, crown, release, serve
from orchestrators.orchestration import Orchestration, Stage, Step, call_activity
from shared.contracts.payloads import (
    InitRun,
    LineageClaim,
    ReportChange,
    RunState,
    UpkeepOutput,
    UpkeepRequest,
)
from shared.contracts.specs import INIT_RUN
from shared.domain.errors import ErrorInfo
from shared.domain.report import RunStatus

bp = df.Blueprint()

UPKEEP_NAME = "lineage_upkeep"


@bp.orchestration_trigger(context_name="context", orchestration=UPKEEP_NAME)
def lineage_upkeep(context: df.DurableOrchestrationContext) -> Step[dict[str, Any]]:
    """Runs one upkeep operation on a lineage; ends early (report first) when the lineage is busy or
    has nothing to do it on; raises what outlasts retries; returns its ``UpkeepOutput`` as JSON (the
    Durable extension stores an orchestration's output as JSON)."""
    request = UpkeepRequest.model_validate(context.get_input())
    state = RunState(run_id=request.upkeep_id, settings=request.settings, started_at=request.started_at)
    orch = Orchestration(context, state, cancellable=False)
    init = InitRun(
        run_id=state.run_id,
        instance_id=context.instance_id,
        settings=state.settings,
        started_at=state.started_at,
        kind="upkeep",
    )
    yield from call_activity(context, INIT_RUN, init, orch.retry)
    status: RunStatus = "succeeded"
    error: ErrorInfo | None = None
    try:
        lineage = yield from claim(orch)
        if request.operation == "redeploy":
            yield from redeploy_champion(orch, lineage)
        else:
            yield from roll_back(orch, lineage)
    except RunEnded as ended:
        status, error = ended.status, ended.error
    yield from release(orch)
    closing = ReportChange(status=status, finished_at=orch.now(), error=error, account=state.account)
    yield from orch.report(closing)
    champion = state.champion
    output = UpkeepOutput(
        upkeep_id=state.run_id, status=status, champion=champion.deployment if champion else None
    )
    return output.model_dump(mode="json")


def redeploy_champion(orch: Orchestration, lineage: LineageClaim) -> Step[None]:
    """Brings the champion's deployment back if Azure removed it and waits until it serves; raises
    RunEnded when the lineage has no champion or its model is gone; changes nothing in the lineage."""
    champion = lineage.champion
    if champion is None:
        raise RunEnded(
            "failed", ErrorInfo(code="NoChampion", message=f"lineage {orch.state.lineage} has none yet")
        )
    orch.show(Stage.DEPLOY, f"making sure {champion.deployment} serves {champion.model}")
    start = Start(champion.model, champion.deployment, champion.version, "champion")
    served = yield from serve(orch, start)
    if served.fallback_from is not None:
        message = (
            f"the champion's model {champion.model} cannot be deployed again; start a run to find a new one"
        )
        raise RunEnded("failed", ErrorInfo(code="ChampionUnavailable", message=message))
    yield from adopt(orch, champion, champion.val_reward)


def roll_back(orch: Orchestration, lineage: LineageClaim) -> Step[None]:
    """Makes the previous champion current, redeploying it if it is gone; raises RunEnded when there is
    no previous champion or its model is gone; changes the lineage's champion."""
    previous = lineage.previous_champion
    if previous is None:
        message = f"lineage {orch.state.lineage} has had no other champion to go back to"
        raise RunEnded("failed", ErrorInfo(code="NothingToRollBackTo", message=message))
    orch.show(Stage.PROMOTE, f"rolling back to {previous.model} ({previous.deployment})")
    start = Start(previous.model, previous.deployment, previous.version, "previous champion")
    served = yield from serve(orch, start)
    if served.fallback_from is not None:
        message = f"the previous champion's model {previous.model} cannot be deployed again"
        raise RunEnded("failed", ErrorInfo(code="ChampionUnavailable", message=message))
    orch.state.champion = lineage.champion
    yield from crown(orch, champion_from(orch, served, previous.val_reward, "rollback"), previous.val_reward)
