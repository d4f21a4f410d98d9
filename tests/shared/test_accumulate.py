"""The lineage's kept examples, accumulated for a job from the base model (shared/domain/accumulate.py), and
the lifecycle's warnings (shared/domain/lifecycle.py): pure functions, no I/O."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TypedDict

from shared.domain.accumulate import (
    KeptExample,
    accumulate,
    kept_jsonl,
    legacy_kept,
    read_kept,
    training_jsonl,
)
from shared.domain.lifecycle import LifecycleView, ModelDates, retirement_warnings


def kept(run_id: str, iteration: int, *answers: str) -> list[KeptExample]:
    return [
        KeptExample(
            run_id=run_id,
            iteration=iteration,
            trace=f"traces/{run_id}/{iteration:02d}/train/{index}.jsonl",
            call=0,
            reward=1.0 - index / 10,
            source="rollouts",
            example={
                "messages": [{"role": "user", "content": "q"}, {"role": "assistant", "content": answer}]
            },
        )
        for index, answer in enumerate(answers)
    ]


def answers(examples: list[KeptExample]) -> list[str]:
    return [item.example["messages"][1]["content"] for item in examples]


def test_own_first_then_newest_each_once_within_the_bound() -> None:
    own = kept("run-b", 2, "x", "y")
    earlier = [kept("run-b", 1, "y", "z"), kept("run-a", 3, "w", "v", "u")]

    chosen, stats = accumulate(own, earlier, max_examples=4)

    assert answers(chosen) == ["x", "y", "z", "w"]
    assert [(item.run_id, item.iteration) for item in chosen] == [
        ("run-b", 2),
        ("run-b", 2),
        ("run-b", 1),
        ("run-a", 3),
    ]
    assert (stats.own, stats.new, stats.earlier, stats.duplicates, stats.over_limit) == (2, 1, 2, 1, 2)
    assert [(share.run_id, share.iterations, share.examples) for share in stats.runs] == [
        ("run-b", [1, 2], 3),
        ("run-a", [3], 1),
    ]


def test_an_iteration_that_adds_nothing_new_says_so() -> None:
    chosen, stats = accumulate(kept("r", 2, "a"), [kept("r", 1, "a", "b")], max_examples=10)
    assert answers(chosen) == ["a", "b"]
    assert (stats.own, stats.new, stats.earlier) == (1, 0, 1)


def test_files_round_trip_and_the_training_file_holds_the_examples_alone() -> None:
    items = kept("r", 1, "a", "b")
    assert read_kept(kept_jsonl(items)) == items
    sources = read_kept(kept_jsonl(items, with_example=False))
    assert [(item.trace, item.example) for item in sources] == [(items[0].trace, {}), (items[1].trace, {})]
    assert legacy_kept("old", 4, training_jsonl(items)) == [
        KeptExample(run_id="old", iteration=4, trace=None, example=item.example) for item in items
    ]


NOW = datetime(2027, 8, 20, tzinfo=UTC)


class RunModels(TypedDict):
    """The models a run uses, as ``retirement_warnings`` takes them: the same for every call of a test."""

    training: str
    rollouts: str | None
    champion: tuple[str, str] | None


def view(*dates: ModelDates) -> LifecycleView:
    return LifecycleView(now=NOW, clock="azure", models=list(dates), trainable_now=["gpt-oss-20b-11"])


def test_warnings_name_what_retires_within_the_days_and_nothing_else() -> None:
    tuned = "gpt-4.1-mini-2025-04-14.ft-abc-v03"
    champion = ModelDates(model=tuned, listed=True, inference=datetime(2027, 10, 14, tzinfo=UTC))
    teacher = ModelDates(model="gpt-5.1-2025-11-13", listed=True, inference=datetime(2027, 9, 1, tzinfo=UTC))
    oss = ModelDates(model="gpt-oss-20b-11", listed=True)
    dates = view(champion, teacher, oss)
    common: RunModels = {
        "training": "gpt-oss-20b-11",
        "rollouts": teacher.model,
        "champion": (tuned, "agent_v03"),
    }

    warned = retirement_warnings(dates, **common, days=60)
    rebasing = retirement_warnings(dates, **common, days=60, rebasing_to="gpt-oss-20b-11")

    assert warned == [
        "gpt-5.1-2025-11-13, which the run's rollouts run on, stops serving on 2027-09-01 (in 12 days): "
        "choose another base_deployment (a teacher)",
        f"the champion agent_v03 ({tuned}) stops serving on 2027-10-14 (in 55 days) and no rebase has "
        "succeeded: rebase the lineage: run it with base_model set to a model this account can fine-tune "
        "(gpt-oss-20b-11)",
    ]
    assert rebasing[1].endswith(
        "no rebase has succeeded: this run rebases the lineage onto gpt-oss-20b-11; its candidates take over "
        "when one beats the champion"
    )
    assert retirement_warnings(dates, **common, days=10) == []


def test_line_separators_inside_an_example_stay_inside_its_line() -> None:
    """U+0085, U+2028 and U+2029 are legal raw in JSON strings but split a line for readers that honour
    them (str.splitlines): the kept examples and the training file escape them, one example a line."""
    examples = kept("run-a", 1, "one\u2028two", "three\u0085four\u2029five")
    for text in (kept_jsonl(examples), training_jsonl(examples)):
        assert len(text.splitlines()) == 2
    assert answers(read_kept(kept_jsonl(examples))) == ["one\u2028two", "three\u0085four\u2029five"]
    assert answers(legacy_kept("run-a", 1, training_jsonl(examples))) == answers(examples)


def test_a_rollout_deployments_sku_retiring_first_is_warned_about() -> None:
    """ARM dates each SKU of a model apart: the SKU the rollouts' deployment runs on may stop before the
    model does, and the warning names it; without a SKU date, or past the window, nothing is said."""
    teacher = ModelDates(
        model="gpt-5.1-2025-11-13",
        listed=True,
        inference=datetime(2028, 1, 1, tzinfo=UTC),
        skus={"Standard": datetime(2027, 9, 1, tzinfo=UTC)},
    )
    dates = view(teacher)
    common: RunModels = {"training": "gpt-oss-20b-11", "rollouts": teacher.model, "champion": None}
    assert retirement_warnings(dates, **common, days=60, rollouts_sku="Standard") == [
        "Standard deployments of gpt-5.1-2025-11-13, which the run's rollouts run on, stop serving on "
        "2027-09-01 (in 12 days): redeploy it on another SKU or choose another base_deployment"
    ]
    assert retirement_warnings(dates, **common, days=60, rollouts_sku="GlobalStandard") == []
    assert retirement_warnings(dates, **common, days=10, rollouts_sku="Standard") == []
