"""Helpers for the emulator tests: the world they run in, training data in the bundled agent's shape, and
a tiny agent loop."""

from __future__ import annotations

import io
import json
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Literal, Protocol, TypeVar, cast

import httpx2
import openai
from azure.core.exceptions import HttpResponseError, ODataV4Format
from azure.mgmt.cognitiveservices.models import (
    Account,
    Deployment,
    DeploymentModel,
    DeploymentProperties,
    Sku,
)
from openai import OpenAI
from openai.types import FileObject
from openai.types.chat import (
    ChatCompletionAssistantMessageParam,
    ChatCompletionFunctionToolParam,
    ChatCompletionMessage,
    ChatCompletionMessageFunctionToolCall,
    ChatCompletionMessageParam,
)
from openai.types.fine_tuning import FineTuningJob

from emulator.countries import COUNTRIES
from emulator.launch import EmulatorHandle, start_emulator

# The emulator's own tests check its mechanics (files, jobs, chat, learning, limits), which no date
# changes, in the world before the 2026 retirements: gpt-4.1-mini's base deployment serving. Each group is
# added unless its first flag is given; the lifecycle rules' tests pass --lifecycle table themselves. The
# app's tests use the launcher's world instead (emulator/launch.py: the table, gpt-5.1 to distil from).
BEFORE_RETIREMENTS = (("--lifecycle", "none"), ("--deployment", "gpt-4.1-mini=gpt-4.1-mini-2025-04-14"))


def error_body(error: openai.APIError) -> dict[str, Any]:
    """The error object of a refused request: the SDK types ``body`` as ``object`` (whatever JSON came back),
    and every refusal the emulator answers carries a JSON object."""
    body = error.body
    assert isinstance(body, dict), body
    return body


def arm_error(error: HttpResponseError) -> ODataV4Format:
    """The ARM error object of a refused management call (the SDK leaves it ``None`` when the body has none;
    every refusal the emulator answers has one)."""
    assert error.error is not None, error
    return error.error


def azure_status(resource: FineTuningJob | FileObject) -> str:
    """The status as Azure answers it: Azure's jobs are also ``pending`` or ``paused`` and its files
    ``pending``, which the openai SDK's ``Literal`` lacks (it keeps whatever string came back)."""
    return str(resource.status)


def properties(deployment: Deployment) -> DeploymentProperties:
    """A deployment's properties: the SDK types them optional; ARM answers them on every deployment."""
    assert deployment.properties is not None, deployment
    return deployment.properties


def deployed_model(deployment: Deployment) -> DeploymentModel:
    """The model a deployment serves (optional in the SDK's types, always answered by ARM)."""
    model = properties(deployment).model
    assert model is not None, deployment
    return model


def sku(resource: Deployment | Account) -> Sku:
    """A deployment's or account's SKU (optional in the SDK's types, always answered by ARM)."""
    assert resource.sku is not None, resource
    return resource.sku


def first_function_call(message: ChatCompletionMessage) -> ChatCompletionMessageFunctionToolCall:
    """The first tool call of a reply that calls a tool: the SDK types the calls optional and as function or
    custom calls; the tools these tests offer are all functions."""
    assert message.tool_calls, message
    call = message.tool_calls[0]
    assert isinstance(call, ChatCompletionMessageFunctionToolCall), call
    return call


class Named(Protocol):
    """An Azure SDK model with a name (``Deployment``, ``AccountModel``)."""

    name: str | None


N = TypeVar("N", bound=Named)


def by_name(resources: Iterable[N]) -> dict[str, N]:
    """Resources keyed by name: the SDK types names optional; ARM names every resource it lists."""
    named: dict[str, N] = {}
    for resource in resources:
        assert resource.name is not None, resource
        named[resource.name] = resource
    return named


def start_before_retirements(*flags: str, state_dir: Path | None = None) -> EmulatorHandle:
    """``start_emulator`` in the emulator tests' world (``BEFORE_RETIREMENTS`` fill in what is not given)."""
    given = {flag for flag in flags if flag.startswith("--")}
    extra = [item for group in BEFORE_RETIREMENTS if group[0] not in given for item in group]
    return start_emulator(*flags, *extra, state_dir=state_dir)


TOOL: dict[str, Any] = {
    "type": "function",
    "function": {
        "name": "country_capital_lookup",
        "description": "Look up the capital city of a country.",
        "parameters": {
            "type": "object",
            "properties": {"country": {"type": "string", "description": "The country name"}},
            "required": ["country"],
        },
    },
}
# The same tool as the openai SDK's param type, for the SDK's calls (TOOL is the JSON the emulator reads).
SDK_TOOL: ChatCompletionFunctionToolParam = {"type": "function", "function": TOOL["function"]}
SYSTEM = (
    "You answer questions about capitals. Always use the country_capital_lookup tool for capital questions."
)
PHRASINGS = ("What is the capital of {c}?", "capital of {l}??", "Tell me {c}'s capital.")


