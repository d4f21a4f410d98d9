"""A bundled agent rehearsed against a running emulator, end to end through the SDKs: the agent's own
rollouts (traced as the app traces them), and fine-tuning on a dataset and deploying the result."""

from __future__ import annotations

import asyncio

import httpx2
from openai import AsyncAzureOpenAI

from emulator.launch import AZURE_API_VERSION, EmulatorHandle
from shared.agents.registry import AgentSpec
from shared.agents.tasks import Task
from shared.agents.traces import Span, TraceRecorder, parse_jsonl
from tests.emulator.support import BASE, deployment_body, upload, wait_job, wait_processed


async def rollouts(
    handle: EmulatorHandle, spec: AgentSpec, deployment: str, tasks: list[Task]
) -> dict[str, list[Span]]:
    """Runs the agent's own rollout on every task; returns each trace's spans by rollout id."""
    llm = AsyncAzureOpenAI(
        azure_endpoint=handle.url,
        api_version=AZURE_API_VERSION,
        api_key="test",
        http_client=httpx2.AsyncClient(verify=handle.ssl_context()),
    )

    async def one(number: int, task: Task) -> tuple[str, list[Span]]:
        recorder = TraceRecorder(f"r{number}", task, spec.name)
        recorder.finish(await spec.rollout(llm, deployment, task, recorder))
        return recorder.rollout_id, parse_jsonl(recorder.to_jsonl())

    async with llm:
        return dict(await asyncio.gather(*(one(n, task) for n, task in enumerate(tasks))))


def reward_of(spans: list[Span]) -> float:
    return float(spans[0].attributes["durable_finetune.reward"])


def mean_reward(traces: dict[str, list[Span]]) -> float:
    return sum(reward_of(spans) for spans in traces.values()) / len(traces)


def fine_tune_and_deploy(
    handle: EmulatorHandle, training: str, name: str, *, model: str = BASE, n_epochs: int = 2
) -> str:
    """Fine-tunes ``model`` on ``training`` (JSONL), deploys the result as ``name``; returns its model id."""
    client = handle.openai_v1()
    file_id = upload(client, training.encode()).id
    assert wait_processed(client, file_id).status == "processed"
    job = client.fine_tuning.jobs.create(
        model=model,
        training_file=file_id,
        suffix=name[-18:],
        method={"type": "supervised", "supervised": {"hyperparameters": {"n_epochs": n_epochs}}},
        extra_body={"trainingType": "developerTier"},
    )
    finished = wait_job(client, job.id)
    assert finished.status == "succeeded"
    body = deployment_body(str(finished.fine_tuned_model), capacity=250)
    handle.mgmt().deployments.begin_create_or_update(
        handle.resource_group, handle.account, name, body
    ).result()
    return str(finished.fine_tuned_model)
