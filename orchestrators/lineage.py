"""The run's place in its lineage: claiming it, choosing where to start, and crowning champions.

Runs of one lineage continue its version counter and start from its champion; a candidate becomes
champion only if its complete evaluation beats the champion's, measured beside it on the same
validation tasks and samples, with a lower bound above ``promotion_margin`` (orchestrators/evaluation.py)
and, with ``promotion: approval``, someone approves it in time.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import timedelta
from typing import Literal

from orchestrators.deployment import ensure_serving, provision, retire, wait_until_serving
from orchestrators.errors import RunEnded, StageFailed
from orchestrators.orchestration import Orchestration, Stage, Step
from orchestrators.rollouts import Evaluation
from shared.contracts.payloads import (
    ClaimLineage,
    CrownChampion,
    LineageClaim,
    ReleaseLineage,
    ReportChange,
    SplitRequest,
)
from shared.contracts.progress import AwaitingApproval
from shared.contracts.specs import CLAIM_LINEAGE, CROWN_LINEAGE_CHAMPION, RELEASE_LINEAGE
from shared.domain.errors import ErrorInfo
from shared.domain.lineage import (
    BASE_VERSION,
    Approval,
    Champion,
    ChampionReason,
    champion_deployment_name,
    deployment_name,
)
from shared.domain.report import Decision

APPROVE, REJECT = "approve", "reject"


@dataclass(frozen=True)
class Start:
    """A model to start from, the deployment that serves it, its lineage version (None: not known here),
    what it is (base, champion, latest, candidate) and, when it replaced one that could not serve, what
    that was."""

    model: str
    deployment: str
    version: int | None
    label: str
    fallback_from: str | None = None


def claim(orch: Orchestration, base_model: str | None = None, *, tasks: bool = False) -> Step[LineageClaim]:
    """Makes the run the lineage's active run; raises RunEnded(failed) if another run holds it; loads
    the lineage's champion and live candidate deployments into the state. With ``tasks`` (a run, not an
    upkeep) the answer also carries the lineage's split (recorded now, from the run's settings, if it
    had none) and the sizes it gives the agent's tasks. A run that trains ``base_model`` (upkeep trains
    nothing) rebases the lineage when its newest chain has another base: the lineage records it, and so
    does the report."""
    state = orch.state
    settings = state.settings
    split = SplitRequest(agent=settings.agent, dataset=settings.dataset, rule=settings.split_rule())
    request = ClaimLineage(
        lineage=state.lineage,
        deployment_prefix=settings.deployment_prefix,
        run_id=state.run_id,
        instance_id=orch.context.instance_id,
        since=orch.now(),
        take_over=state.take_over,
        split=split if tasks else None,
        base_model=base_model,
    )
    answer = yield from orch.call(CLAIM_LINEAGE, request)
    if not answer.claimed:
        message = f"lineage {state.lineage} is held by run {answer.holder}; start this run when it ends"
        raise RunEnded("failed", ErrorInfo(code="LineageBusy", message=message))
    state.champion, state.deployments = answer.champion, answer.deployments
    if answer.rebase is not None:
        rebase = answer.rebase
        orch.show(Stage.BASELINE, f"rebasing lineage {state.lineage}: {rebase.from_base} -> {rebase.to_base}")
        yield from orch.report(ReportChange(rebase=rebase))
    return answer


def release(orch: Orchestration) -> Step[None]:
    """Frees the lineage for its next run; raises what outlasts retries; changes the lineage."""
    request = ReleaseLineage(lineage=orch.state.lineage, run_id=orch.state.run_id)
    yield from orch.perform(RELEASE_LINEAGE, request)


def base_start(orch: Orchestration) -> Start:
    """The lineage's version 0: ``base_deployment`` and the model it serves (a teacher, when the run
    distils: orchestrators/lifecycle.py)."""
    state, settings = orch.state, orch.state.settings
    model = state.teacher_model or settings.base_model or ""
    return Start(model, settings.base_deployment or "", BASE_VERSION, "base")


def choose_start(orch: Orchestration, lineage: LineageClaim) -> Start:
    """``start_from``: the champion (the default once the lineage has one), the latest model, or base."""
    wanted = orch.state.settings.start_from or ("champion" if lineage.champion else "base")
    if wanted == "champion" and lineage.champion is not None:
        champion = lineage.champion
        return Start(champion.model, champion.deployment, champion.version, "champion")
    latest = lineage.latest
    if wanted == "latest" and latest is not None and latest.model is not None:
        name = latest.deployment or deployment_name(orch.state.settings.deployment_prefix, latest.version)
        return Start(latest.model, name, latest.version, "latest")
    return base_start(orch)


def serve(orch: Orchestration, start: Start, fallback: Start | None = None) -> Step[Start]:
    """Makes sure the start's deployment serves, redeploying it if Azure removed it; raises nothing;
    when it cannot be brought back, falls back to ``fallback`` (the base model unless given), with a
    warning in the report. The run's own base deployment is taken as it is (preflight checks it); a
    version 0 on another deployment (an earlier base or teacher, perhaps retired since) is checked."""
    if start.version == BASE_VERSION and start.deployment == orch.state.settings.base_deployment:
        return start
    try:
        yield from ensure_serving(orch, start.deployment, start.model)
    except StageFailed as failed:
        instead = fallback or base_start(orch)
        reason = failed.error.message
        message = f"the {start.label} {start.model} cannot serve ({reason}); {instead.model} is used instead"
        yield from orch.report(ReportChange(warnings=[ErrorInfo(code="ModelUnavailable", message=message)]))
        return replace(instead, fallback_from=start.label)
    return start


def keep_serving(orch: Orchestration) -> Step[Start | None]:
    """Leaves the lineage with a champion that serves: redeploys it if Azure removed it, else crowns
    the base model (with a warning); raises what outlasts retries; returns where the champion serves
    (None: the run has none yet)."""
    champion = orch.state.champion
    if champion is None:
        return None
    start = Start(champion.model, champion.deployment, champion.version, "champion")
    served = yield from serve(orch, start)
    if served.fallback_from is not None:
        yield from crown(orch, champion_from(orch, served, None, "fallback"), None)
    return served


def crown(orch: Orchestration, champion: Champion, reward: float | None) -> Step[None]:
    """Makes ``champion`` the lineage's champion; raises what outlasts retries; changes the state's
    champion and the report's."""
    request = CrownChampion(lineage=orch.state.lineage, champion=champion)
    yield from orch.perform(CROWN_LINEAGE_CHAMPION, request)
    yield from adopt(orch, champion, reward)


