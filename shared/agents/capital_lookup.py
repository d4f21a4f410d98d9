"""The bundled agent: answers capital questions with the ``country_capital_lookup`` tool.

The system prompt requires the tool; a model that answers from memory instead is often wrong, which
is exactly what fine-tuning on rewarded traces should train away. Reward: 1.0 when the final answer
contains the expected capital (case-insensitive), else 0.0.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from shared.agents.registry import AgentSpec
from shared.agents.tasks import Task
from shared.agents.toolloop import run_tool_loop
from shared.agents.traces import TraceRecorder

NAME = "capital_lookup"
# A turn is a country_capital_lookup call (about 20 tokens) or one short sentence; 100 leaves room.
MAX_TOKENS = 100
DATA = Path(__file__).resolve().parent.parent / "data"

SYSTEM_PROMPT = (
    "You answer questions about countries. For any question about the capital of a country you must "
    "call the country_capital_lookup tool and answer with the city it returns; never answer a capital "
    "question from memory. Answer in one short sentence."
)

TOOL: dict[str, Any] = {
    "type": "function",
    "function": {
        "name": "country_capital_lookup",
        "description": "Looks up the capital city of a country.",
        "parameters": {
            "type": "object",
            "properties": {"country": {"type": "string", "description": "the country's name, e.g. France"}},
            "required": ["country"],
            "additionalProperties": False,
        },
    },
}

CAPITALS = {
    "argentina": "Buenos Aires",
    "australia": "Canberra",
    "canada": "Ottawa",
    "egypt": "Cairo",
    "france": "Paris",
    "germany": "Berlin",
    "india": "New Delhi",
    "italy": "Rome",
    "japan": "Tokyo",
    "kenya": "Nairobi",
    "mexico": "Mexico City",
    "new zealand": "Wellington",
    "norway": "Oslo",
    "peru": "Lima",
    "poland": "Warsaw",
    "portugal": "Lisbon",
    "spain": "Madrid",
    "sweden": "Stockholm",
    "turkey": "Ankara",
    "united kingdom": "London",
}


def country_capital_lookup(country: str) -> str:
    return CAPITALS.get(country.strip().lower(), "unknown")


def reward(answer: str | None, expected: str) -> float:
    return 1.0 if answer and expected.lower() in answer.lower() else 0.0


async def rollout(llm: Any, deployment: str, task: Task, recorder: TraceRecorder) -> float:
    messages: list[dict[str, Any]] = [
        {"role": "system", "content": SYSTEM_PROMPT},
        {"role": "user", "content": task.prompt},
    ]
    functions = {"country_capital_lookup": country_capital_lookup}
    answer = await run_tool_loop(llm, deployment, recorder, messages, [TOOL], functions, max_llm_calls=2)
    return reward(answer, task.answer)


SPEC = AgentSpec(
    name=NAME,
    rollout=rollout,
    datasets={"capitals": DATA / "capitals.csv"},
    default_dataset="capitals",
    description="capital-city questions answered with a lookup tool",
    tools=[TOOL],
    max_tokens=MAX_TOKENS,
)
