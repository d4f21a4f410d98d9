"""Paired promotion: how sure we are that a candidate beats the champion, from rewards of both on the
same validation tasks and samples (docs/report.md, "Promotion").

The statistic is the mean over tasks of the task-level difference ``d_i`` (the candidate's mean reward
on task i's samples minus the champion's on the same samples). Its one-sided lower confidence bound
comes from the sign-flip randomization test inverted: under the hypothesis that the candidate and the
champion are the same model, which of the two produced a task's rewards is a coin toss, so every
``d_i`` is as likely negative as positive and each of the ``2^n`` sign patterns is equally likely. The
test is exact under that hypothesis for any n and any rewards in [0, 1] (binary or fractional), needs no
normal approximation, and is computed exactly while ``2^n`` is small (``EXACT_MAX_TASKS``), else from a
fixed-seed Monte Carlo sample of sign patterns (still a valid test: Phipson & Smyth 2010, "Permutation
p-values should never be zero").

Inverting the test for a shift ``delta`` gives the bound without a search: the patterns with
``sum(s_i * (d_i - delta)) >= sum(d_i - delta)`` are those whose flipped set S has
``mean(d_S) <= delta`` (or S empty), so the bound at confidence c is an order statistic of the subset
means: the smallest delta not rejected at level ``1 - c`` (Hartigan 1969, "Using subsample values as
typical values"). ``lower > margin`` is exactly "the test rejects 'no better than margin'". At margin 0
the false-promotion rate of two equal models is at most ``1 - confidence``; for a margin above 0 the
bound also assumes the differences are symmetric around their mean.

Pure: no I/O, no clock, no unseeded randomness.
"""

from __future__ import annotations

import math
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

EXACT_MAX_TASKS = 16
"""Up to 2^16 = 65,536 sign patterns are enumerated (well under a second in pure Python); above, sampled."""
MONTE_CARLO_DRAWS = 19_999
"""Sampled sign patterns: with the observed one, 20,000 arrangements; the p-value's Monte Carlo error
at 0.1 is about 0.002."""
MONTE_CARLO_SEED = 19
"""The sampler's seed: the same rewards always give the same bound (a replayed activity agrees)."""
MAX_REWARD = 1.0
"""Rewards lie in [0, 1] (docs/agents.md), so a difference lies in [-1, 1]: a bound that says nothing
is reported as -1 (lower) or 1 (upper), never as an infinity JSON cannot carry."""

Method = Literal["sign_flip_exact", "sign_flip_monte_carlo"]
SampleKey = tuple[str, int]
"""A rollout's place in an evaluation: (task id, sample number)."""


@dataclass(frozen=True)
class Bound:
    """The mean task-level difference and its one-sided bounds, each at ``confidence``."""

    tasks: int
    difference: float
    lower: float
    upper: float
    confidence: float
    method: Method
    arrangements: int
    """Sign patterns the bounds rest on: 2^n when exact, the draws plus the observed one otherwise."""


@dataclass(frozen=True)
class Paired:
    """Two evaluations' rewards matched by (task, sample): the per-task mean differences, the pairs
    they rest on, and the samples only one side has (a throttled rollout is never scored)."""

    differences: tuple[float, ...]
    pairs: int
    unpaired: int
    candidate_mean: float | None
    champion_mean: float | None


def pair_up(candidate: Mapping[SampleKey, float], champion: Mapping[SampleKey, float]) -> Paired:
    """Matches the two evaluations' rewards by (task, sample); a task's difference is the mean over its
    paired samples of the candidate's reward minus the champion's. Tasks in sorted id order."""
    shared = sorted(set(candidate) & set(champion))
    by_task: dict[str, list[float]] = {}
    for key in shared:
        by_task.setdefault(key[0], []).append(candidate[key] - champion[key])
    differences = tuple(sum(values) / len(values) for _, values in sorted(by_task.items()))
    return Paired(
        differences=differences,
        pairs=len(shared),
        unpaired=len(set(candidate) ^ set(champion)),
        candidate_mean=_mean([candidate[key] for key in shared]),
        champion_mean=_mean([champion[key] for key in shared]),
    )


def perfect_candidate(champion: Mapping[SampleKey, float]) -> dict[SampleKey, float]:
    """The rewards of the best candidate there can be: the highest reward on every sample the champion
    was evaluated on. If even its lower bound does not clear the margin, no candidate can."""
    return dict.fromkeys(champion, MAX_REWARD)


def bound(differences: Sequence[float], confidence: float) -> Bound:
    """The mean of ``differences`` with its lower and upper one-sided bounds at ``confidence`` (each
    holds with at least that probability under the sign-flip hypothesis)."""
    if not differences:
        raise ValueError("no task has a paired sample: nothing to compare")
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must lie strictly between 0 and 1, got {confidence}")
    means, method = _arrangement_means(differences)
    # The observed pattern (nothing flipped) is the lowest value in both directions.
    lower = _order_statistic([-math.inf if mean is None else mean for mean in means], confidence)
    upper = -_order_statistic([-math.inf if mean is None else -mean for mean in means], confidence)
    return Bound(
        tasks=len(differences),
        difference=round(sum(differences) / len(differences), 6),
        lower=round(max(-MAX_REWARD, lower), 6) + 0.0,
        upper=round(min(MAX_REWARD, upper), 6) + 0.0,  # + 0.0: never -0.0
        confidence=confidence,
        method=method,
        arrangements=len(means),
    )


def clears(result: Bound, margin: float) -> bool:
    """Whether the lower bound exceeds ``margin``: the test rejects "better by at most ``margin``"."""
    return result.lower > margin


def _order_statistic(values: list[float], confidence: float) -> float:
    """The smallest shift the sign-flip test does not reject at ``1 - confidence``: with the values of
    every arrangement sorted, the one at position ``floor(alpha * N)`` counting from 0."""
    alpha = 1 - confidence
    # Rounded first: 1 - 0.9 is 0.0999..., which would move the order statistic by one.
    position = math.floor(round(alpha * len(values), 9))
    values.sort()
    return values[position]


CHUNK = 8
"""Tasks per lookup table: a sign pattern's flipped sum is one table lookup per eight tasks."""


def _arrangement_means(differences: Sequence[float]) -> tuple[list[float | None], Method]:
    """For each sign pattern (as a bit mask over the tasks), the mean of the differences it flips
    (None when it flips none): all ``2^n`` of them, or the observed one and ``MONTE_CARLO_DRAWS`` drawn."""
    n = len(differences)
    if n <= EXACT_MAX_TASKS:
        return [
            total / size if size else None for total, size in _subset_sums(differences)
        ], "sign_flip_exact"
    tables = [_subset_sums(differences[start : start + CHUNK]) for start in range(0, n, CHUNK)]

    def mean(mask: int) -> float | None:
        total, count = 0.0, 0
        for index, table in enumerate(tables):
            part, size = table[mask >> (index * CHUNK) & 0xFF]
            total, count = total + part, count + size
        return total / count if count else None

    rng = random.Random(MONTE_CARLO_SEED)
    return [None, *(mean(rng.getrandbits(n)) for _ in range(MONTE_CARLO_DRAWS))], "sign_flip_monte_carlo"


def _subset_sums(values: Sequence[float]) -> list[tuple[float, int]]:
    """The sum and size of every subset of ``values``, indexed by its bit mask."""
    sums: list[tuple[float, int]] = [(0.0, 0)]
    for value in values:
        sums += [(total + value, size + 1) for total, size in sums]
    return sums


def _mean(values: Sequence[float]) -> float | None:
    return sum(values) / len(values) if values else None
