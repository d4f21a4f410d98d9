"""The letter counter's behaviour plug-in for the emulator (docs/agents.md, section 5): the model knows
the quoted word is what to count, not how many letters it has; that it reads from ``count_letters``.

Script: call ``count_letters(word=<the quoted word>)``, then say "<word> has N letters." (the fact: N).
Mistakes: answer a made-up count, or count a word missing its last letter; then a count off by one.
"""

from __future__ import annotations

import re

from emulator.behaviours.scripted import ScriptedBehaviour, Step, ToolResult

QUOTED = re.compile(r'"([A-Za-z]+)"')


class LettersBehaviour(ScriptedBehaviour):
    name = "letters"
    tools = frozenset({"count_letters"})

    def expert(self, question: str, results: list[ToolResult]) -> Step | None:
        quoted = QUOTED.search(question)
        if quoted is None:
            return None
        word = quoted.group(1)
        counted = [r for r in results if str(r.arguments.get("word", "")).lower() == word.lower()]
        if not counted or not counted[-1].content.isdigit():
            return Step.call("count_letters", word=word)
        return Step.say(f"{word} has {counted[-1].content} letters.", counted[-1].content)

    def mistake(self, expert: Step, question: str, results: list[ToolResult], draw: float) -> Step:
        if expert.tool is not None:
            word = str(expert.arguments["word"])
            return (
                Step.say(self.guess(question, results, draw))
                if draw < 0.5
                else Step.call("count_letters", word=word[:-1])
            )
        wrong = int(expert.fact or 0) + (1 if draw < 0.5 else -1)
        return Step.say(f"That word has {wrong} letters.")

    def guess(self, question: str, results: list[ToolResult], draw: float) -> str:
        return f"It has {3 + int(draw * 9)} letters."


BEHAVIOURS = [LettersBehaviour()]
