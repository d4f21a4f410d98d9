"""Evaluations a run can trust (docs/report.md, "Promotion"): the candidate and the champion evaluated
in the same iteration on the same validation tasks and samples, the paired difference bounded, the
decision it supports; the champion's held-out test score; and the stop when no candidate could win.

Validation chooses the champion; test only reports it. The per-rollout rewards stay in Blob (the
stages' traces): the comparison activity reads them and hands back the difference and its bounds.
"""

from __future__ import annotations

from orchestrators.errors import RunEnded
from orchestrators.lineage import Start, await_approval, keep_serving
from orchestrators.orchestration import Orchestration, Stage, Step
from orchestrators.record import Promotion
from orchestrators.rollouts import (
    CHAMPION_VAL_GROUP,
    TEST_GROUP,
    VAL_GROUP,
    Evaluation,
    PairedEvaluation,
    evaluate,
    evaluate_together,
)
from shared.contracts.payloads import CompareEvaluations, PairedDifference, ReportChange
from shared.contracts.specs import COMPARE_EVALUATIONS
from shared.domain.errors import ErrorInfo
from shared.domain.report import Comparison, Decision, Headroom, HeldOutScore, shown_reward


def evaluate_pair(orch: Orchestration, candidate: str) -> Step[PairedEvaluation]:
    """Evaluates the candidate deployed as ``candidate`` and the champion (brought back first if Azure
    removed its deployment) on the same tasks and samples, then compares them; raises RunCancelled,
    StageFailed if the champion's deployment fails, or what outlasts retries; changes the champion
    only when it can no longer serve (the base model stands in, as at the run's start)."""
    champion = yield from keep_serving(orch)
    if champion is None:
        raise ValueError("a run has a champion once its baseline is evaluated")
    orch.show(Stage.EVALUATE, f"evaluating {candidate} and the champion {champion.deployment}")
    ours, theirs = yield from evaluate_together(
        orch, [(candidate, VAL_GROUP), (champion.deployment, CHAMPION_VAL_GROUP)]
    )
    paired = yield from compare(orch, ours, theirs)
    return PairedEvaluation(ours, theirs, comparison(orch, ours, theirs, paired))


def compare(
    orch: Orchestration, candidate: Evaluation | None, champion: Evaluation
) -> Step[PairedDifference]:
    """The paired difference of two evaluations (without a candidate: of the best candidate there can
    be) and its bounds at ``promotion_confidence``; raises what outlasts retries."""
    request = CompareEvaluations(
        candidate=candidate.stage if candidate is not None else None,
        champion=champion.stage,
        confidence=orch.state.settings.promotion_confidence,
    )
    return (yield from orch.call(COMPARE_EVALUATIONS, request))


def comparison(
    orch: Orchestration, candidate: Evaluation, champion: Evaluation, paired: PairedDifference
) -> Comparison:
    settings = orch.state.settings
    decision, reason = decide(candidate, champion, paired, settings.promotion_margin)
    return Comparison(
        candidate_deployment=candidate.stats.deployment,
        champion_deployment=champion.stats.deployment,
        candidate_reward=paired.candidate_reward,
        champion_reward=paired.champion_reward,
        difference=paired.difference,
        lower=paired.lower,
        upper=paired.upper,
        confidence=settings.promotion_confidence,
        margin=settings.promotion_margin,
        method=paired.method,
        arrangements=paired.arrangements,
        tasks=paired.tasks,
        samples_per_task=settings.eval_samples_per_task,
        pairs=paired.pairs,
        unpaired=paired.unpaired,
        decision=decision,
        reason=reason,
    )


def decide(
    candidate: Evaluation, champion: Evaluation, paired: PairedDifference, margin: float
) -> tuple[Decision, str]:
    """What the evaluation supports, and why in one sentence: ``incomplete_evaluation`` unless every
    rollout of both ran to an answer; ``promoted`` when the lower bound exceeds the margin; ``worse``
    when the candidate scored less than the champion on the same samples; else ``not_significant``."""
    incomplete = [
        f"{name}: {stats.failed} failed, {stats.throttled} throttled, {stats.cancelled} cancelled "
        f"of {stats.rollouts}"
        for name, stats in (("candidate", candidate.stats), ("champion", champion.stats))
        if not Evaluation(stats).complete
    ]
    if incomplete or paired.difference is None or paired.lower is None or paired.upper is None:
        detail = "; ".join(incomplete) or "no sample was scored by both"
        return "incomplete_evaluation", f"the evaluation is incomplete ({detail}): nothing is promoted on it"
    bounds = (
        f"{paired.lower:+.3f} to {paired.upper:+.3f}, one-sided at each end, on {paired.tasks} tasks "
        f"and {paired.pairs} paired samples"
    )
    if paired.lower > margin:
        return "promoted", (
            f"the difference {paired.difference:+.3f} has a lower bound of {paired.lower:+.3f}, above the "
            f"margin {margin:.3f} (bounds {bounds})"
        )
    if paired.difference < 0:
        return (
            "worse",
            f"the candidate scored {-paired.difference:.3f} less than the champion (bounds {bounds})",
        )
    return "not_significant", (
        f"the difference {paired.difference:+.3f} has a lower bound of {paired.lower:+.3f}, not above the "
        f"margin {margin:.3f} (bounds {bounds})"
    )


