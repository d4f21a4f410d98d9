"""The price-quote agent (graded difficulty) rehearsed offline, end to end through the SDKs: its real
rollouts against the emulator, the app's dataset builder with its default settings, real fine-tuning jobs
and deployments. Three iterations on the best-rewarded traces raise the reward without saturating it,
and a model fine-tuned on the failed traces scores below the base model (test_quote.py holds the same
on the pure functions, averaged over trials, with margins). Seeded: the run repeats exactly."""

from __future__ import annotations

import random
from collections.abc import Callable

import pytest

from emulator.behaviours.quote import items_in
from shared.agents import quote
from shared.agents.tasks import load_csv
from shared.agents.traces import Span
from shared.domain.dataset import DEFAULT_MIN_REWARD, TraceSet, build_dataset
from shared.domain.finetune_format import jsonl_problems
from tests.emulator.agent_runs import fine_tune_and_deploy, mean_reward, reward_of, rollouts
from tests.emulator.support import BASE
from tests.fixtures.emulator import EmulatorHandle

pytestmark = pytest.mark.timeout(300)
TASKS = load_csv(quote.DATA / "quotes.csv")


@pytest.fixture
def garden_emulator(emulator_factory: Callable[..., EmulatorHandle]) -> EmulatorHandle:
    """An emulator whose rate limits never bind: this test is about learning, not throttling."""
    return emulator_factory("--base-capacity", "1000", "--rate-limit-scale", "100", "--chat-latency", "0")


def _by_level(traces: dict[str, list[Span]]) -> dict[int, float]:
    levels: dict[int, list[float]] = {}
    for spans in traces.values():
        question = str(spans[0].attributes.get("durable_finetune.task.prompt", ""))
        levels.setdefault(len(items_in(question)), []).append(reward_of(spans))
    return {level: sum(r) / len(r) for level, r in sorted(levels.items())}


@pytest.mark.rule("B13", "B14")
async def test_the_right_data_raises_the_reward_step_by_step_and_failures_lower_it(
    garden_emulator: EmulatorHandle,
) -> None:
    base = await rollouts(garden_emulator, quote.SPEC, "gpt-4.1-mini", TASKS)
    rewards = [mean_reward(base)]
    assert 0.3 < rewards[0] < 0.55

    rng, model, deployment = random.Random(42), BASE, "gpt-4.1-mini"
    for iteration in range(1, 4):
        batch = await rollouts(garden_emulator, quote.SPEC, deployment, rng.sample(TASKS, 24))
        training, stats = build_dataset(
            [TraceSet("rollouts", batch)], ratio=0.6, seed=42, min_reward=DEFAULT_MIN_REWARD
        )
        assert jsonl_problems(training) == [] and stats.enough_for_azure
        deployment = f"quote-{iteration}"
        model = fine_tune_and_deploy(garden_emulator, training, deployment, model=model, n_epochs=1)
        rewards.append(mean_reward(await rollouts(garden_emulator, quote.SPEC, deployment, TASKS)))
    print(f"quote rewards over iterations: {[round(r, 3) for r in rewards]}")
    assert rewards[3] > rewards[0] + 0.1
    assert rewards[3] < 0.85  # not saturated after three iterations

    failed = {key: spans for key, spans in base.items() if reward_of(spans) == 0}
    failures, _ = build_dataset([TraceSet("rollouts", failed, reward=lambda _k, _s: 1.0)], ratio=1.0, seed=42)
    fine_tune_and_deploy(garden_emulator, failures, "quote-failures", n_epochs=1)
    worse = await rollouts(garden_emulator, quote.SPEC, "quote-failures", TASKS)
    print(f"quote: base {rewards[0]:.3f} {_by_level(base)}; trained on failures {mean_reward(worse):.3f}")
    assert mean_reward(worse) < rewards[0]
