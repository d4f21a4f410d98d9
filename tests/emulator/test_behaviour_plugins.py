"""Behaviour plug-ins as pure functions: loading, dispatch by tools, the inventory plug-in's acting and
labelling, and its learning dynamics (the inventory counterpart of test_behaviour.py)."""

from __future__ import annotations

import json
import math
import os
import random
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from openai.types.chat import ChatCompletionFunctionToolParam, ChatCompletionMessageParam

from emulator.behaviour import BehaviourLoadError, classify, load_behaviours, respond, trained_skill
from emulator.behaviours.inventory import PRODUCTS, find_product_in
from emulator.cli import config_from_args
from emulator.launch import EmulatorHandle
from shared.agents import inventory
from shared.agents.tasks import load_csv
from tests.emulator.loops import Agent, Model, mean_reward, rollout, tool_call, tool_result
from tests.emulator.support import TOOL as CAPITAL_TOOL
from tests.emulator.support import first_function_call

pytestmark = pytest.mark.timeout(60)

SYSTEM = {"role": "system", "content": inventory.SYSTEM_PROMPT}
TOOLS = {"find_product": inventory.find_product, "get_stock": inventory.get_stock}
AGENT = Agent(inventory.SYSTEM_PROMPT, inventory.TOOLS, TOOLS, inventory.MAX_LLM_CALLS, inventory.reward)


def _ask(messages: list[dict[str, Any]], skill: float, **kwargs: Any) -> Any:
    request: dict[str, Any] = {
        "seed": 7,
        "model": "m",
        "skill": skill,
        "knowledge": 0.2,
        "messages": messages,
        "tools": inventory.TOOLS,
        "tool_choice": "auto",
        **kwargs,
    }
    return respond(**request)


def _question(text: str) -> list[dict[str, Any]]:
    return [SYSTEM, {"role": "user", "content": text}]


@pytest.mark.rule("B12")
def test_vocabulary_is_the_agents_catalogue_and_names_are_found_in_free_text() -> None:
    assert {(p.name, p.plural) for p in PRODUCTS} == {(p.name, p.plural) for p in inventory.CATALOGUE}
    tape = find_product_in("HOW MANY MASKING TAPE ROLLS DO WE HAVE?")
    assert tape is not None
    assert tape.name == "masking tape roll"
    knives = find_product_in("stock check: utility knives")
    assert knives is not None
    assert knives.name == "utility knife"
    assert find_product_in("How many widgets?") is None


@pytest.mark.rule("B8")
def test_plugin_is_chosen_by_the_tools_offered() -> None:
    question = _question("How many blue widgets are in stock?")
    assert _ask(question, 1.0).arguments == {"name": "blue widget"}
    one_tool_only = _ask(question, 1.0, tools=[inventory.FIND_PRODUCT])
    assert one_tool_only.content.startswith("I can help with questions about the capital"), "the default"
    capital = _ask(_question("capital of japan??"), 1.0, tools=[CAPITAL_TOOL])
    assert (capital.tool_name, capital.arguments) == ("country_capital_lookup", {"country": "Japan"})


@pytest.mark.rule("B11", "B12")
def test_a_skilled_model_follows_the_script_to_the_right_count() -> None:
    messages = _question("How many claw hammers are in stock?")
    first = _ask(messages, 1.0)
    assert (first.tool_name, first.arguments) == ("find_product", {"name": "claw hammer"})
    messages += [tool_call("c1", "find_product", {"name": "claw hammer"}), tool_result("c1", "SKU-3102")]
    second = _ask(messages, 1.0)
    assert (second.tool_name, second.arguments) == ("get_stock", {"sku": "SKU-3102"})
    messages += [tool_call("c2", "get_stock", {"sku": "SKU-3102"}), tool_result("c2", "9")]
    assert _ask(messages, 1.0).content == "There are 9 claw hammers in stock."
    assert _ask(messages, 1.0) == _ask(messages, 1.0)


