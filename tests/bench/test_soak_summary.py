"""The soak's words under its table account for every week: one that trained, one that stopped early,
and one whose rollouts brought nothing the lineage had not trained on already."""

from __future__ import annotations

from bench.soak import STOPPED, SoakResult, Week


def _week(number: int, **fields: object) -> Week:
    base = {
        "week": number,
        "status": "succeeded",
        "champion": "quote-agent_v01",
        "reason": "promoted",
        "val": 0.8,
        "deployments_at_end": 1,
        "most_deployments_alive": 2,
        "files_at_end": 0,
        "jobs_listed": 1,
        "leaked": 0,
    }
    return Week.model_validate({**base, **fields})


def test_weeks_that_learned_nothing_new_are_counted_and_named() -> None:
    result = SoakResult(
        weeks=[
            _week(1, trained=3, promoted=1, decision="promoted 1, worse 2", cost_usd=3.0),
            _week(2, stopped=True, decision=STOPPED, cost_usd=1.0),
            _week(3, status="completed_with_failures", failures=["NothingToLearn"] * 3, cost_usd=1.5),
            _week(4, status="completed_with_failures", failures=["NothingToLearn", "JobFailed"]),
        ],
        max_deployments=2,
        seconds=10.0,
        agent="quote",
    )

    assert [week.week for week in result.nothing_new_weeks] == [3]
    text = result.savings()
    assert "Of the 4 weeks, 1 trained (3 fine-tuning jobs), 1 promoted a candidate" in text
    assert "and 1 stopped after their baseline" in text
    assert " 1 weeks trained nothing because every example" in text
    assert "the first was week 3:" in text


def test_weeks_of_a_model_without_a_price_say_so_instead_of_zero_dollars() -> None:
    result = SoakResult(
        weeks=[
            _week(1, trained=3, promoted=1, decision="promoted 1"),
            _week(2, stopped=True, decision=STOPPED),
        ],
        max_deployments=2,
        seconds=10.0,
        agent="quote",
    )

    assert not result.priced
    assert "No week's cost is estimated" in result.savings()
    assert "$0.0000" not in result.savings()
    assert "saved_usd=unpriced" in result.summary()


def test_without_a_price_the_savings_are_counted_in_trained_tokens() -> None:
    result = SoakResult(
        weeks=[
            _week(1, trained=3, trained_tokens=30_000, decision="promoted 1"),
            _week(2, trained=2, trained_tokens=10_000, decision="worse 2"),
            _week(3, stopped=True, decision=STOPPED),
            _week(4, status="completed_with_failures", failures=["NothingToLearn"] * 3),
        ],
        max_deployments=2,
        seconds=10.0,
        agent="quote",
    )

    assert "a week that trained trained 20,000 tokens on average" in result.savings()
    assert "the 2 weeks that stopped or learned nothing new trained none, about 40,000 trained tokens" in (
        result.savings()
    )
