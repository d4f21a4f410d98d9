"""The emulated LLM's world knowledge: countries, their aliases and capitals.

The bundled agent answers capital questions, so the emulator must recognise a country in free text
("capital of japan??", "Tell me Kenya's capital.") and know (or, when unskilled, misremember) its capital.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache


@dataclass(frozen=True)
class Country:
    name: str
    capital: str
    aliases: tuple[str, ...] = ()


COUNTRIES: tuple[Country, ...] = (
    Country("Argentina", "Buenos Aires"),
    Country("Australia", "Canberra"),
    Country("Austria", "Vienna"),
    Country("Belgium", "Brussels"),
    Country("Brazil", "Brasília", ("brasil",)),
    Country("Canada", "Ottawa"),
    Country("Chile", "Santiago"),
    Country("China", "Beijing"),
    Country("Colombia", "Bogotá"),
    Country("Czech Republic", "Prague", ("czechia",)),
    Country("Denmark", "Copenhagen"),
    Country("Egypt", "Cairo"),
    Country("Finland", "Helsinki"),
    Country("France", "Paris"),
    Country("Germany", "Berlin"),
    Country("Greece", "Athens"),
    Country("Hungary", "Budapest"),
    Country("India", "New Delhi"),
    Country("Indonesia", "Jakarta"),
    Country("Ireland", "Dublin"),
    Country("Israel", "Jerusalem"),
    Country("Italy", "Rome"),
    Country("Japan", "Tokyo"),
    Country("Kenya", "Nairobi"),
    Country("Mexico", "Mexico City"),
    Country("Morocco", "Rabat"),
    Country("Netherlands", "Amsterdam", ("the netherlands", "holland")),
    Country("New Zealand", "Wellington"),
    Country("Nigeria", "Abuja"),
    Country("Norway", "Oslo"),
    Country("Peru", "Lima"),
    Country("Philippines", "Manila", ("the philippines",)),
    Country("Poland", "Warsaw"),
    Country("Portugal", "Lisbon"),
    Country("Russia", "Moscow"),
    Country("Saudi Arabia", "Riyadh"),
    Country("South Africa", "Pretoria"),
    Country("South Korea", "Seoul", ("korea", "republic of korea")),
    Country("Spain", "Madrid"),
    Country("Sweden", "Stockholm"),
    Country("Switzerland", "Bern"),
    Country("Thailand", "Bangkok"),
    Country("Turkey", "Ankara", ("türkiye", "turkiye")),
    Country("Ukraine", "Kyiv"),
    Country("United Kingdom", "London", ("uk", "britain", "great britain", "england")),
    Country("United States", "Washington, D.C.", ("usa", "united states of america", "america", "us")),
    Country("Vietnam", "Hanoi", ("viet nam",)),
)


@lru_cache(maxsize=1)
def _pattern() -> tuple[re.Pattern[str], dict[str, Country]]:
    by_name: dict[str, Country] = {}
    for country in COUNTRIES:
        for name in (country.name, *country.aliases):
            by_name[name.lower()] = country
    # Longest names first so "South Africa" wins over a shorter overlapping alias.
    names = sorted(by_name, key=len, reverse=True)
    alternatives = "|".join(re.escape(n) for n in names)
    return re.compile(rf"(?<![\w])({alternatives})(?![\w])", re.IGNORECASE), by_name


def find_country(text: str) -> Country | None:
    """The first country named in ``text`` (case-insensitive, whole words, possessives allowed).

    "US" only counts in capitals, so the pronoun "us" in "tell us" is not mistaken for a country.
    """
    pattern, by_name = _pattern()
    for match in pattern.finditer(text):
        word = match.group(1)
        if word.lower() == "us" and word != "US":
            continue
        return by_name[word.lower()]
    return None


def lookup(name: str) -> Country | None:
    """The country named exactly ``name`` (ignoring case, surrounding space and punctuation)."""
    _, by_name = _pattern()
    return by_name.get(name.strip().strip(".?!").lower())


def mentions_capital(text: str, capital: str) -> bool:
    """Whether ``text`` contains ``capital`` (case-insensitive)."""
    return capital.lower() in text.lower()
