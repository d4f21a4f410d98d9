"""The price-quote task set (graded difficulty, issue 19) on the behaviour model's pure functions: the
plug-in reads every task as the agent means it, harder tasks score lower, each skill learns from its own
turns only, the right data raises the reward without saturating it at once, and failures lower it."""

from __future__ import annotations

import random
import statistics

import pytest

from emulator.behaviour import classify_skills, learn, respond
from emulator.behaviours.quote import MAX_ITEMS, QuoteBehaviour, items_in
from shared.agents import get_agent, quote
from shared.agents.tasks import Task, load_csv
from tests.emulator.loops import Agent, Model, iterate, mean_reward, rollout, tool_call, tool_result, trained

pytestmark = pytest.mark.timeout(120)

AGENT = Agent(
    quote.SYSTEM_PROMPT, quote.TOOLS, {"get_price": quote.get_price}, quote.MAX_LLM_CALLS, quote.reward
)
TASKS = load_csv(quote.DATA / "quotes.csv")


def _level(task: Task) -> int:
    return len(items_in(task.prompt))


def _by_level(model: Model) -> dict[int, float]:
    return {
        level: mean_reward(AGENT, model, [t for t in TASKS if _level(t) == level])
        for level in range(1, MAX_ITEMS + 1)
    }


@pytest.mark.rule("B13")
def test_the_agent_is_registered_and_its_tasks_are_graded() -> None:
    assert get_agent("quote") is quote.SPEC
    assert sorted({_level(t) for t in TASKS}) == [1, 2, 3, 4]
    assert all(sum(_level(t) == level for t in TASKS) == 30 for level in range(1, 5))


@pytest.mark.rule("B13")
@pytest.mark.parametrize("task", TASKS, ids=lambda t: t.task_id)
def test_a_perfect_model_solves_every_task_as_the_agent_scores_it(task: Task) -> None:
    examples, reward = rollout(AGENT, Model("expert", skill=1.0), task)
    assert reward == 1.0
    assert len(examples) == _level(task) + 1  # one lookup per product, then the total


@pytest.mark.rule("B13")
def test_reward_and_tool_prices() -> None:
    assert quote.get_price("Plant Pots ") == "$4" and quote.get_price("rose").startswith("not found")
    assert quote.reward("That comes to $37 in total.", "37") == 1.0
    assert quote.reward("$37.00, yes: $37.", "37") == 1.0
    assert quote.reward("3 pots at $4 and a rake at $15: $27.", "27") == 0.0  # several amounts
    assert quote.reward("That comes to 37.", "37") == 0.0  # no dollar amount
    assert quote.reward(None, "37") == 0.0


@pytest.mark.rule("B6", "B13")
def test_skills_are_chosen_per_step() -> None:
    question = [
        {"role": "system", "content": quote.SYSTEM_PROMPT},
        {"role": "user", "content": TASKS[0].prompt},
    ]
    plug_in = QuoteBehaviour()
    assert plug_in.skill_kind(question) == "lookup"
    two = [{"role": "user", "content": "What do 2 leaf rakes and a plant pot cost?"}]
    priced = [
        *two,
        tool_call("a", "get_price", {"product": "leaf rake"}),
        tool_result("a", "$15"),
        tool_call("b", "get_price", {"product": "plant pots"}),
        tool_result("b", "$4"),
    ]
    assert plug_in.skill_kind(priced) == "total-2"
    assert plug_in.skill_kind([{"role": "user", "content": "tell me a joke"}]) is None
    # A model with a weak total-2 skill and strong lookups fetches prices and then slips.
    model = {"quote/total-2": 0.01, "quote/lookup": 0.99}
    replies = [
        respond(
            seed=s,
            model="m",
            skill=0.35,
            skills=model,
            knowledge=0.2,
            messages=priced,
            tools=quote.TOOLS,
            tool_choice="auto",
        )
        for s in range(40)
    ]
    right = sum("$34" in (r.content or "") for r in replies)
    assert right < 40 * 0.3


@pytest.mark.rule("B13")
def test_harder_tasks_score_lower() -> None:
    levels = [_by_level(Model(f"base-{n}")) for n in range(6)]
    means = [statistics.mean(level[n] for level in levels) for n in range(1, 5)]
    assert means == sorted(means, reverse=True) and means[0] > means[3] + 0.25
    assert 0.3 < statistics.mean(means) < 0.55


@pytest.mark.rule("B6")
def test_each_skill_learns_from_its_own_turns() -> None:
    one_product = [t for t in TASKS if _level(t) == 1]
    successes = [e for t in one_product for e in rollout(AGENT, Model("expert", skill=1.0), t)[0]]
    signals = classify_skills(successes)
    assert set(signals) == {"quote/lookup", "quote/total-1"}
    skill, skills = learn(0.35, {}, signals, 1, 1.0)
    assert skill == 0.35  # the general skill (capital, inventory) is untouched
    assert skills["quote/total-1"] > 0.6 and skills["quote/lookup"] > 0.6
    assert "quote/total-4" not in skills  # four-product totals still have the general skill
    same = learn(0.35, {}, classify_skills(successes), 1, 1.0)
    assert same == (skill, skills)  # a function of the file's content: no counter, no job number


@pytest.mark.rule("B13")
def test_the_right_data_raises_the_reward_over_iterations_without_saturating_at_once() -> None:
    curves = []
    for trial in range(4):
        rng, model = random.Random(trial), Model(f"base-{trial}")
        curve = [mean_reward(AGENT, model, TASKS)]
        for _ in range(3):
            model = iterate(AGENT, model, TASKS, rng)
            curve.append(mean_reward(AGENT, model, TASKS))
        curves.append(curve)
    mean_curve = [statistics.mean(c[i] for c in curves) for i in range(4)]
    assert mean_curve[1] > mean_curve[0] + 0.02
    assert mean_curve[3] > mean_curve[0] + 0.1
    assert mean_curve[3] < 0.85  # three iterations leave much to learn


@pytest.mark.rule("B13")
def test_training_on_failures_lowers_the_reward() -> None:
    base = Model("base")
    baseline = mean_reward(AGENT, base, TASKS)
    worse, better = [], []
    for trial in range(4):
        rng = random.Random(100 + trial)
        results = [rollout(AGENT, base, task) for task in rng.choices(TASKS, k=72)]
        failures = [e for examples, reward in results if reward == 0 for e in examples]
        successes = [e for examples, reward in results if reward > 0 for e in examples]
        worse.append(mean_reward(AGENT, trained(base, failures, f"failures-{trial}"), TASKS))
        better.append(mean_reward(AGENT, trained(base, successes, f"successes-{trial}"), TASKS))
    assert max(worse) < baseline and statistics.mean(worse) < baseline - 0.04
    assert min(better) > baseline + 0.1 and max(better) < 0.85
