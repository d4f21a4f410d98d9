"""Behaviour plug-in for the bundled price-quote agent (shared/agents/quote.py): a task set of graded
difficulty, where a model gets better with the right training data, level by level, but not at once.

Selected by requests offering the tool ``get_price``. A question names one to four products with
quantities ("What do 3 plant pots and a leaf rake cost?"); its difficulty is that number of products.
The model knows the garden centre's product names (a vocabulary, below), not prices: those it reads
from tool results.

The script (the expert's next step), with the mistakes a model makes instead:
1. A product of the question has no price yet: call ``get_price(product=<name>)`` for the first such
   product. Mistakes: answer with a made-up total, or look up a product the question does not name.
2. Every product is priced: answer "That comes to $T in total." (the fact: ``$T``). Mistake: an
   arithmetic slip, a total that leaves one product out or counts one unit too many.

Skills (``step_kind``): every lookup uses the skill "lookup"; the answer to a question of N products
uses "total-N". A model takes a lookup step with probability ``0.9 + 0.1 * s_lookup`` (a model told to
look prices up mostly does) and gets the total right with probability
``1 - (1 - s_total_N) * (0.3 + 0.2 * N)`` (adding up more products goes wrong more often), so at the
base skill 0.35 the reward falls from about 0.6 for one product to 0.3 for four. Each skill learns only
from training turns of its own kind: a file of successful one-product quotes teaches lookups and
one-product totals and leaves "total-4" where it was, so the hard levels improve only as the app keeps
their (rarer) successes, over many iterations. Failed quotes mostly end in a wrong total, so training on
them lowers the totals' skills more than their correct lookups raise "lookup".
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from emulator.behaviours.scripted import Noun, ScriptedBehaviour, Step, ToolResult, Vocabulary

PRICE = re.compile(r"\$?(\d+)(?:\.00)?")
MAX_ITEMS = 4
QUANTITY_WORDS = {"a": 1, "an": 1, "one": 1}
LOOKUP_FLOOR = 0.9
# The chance of a wrong total is (1 - skill) * (SLIP_BASE + SLIP_PER_PRODUCT * products).
SLIP_BASE = 0.3
SLIP_PER_PRODUCT = 0.2


PRODUCTS = (
    Noun("plant pot", "plant pots"),
    Noun("seed tray", "seed trays"),
    Noun("garden hose", "garden hoses"),
    Noun("watering can", "watering cans"),
    Noun("leaf rake", "leaf rakes"),
    Noun("hand trowel", "hand trowels"),
    Noun("bird feeder", "bird feeders"),
    Noun("garden glove", "garden gloves"),
    Noun("compost bag", "compost bags"),
    Noun("plant label", "plant labels"),
    Noun("hose nozzle", "hose nozzles"),
    Noun("flower bulb", "flower bulbs"),
    Noun("pruning saw", "pruning saws"),
    Noun("kneeling pad", "kneeling pads"),
)


VOCABULARY = Vocabulary(PRODUCTS)
ITEM = re.compile(
    r"(?<!\w)(\d+|" + "|".join(QUANTITY_WORDS) + r")\s+" + VOCABULARY.alternation + r"(?!\w)", re.IGNORECASE
)


@dataclass(frozen=True)
class Item:
    quantity: int
    product: Noun


def items_in(question: str) -> list[Item]:
    """The products a question asks for, in order, with their quantities (a product named twice adds up)."""
    items: dict[Noun, int] = {}
    for quantity, name in ITEM.findall(question):
        product = VOCABULARY.called(name)
        if product is not None:
            count = QUANTITY_WORDS.get(quantity.lower()) or int(quantity)
            items[product] = items.get(product, 0) + count
    return [Item(count, product) for product, count in items.items()]


def _prices(results: list[ToolResult]) -> dict[Noun, int]:
    """What ``get_price`` answered for each product looked up (the latest answer wins)."""
    prices: dict[Noun, int] = {}
    for result in results:
        product = VOCABULARY.called(str(result.arguments.get("product", "")))
        price = PRICE.fullmatch(result.content.strip())
        if result.name == "get_price" and product is not None and price is not None:
            prices[product] = int(price.group(1))
    return prices


def _total(items: list[Item], prices: dict[Noun, int]) -> int:
    return sum(item.quantity * prices[item.product] for item in items)


def _answer(total: int) -> str:
    return f"That comes to ${total} in total."


class QuoteBehaviour(ScriptedBehaviour):
    name = "quote"
    tools = frozenset({"get_price"})
    off_topic = "I can quote prices for garden centre products. Which products, and how many?"

    def expert(self, question: str, results: list[ToolResult]) -> Step | None:
        items = items_in(question)
        if not items:
            return None
        prices = _prices(results)
        for item in items:
            if item.product not in prices:
                return Step.call("get_price", product=item.product.name)
        total = _total(items, prices)
        return Step.say(_answer(total), f"${total}")

    def matches(self, expert: Step, tool: Any, arguments: dict[str, Any]) -> bool:
        """A lookup by the plural name is as good as by the singular."""
        if tool == "get_price" == expert.tool and isinstance(arguments.get("product"), str):
            wanted = VOCABULARY.called(str(expert.arguments["product"]))
            return VOCABULARY.called(arguments["product"]) == wanted
        return super().matches(expert, tool, arguments)

    def step_kind(self, question: str, results: list[ToolResult], expert: Step) -> str | None:
        return "lookup" if expert.tool is not None else f"total-{min(len(items_in(question)), MAX_ITEMS)}"

    def chance(self, question: str, results: list[ToolResult], expert: Step, skill: float) -> float:
        if expert.tool is not None:
            return LOOKUP_FLOOR + (1 - LOOKUP_FLOOR) * skill
        products = min(len(items_in(question)), MAX_ITEMS)
        return max(0.0, 1 - (1 - skill) * (SLIP_BASE + SLIP_PER_PRODUCT * products))

    def mistake(self, expert: Step, question: str, results: list[ToolResult], draw: float) -> Step:
        items = items_in(question)
        if expert.tool is not None:
            if not results or draw < 0.5:
                return Step.say(self.guess(question, results, draw))
            asked = {item.product for item in items}
            others = [p for p in PRODUCTS if p not in asked]
            return Step.call("get_price", product=others[int((draw - 0.5) * 2 * len(others))].name)
        prices = _prices(results)
        slipped = items[int(draw * len(items))]
        total = _total(items, prices)
        forgot_one = (draw * len(items)) % 1 < 0.5 and len(items) > 1
        wrong = (
            total - slipped.quantity * prices[slipped.product]
            if forgot_one
            else total + prices[slipped.product]
        )
        return Step.say(_answer(wrong))

    def guess(self, question: str, results: list[ToolResult], draw: float) -> str:
        return _answer(5 + int(draw * 200))


BEHAVIOURS = (QuoteBehaviour(),)