@pytest.mark.rule("B11", "B12")
def test_an_unskilled_model_makes_the_scripted_mistakes() -> None:
    first_steps = [_ask(_question(f"How many {p.plural} are in stock?"), 0.0) for p in PRODUCTS]
    guesses = [r for r in first_steps if not r.is_tool_call]
    wrong_lookups = [r for r in first_steps if r.is_tool_call]
    assert guesses and wrong_lookups
    assert all(r.content.startswith("There are ") for r in guesses)
    for product, reply in zip(PRODUCTS, first_steps, strict=True):
        if reply.is_tool_call:
            assert reply.tool_name == "find_product" and reply.arguments["name"] != product.name


@pytest.mark.rule("B11")
def test_tool_choice_none_and_required_are_honoured() -> None:
    messages = _question("How many drill bits are in stock?")
    assert not _ask(messages, 1.0, tool_choice="none").is_tool_call
    messages += [
        tool_call("c1", "find_product", {"name": "drill bit"}),
        tool_result("c1", "SKU-3101"),
        tool_call("c2", "get_stock", {"sku": "SKU-3101"}),
        tool_result("c2", "44"),
    ]
    forced = _ask(messages, 1.0, tool_choice={"type": "function", "function": {"name": "get_stock"}})
    assert (forced.tool_name, forced.arguments) == ("get_stock", {"sku": "SKU-3101"})


def _labels(messages: list[dict[str, Any]]) -> tuple[int, int, int]:
    signal = classify([{"messages": messages, "tools": inventory.TOOLS}])
    return signal.good, signal.bad, signal.neutral


@pytest.mark.rule("B11", "B12")
def test_labels() -> None:
    question = _question("How many hex bolts are in stock?")
    lookup = [tool_call("c1", "find_product", {"name": "Hex Bolts "}), tool_result("c1", "SKU-2001")]
    stock = [tool_call("c2", "get_stock", {"sku": "SKU-2001"}), tool_result("c2", "250")]
    right = {"role": "assistant", "content": "There are 250 hex bolts in stock."}
    assert _labels([*question, *lookup, *stock, right]) == (3, 0, 0)
    assert _labels([*question, {"role": "assistant", "content": "There are 250 hex bolts."}]) == (0, 1, 0)
    confused = [tool_call("c1", "find_product", {"name": "wing nut"}), tool_result("c1", "SKU-2002")]
    assert _labels([*question, *confused, tool_call("c2", "get_stock", {"sku": "SKU-2002"})]) == (0, 2, 0)
    sku_as_count = {"role": "assistant", "content": "There are 2001 hex bolts in stock."}
    assert _labels([*question, *lookup, sku_as_count]) == (1, 1, 0)
    off_by_one = {"role": "assistant", "content": "There are 251 hex bolts in stock."}
    assert _labels([*question, *lookup, *stock, off_by_one]) == (2, 1, 0)
    missing = [
        tool_call("c1", "find_product", {"name": "hex bolt"}),
        tool_result("c1", "not found: no product"),
    ]
    honest = {"role": "assistant", "content": "Sorry, I could not find hex bolts."}
    assert _labels([*question, *missing, honest]) == (2, 0, 0)
    untrained = {**right, "weight": 0}
    assert _labels([*question, *lookup, *stock, untrained]) == (2, 0, 0)
    assert _labels([*_question("tell me a joke"), {"role": "assistant", "content": "no"}]) == (0, 0, 1)


def _run(keep_ratio: float, trial: int) -> float:
    """The app's loop in miniature: 3 x (24 rollouts, keep the top share of examples, train 1 epoch)."""
    tasks = load_csv(inventory.DATA / "inventory.csv")
    rng, skill, model = random.Random(trial), 0.35, "base"
    for iteration in range(3):
        rollouts = [rollout(AGENT, Model(model, skill), t) for t in rng.sample(tasks, 24)]
        examples = sorted(((e, r) for es, r in rollouts for e in es), key=lambda pair: -pair[1])
        kept = [example for example, _ in examples[: math.ceil(len(examples) * keep_ratio)]]
        skill = trained_skill(skill, classify(kept), 1, 1.0)
        model = f"ft-{keep_ratio}-{trial}-{iteration}"
    return skill


