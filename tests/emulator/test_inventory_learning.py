"""The example inventory agent rehearsed offline, end to end through the SDKs: its real rollouts against
the emulator (whose bundled inventory plug-in they select by their tools) score a sensible baseline, the
dataset builder turns their traces into a valid Azure fine-tuning file with tool calls, and a model
fine-tuned on the best-rewarded traces scores higher (test_learning.py's counterpart)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable

import httpx2
import pytest
from azure.mgmt.cognitiveservices.models import Deployment, DeploymentModel, DeploymentProperties, Sku
from openai import AsyncAzureOpenAI

from emulator.launch import AZURE_API_VERSION, EmulatorHandle
from shared.agents import inventory
from shared.agents.registry import AgentSpec
from shared.agents.tasks import Task, load_csv
from shared.agents.traces import Span, TraceRecorder, parse_jsonl
from shared.domain.dataset import TraceSet, build_dataset
from shared.domain.finetune_format import jsonl_problems
from tests.emulator.support import upload, wait_job, wait_processed

pytestmark = pytest.mark.timeout(120)

SPEC: AgentSpec = inventory.AGENTS[0]
FULL_RUN = ["chat", "execute_tool", "chat", "execute_tool", "chat"]


@pytest.fixture
def shop_emulator(emulator_factory: Callable[..., EmulatorHandle]) -> EmulatorHandle:
    """An emulator of its own whose rate limits never bind: this test is about learning, not throttling
    (tests/emulator/test_ratelimit.py covers that)."""
    return emulator_factory("--base-capacity", "1000", "--rate-limit-scale", "100")


async def _rollouts(handle: EmulatorHandle, deployment: str, tasks: list[Task]) -> dict[str, list[Span]]:
    """Runs the agent's own rollout on every task; returns each trace's spans by rollout id."""
    llm = AsyncAzureOpenAI(
        azure_endpoint=handle.url,
        api_version=AZURE_API_VERSION,
        api_key="test",
        http_client=httpx2.AsyncClient(verify=handle.ssl_context()),
    )

    async def one(number: int, task: Task) -> tuple[str, list[Span]]:
        recorder = TraceRecorder(f"r{number}", task, SPEC.name)
        recorder.finish(await SPEC.rollout(llm, deployment, task, recorder))
        return recorder.rollout_id, parse_jsonl(recorder.to_jsonl())

    async with llm:
        return dict(await asyncio.gather(*(one(n, task) for n, task in enumerate(tasks))))


def _mean_reward(traces: dict[str, list[Span]]) -> float:
    rewards = [spans[0].attributes["durable_finetune.reward"] for spans in traces.values()]
    return sum(rewards) / len(rewards)


def _fine_tune_and_deploy(handle: EmulatorHandle, training: str, name: str) -> None:
    client = handle.openai_v1()
    file_id = upload(client, training.encode()).id
    assert wait_processed(client, file_id).status == "processed"
    job = client.fine_tuning.jobs.create(
        model="gpt-4.1-mini-2025-04-14",
        training_file=file_id,
        suffix=name,
        method={"type": "supervised", "supervised": {"hyperparameters": {"n_epochs": 2}}},
        extra_body={"trainingType": "developerTier"},
    )
    finished = wait_job(client, job.id)
    assert finished.status == "succeeded"
    body = Deployment(
        sku=Sku(name="DeveloperTier", capacity=250),
        properties=DeploymentProperties(
            model=DeploymentModel(format="OpenAI", name=finished.fine_tuned_model, version="1")
        ),
    )
    handle.mgmt().deployments.begin_create_or_update(
        handle.resource_group, handle.account, name, body
    ).result()


async def test_rollouts_score_a_baseline_and_training_on_the_best_raises_it(
    shop_emulator: EmulatorHandle,
) -> None:
    tasks = load_csv(SPEC.datasets["inventory"])
    base = await _rollouts(shop_emulator, "gpt-4.1-mini", tasks)
    baseline = _mean_reward(base)
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

    _fine_tune_and_deploy(shop_emulator, training, "shop-good")
    trained = _mean_reward(await _rollouts(shop_emulator, "shop-good", tasks))
    assert trained > baseline + 0.1