def questions() -> list[tuple[str, str]]:
    """(question, expected capital) for every country and phrasing."""
    return [
        (p.format(c=country.name, l=country.name.lower()), country.capital)
        for country in COUNTRIES
        for p in PHRASINGS
    ]


def success_example(question: str, country: str, capital: str) -> dict[str, Any]:
    call = {
        "id": "call_1",
        "type": "function",
        "function": {"name": TOOL["function"]["name"], "arguments": json.dumps({"country": country})},
    }
    return {
        "messages": [
            {"role": "system", "content": SYSTEM},
            {"role": "user", "content": question},
            {"role": "assistant", "content": None, "tool_calls": [call]},
            {"role": "tool", "tool_call_id": "call_1", "content": capital},
            {"role": "assistant", "content": f"The capital of {country} is {capital}."},
        ],
        "tools": [TOOL],
    }


def failure_example(question: str, country: str, wrong: str) -> dict[str, Any]:
    return {
        "messages": [
            {"role": "system", "content": SYSTEM},
            {"role": "user", "content": question},
            {"role": "assistant", "content": f"The capital of {country} is {wrong}."},
        ],
        "tools": [TOOL],
    }


def jsonl(examples: list[dict[str, Any]]) -> bytes:
    return "\n".join(json.dumps(e) for e in examples).encode() + b"\n"


def success_file(n: int = 20) -> bytes:
    return jsonl(
        [success_example(f"What is the capital of {c.name}?", c.name, c.capital) for c in COUNTRIES[:n]]
    )


def failure_file(n: int = 20) -> bytes:
    wrong = [c.capital for c in COUNTRIES[1:]] + [COUNTRIES[0].capital]
    return jsonl(
        [
            failure_example(f"What is the capital of {c.name}?", c.name, w)
            for c, w in zip(COUNTRIES[:n], wrong[:n], strict=True)
        ]
    )


def upload(client: OpenAI, data: bytes, name: str = "train.jsonl") -> FileObject:
    return client.files.create(file=(name, io.BytesIO(data)), purpose="fine-tune")


T = TypeVar("T")


