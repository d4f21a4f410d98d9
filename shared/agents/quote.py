"""A bundled agent with a task set of graded difficulty: price quotes for one to four products.

"What do 3 plant pots and a leaf rake cost?" needs one ``get_price(product)`` call per product and a
correct sum; the more products a question names, the more steps can go wrong. Reward: 1.0 when the final
answer states exactly one dollar amount and it is the expected total.

Why it exists: the capital agent's tasks are all alike, so a model that learns them solves them all and
a weekly lineage has nothing left to learn after a few runs. Here the emulated model learns lookups and
totals of each size from their own examples (emulator/behaviours/quote.py), so a lineage keeps finding
something to improve for many iterations (issue 19). Registered by default, like the capital agent.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from shared.agents.registry import AgentSpec
from shared.agents.tasks import Task
from shared.agents.toolloop import run_tool_loop
from shared.agents.traces import TraceRecorder

NAME = "quote"
DATA = Path(__file__).resolve().parent.parent / "data"
# One lookup per product (at most four), the answer, and one call to recover from a wrong lookup.
MAX_LLM_CALLS = 6
# A turn is one get_price call or a one-sentence total; 100 tokens leave room.
MAX_TOKENS = 100

SYSTEM_PROMPT = (
    "You quote prices for a garden centre. For every product in the question, call get_price with the "
    "product's name; never guess a price. Then answer with the total cost of the quantities asked, as "
    "one dollar amount in one short sentence, e.g. 'That comes to $37 in total.'"
)

GET_PRICE: dict[str, Any] = {
    "type": "function",
    "function": {
        "name": "get_price",
        "description": "Returns the unit price of a product, in whole dollars, e.g. $12.",
        "parameters": {
            "type": "object",
            "properties": {
                "product": {"type": "string", "description": "the product's name, e.g. plant pot"}
            },
            "required": ["product"],
            "additionalProperties": False,
        },
    },
}
TOOLS = [GET_PRICE]

# Unit prices in whole dollars; names singular and plural.
PRICES = {
    "plant pot": 4,
    "seed tray": 3,
    "garden hose": 25,
    "watering can": 12,
    "leaf rake": 15,
    "hand trowel": 7,
    "bird feeder": 18,
    "garden glove": 6,
    "compost bag": 9,
    "plant label": 1,
    "hose nozzle": 8,
    "flower bulb": 2,
    "pruning saw": 21,
    "kneeling pad": 11,
}
_BY_NAME = {form: price for name, price in PRICES.items() for form in (name, name + "s")}
# A dollar amount: "$37", "$37.00", "$1,250"; not part of a longer word or number.
_AMOUNT = re.compile(r"\$\s?(\d[\d,]*(?:\.\d\d)?)(?![\w.])")


def get_price(product: str) -> str:
    """The unit price of ``product`` (singular or plural, any case), as ``$N``."""
    price = _BY_NAME.get(" ".join(product.split()).lower())
    return f"${price}" if price is not None else f"not found: no product is called {product!r}"


def reward(answer: str | None, expected: str) -> float:
    """1.0 when the answer states exactly one dollar amount (repeats allowed) and it is ``expected``."""
    amounts = {float(amount.replace(",", "")) for amount in _AMOUNT.findall(answer or "")}
    return 1.0 if amounts == {float(expected)} else 0.0


async def rollout(llm: Any, deployment: str, task: Task, recorder: TraceRecorder) -> float:
    messages: list[dict[str, Any]] = [
        {"role": "system", "content": SYSTEM_PROMPT},
        {"role": "user", "content": task.prompt},
    ]
    functions = {"get_price": get_price}
    answer = await run_tool_loop(llm, deployment, recorder, messages, TOOLS, functions, MAX_LLM_CALLS)
    return reward(answer, task.answer)


SPEC = AgentSpec(
    name=NAME,
    rollout=rollout,
    datasets={"quotes": DATA / "quotes.csv"},
    default_dataset="quotes",
    description="price quotes for one to four products: one lookup per product, then the total",
    tools=TOOLS,
    max_tokens=MAX_TOKENS,
)
