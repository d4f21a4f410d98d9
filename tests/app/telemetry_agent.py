"""A small production agent for the telemetry test, in a process of its own as in production: the real
``openai`` SDK instrumented by ``opentelemetry-instrumentation-openai-v2``, its spans and log records
sent by the real OTLP/HTTP exporters (gzip) to the app.

``python -m tests.app.telemetry_agent CONFIG_JSON`` with ``{"endpoint", "emulator_url", "ca_path",
"service", "questions", "crash", "image"}``; ``crash`` is the index of a question whose run fails after
its first LLM call, ``image`` (optional) the index of one asked with a picture attached (content Azure
cannot fine-tune on). Content capture is configured by the environment, as the instrumentation documents
(``OTEL_SEMCONV_STABILITY_OPT_IN``, ``OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT``). Prints one
JSON line per question: ``{"trace_id", "question", "answer", "calls", "failed"}``.

With ``"setup"`` (Python source) instead of ``endpoint`` and ``service``, OpenTelemetry is set up by
running that code as a user's program would (docs/production.md's quick start: a global tracer
provider configured from the ``OTEL_*`` environment, spans flushed when the process exits).
"""

from __future__ import annotations

import json
import ssl
import sys
from collections.abc import Callable
from typing import Any, cast

import httpx2
from openai import AzureOpenAI
from openai.types.chat import (
    ChatCompletion,
    ChatCompletionAssistantMessageParam,
    ChatCompletionContentPartParam,
    ChatCompletionMessageFunctionToolCall,
    ChatCompletionMessageParam,
    ChatCompletionUserMessageParam,
)
from opentelemetry import trace
from opentelemetry.exporter.otlp.common.http import Compression
from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.instrumentation.openai_v2 import OpenAIInstrumentor
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import BatchLogRecordProcessor
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.trace import Status, StatusCode, Tracer

from emulator.countries import COUNTRIES
from emulator.launch import AZURE_API_VERSION, TEACHER_DEPLOYMENT
from tests.emulator.support import SDK_TOOL, SYSTEM

DEPLOYMENT = TEACHER_DEPLOYMENT
HEADERS = {"x-functions-key": "local-key"}
# The emulator's tests share the tool's definition as JSON; the SDK takes it as its own param type.


class AgentCrash(RuntimeError):
    """The agent's own failure after its first call (its tool backend is down)."""


def lookup(country: str) -> str:
    return next((c.capital for c in COUNTRIES if c.name.lower() == country.strip().lower()), "unknown")


# A 1x1 PNG: what a user's photo looks like on the wire.
PICTURE = (
    "data:image/png;base64,"
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg=="
)


def user_message(question: str, image: bool) -> ChatCompletionUserMessageParam:
    if not image:
        return {"role": "user", "content": question}
    parts: list[ChatCompletionContentPartParam] = [
        {"type": "text", "text": question},
        {"type": "image_url", "image_url": {"url": PICTURE}},
    ]
    return {"role": "user", "content": parts}


def ask(client: AzureOpenAI, messages: list[ChatCompletionMessageParam]) -> ChatCompletion:
    """One call of the agent's model with the tool offered."""
    return client.chat.completions.create(model=DEPLOYMENT, messages=messages, tools=[SDK_TOOL])


def answer(client: AzureOpenAI, tracer: Tracer, question: str, crash: bool, image: bool) -> tuple[str, int]:
    """The capital agent's loop: a call with the tool offered, the tool if called, one more call."""
    messages: list[ChatCompletionMessageParam] = [
        {"role": "system", "content": SYSTEM},
        user_message(question, image),
    ]
    message = ask(client, messages).choices[0].message
    if crash:
        raise AgentCrash("the lookup backend is unavailable")
    if not message.tool_calls:
        return message.content or "", 1
    # The assistant's turn goes back as the SDK dumped it, every field it answered (``annotations`` too,
    # which the param type has no key for), as an agent built on the SDK does.
    messages.append(cast(ChatCompletionAssistantMessageParam, message.model_dump(exclude_none=True)))
    for call in message.tool_calls:
        assert isinstance(call, ChatCompletionMessageFunctionToolCall), call  # the only tool is a function
        attributes = {"gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": call.function.name}
        with tracer.start_as_current_span(f"execute_tool {call.function.name}", attributes=attributes):
            result = lookup(json.loads(call.function.arguments).get("country", ""))
        messages.append({"role": "tool", "tool_call_id": call.id, "content": result})
    final = ask(client, messages).choices[0].message
    return final.content or "", 2


def instrument(config: dict[str, Any]) -> tuple[Tracer, Callable[[], None]]:
    """Sets up OpenTelemetry and the instrumentation; returns the agent's tracer and what flushes the
    telemetry at the end."""
    if "setup" in config:
        # The doc's snippet, run as written: it sets the global providers the instrumentation uses.
        exec(compile(config["setup"], "docs/production.md", "exec"), {})
        return trace.get_tracer("capital-agent"), lambda: None  # the SDK flushes at exit
    resource = Resource({"service.name": config["service"]})
    traces = TracerProvider(resource=resource)
    endpoint = config["endpoint"]
    traces.add_span_processor(
        BatchSpanProcessor(
            OTLPSpanExporter(f"{endpoint}/v1/traces", headers=HEADERS, compression=Compression.GZIP)
        )
    )
    logs = LoggerProvider(resource=resource)
    logs.add_log_record_processor(
        BatchLogRecordProcessor(
            OTLPLogExporter(f"{endpoint}/v1/logs", headers=HEADERS, compression=Compression.GZIP)
        )
    )
    OpenAIInstrumentor().instrument(tracer_provider=traces, logger_provider=logs)

    def flush() -> None:
        traces.shutdown()
        logs.shutdown()

    return traces.get_tracer("capital-agent"), flush


def main() -> None:
    config = json.loads(sys.argv[1])
    tracer, flush = instrument(config)
    client = AzureOpenAI(
        azure_endpoint=config["emulator_url"],
        api_key="test-key",
        api_version=AZURE_API_VERSION,
        max_retries=0,
        http_client=httpx2.Client(verify=ssl.create_default_context(cafile=config["ca_path"])),
    )
    for index, question in enumerate(config["questions"]):
        attributes = {"gen_ai.operation.name": "invoke_agent", "gen_ai.agent.name": "capital-agent"}
        with tracer.start_as_current_span("invoke_agent capital-agent", attributes=attributes) as root:
            trace_id = format(root.get_span_context().trace_id, "032x")
            try:
                crash, image = index == config.get("crash"), index == config.get("image")
                reply, calls = answer(client, tracer, question, crash=crash, image=image)
            except AgentCrash as exc:
                root.set_status(Status(StatusCode.ERROR, str(exc)))
                reply, calls = "", 1
        failed = index == config.get("crash")
        print(
            json.dumps(
                {
                    "trace_id": trace_id,
                    "question": question,
                    "answer": reply,
                    "calls": calls,
                    "failed": failed,
                }
            )
        )
    flush()


if __name__ == "__main__":
    main()