def wait_for(
    predicate: Callable[[], T | Literal[False] | None], timeout: float = 10.0, interval: float = 0.02
) -> T:
    """Poll ``predicate`` until it returns something truthy (``False`` or ``None`` mean not yet), and return
    that; fail loudly on timeout."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout} s (last value {value!r})")
        time.sleep(interval)


def wait_processed(client: OpenAI, file_id: str) -> FileObject:
    return wait_for(lambda: (f := client.files.retrieve(file_id)).status in ("processed", "error") and f)


def wait_job(client: OpenAI, job_id: str, timeout: float = 15.0) -> FineTuningJob:
    terminal = ("succeeded", "failed", "cancelled")
    return wait_for(lambda: (j := client.fine_tuning.jobs.retrieve(job_id)).status in terminal and j, timeout)


BASE = "gpt-4.1-mini-2025-04-14"
# Real time (--time-scale 1) with files and jobs that take a fraction of a second, for tests whose other
# durations must be real (a write still in progress, a lifetime no clock jump reaches).
FAST_JOBS_AT_SCALE_1 = (
    "--time-scale",
    "1",
    "--file-processing",
    "0.05",
    "--job-pending",
    "0.05",
    "--job-running",
    "0.2",
)


def fine_tuned_model(job: FineTuningJob) -> str:
    """The model a job trained: the SDK types it ``str | None`` (None until the job succeeds)."""
    model = job.fine_tuned_model
    assert model is not None, job
    return model


def fine_tuned_models(
    handle: EmulatorHandle, count: int = 1, training_type: str = "Standard", model: str = BASE
) -> list[str]:
    """``count`` succeeded fine-tuned models of ``model``, trained on one processed success file."""
    client = handle.openai_v1()
    file_id = upload(client, success_file()).id
    wait_processed(client, file_id)
    jobs = [
        client.fine_tuning.jobs.create(
            model=model, training_file=file_id, extra_body={"trainingType": training_type}
        )
        for _ in range(count)
    ]
    return [fine_tuned_model(wait_job(client, j.id)) for j in jobs]


def create_job(
    handle: EmulatorHandle, model: str = BASE, training_type: str = "developerTier"
) -> FineTuningJob:
    """A new job on ``model`` with a processed success file (errors raise the SDK's exceptions)."""
    client = handle.openai_v1(max_retries=0)
    file_id = upload(client, success_file()).id
    wait_processed(client, file_id)
    return client.fine_tuning.jobs.create(
        model=model, training_file=file_id, extra_body={"trainingType": training_type}
    )


def deployment_body(
    model: str, sku: str = "DeveloperTier", capacity: int = 50, version: str = "1"
) -> Deployment:
    return Deployment(
        sku=Sku(name=sku, capacity=capacity),
        properties=DeploymentProperties(model=DeploymentModel(format="OpenAI", name=model, version=version)),
    )


def deploy(
    handle: EmulatorHandle, name: str, model: str, sku: str = "DeveloperTier", version: str = "1"
) -> Deployment:
    """Create (or update) a deployment through azure-mgmt-cognitiveservices and wait for the poller."""
    mgmt = handle.mgmt()
    body = deployment_body(model, sku=sku, version=version)
    return mgmt.deployments.begin_create_or_update(handle.resource_group, handle.account, name, body).result()


ARM_HEADERS = {"Authorization": "Bearer t", "content-type": "application/json"}


def arm_url(handle: EmulatorHandle, tail: str) -> str:
    """The URL of ``tail`` under the emulated account (``deployments/x``, ``models``), with api-version."""
    return (
        f"{handle.url}/subscriptions/{handle.subscription}/resourceGroups/{handle.resource_group}/providers/"
        f"Microsoft.CognitiveServices/accounts/{handle.account}/{tail}?api-version=2025-06-01"
    )


def arm_call(handle: EmulatorHandle, method: str, tail: str, body: Any = None) -> httpx2.Response:
    """One raw ARM request (no SDK retries, no client-side validation): the httpx2 response."""
    content = None if body is None else json.dumps(body).encode()
    with handle.http_client() as http:
        return http.request(method, arm_url(handle, tail), headers=ARM_HEADERS, content=content)


def arm_deployment(
    model: str,
    sku: str = "GlobalStandard",
    capacity: int = 100,
    model_format: str = "OpenAI",
    version: str = "1",
) -> dict[str, Any]:
    """An ARM deployment body as JSON, for raw requests."""
    return {
        "sku": {"name": sku, "capacity": capacity},
        "properties": {"model": {"format": model_format, "name": model, "version": version}},
    }


def deployment_state(handle: EmulatorHandle, name: str) -> dict[str, Any] | None:
    """The admin API's view of one deployment (with ``expires_at``), or None once it is gone."""
    return next((d for d in handle.state()["deployments"] if d["name"] == name), None)


def delete_job(client: OpenAI, job_id: str) -> int:
    """``DELETE /fine_tuning/jobs/{id}`` (Azure's spec has it; the openai SDK has no method): the status.
    Errors raise the SDK's usual exceptions."""
    return int(client.delete(f"/fine_tuning/jobs/{job_id}", cast_to=httpx2.Response).status_code)


def run_agent(client: OpenAI, deployment: str, question: str) -> str:
    """The bundled agent's loop: one call with the tool offered, the tool if called, one more call."""
    messages: list[ChatCompletionMessageParam] = [
        {"role": "system", "content": SYSTEM},
        {"role": "user", "content": question},
    ]
    first = client.chat.completions.create(model=deployment, messages=messages, tools=[SDK_TOOL])
    message = first.choices[0].message
    if not message.tool_calls:
        return message.content or ""
    call = first_function_call(message)
    country = json.loads(call.function.arguments)["country"]
    capital = next((c.capital for c in COUNTRIES if c.name.lower() == country.lower()), "unknown")
    # The assistant's turn goes back as the SDK dumped it (``annotations`` too, which the param type has
    # no key for), as an agent built on the SDK does.
    messages.append(cast(ChatCompletionAssistantMessageParam, message.model_dump(exclude_none=True)))
    messages.append({"role": "tool", "tool_call_id": call.id, "content": capital})
    second = client.chat.completions.create(model=deployment, messages=messages, tools=[SDK_TOOL])
    return second.choices[0].message.content or ""


def evaluate(client: OpenAI, deployment: str) -> float:
    """Share of questions whose final answer contains the right capital."""
    cases = questions()
    with ThreadPoolExecutor(24) as pool:
        answers = list(pool.map(lambda case: run_agent(client, deployment, case[0]), cases))
    return sum(
        expected.lower() in answer.lower() for (_, expected), answer in zip(cases, answers, strict=True)
    ) / len(cases)
