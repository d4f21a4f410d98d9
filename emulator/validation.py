"""Validation of fine-tuning JSONL, as Azure applies it when it processes an uploaded file.

The outcome is computed once at upload and revealed when processing finishes: the file's status becomes
``processed`` or ``error`` with ``status_details`` naming the first bad line and the reason.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from emulator.behaviour import estimate_tokens

ROLES = {"system", "developer", "user", "assistant", "tool"}


class LineError(ValueError):
    """A problem with one example; the message is shown to the user after 'line N:'."""


class NestedTooDeeply(ValueError):
    """JSON nested deeper than ``json.loads`` can recurse (about 1,000 levels)."""


def parse_json_text(text: str) -> Any:
    """``json.loads``, with JSON nested too deeply for its recursive parser refused as invalid JSON
    (NestedTooDeeply, a ValueError) rather than a RecursionError that would end the request as a 500."""
    try:
        return json.loads(text)
    except RecursionError:
        raise NestedTooDeeply("nested too deeply") from None


@dataclass
class ValidationResult:
    error: str | None = None
    examples: list[dict[str, Any]] = field(default_factory=list)
    tokens: int = 0


def _check_tools(tools: Any) -> None:
    if not isinstance(tools, list):
        raise LineError("'tools' must be a list")
    for n, tool in enumerate(tools):
        if not isinstance(tool, dict) or tool.get("type") != "function":
            raise LineError(f"tools[{n}] must be an object with type 'function'")
        function = tool.get("function")
        if (
            not isinstance(function, dict)
            or not isinstance(function.get("name"), str)
            or not function["name"]
        ):
            raise LineError(f"tools[{n}].function.name is required")
        params = function.get("parameters")
        if params is not None and (not isinstance(params, dict) or params.get("type", "object") != "object"):
            raise LineError(f"tools[{n}].function.parameters must be a JSON schema of type 'object'")


def _check_tool_calls(calls: Any, where: str) -> list[str]:
    if not isinstance(calls, list) or not calls:
        raise LineError(f"{where}.tool_calls must be a non-empty list")
    ids = []
    for n, call in enumerate(calls):
        if not isinstance(call, dict) or not isinstance(call.get("id"), str):
            raise LineError(f"{where}.tool_calls[{n}].id is required")
        if call.get("type", "function") != "function":
            raise LineError(f"{where}.tool_calls[{n}].type must be 'function'")
        function = call.get("function")
        if not isinstance(function, dict) or not isinstance(function.get("name"), str):
            raise LineError(f"{where}.tool_calls[{n}].function.name is required")
        arguments = function.get("arguments")
        if not isinstance(arguments, str):
            raise LineError(f"{where}.tool_calls[{n}].function.arguments must be a JSON string")
        try:
            parse_json_text(arguments)
        except ValueError as exc:
            deep = " (nested too deeply)" if isinstance(exc, NestedTooDeeply) else ""
            raise LineError(f"{where}.tool_calls[{n}].function.arguments is not valid JSON{deep}") from exc
        ids.append(call["id"])
    return ids


def _check_example(example: Any) -> None:
    if not isinstance(example, dict):
        raise LineError("each line must be a JSON object")
    messages = example.get("messages")
    if not isinstance(messages, list) or not messages:
        raise LineError("'messages' is missing or empty")
    if "tools" in example:
        _check_tools(example["tools"])
    open_calls: set[str] = set()
    assistants = 0
    for n, message in enumerate(messages):
        where = f"messages[{n}]"
        if not isinstance(message, dict):
            raise LineError(f"{where} must be an object")
        role = message.get("role")
        if role not in ROLES:
            raise LineError(f"{where}.role {role!r} is invalid; expected one of {sorted(ROLES)}")
        content = message.get("content")
        if content is not None and not isinstance(content, (str, list)):
            raise LineError(f"{where}.content must be a string or a list of parts")
        if "weight" in message and (role != "assistant" or message["weight"] not in (0, 1)):
            raise LineError(f"{where}.weight must be 0 or 1 and only on assistant messages")
        if role == "assistant":
            assistants += 1
            if "tool_calls" in message and message["tool_calls"] is not None:
                open_calls.update(_check_tool_calls(message["tool_calls"], where))
            elif content is None:
                raise LineError(f"{where} has neither content nor tool_calls")
        elif role == "tool":
            call_id = message.get("tool_call_id")
            if not isinstance(call_id, str) or call_id not in open_calls:
                raise LineError(f"{where}.tool_call_id does not match a preceding assistant tool call")
            if content is None:
                raise LineError(f"{where}.content is required")
        elif content is None:
            raise LineError(f"{where}.content is required")
    if assistants == 0:
        raise LineError("at least one assistant message is required")


def validate_training_file(filename: str, data: bytes, min_examples: int) -> ValidationResult:
    """Check ``data`` as Azure checks a ``purpose=fine-tune`` upload."""
    if not filename.lower().endswith(".jsonl"):
        return ValidationResult(error=f"Invalid file format: '{filename}'. Fine-tuning files must be .jsonl.")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return ValidationResult(error="Invalid file encoding: fine-tuning files must be UTF-8.")
    result = ValidationResult()
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            example = parse_json_text(line)
        except ValueError as exc:
            deep = " (nested too deeply)" if isinstance(exc, NestedTooDeeply) else ""
            return ValidationResult(
                error=f"Training file validation failed: line {number}: invalid JSON{deep}."
            )
        try:
            _check_example(example)
        except LineError as exc:
            return ValidationResult(error=f"Training file validation failed: line {number}: {exc}.")
        result.examples.append(example)
        result.tokens += estimate_tokens(line)
    if len(result.examples) < min_examples:
        return ValidationResult(
            error=(
                f"Training file validation failed: the file has {len(result.examples)} examples; "
                f"at least {min_examples} are required."
            )
        )
    return result
