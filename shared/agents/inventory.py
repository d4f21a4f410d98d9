"""An example of bringing your own agent: stock questions answered in two tool steps.

"How many blue widgets are in stock?" needs ``find_product(name)`` to get the product's SKU, then
``get_stock(sku)`` for the count; a model that guesses, skips a step or misreads a result gets the
count wrong. Reward: 1.0 when the final answer states exactly one number and it is the expected count.

This module is not registered by default: it is registered like any user's agent, by naming it in the
``AGENT_MODULES`` app setting (``AGENT_MODULES=shared.agents.inventory``); see docs/agents.md.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from shared.agents.registry import AgentSpec
from shared.agents.tasks import Task
from shared.agents.toolloop import run_tool_loop
from shared.agents.traces import TraceRecorder

NAME = "inventory"
DATA = Path(__file__).resolve().parent.parent / "data"
# find_product, get_stock, the answer, and one more call to recover from a bad step.
MAX_LLM_CALLS = 4
# A turn is one tool call with a name or a SKU, or a one-sentence count; 100 tokens leave room.
MAX_TOKENS = 100

SYSTEM_PROMPT = (
    "You answer stock questions for a hardware shop. To say how many of a product are in stock, first "
    "call find_product with the product's name to get its SKU, then call get_stock with that SKU, and "
    "answer with the count it returns in one short sentence. Never guess a count."
)

FIND_PRODUCT: dict[str, Any] = {
    "type": "function",
    "function": {
        "name": "find_product",
        "description": "Finds a product in the catalogue by name and returns its SKU.",
        "parameters": {
            "type": "object",
            "properties": {"name": {"type": "string", "description": "the product's name, e.g. blue widget"}},
            "required": ["name"],
            "additionalProperties": False,
        },
    },
}
GET_STOCK: dict[str, Any] = {
    "type": "function",
    "function": {
        "name": "get_stock",
        "description": "Returns how many units of a SKU are in stock.",
        "parameters": {
            "type": "object",
            "properties": {"sku": {"type": "string", "description": "the SKU find_product returned"}},
            "required": ["sku"],
            "additionalProperties": False,
        },
    },
}
TOOLS = [FIND_PRODUCT, GET_STOCK]


@dataclass(frozen=True)
class Product:
    name: str
    plural: str
    sku: str
    stock: int


CATALOGUE = (
    Product("blue widget", "blue widgets", "SKU-1042", 37),
    Product("red widget", "red widgets", "SKU-1043", 12),
    Product("hex bolt", "hex bolts", "SKU-2001", 250),
    Product("wing nut", "wing nuts", "SKU-2002", 118),
    Product("flat washer", "flat washers", "SKU-2003", 640),
    Product("wood screw", "wood screws", "SKU-2004", 305),
    Product("drill bit", "drill bits", "SKU-3101", 44),
    Product("claw hammer", "claw hammers", "SKU-3102", 9),
    Product("tape measure", "tape measures", "SKU-3103", 23),
    Product("utility knife", "utility knives", "SKU-3104", 51),
    Product("spirit level", "spirit levels", "SKU-3105", 7),
    Product("paint brush", "paint brushes", "SKU-4201", 86),
    Product("paint roller", "paint rollers", "SKU-4202", 29),
    Product("masking tape roll", "masking tape rolls", "SKU-4203", 142),
    Product("safety helmet", "safety helmets", "SKU-5301", 15),
    Product("work glove", "work gloves", "SKU-5302", 96),
    Product("dust mask", "dust masks", "SKU-5303", 210),
    Product("extension cord", "extension cords", "SKU-6401", 18),
    Product("light bulb", "light bulbs", "SKU-6402", 175),
    Product("battery pack", "battery packs", "SKU-6403", 0),
    Product("cable tie", "cable ties", "SKU-6404", 530),
)
_BY_NAME = {name: product for product in CATALOGUE for name in (product.name, product.plural)}
_BY_SKU = {product.sku: product for product in CATALOGUE}
# A count is a number standing alone: not part of a word or of an id such as SKU-1042.
_NUMBER = re.compile(r"(?<![\w-])\d+(?![\w-])")


def find_product(name: str) -> str:
    """The SKU of the product called ``name`` (singular or plural, any case)."""
    product = _BY_NAME.get(name.strip().lower())
    return product.sku if product else f"not found: no product is called {name!r}"


def get_stock(sku: str) -> str:
    """How many units of ``sku`` are in stock, as text."""
    product = _BY_SKU.get(sku.strip().upper())
    return str(product.stock) if product else f"error: unknown SKU {sku!r}"


def reward(answer: str | None, expected: str) -> float:
    """1.0 when the answer states exactly one count (repeats allowed) and it is ``expected``."""
    counts = {int(number) for number in _NUMBER.findall(answer or "")}
    return 1.0 if counts == {int(expected)} else 0.0


async def rollout(llm: Any, deployment: str, task: Task, recorder: TraceRecorder) -> float:
    messages: list[dict[str, Any]] = [
        {"role": "system", "content": SYSTEM_PROMPT},
        {"role": "user", "content": task.prompt},
    ]
    functions = {"find_product": find_product, "get_stock": get_stock}
    answer = await run_tool_loop(llm, deployment, recorder, messages, TOOLS, functions, MAX_LLM_CALLS)
    return reward(answer, task.answer)


AGENTS = [
    AgentSpec(
        name=NAME,
        rollout=rollout,
        datasets={"inventory": DATA / "inventory.csv"},
        default_dataset="inventory",
        description="stock questions answered with find_product then get_stock",
        tools=TOOLS,
        max_tokens=MAX_TOKENS,
    )
]
