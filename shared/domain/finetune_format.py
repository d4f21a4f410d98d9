"""Azure OpenAI's rules for chat fine-tuning files, checked before an upload costs anything.

Azure rejects a bad file only after it is uploaded and processed; finding the problem here lets the
dataset step report which example breaks which rule.
"""

from __future__ import annotations

import json
from typing import Any

from shared.telemetry.spans import jsonl_lines

MIN_EXAMPLES = 10
MAX_FILE_BYTES = 512 * 1024 * 1024
ROLES = {"system", "developer", "user", "assistant", "tool"}


def _tool_call_problems(calls: Any, where: str) -> tuple[list[str], set[str]]:
    problems: list[str] = []
    ids: set[str] = set()
    if not isinstance(calls, list) or not calls:
        return [f"{where}: tool_calls must be a non-empty list"], ids
    for call in calls:
        function = call.get("function") if isinstance(call, dict) else None
        if not isinstance(call, dict) or not call.get("id") or call.get("type") != "function":
            problems.append(f"{where}: each tool call needs an id and type 'function'")
            continue
        ids.add(call["id"])
        if not isinstance(function, dict) or not function.get("name"):
            problems.append(f"{where}: tool call {call['id']} needs function.name")
            continue
        try:
            json.loads(function.get("arguments", ""))
        except (TypeError, json.JSONDecodeError):
            problems.append(f"{where}: tool call {call['id']} arguments must be a JSON string")
    return problems, ids


def _tools_problems(tools: Any, where: str) -> list[str]:
    if not isinstance(tools, list):
        return [f"{where}: tools must be a list"]
    problems = []
    for tool in tools:
        function = tool.get("function") if isinstance(tool, dict) else None
        if not isinstance(tool, dict) or tool.get("type") != "function" or not isinstance(function, dict):
            problems.append(f"{where}: each tool must be {{type: function, function: {{...}}}}")
        elif not function.get("name") or not isinstance(function.get("parameters", {}), dict):
            problems.append(f"{where}: tool functions need a name and an object 'parameters' schema")
    return problems


def example_problems(example: Any, line: int) -> list[str]:
    where = f"line {line}"
    if (
        not isinstance(example, dict)
        or not isinstance(example.get("messages"), list)
        or not example["messages"]
    ):
        return [f"{where}: an example is an object with a non-empty 'messages' list"]
    problems = _tools_problems(example["tools"], where) if "tools" in example else []
    open_calls: set[str] = set()
    assistants = 0
    for index, message in enumerate(example["messages"]):
        at = f"{where} message {index}"
        if not isinstance(message, dict) or message.get("role") not in ROLES:
            problems.append(f"{at}: role must be one of {sorted(ROLES)}")
            continue
        if "content" in message and message["content"] is None:
            problems.append(f"{at}: content must be omitted rather than null")
        role = message["role"]
        if role == "assistant":
            assistants += 1
            if "weight" in message and message["weight"] not in (0, 1):
                problems.append(f"{at}: weight must be 0 or 1")
            if not message.get("content") and "tool_calls" not in message:
                problems.append(f"{at}: an assistant message needs content or tool_calls")
            if "tool_calls" in message:
                call_problems, ids = _tool_call_problems(message["tool_calls"], at)
                problems += call_problems
                open_calls |= ids
        elif "weight" in message:
            problems.append(f"{at}: weight is only allowed on assistant messages")
        if role == "tool" and message.get("tool_call_id") not in open_calls:
            problems.append(f"{at}: tool message answers no earlier tool call")
    if assistants == 0:
        problems.append(f"{where}: needs at least one assistant message")
    return problems


def jsonl_problems(text: str) -> list[str]:
    """Every problem in a chat fine-tuning JSONL file; empty when Azure would accept it."""
    problems: list[str] = []
    if len(text.encode("utf-8")) > MAX_FILE_BYTES:
        problems.append("the file is over Azure's 512 MB limit")
    count = 0
    for line_no, line in enumerate(jsonl_lines(text), start=1):
        if not line.strip():
            continue
        count += 1
        try:
            example = json.loads(line)
        except json.JSONDecodeError as exc:
            problems.append(f"line {line_no}: not JSON ({exc.msg})")
            continue
        problems += example_problems(example, line_no)
    if count < MIN_EXAMPLES:
        problems.append(f"{count} examples; Azure needs at least {MIN_EXAMPLES}")
    return problems
