"""The example inventory agent rehearsed offline, end to end through the SDKs: its real rollouts against
the emulator (whose bundled inventory plug-in they select by their tools) score a sensible baseline, the
dataset builder turns their traces into a valid Azure fine-tuning file with tool calls, and a model
fine-tuned on the best-rewarded traces scores higher (test_learning.py's counterpart)."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest

from emulator.launch import EmulatorHandle
from shared.agents import inventory
from shared.agents.registry import AgentSpec
from shared.agents.tasks import load_csv
from shared.domain.dataset import TraceSet, build_dataset
from shared.domain.finetune_format import jsonl_problems
from tests.emulator.agent_runs import fine_tune_and_deploy, mean_reward, rollouts

pytestmark = pytest.mark.timeout(120)

SPEC: AgentSpec = inventory.AGENTS[0]
FULL_RUN = ["chat", "execute_tool", "chat", "execute_tool", "chat"]


@pytest.fixture
def shop_emulator(emulator_factory: Callable[..., EmulatorHandle]) -> EmulatorHandle:
    """An emulator of its own whose rate limits never bind: this test is about learning, not throttling
    (tests/emulator/test_ratelimit.py covers that)."""
    return emulator_factory("--base-capacity", "1000", "--rate-limit-scale", "100")


@pytest.mark.rule("B12", "B14")
async def test_rollouts_score_a_baseline_and_training_on_the_best_raises_it(
    shop_emulator: EmulatorHandle,
) -> None:
    tasks = load_csv(SPEC.datasets["inventory"])
    base = await rollouts(shop_emulator, SPEC, "gpt-4.1-mini", tasks)
    baseline = mean_reward(base)
    assert 0.1 < baseline < 0.6

    shapes = {tuple(span.operation for span in spans[1:]) for spans in base.values()}
    assert tuple(FULL_RUN) in shapes and ("chat",) in shapes
    for spans in base.values():
        if [span.operation for span in spans[1:]] == FULL_RUN and spans[0].attributes[
            "durable_finetune.reward"
        ]:
            lookup, stock = spans[2].attributes, spans[4].attributes
            assert lookup["gen_ai.tool.name"] == "find_product"
            assert stock["gen_ai.tool.name"] == "get_stock"
            assert json.loads(stock["gen_ai.tool.call.arguments"]) == {
                "sku": lookup["gen_ai.tool.call.result"]
            }

    training, stats = build_dataset([TraceSet("rollouts", base)], ratio=0.6, seed=42)
    assert jsonl_problems(training) == [] and stats.enough_for_azure
    examples = [json.loads(line) for line in training.splitlines()]
    assert any("tool_calls" in m for e in examples for m in e["messages"] if m["role"] == "assistant")
    assert any(m["role"] == "tool" for e in examples for m in e["messages"])
    assert all(e["tools"] == inventory.TOOLS for e in examples)
    assert stats.mean_reward_kept is not None and stats.mean_reward_kept > baseline

    fine_tune_and_deploy(shop_emulator, training, "shop-good")
    trained = mean_reward(await rollouts(shop_emulator, SPEC, "shop-good", tasks))
    assert trained > baseline + 0.1
