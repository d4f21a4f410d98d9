"""Task files, the split, the agent registry, and the bundled agent against the emulator."""

from __future__ import annotations

from pathlib import Path

import httpx2
import pytest
from openai import AsyncAzureOpenAI

from emulator.launch import TEACHER_DEPLOYMENT, EmulatorHandle
from shared.agents import (
    AgentSpec,
    UnknownAgentError,
    get_agent,
    inventory,
    quote,
    register_agent,
    registered_agents,
)
from shared.agents.capital_lookup import CAPITALS, SYSTEM_PROMPT, country_capital_lookup, reward
from shared.agents.tasks import SplitRule, Task, TaskFileError, load_csv, normalized_prompt, split
from shared.agents.toolloop import run_tool_loop
from shared.agents.traces import TraceRecorder, parse_jsonl


def test_bundled_task_set_is_big_and_varied() -> None:
    spec = get_agent("capital_lookup")
    tasks = load_csv(spec.datasets["capitals"])
    assert len(tasks) >= 60
    assert len({task.answer for task in tasks}) >= 15
    assert any(task.prompt.islower() for task in tasks) and any(task.prompt.isupper() for task in tasks)
    assert {task.answer.lower() for task in tasks} <= {capital.lower() for capital in CAPITALS.values()}


def ids(tasks: list[Task]) -> set[str]:
    return {task.task_id for task in tasks}


@pytest.mark.parametrize("dataset", ["capitals", "inventory", "quotes"])
def test_the_split_is_disjoint_complete_near_its_shares_and_independent_of_file_order(dataset: str) -> None:
    path = quote.DATA / f"{dataset}.csv"
    tasks = load_csv(path)
    first, again = split(tasks), split(list(reversed(tasks)))
    assert first == again
    assert ids(first.train) | ids(first.val) | ids(first.test) == ids(tasks)
    assert len(first.train) + len(first.val) + len(first.test) == len(tasks)
    # Each task's split is a coin of its own (a seeded hash), so the sizes are binomial around the
    # shares (70/20/10): within three standard deviations.
    for share, split_tasks in ((0.2, first.val), (0.1, first.test)):
        spread = 3 * (len(tasks) * share * (1 - share)) ** 0.5
        assert abs(len(split_tasks) - len(tasks) * share) <= spread, (dataset, share, len(split_tasks))


def test_a_changed_task_set_moves_no_task_that_stayed() -> None:
    tasks = load_csv(get_agent("quote").datasets["quotes"])
    before = split(tasks[:100])
    after = split(tasks[20:])
    for name in ("train", "val", "test"):
        kept = ids(before.of(name)) & ids(tasks[20:100])
        assert kept <= ids(after.of(name)), name
    other = split(tasks, SplitRule(validation_share=0.3, test_share=0.2))
    assert len(other.val) > len(split(tasks).val), "the shares are the rule's"
    assert ids(split(tasks).val) <= ids(other.val), "a larger share only adds tasks to it"


def test_a_tiny_task_set_still_has_a_training_and_a_validation_task() -> None:
    tiny = [Task(task_id=f"t-{n}", prompt=f"q{n}", answer=f"a{n}") for n in range(2)]
    for seed in range(20):
        splits = split(tiny, SplitRule(seed=seed))
        assert (len(splits.train), len(splits.val), len(splits.test)) == (1, 1, 0), seed


def test_prompts_are_compared_normalized() -> None:
    assert normalized_prompt("What's the price of 4 POTS?") == normalized_prompt("what s the price of 4 pots")
    full_width = "".join(chr(ord(letter) + 0xFEE0) for letter in "Capital")  # NFKC folds these
    assert normalized_prompt(f"{full_width} of  Japan") == "capital of japan"
    assert normalized_prompt("capital of Japan") != normalized_prompt("capital of Kenya")


def test_bad_task_files_name_file_and_line(tmp_path: Path) -> None:
    bad = tmp_path / "tasks.csv"
    bad.write_text("prompt,answer\nWhat is the capital of France?,Paris\nsecond question,\n")
    with pytest.raises(TaskFileError, match=r"tasks.csv:3"):
        load_csv(bad)
    bad.write_text("question,reply\nx,y\n")
    with pytest.raises(TaskFileError, match="header"):
        load_csv(bad)


def test_registry_names_known_agents_and_accepts_new_ones(tmp_path: Path) -> None:
    with pytest.raises(UnknownAgentError, match="capital_lookup"):
        get_agent("nope")
    data = tmp_path / "mine.csv"
    data.write_text("prompt,answer\na,b\nc,d\ne,f\n")

    async def rollout(llm: object, deployment: str, task: Task, recorder: TraceRecorder) -> float:
        return 1.0

    register_agent(AgentSpec(name="mine", rollout=rollout, datasets={"mine": data}, default_dataset="mine"))
    assert "mine" in registered_agents()
    assert get_agent("mine").task(None, "train", 0).answer in {"b", "d", "f"}


