"""The second agent (docs/agents.md), brought in as a user brings theirs: the inventory agent, registered
only by the AGENT_MODULES app setting (which `make run` and `make serve` set, scripts/local_env.py), runs
the whole loop through the app's HTTP API like `make run` does: baseline, three iterations of rollouts,
dataset, fine-tuning, deployment and evaluation, and ends better than it started."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest

from emulator.launch import EmulatorHandle
from scripts.local_env import EXAMPLE_AGENT_MODULE, agent_modules
from scripts.local_run import parse_args, run_body
from shared.agents import inventory
from shared.azure.clients import artifact_store
from shared.domain.settings import get_settings
from tests.app.test_loop import blob_names
from tests.driver import Runs

pytestmark = pytest.mark.timeout(300)
PICK_INVENTORY = ["--set", "agent=inventory", "--set", "deployment_prefix=inventory-agent"]


def test_make_run_registers_the_example_agent_and_picks_it_by_setting() -> None:
    assert agent_modules(None) == EXAMPLE_AGENT_MODULE
    assert (
        agent_modules(" my_agents.shop, shared.agents.inventory ,")
        == "shared.agents.inventory,my_agents.shop"
    )
    body = run_body(parse_args(["--iterations", "2", *PICK_INVENTORY]))
    assert body == {"iterations": 2, "agent": "inventory", "deployment_prefix": "inventory-agent"}


def test_the_inventory_agent_beats_its_baseline_through_the_whole_loop(
    function_app: Any, runs: Runs, emulator_reset: EmulatorHandle
) -> None:
    assert get_settings().agent_modules == EXAMPLE_AGENT_MODULE, "registered by the app setting alone"
    body = run_body(parse_args(["--iterations", "3", *PICK_INVENTORY]))
    run_id = runs.start(f"inventory-{uuid.uuid4().hex[:8]}", **body)

    report = runs.finish(run_id)

    assert report.status == "succeeded"
    assert (report.settings["agent"], report.settings["deployment_prefix"]) == (
        "inventory",
        "inventory-agent",
    )
    baseline, iterations = report.baseline, report.iterations
    assert baseline is not None
    assert [item.status for item in iterations] == ["succeeded"] * 3, iterations
    assert [item.deployment for item in iterations] == [f"inventory-agent_v{n:02d}" for n in (1, 2, 3)]
    assert baseline.val_rollouts == iterations[-1].val_rollouts > 0
    last, first = iterations[-1].val_reward, baseline.val_reward
    assert last is not None
    assert first is not None
    assert last > first, (first, iterations)

    # Its rollouts used its two tools, and it learned from them: every example offers both.
    root, *_ = [
        json.loads(line)
        for line in (
            artifact_store().read_text(blob_names(f"traces/{run_id}/01/train/")[0]) or ""
        ).splitlines()
    ]
    assert root["attributes"]["gen_ai.agent.name"] == "inventory"
    dataset = iterations[0].dataset_blob
    assert dataset is not None
    examples = [json.loads(line) for line in (artifact_store().read_text(dataset) or "").splitlines()]
    assert examples and all(example["tools"] == inventory.TOOLS for example in examples)
    called = {
        call["function"]["name"] for e in examples for m in e["messages"] for call in m.get("tool_calls", [])
    }
    assert called == {"find_product", "get_stock"}