@pytest.mark.rule("B12", "B14")
def test_reward_tracks_skill_and_filtering_by_reward_teaches_best() -> None:
    tasks = load_csv(inventory.DATA / "inventory.csv")
    means = [mean_reward(AGENT, Model(f"s{s}", s), tasks) for s in (0.35, 0.9)]
    assert 0.1 < means[0] < 0.6 and means[1] > means[0] + 0.3
    filtered = [_run(0.6, t) for t in range(5)]
    unfiltered = [_run(1.0, t) for t in range(5)]
    assert sum(filtered) / 5 > 0.6
    assert sum(filtered) / 5 > sum(unfiltered) / 5 + 0.1


@pytest.mark.rule("B9", "B10")
def test_loading_names_the_module_and_the_fix(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.syspath_prepend(str(tmp_path))
    (tmp_path / "plugin_raises.py").write_text("raise RuntimeError('boom')\n")
    (tmp_path / "plugin_junk.py").write_text("BEHAVIOURS = ['not a plug-in']\n")
    with pytest.raises(BehaviourLoadError, match=r"module no_such_plugin failed to import: ModuleNotFound"):
        load_behaviours(("no_such_plugin",))
    with pytest.raises(
        BehaviourLoadError, match=r"module plugin_raises failed to import: RuntimeError: boom"
    ):
        load_behaviours(("plugin_raises",))
    with pytest.raises(BehaviourLoadError, match=r"module json defines no plug-in: set BEHAVIOURS"):
        load_behaviours(("json",))
    with pytest.raises(BehaviourLoadError, match=r"module plugin_junk: 'not a plug-in' is not a behaviour"):
        load_behaviours(("plugin_junk",))


USER_PLUGIN = """
from emulator.behaviours.scripted import ScriptedBehaviour, Step


class Dictionary(ScriptedBehaviour):
    name = "dictionary"
    tools = frozenset({"define_word"})

    def expert(self, question, results):
        word = question.rstrip("?").split()[-1].lower()
        if not results:
            return Step.call("define_word", word=word)
        return Step.say(f"{word}: {results[-1].content}", results[-1].content)

    def mistake(self, expert, question, results, draw):
        return Step.say("I am not sure.")

    def guess(self, question, results, draw):
        return "I am not sure."


BEHAVIOURS = [Dictionary()]
"""
DEFINE_WORD: ChatCompletionFunctionToolParam = {
    "type": "function",
    "function": {
        "name": "define_word",
        "parameters": {"type": "object", "properties": {"word": {"type": "string"}}, "required": ["word"]},
    },
}


@pytest.mark.rule("B9", "B10")
def test_a_users_plugin_module_is_loaded_by_flag(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, emulator_factory: Callable[..., EmulatorHandle]
) -> None:
    (tmp_path / "my_dictionary.py").write_text(USER_PLUGIN)
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(tmp_path), os.environ.get("PYTHONPATH", "")]))
    handle = emulator_factory("--behaviour", "my_dictionary")
    assert handle.state()["config"]["behaviours"] == ["my_dictionary"]
    messages: list[ChatCompletionMessageParam] = [{"role": "user", "content": "Define serendipity?"}]
    call = handle.openai_v1().chat.completions.create(
        model="gpt-4.1-mini", messages=messages, tools=[DEFINE_WORD], tool_choice="required"
    )
    function = first_function_call(call.choices[0].message).function
    assert (function.name, json.loads(function.arguments)) == ("define_word", {"word": "serendipity"})
    with pytest.raises(RuntimeError, match=r"argument --behaviour: module my_dictionry failed to import"):
        emulator_factory("--behaviour", "my_dictionry")


@pytest.mark.rule("B9")
def test_cli_flag_rejects_bad_modules(capsys: pytest.CaptureFixture[str]) -> None:
    assert config_from_args([]).behaviours == ()
    with pytest.raises(SystemExit):
        config_from_args(["--behaviour", "no_such_plugin"])
    assert "argument --behaviour: module no_such_plugin failed to import" in capsys.readouterr().err
