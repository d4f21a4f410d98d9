"""The usual agent loop: ask the model, run the tools it calls, ask again, until it answers.

Every model call and tool run goes through the ``TraceRecorder``, so the trace holds the whole
conversation and the dataset builder can turn each model call into a fine-tuning example.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from shared.agents.traces import TraceRecorder

ToolFunction = Callable[..., str]


def _unknown_tool(name: str) -> ToolFunction:
    def run(**_: Any) -> str:
        return f"error: there is no tool named {name!r}"

    return run


async def run_tool_loop(
    llm: Any,
    deployment: str,
    recorder: TraceRecorder,
    messages: list[dict[str, Any]],
    tools: list[dict[str, Any]],
    functions: Mapping[str, ToolFunction],
    max_llm_calls: int,
) -> str | None:
    """The model's final answer, or None when it still wanted a tool after ``max_llm_calls`` calls.

    ``functions`` maps each tool's name to the Python function that runs it (keyword arguments in, text
    out); a call to a tool not in it gets an error result the model can read. ``messages`` grows with
    the conversation. Each call sends the agent's ``AgentSpec.max_tokens`` (the recorder adds it), so
    it books only the tokens a turn needs against the deployment's TPM.
    """
    for call_number in range(1, max_llm_calls + 1):
        response = await recorder.chat(
            llm, model=deployment, messages=messages, tools=tools, tool_choice="auto"
        )
        message = response.choices[0].message
        if not message.tool_calls:
            return str(message.content or "")
        if call_number == max_llm_calls:
            break
        messages.append(message.model_dump(exclude_none=True))
        for call in message.tool_calls:
            name = call.function.name
            function = functions.get(name) or _unknown_tool(name)
            result = recorder.tool(name, call.id, call.function.arguments, function)
            messages.append({"role": "tool", "tool_call_id": call.id, "content": result})
    return None
