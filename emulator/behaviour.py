"""The emulated LLM: which behaviour plug-in answers a request, and how training data changes skill.

Everything here is a pure function of (seed, model, request content, the plug-ins loaded), never of
call order or wall clock, so concurrent requests are reproducible and two runs with the same seed see
the same answers.

Plug-ins each know one agent: how a model of a given skill acts on its requests and which assistant
turns of a training file are good or bad. The bundled ones (emulator/behaviours/: capital, inventory)
are always loaded; ``--behaviour MODULE`` adds a user's, ahead of them. A request goes to the plug-in
whose ``tools`` are all offered by the request (the one with the most tools when several match, the
first loaded on a tie); anything else goes to the capital plug-in, the bundled agent's and the default.

Skills. A model has one general skill, and may have named skills: a plug-in that grades its steps
(``skill_kind(messages)``, e.g. "lookup" or "total-3") acts, at each step, with the model's skill of
that kind, stored under "<plug-in>/<kind>"; a kind the model was never trained on has the general skill.
Plug-ins without kinds (capital, inventory) use the general skill for everything, so training on one
agent's traces changes how the model acts on all of them (a simplification).

Learning (a fine-tuning job): every trainable assistant turn (``weight`` not 0) of the training file is
labelled good, bad or neutral by the plug-in its example's ``tools`` select, and filed under the skill
it uses (its kind, or the general skill). Each skill with labelled turns moves on its own: with
``r = good / (good + bad)`` and ``k = 1 - exp(-0.8 * n_epochs * lr_multiplier * min(1, (good+bad)/10))``
the new skill is ``parent + k * (r - parent)``, clamped to [0.01, 0.99]; no labelled turns, no change.
What a model learns is thus a function of the training file's content (and the hyperparameters) only.
"""

from __future__ import annotations

import importlib
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any

from emulator.behaviours import capital, inventory, quote
from emulator.behaviours.base import Behaviour, ChatRequest, Label, Reply, tool_names, unit

__all__ = [
    "BehaviourLoadError",
    "Reply",
    "SkillKey",
    "TrainingSignal",
    "classify",
    "classify_skills",
    "estimate_tokens",
    "learn",
    "load_behaviours",
    "respond",
    "skill_for",
    "trained_skill",
    "unit",
]

LEARNING_RATE = 0.8
FULL_EFFECT_TURNS = 10
SKILL_MIN, SKILL_MAX = 0.01, 0.99
DEFAULT: Behaviour = capital.BEHAVIOURS[0]
BUNDLED: tuple[Behaviour, ...] = (*inventory.BEHAVIOURS, *quote.BEHAVIOURS, *capital.BEHAVIOURS)
# The skill a turn uses: "<plug-in>/<kind>", or None for the model's general skill.
SkillKey = str | None


class BehaviourLoadError(ValueError):
    """A ``--behaviour`` module that cannot be used; the message names it and the fix."""


@cache
def load_behaviours(modules: tuple[str, ...]) -> tuple[Behaviour, ...]:
    """The plug-ins the ``BEHAVIOURS`` sequence of each module lists, in order, then the bundled ones."""
    loaded: list[Behaviour] = []
    for name in modules:
        try:
            module = importlib.import_module(name)
        except Exception as exc:  # whatever a plug-in raises on import is reported by name
            raise BehaviourLoadError(f"module {name} failed to import: {type(exc).__name__}: {exc}") from exc
        plugins = getattr(module, "BEHAVIOURS", None)
        if not plugins:
            raise BehaviourLoadError(f"module {name} defines no plug-in: set BEHAVIOURS = [YourBehaviour()]")
        for plugin in plugins:
            if not isinstance(plugin, Behaviour) or not _valid_tools(plugin.tools):
                raise BehaviourLoadError(
                    f"module {name}: {plugin!r} is not a behaviour plug-in (it needs name, a non-empty "
                    "frozenset of tool names `tools`, respond(request) and label(prior, turn))"
                )
            loaded.append(plugin)
    return (*loaded, *BUNDLED)


def _valid_tools(tools: Any) -> bool:
    return isinstance(tools, frozenset) and bool(tools) and all(isinstance(t, str) for t in tools)


def select(plugins: Sequence[Behaviour], tools: list[dict[str, Any]] | None) -> Behaviour:
    """The plug-in for a request or training example that offers ``tools``."""
    offered = tool_names(tools)
    matching = [plugin for plugin in plugins if plugin.tools <= offered]
    return max(matching, key=lambda plugin: len(plugin.tools), default=DEFAULT)


