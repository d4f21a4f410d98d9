"""Pure pieces of the orchestration: the batch iterator and polling intervals."""

from __future__ import annotations

from orchestrators.iteration import batch_range
from orchestrators.orchestration import backoff


def test_batches_cycle_through_the_training_split() -> None:
    assert batch_range(50, 1, 24).indices() == list(range(24))
    assert batch_range(50, 2, 24).indices() == list(range(24, 48))
    assert batch_range(50, 3, 24).indices() == [48, 49, *range(22)]
    assert batch_range(10, 1, 24).indices() == [k % 10 for k in range(24)]


def test_job_polling_backs_off_up_to_the_cap() -> None:
    interval = backoff(30, 600)
    assert [interval(k) for k in range(7)] == [30, 60, 120, 240, 480, 600, 600]
    assert interval(10_000) == 600