def judge(orch: Orchestration, deployment: str, paired: PairedEvaluation) -> Step[Promotion]:
    """Whether the candidate deployed as ``deployment`` earns the crown: what its comparison decided,
    then, with ``promotion: approval``, what someone decided in time; raises nothing; changes nothing
    but custom status."""
    comparison = paired.comparison
    if comparison.decision != "promoted" or orch.state.settings.promotion != "approval":
        return Promotion(comparison)
    decision, approval = yield from await_approval(orch, deployment, paired.candidate)
    if decision == "approval_timed_out":
        reason = f"{comparison.reason}; no decision came within approval_timeout_seconds (silence rejects)"
    elif decision == "approval_rejected":
        reason = (
            f"{comparison.reason}; rejected{f': {approval.reason}' if approval and approval.reason else ''}"
        )
    else:
        reason = f"{comparison.reason}; approved"
    return Promotion(comparison.model_copy(update={"decision": decision, "reason": reason}), approval)


def measure_headroom(orch: Orchestration, champion: Evaluation) -> Step[Headroom | None]:
    """Whether a candidate could still be promoted over ``champion`` (its complete validation
    evaluation): the lower bound of a candidate earning the highest reward on every sample; None when
    the evaluation is incomplete (nothing is concluded from it); raises what outlasts retries."""
    if not champion.complete:
        return None
    paired = yield from compare(orch, None, champion)
    settings = orch.state.settings
    best = paired.lower if paired.lower is not None else -1.0
    return Headroom(
        champion_deployment=champion.stats.deployment,
        champion_reward=champion.reward,
        tasks=paired.tasks,
        samples_per_task=settings.eval_samples_per_task,
        best_lower=best,
        margin=settings.promotion_margin,
        confidence=settings.promotion_confidence,
        room=best > settings.promotion_margin,
    )


def stop_unless_improvable(orch: Orchestration, headroom: Headroom | None) -> Step[None]:
    """Ends the run ``succeeded`` with a ``NothingToImprove`` warning, before anything is trained,
    uploaded or deployed, when no candidate could be promoted; raises RunEnded then, what outlasts
    retries otherwise."""
    if headroom is None or headroom.room:
        return
    message = (
        f"the champion {headroom.champion_deployment} scored {shown_reward(headroom.champion_reward)} on "
        f"{headroom.tasks} validation tasks x {headroom.samples_per_task} samples; a candidate scoring 1 on "
        f"every sample would have a lower bound of {headroom.best_lower:+.3f} at "
        f"{headroom.confidence:.0%}, not above promotion_margin {headroom.margin:.3f}: no candidate could be "
        "promoted, so nothing was trained"
    )
    orch.show(Stage.BASELINE, f"nothing to improve: {message}")
    yield from orch.report(ReportChange(warnings=[ErrorInfo(code="NothingToImprove", message=message)]))
    raise RunEnded("succeeded", None)


def measure_test(orch: Orchestration, champion: Start) -> Step[HeldOutScore | None]:
    """The champion's score on the lineage's test tasks (reported, never used to choose); None when the
    split has no test task; raises RunCancelled, or what outlasts retries."""
    state = orch.state
    if state.test_size == 0:
        return None
    orch.show(Stage.EVALUATE, f"testing the champion {champion.deployment} on {state.test_size} test tasks")
    result = yield from evaluate(orch, champion.deployment, TEST_GROUP, "test")
    return HeldOutScore(
        deployment=champion.deployment,
        model=champion.model,
        version=champion.version,
        reward=result.reward,
        tasks=state.test_size,
        samples_per_task=state.settings.eval_samples_per_task,
        rollouts=result.rollouts,
        failed=result.failed,
        throttled=result.throttled,
        traces_prefix=result.stats.traces_prefix,
        measured_at=orch.now(),
        input_tokens=result.stats.input_tokens,
        output_tokens=result.stats.output_tokens,
    )