def test_tool_and_reward() -> None:
    assert country_capital_lookup("  NEW zealand ") == "Wellington"
    assert country_capital_lookup("Atlantis") == "unknown"
    assert reward("The capital of Japan is tokyo.", "Tokyo") == 1.0
    assert reward("Kyoto", "Tokyo") == 0.0 and reward(None, "Tokyo") == 0.0


def _llm(emulator: EmulatorHandle) -> AsyncAzureOpenAI:
    return AsyncAzureOpenAI(
        azure_endpoint=emulator.url,
        api_version="2025-04-01-preview",
        api_key="test",
        http_client=httpx2.AsyncClient(verify=emulator.ssl_context()),
    )


async def test_agent_rollout_records_every_span(emulator: EmulatorHandle) -> None:
    """Runs the agent on every validation task: tool-using rollouts have 2 chat spans and a tool span."""
    llm = _llm(emulator)
    spec = get_agent("capital_lookup")
    kinds = set()
    for task in spec.load_splits(None).val:
        recorder = TraceRecorder("r", task, spec.name)
        score = await spec.rollout(llm, TEACHER_DEPLOYMENT, task, recorder)
        recorder.finish(score)
        spans = parse_jsonl(recorder.to_jsonl())
        operations = [span.attributes["gen_ai.operation.name"] for span in spans]
        assert operations[0] == "invoke_agent" and spans[0].attributes["durable_finetune.reward"] == score
        if "execute_tool" in operations:
            assert operations[1:] == ["chat", "execute_tool", "chat"]
            tool = spans[2].attributes
            assert (
                tool["gen_ai.tool.call.result"] == task.answer or tool["gen_ai.tool.call.result"] == "unknown"
            )
        else:
            assert operations[1:] == ["chat"]
        chat = spans[1].attributes
        assert chat["gen_ai.request.model"] == TEACHER_DEPLOYMENT and chat["gen_ai.usage.input_tokens"] > 0
        kinds.add(tuple(operations))
    assert len(kinds) == 2, "the base model should sometimes use the tool and sometimes not"


def test_inventory_task_set_matches_its_catalogue() -> None:
    tasks = load_csv(inventory.DATA / "inventory.csv")
    assert len(tasks) >= 60
    assert len({product.stock for product in inventory.CATALOGUE}) == len(inventory.CATALOGUE)
    assert any(task.prompt.islower() for task in tasks) and any(task.prompt.isupper() for task in tasks)
    for task in tasks:
        named = [p for p in inventory.CATALOGUE if p.plural in task.prompt.lower()]
        assert len(named) == 1, task.prompt
        assert task.answer == str(named[0].stock), task.prompt
    assert {task.answer for task in tasks} == {str(product.stock) for product in inventory.CATALOGUE}


def test_inventory_tools_and_reward() -> None:
    assert inventory.find_product(" Blue Widgets ") == inventory.find_product("blue widget") == "SKU-1042"
    assert inventory.find_product("widgets").startswith("not found")
    assert inventory.get_stock("sku-1042") == "37" and inventory.get_stock("SKU-9999").startswith("error")
    assert inventory.reward("There are 37 blue widgets in stock.", "37") == 1.0
    assert inventory.reward("SKU-1042: 37 in stock, yes 37.", "37") == 1.0
    assert inventory.reward("There are 1042 blue widgets in stock.", "37") == 0.0
    assert inventory.reward("Either 37 or 38.", "37") == 0.0
    assert inventory.reward("There are 0 battery packs left.", "0") == 1.0
    assert inventory.reward(None, "37") == 0.0 and inventory.reward("none left", "0") == 0.0


SEARCH_TOOL = {
    "type": "function",
    "function": {
        "name": "web_search",
        "description": "Searches the web.",
        "parameters": {"type": "object", "properties": {"query": {"type": "string"}}, "required": ["query"]},
    },
}


async def test_tool_loop_reports_unknown_tools_and_stops_at_its_budget(emulator: EmulatorHandle) -> None:
    """The emulated model calls the one tool offered; the loop has no function for it."""
    llm, outcomes = _llm(emulator), []
    for task in get_agent("capital_lookup").load_splits(None).train[:12]:
        for budget in (1, 2):
            recorder = TraceRecorder("r", task, "probe")
            messages = [
                {"role": "system", "content": SYSTEM_PROMPT},
                {"role": "user", "content": task.prompt},
            ]
            tools_offered = [SEARCH_TOOL]
            answer = await run_tool_loop(
                llm, TEACHER_DEPLOYMENT, recorder, messages, tools_offered, {}, budget
            )
            tools = [span.attributes for span in recorder.spans() if span.operation == "execute_tool"]
            outcomes.append((budget, answer is None, len(tools)))
            if tools:
                assert tools[0]["gen_ai.tool.call.result"] == "error: there is no tool named 'web_search'"
                assert answer is not None and messages[-1]["role"] == "tool"
            if answer is None:
                assert budget == 1 and len(recorder.spans()) == 1
    assert (1, True, 0) in outcomes and (2, False, 1) in outcomes and (1, False, 0) in outcomes
