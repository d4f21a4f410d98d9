"""The rollout activity: one agent run on one task, traced to Blob.

It is ``async`` so that a fan-out of rollouts waits on the network together on the worker's event
loop instead of holding one thread each. An agent failure is recorded (a trace with status error and
a failed summary), never dropped; only a failure to record it is raised for Durable to retry. A
rollout whose complete trace already exists is not run again (retries and replays after a crash).
"""

from __future__ import annotations

import asyncio
from typing import Any

import azure.durable_functions as df

from shared.agents import get_agent
from shared.artifacts import trace_path
from shared.clients import artifact_store, async_openai_client
from shared.contracts import RolloutRequest
from shared.errors import describe
from shared.traces import RolloutSummary, TraceRecorder, parse_jsonl, summarize

bp = df.Blueprint()


@bp.activity_trigger(input_name="payload")
async def run_rollout(payload: dict[str, Any]) -> dict[str, Any]:
    request = RolloutRequest.model_validate(payload)
    store = artifact_store()
    path = trace_path(request.run_id, request.iteration, request.split, request.rollout_id)
    existing = await asyncio.to_thread(store.read_text, path)
    if existing is not None:
        previous = summarize(parse_jsonl(existing), request.rollout_id, path)
        if previous.status == "ok":
            return previous.model_dump()

    agent = get_agent(request.agent)
    task = agent.task(request.dataset, request.split, request.task_index)
    recorder = TraceRecorder(rollout_id=request.rollout_id, task=task, agent=agent.name)
    try:
        reward = await agent.rollout(async_openai_client(), request.deployment, task, recorder)
        recorder.finish(reward=reward)
    except Exception as exc:  # noqa: BLE001 - a failed rollout is data: recorded, not raised
        error = describe(exc)
        recorder.fail(f"{error.code}: {error.message}")
    await asyncio.to_thread(store.write_text, path, recorder.to_jsonl())
    summary: RolloutSummary = recorder.summary(trace_blob=path)
    return summary.model_dump()