def adopt(orch: Orchestration, champion: Champion, reward: float | None) -> Step[None]:
    """Keeps the lineage's champion and notes this run's measurement of it; raises what outlasts
    retries; changes the state and the report, not the lineage."""
    orch.state.champion, orch.state.champion_reward = champion, reward
    yield from orch.report(
        ReportChange(
            champion=champion,
            promoted_deployment=champion.deployment,
            promoted_model=champion.model,
            promoted_val_reward=reward,
        )
    )


def champion_from(
    orch: Orchestration,
    start: Start,
    reward: float | None,
    reason: ChampionReason,
    approval: Approval | None = None,
) -> Champion:
    if start.version is None:
        raise ValueError(f"{start.model} has no lineage version: only a version of the lineage is crowned")
    return Champion(
        version=start.version,
        model=start.model,
        deployment=start.deployment,
        val_reward=reward,
        since=orch.now(),
        run_id=orch.state.run_id,
        reason=reason,
        approval=approval,
    )


def promote(
    orch: Orchestration,
    model: str,
    deployment: str,
    version: int,
    reward: float | None,
    approval: Approval | None = None,
) -> Step[None]:
    """Crowns the iteration's model (lineage ``version``, deployed as ``deployment``), deployed again
    first on ``champion_sku_name`` when the lineage serves its champion there (then the previous
    champion's deployment goes); raises StageFailed if that deployment fails; changes the lineage's
    champion (with the ``approval`` that let it take over, if one did), the state's and the
    report's."""
    state = orch.state
    start = Start(model, deployment, version, "candidate")
    if state.settings.champion_sku_name:
        start = yield from deploy_champion(orch, start, version)
    previous = state.champion
    yield from crown(orch, champion_from(orch, start, reward, "promoted", approval), reward)
    if previous is not None and previous.deployment != start.deployment and is_champion_deployment(previous):
        yield from retire(orch, [previous.deployment])


def is_champion_deployment(champion: Champion) -> bool:
    return "_champion_v" in champion.deployment


def deploy_champion(orch: Orchestration, candidate: Start, version: int) -> Step[Start]:
    """Deploys the new champion on the billed ``champion_sku_name``; raises StageFailed if it does not
    serve; returns where it serves."""
    settings = orch.state.settings
    name = champion_deployment_name(settings.deployment_prefix, version)
    orch.show(Stage.PROMOTE, f"deploying champion {candidate.model} as {name} ({settings.champion_sku_name})")
    sku = (settings.champion_sku_name or "", settings.champion_sku_capacity)
    yield from provision(orch, name, candidate.model, sku=sku)
    yield from wait_until_serving(orch, name)
    return Start(candidate.model, name, version, "champion")


def await_approval(
    orch: Orchestration, deployment: str, candidate: Evaluation
) -> Step[tuple[Decision, Approval | None]]:
    """Waits for POST /api/runs/{run_id}/approve or /reject up to ``approval_timeout_seconds``; silence
    is a reject; raises nothing; changes nothing but custom status; returns the outcome and the
    decision the event carried (its reason and who sent it)."""
    context, settings = orch.context, orch.state.settings
    deadline = context.current_utc_datetime + timedelta(seconds=settings.approval_timeout_seconds)
    orch.show(
        Stage.PROMOTE,
        f"waiting until {deadline.isoformat()} for approval of {deployment}",
        awaiting=AwaitingApproval(
            approval=deployment,
            val_reward=candidate.reward,
            champion_val_reward=orch.state.champion_reward,
            deadline=deadline.isoformat(),
        ),
    )
    approve, reject = context.wait_for_external_event(APPROVE), context.wait_for_external_event(REJECT)
    timeout = context.create_timer(deadline)
    winner = yield from orch.race(approve, reject, timeout)
    orch.stop_awaiting()
    if winner is timeout:
        return "approval_timed_out", None
    timeout.cancel()
    decision: Literal["approve", "reject"] = "approve" if winner is approve else "reject"
    return ("promoted" if winner is approve else "approval_rejected"), Approval.of_event(
        winner.result, decision
    )
