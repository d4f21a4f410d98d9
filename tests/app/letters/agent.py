"""The letter counter: "How many letters are in "banana"?" answered by calling ``count_letters`` and
stating the count. Reward 1.0 when the answer states exactly one number and it is the count."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from shared.agents import AgentSpec
from shared.agents.tasks import Task
from shared.agents.toolloop import run_tool_loop
from shared.agents.traces import TraceRecorder

SYSTEM_PROMPT = (
    "You count letters. Call count_letters with the quoted word, then answer with the count it returns "
    "in one short sentence."
)
COUNT_LETTERS: dict[str, Any] = {
    "type": "function",
    "function": {
        "name": "count_letters",
        "description": "Returns how many letters a word has.",
        "parameters": {
            "type": "object",
            "properties": {"word": {"type": "string", "description": "the word, e.g. banana"}},
            "required": ["word"],
            "additionalProperties": False,
        },
    },
}
TOOLS = [COUNT_LETTERS]
NUMBER = re.compile(r"(?<![\w-])\d+(?![\w-])")


def count_letters(word: str) -> str:
    return str(sum(1 for char in word.strip() if char.isalpha()))


def reward(answer: str | None, expected: str) -> float:
    return 1.0 if {int(n) for n in NUMBER.findall(answer or "")} == {int(expected)} else 0.0


async def rollout(llm: Any, deployment: str, task: Task, recorder: TraceRecorder) -> float:
    messages: list[dict[str, Any]] = [
        {"role": "system", "content": SYSTEM_PROMPT},
        {"role": "user", "content": task.prompt},
    ]
    functions = {"count_letters": count_letters}
    answer = await run_tool_loop(llm, deployment, recorder, messages, TOOLS, functions, max_llm_calls=3)
    return reward(answer, task.answer)


AGENTS = [
    AgentSpec(
        name="letters",
        rollout=rollout,
        datasets={"letters": Path(__file__).with_name("letters.csv")},
        default_dataset="letters",
        description="letter counts with one tool call",
        tools=TOOLS,
        max_tokens=60,
    )
]