def skill_key(plugin: Behaviour, messages: list[dict[str, Any]]) -> SkillKey:
    """The skill ``plugin`` uses for the turn after ``messages``: its ``skill_kind`` (optional in the
    contract) namespaced by the plug-in's name, or None for the general skill."""
    kind_of = getattr(plugin, "skill_kind", None)
    kind = kind_of(messages) if callable(kind_of) else None
    return f"{plugin.name}/{kind}" if isinstance(kind, str) and kind else None


def skill_for(key: SkillKey, skill: float, skills: Mapping[str, float]) -> float:
    """A model's skill under ``key``: its named skill once trained, else its general ``skill``."""
    return skill if key is None else skills.get(key, skill)


def respond(
    *,
    seed: int,
    model: str,
    skill: float,
    knowledge: float,
    messages: list[dict[str, Any]],
    tools: list[dict[str, Any]] | None,
    tool_choice: Any,
    behaviours: tuple[str, ...] = (),
    skills: Mapping[str, float] | None = None,
    sample: int | None = None,
) -> Reply:
    """The model's reply to one chat request, from the plug-in its tools select, acting with the skill
    the request's next step uses (``skills``: the model's named skills); ``sample`` (the request's
    ``seed``, when it samples) makes it another draw of the same request."""
    plugin = select(load_behaviours(behaviours), tools)
    request = ChatRequest(
        seed=seed,
        model=model,
        skill=skill_for(skill_key(plugin, messages), skill, skills or {}),
        knowledge=knowledge,
        messages=messages,
        tools=tools,
        tool_choice=tool_choice,
        sample=sample,
    )
    return plugin.respond(request)


@dataclass
class TrainingSignal:
    """Labelled assistant turns of a training file."""

    good: int = 0
    bad: int = 0
    neutral: int = 0

    @property
    def labelled(self) -> int:
        return self.good + self.bad

    def add(self, label: Label, plugin: str) -> None:
        if label not in ("good", "bad", "neutral"):
            raise ValueError(
                f"behaviour plug-in {plugin} labelled a turn {label!r}: use good, bad or neutral"
            )
        setattr(self, label, getattr(self, label) + 1)

    def merged(self, other: TrainingSignal) -> TrainingSignal:
        return TrainingSignal(self.good + other.good, self.bad + other.bad, self.neutral + other.neutral)


def classify_skills(
    examples: list[dict[str, Any]], behaviours: tuple[str, ...] = ()
) -> dict[SkillKey, TrainingSignal]:
    """Label every trainable assistant turn of ``examples`` (parsed JSONL lines) as good, bad or neutral,
    filed under the skill the turn uses."""
    plugins = load_behaviours(behaviours)
    signals: dict[SkillKey, TrainingSignal] = {}
    for example in examples:
        plugin = select(plugins, example.get("tools"))
        messages: list[dict[str, Any]] = example.get("messages") or []
        for i, message in enumerate(messages):
            if message.get("role") != "assistant" or message.get("weight", 1) == 0:
                continue
            prior = messages[:i]
            signal = signals.setdefault(skill_key(plugin, prior), TrainingSignal())
            signal.add(plugin.label(prior, message), plugin.name)
    return signals


def classify(examples: list[dict[str, Any]], behaviours: tuple[str, ...] = ()) -> TrainingSignal:
    """All labelled turns of ``examples`` together, whatever skill they use."""
    total = TrainingSignal()
    for signal in classify_skills(examples, behaviours).values():
        total = total.merged(signal)
    return total


def trained_skill(parent: float, signal: TrainingSignal, n_epochs: int, lr_multiplier: float) -> float:
    """The skill of a model fine-tuned from a model of skill ``parent`` on data labelled ``signal``."""
    if signal.labelled == 0:
        return parent
    ratio = signal.good / signal.labelled
    strength = LEARNING_RATE * n_epochs * lr_multiplier * min(1.0, signal.labelled / FULL_EFFECT_TURNS)
    k = 1 - math.exp(-strength)
    return min(SKILL_MAX, max(SKILL_MIN, parent + k * (ratio - parent)))


def learn(
    skill: float,
    skills: Mapping[str, float],
    signals: Mapping[SkillKey, TrainingSignal],
    n_epochs: int,
    lr_multiplier: float,
) -> tuple[float, dict[str, float]]:
    """The general skill and named skills of a model fine-tuned, from one with ``skill`` and ``skills``,
    on a file labelled ``signals``: each skill learns from its own turns only. A named skill seen for
    the first time starts from the parent's general skill."""
    general = trained_skill(skill, signals.get(None, TrainingSignal()), n_epochs, lr_multiplier)
    named = dict(skills)
    for key, signal in signals.items():
        if key is not None and signal.labelled:
            named[key] = trained_skill(skill_for(key, skill, skills), signal, n_epochs, lr_multiplier)
    return general, named


def estimate_tokens(text: str) -> int:
    """About four characters per token, as a rough English average."""
    return max(1, math.ceil(len(text) / 4))
