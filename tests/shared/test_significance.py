"""The paired promotion bound (shared/domain/significance.py): exact where it can enumerate, sampled
above, never promoting equal models more often than the confidence allows, and the rule that stops a
run when no candidate could win."""

from __future__ import annotations

import random

import pytest

from shared.domain.significance import (
    EXACT_MAX_TASKS,
    MONTE_CARLO_DRAWS,
    Paired,
    bound,
    clears,
    pair_up,
    perfect_candidate,
)


def test_small_samples_bound_as_counted_by_hand() -> None:
    # Four tasks, each +1: flipping any non-empty set of them gives a mean of 1, so only the observed
    # pattern (1 of 16, p = 0.0625 <= 0.1) lies below any delta < 1: the lower bound is 1.
    four = bound([1.0, 1.0, 1.0, 1.0], 0.9)
    assert (four.lower, four.upper, four.difference) == (1.0, 1.0, 1.0)
    assert (four.method, four.arrangements, four.tasks) == ("sign_flip_exact", 16, 4)
    # Three tasks: the best p-value is 1/8 > 0.1, so nothing can be concluded: the bound says nothing.
    three = bound([1.0, 1.0, 1.0], 0.9)
    assert (three.lower, three.upper) == (-1.0, 1.0)
    # Mixed signs: the subset means of [0.5, -0.25, 0.25, 0.5] sorted; floor(0.1 * 16) = 1 puts the
    # bound at the smallest subset mean, -0.25.
    mixed = bound([0.5, -0.25, 0.25, 0.5], 0.9)
    assert mixed.lower == -0.25
    assert mixed.difference == 0.25
    assert mixed.upper == 0.5


def test_a_bound_clears_a_margin_only_strictly() -> None:
    ties = bound([0.0] * 10, 0.9)
    assert (ties.lower, ties.upper, ties.difference) == (0.0, 0.0, 0.0)
    assert not clears(ties, 0.0), "equal on every task is not better"
    assert clears(bound([0.5] * 10, 0.9), 0.25)
    assert not clears(bound([0.5] * 10, 0.9), 0.5)


def test_many_tasks_are_sampled_with_a_fixed_seed() -> None:
    rng = random.Random(3)
    differences = [rng.choice([-1.0, 0.0, 0.0, 1.0, 1.0]) for _ in range(EXACT_MAX_TASKS + 8)]
    first, again = bound(differences, 0.9), bound(differences, 0.9)
    assert first == again
    assert (first.method, first.arrangements) == ("sign_flip_monte_carlo", MONTE_CARLO_DRAWS + 1)
    assert first.lower < first.difference < first.upper


@pytest.mark.parametrize(("tasks", "samples"), [(8, 1), (12, 4), (24, 2)])
def test_equal_models_are_promoted_at_most_as_often_as_the_confidence_allows(
    tasks: int, samples: int
) -> None:
    """Two models with the same success chance on each task (binary rewards, chances drawn per task):
    over 250 seeded trials the lower bound clears 0 in at most 10 % of them, within sampling error."""
    rng = random.Random(tasks * 100 + samples)
    promoted = 0
    trials = 250
    for _ in range(trials):
        chances = [rng.random() for _ in range(tasks)]
        keys = [(f"t{task}", sample) for task in range(tasks) for sample in range(samples)]
        draw = {key: float(rng.random() < chances[int(key[0][1:])]) for key in keys}
        other = {key: float(rng.random() < chances[int(key[0][1:])]) for key in keys}
        promoted += clears(bound(pair_up(draw, other).differences, 0.9), 0.0)
    assert promoted / trials <= 0.1 + 3 * (0.1 * 0.9 / trials) ** 0.5


def test_a_clearly_better_model_is_bounded_above_zero() -> None:
    rng = random.Random(11)
    keys = [(f"t{task}", sample) for task in range(20) for sample in range(4)]
    better = {key: float(rng.random() < 0.85) for key in keys}
    worse = {key: float(rng.random() < 0.35) for key in keys}
    result = bound(pair_up(better, worse).differences, 0.9)
    assert result.lower > 0.25
    assert bound(pair_up(worse, better).differences, 0.9).upper < -0.25


def test_pairs_are_matched_by_task_and_sample() -> None:
    candidate = {("a", 0): 1.0, ("a", 1): 0.0, ("b", 0): 1.0, ("c", 0): 1.0}
    champion = {("a", 0): 0.0, ("a", 1): 0.0, ("b", 0): 1.0, ("d", 0): 1.0}
    paired = pair_up(candidate, champion)
    assert paired == Paired(
        differences=(0.5, 0.0), pairs=3, unpaired=2, candidate_mean=2 / 3, champion_mean=1 / 3
    )
    with pytest.raises(ValueError, match="nothing to compare"):
        bound(pair_up({("a", 0): 1.0}, {("b", 0): 1.0}).differences, 0.9)


def test_a_champion_that_leaves_no_room_stops_the_run() -> None:
    """The rule: even a candidate scoring 1 on every sample must have a lower bound above the margin.
    At 0.9 that takes at least four tasks the champion missed a sample of (2^-4 < 0.1 <= 2^-3)."""
    perfect = {(f"t{task}", sample): 1.0 for task in range(16) for sample in range(4)}
    assert not clears(bound(pair_up(perfect_candidate(perfect), perfect).differences, 0.9), 0.0)
    three_missed = {**perfect, ("t0", 0): 0.0, ("t1", 2): 0.0, ("t2", 3): 0.0}
    assert not clears(bound(pair_up(perfect_candidate(three_missed), three_missed).differences, 0.9), 0.0)
    four_missed = {**three_missed, ("t3", 1): 0.0}
    assert clears(bound(pair_up(perfect_candidate(four_missed), four_missed).differences, 0.9), 0.0)
    assert not clears(bound(pair_up(perfect_candidate(four_missed), four_missed).differences, 0.9), 0.5)
