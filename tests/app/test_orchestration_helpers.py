"""Pure pieces of the orchestration: the batch iterator, polling intervals and promotion decisions."""

from __future__ import annotations

from orchestrators.evaluation import decide
from orchestrators.iteration import batch_range
from orchestrators.orchestration import backoff
from orchestrators.rollouts import Evaluation
from shared.contracts.payloads import PairedDifference
from shared.domain.report import RolloutStats, promotion_of


def test_batches_cycle_through_the_training_split() -> None:
    assert batch_range(50, 1, 24).indices() == list(range(24))
    assert batch_range(50, 2, 24).indices() == list(range(24, 48))
    assert batch_range(50, 3, 24).indices() == [48, 49, *range(22)]
    assert batch_range(10, 1, 24).indices() == [k % 10 for k in range(24)]


def test_job_polling_backs_off_up_to_the_cap() -> None:
    interval = backoff(30, 600)
    assert [interval(k) for k in range(7)] == [30, 60, 120, 240, 480, 600, 600]
    assert interval(10_000) == 600


def stats(group: str, rollouts: int, **counts: int) -> Evaluation:
    values = {"ok": rollouts, **counts}
    return Evaluation(
        RolloutStats(
            group=group,
            deployment=group,
            traces_prefix=f"t/{group}/",
            rollouts=rollouts,
            reward=0.5,
            **values,
        )
    )


def paired(difference: float, lower: float, upper: float) -> PairedDifference:
    return PairedDifference(tasks=16, pairs=16, difference=difference, lower=lower, upper=upper)


def test_a_decision_says_what_the_bound_supports_and_why() -> None:
    candidate, champion = stats("val", 16), stats("champion-val", 16)
    assert decide(candidate, champion, paired(0.2, 0.05, 0.35), 0.0)[0] == "promoted"
    assert decide(candidate, champion, paired(0.2, 0.05, 0.35), 0.05)[0] == "not_significant"
    assert decide(candidate, champion, paired(0.0, -0.1, 0.1), 0.0)[0] == "not_significant"
    decision, reason = decide(candidate, champion, paired(-0.1, -0.2, 0.0), 0.0)
    assert decision == "worse"
    assert reason == (
        "the candidate scored 0.100 less than the champion (bounds -0.200 to +0.000, one-sided at each end, "
        "on 16 tasks and 16 paired samples)"
    )
    throttled = stats("champion-val", 16, ok=15, throttled=1)
    decision, reason = decide(candidate, throttled, paired(0.5, 0.4, 0.6), 0.0)
    assert decision == "incomplete_evaluation"
    assert "champion: 0 failed, 1 throttled, 0 cancelled of 16" in reason
    assert decide(candidate, champion, PairedDifference(), 0.0)[0] == "incomplete_evaluation"


def test_the_decision_keeps_the_promotion_field_older_readers_know() -> None:
    assert [promotion_of(d, True) for d in ("promoted", "not_significant", "worse")] == [
        "promoted",
        "not_better",
        "not_better",
    ]
    assert promotion_of("approval_rejected", True) == "rejected"
    assert promotion_of("approval_timed_out", True) == "approval_timed_out"
    assert promotion_of("incomplete_evaluation", True) == "incomplete_evaluation"
    assert promotion_of("incomplete_evaluation", False) == "not_evaluated"
