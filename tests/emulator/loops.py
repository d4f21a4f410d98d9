"""The app's loop in miniature, on the behaviour model's pure functions: an agent's tool loop against
``respond``, and iterations of rollouts, reward filtering and learning. Fast enough to average over many
trials; the end-to-end tests check the same through the SDKs, the dataset builder and real jobs."""

from __future__ import annotations

import json
import math
import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from emulator.behaviour import classify_skills, learn, respond
from shared.agents.tasks import Task

Example = dict[str, Any]


def tool_call(call_id: str, tool: str, arguments: dict[str, Any]) -> dict[str, Any]:
    function = {"name": tool, "arguments": json.dumps(arguments)}
    return {"role": "assistant", "tool_calls": [{"id": call_id, "type": "function", "function": function}]}


def tool_result(call_id: str, content: str) -> dict[str, Any]:
    return {"role": "tool", "tool_call_id": call_id, "content": content}


@dataclass(frozen=True)
class Agent:
    """What a rollout needs from an agent module: its prompt, tools, their functions and its reward."""

    system: str
    tools: list[dict[str, Any]]
    functions: Mapping[str, Callable[..., str]]
    max_calls: int
    reward: Callable[[str | None, str], float]


@dataclass
class Model:
    """An emulated model: its id (part of every draw), general skill and named skills."""

    id: str
    skill: float = 0.35
    skills: dict[str, float] = field(default_factory=dict)


def rollout(agent: Agent, model: Model, task: Task) -> tuple[list[Example], float]:
    """The agent's loop against the plug-in; one training example per model call (as the dataset
    builder makes them: the conversation so far and the reply), and the reward."""
    messages: list[dict[str, Any]] = [
        {"role": "system", "content": agent.system},
        {"role": "user", "content": task.prompt},
    ]
    examples: list[Example] = []
    for number in range(agent.max_calls):
        reply = respond(
            seed=7,
            model=model.id,
            skill=model.skill,
            skills=model.skills,
            knowledge=0.2,
            messages=messages,
            tools=agent.tools,
            tool_choice="auto",
        )
        if not reply.is_tool_call:
            examples.append(
                {
                    "messages": [*messages, {"role": "assistant", "content": reply.content}],
                    "tools": agent.tools,
                }
            )
            return examples, agent.reward(reply.content, task.answer)
        turn = tool_call(f"c{number}", str(reply.tool_name), reply.arguments)
        examples.append({"messages": [*messages, turn], "tools": agent.tools})
        output = agent.functions[str(reply.tool_name)](**reply.arguments)
        messages = [*messages, turn, tool_result(f"c{number}", output)]
    return examples, 0.0


def mean_reward(agent: Agent, model: Model, tasks: list[Task]) -> float:
    return sum(rollout(agent, model, task)[1] for task in tasks) / len(tasks)


def trained(model: Model, examples: list[Example], name: str, n_epochs: int = 1) -> Model:
    """The model fine-tuned from ``model`` on ``examples``."""
    skill, skills = learn(model.skill, model.skills, classify_skills(examples), n_epochs, 1.0)
    return Model(name, skill, skills)


def iterate(
    agent: Agent, model: Model, tasks: list[Task], rng: random.Random, *, keep_ratio: float = 0.6
) -> Model:
    """One iteration as the app runs it with default settings: 24 rollouts, examples of traces that
    earned something (min_reward), the best ``keep_ratio`` of them, one epoch, from the last model."""
    results = [rollout(agent, model, task) for task in rng.sample(tasks, 24)]
    earned = [(example, reward) for examples, reward in results for example in examples if reward >= 0.01]
    rng.shuffle(earned)
    earned.sort(key=lambda pair: -pair[1])
    kept = [example for example, _ in earned[: math.ceil(len(earned) * keep_ratio)]]
    return trained(model, kept, f"{model.id}+{rng.random():.6f}")
