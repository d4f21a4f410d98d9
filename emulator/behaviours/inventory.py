"""Behaviour plug-in for the example inventory agent (shared/agents/inventory.py); bundled, so always
loaded, and written exactly as a user's plug-in loaded with ``--behaviour MODULE`` would be.

Selected by requests offering the tools ``find_product`` and ``get_stock``. The model knows the shop's
product names (a vocabulary, below), not SKUs or stock: those it can only read from tool results.

The script (the expert's next step), with the mistakes a model makes instead:
1. No SKU yet for the asked product: call ``find_product(name=<product>)``. Mistakes: answer with a
   made-up count, or look up another product.
2. A SKU came back: call ``get_stock(sku=<that SKU>)``. Mistakes: read the SKU's digits as the count,
   or ask for a garbled SKU.
3. A count came back: answer "There are N <products> in stock." (the fact: N). Mistake: a count off
   by a few.
``find_product`` found nothing: say so (the fact: "could not find"). Stock counts are not world
knowledge, so ``--knowledge`` does not apply here.
"""

from __future__ import annotations

import re
from typing import Any

from emulator.behaviours.scripted import Noun, ScriptedBehaviour, Step, ToolResult, Vocabulary

SKU = re.compile(r"[A-Z]+-\d+")
COUNT = re.compile(r"\d+")


PRODUCTS = (
    Noun("blue widget", "blue widgets"),
    Noun("red widget", "red widgets"),
    Noun("hex bolt", "hex bolts"),
    Noun("wing nut", "wing nuts"),
    Noun("flat washer", "flat washers"),
    Noun("wood screw", "wood screws"),
    Noun("drill bit", "drill bits"),
    Noun("claw hammer", "claw hammers"),
    Noun("tape measure", "tape measures"),
    Noun("utility knife", "utility knives"),
    Noun("spirit level", "spirit levels"),
    Noun("paint brush", "paint brushes"),
    Noun("paint roller", "paint rollers"),
    Noun("masking tape roll", "masking tape rolls"),
    Noun("safety helmet", "safety helmets"),
    Noun("work glove", "work gloves"),
    Noun("dust mask", "dust masks"),
    Noun("extension cord", "extension cords"),
    Noun("light bulb", "light bulbs"),
    Noun("battery pack", "battery packs"),
    Noun("cable tie", "cable ties"),
)


VOCABULARY = Vocabulary(PRODUCTS)


def find_product_in(text: str) -> Noun | None:
    """The first product named in ``text`` (singular or plural, any case)."""
    return VOCABULARY.first_in(text)


def product_called(name: str) -> Noun | None:
    """The product whose name (singular or plural) is exactly ``name``, ignoring case and spaces."""
    return VOCABULARY.called(name)


def _latest(results: list[ToolResult], tool: str, names: set[str], key: str) -> ToolResult | None:
    """The latest result of ``tool`` called with argument ``key`` equal to one of ``names``."""
    for result in reversed(results):
        if result.name == tool and str(result.arguments.get(key, "")).strip().lower() in names:
            return result
    return None


def _garbled(sku: str) -> str:
    """The SKU with its last two digits swapped, or its last digit changed when that changes nothing."""
    head, digits = sku.rsplit("-", 1)
    if len(digits) >= 2 and digits[-1] != digits[-2]:
        return f"{head}-{digits[:-2]}{digits[-1]}{digits[-2]}"
    return f"{head}-{digits[:-1]}{(int(digits[-1]) + 1) % 10}"


class InventoryBehaviour(ScriptedBehaviour):
    name = "inventory"
    tools = frozenset({"find_product", "get_stock"})
    off_topic = "I can tell you how many of a product are in stock. Which product do you mean?"

    def expert(self, question: str, results: list[ToolResult]) -> Step | None:
        product = find_product_in(question)
        if product is None:
            return None
        found = _latest(results, "find_product", {product.name, product.plural}, "name")
        if found is None:
            return Step.call("find_product", name=product.name)
        if not SKU.fullmatch(found.content):
            return Step.say(f"Sorry, I could not find {product.plural} in the catalogue.", "could not find")
        stock = _latest(results, "get_stock", {found.content.lower()}, "sku")
        if stock is None or not COUNT.fullmatch(stock.content):
            return Step.call("get_stock", sku=found.content)
        return Step.say(f"There are {stock.content} {product.plural} in stock.", stock.content)

    def matches(self, expert: Step, tool: Any, arguments: dict[str, Any]) -> bool:
        """A lookup by the plural name is as good as by the singular: the catalogue knows both."""
        if tool == "find_product" == expert.tool and isinstance(arguments.get("name"), str):
            return product_called(arguments["name"]) == product_called(str(expert.arguments["name"]))
        return super().matches(expert, tool, arguments)

    def mistake(self, expert: Step, question: str, results: list[ToolResult], draw: float) -> Step:
        product = find_product_in(question)
        if product is None:
            return Step.say(self.off_topic)
        if expert.tool == "find_product":
            if draw < 0.5:
                return Step.say(self.guess(question, results, draw * 2))
            others = [p for p in PRODUCTS if p != product]
            return Step.call("find_product", name=others[int((draw - 0.5) * 2 * len(others))].name)
        if expert.tool == "get_stock":
            sku = str(expert.arguments["sku"])
            if draw < 0.5:
                return Step.say(f"There are {sku.split('-')[-1]} {product.plural} in stock.")
            return Step.call("get_stock", sku=_garbled(sku))
        if expert.fact is not None and COUNT.fullmatch(expert.fact):
            wrong = int(expert.fact) + 1 + int(draw * 9)
            return Step.say(f"There are {wrong} {product.plural} in stock.")
        return Step.say(self.guess(question, results, draw))

    def guess(self, question: str, results: list[ToolResult], draw: float) -> str:
        product = find_product_in(question)
        what = product.plural if product is not None else "of those"
        return f"There are {1 + int(draw * 150)} {what} in stock."


BEHAVIOURS = (InventoryBehaviour(),)
