"""The rollout activity: one agent run on one task, traced to Blob.

It is ``async`` so that many rollouts wait on the network together on the worker's event loop
instead of holding one thread each. Its chat calls go through the rollout client, which paces them to
the deployment's limit and waits out 429s (shared/azure/throttling.py). How a rollout ends:

- ``ok``: the agent answered; ``failed``: an agent error (a bad request, the agent's own exception),
  recorded with its trace and scored 0;
- ``throttled``: a 429 outlasted the rollout's patience, or a 5xx or connection failure outlasted its
  retries: the trace is kept and marked so, nothing is scored, and the lane runs it again later;
- ``cancelled``: the run was cancelled, so the rollout is not started (lanes stop at the next task).

Only a failure to record the outcome (storage) is raised, for Durable to retry. A rollout whose
complete trace already exists is not run again (retries and replays after a crash).
"""

from __future__ import annotations

import asyncio

import azure.durable_functions as df

from activities.implements import implements
from shared.agents import get_agent
from shared.agents.traces import RolloutSummary, TraceRecorder, parse_jsonl, summarize
from shared.azure.clients import artifact_store, rollout_openai_client
from shared.azure.errors import describe, is_transient
from shared.azure.throttling import CURRENT_CALLS, PACERS, CallStats
from shared.contracts.payloads import CancelRequest, RolloutRequest
from shared.contracts.specs import RUN_ROLLOUT
from shared.domain.layout import cancel_request_path, trace_path

bp = df.Blueprint()


@implements(bp, RUN_ROLLOUT)
async def run_rollout(request: RolloutRequest) -> RolloutSummary:
    path = trace_path(request.run_id, request.iteration, request.group, request.rollout_id)
    previous = await recorded(path, request.rollout_id)
    if previous is not None:
        return previous
    if await cancel_requested(request.run_id):
        return RolloutSummary(rollout_id=request.rollout_id, status="cancelled")
    agent = get_agent(request.agent)
    task = agent.task(request.dataset, request.split, request.task_index, request.rule)
    recorder = TraceRecorder(
        request.rollout_id,
        task,
        agent.name,
        max_tokens=agent.max_tokens,
        sample=request.sample,
        seed=request.seed,
    )
    PACERS.configure(request.deployment, request.budget)
    calls = CallStats()
    context = CURRENT_CALLS.set(calls)
    try:
        reward = await agent.rollout(rollout_openai_client(), request.deployment, task, recorder)
        recorder.finish(reward=reward, throttled_retries=calls.throttled_retries)
    except Exception as exc:  # noqa: BLE001 - a rollout's end is data: recorded, not raised
        error = describe(exc)
        end = recorder.throttle if is_transient(exc) else recorder.fail
        end(f"{error.code}: {error.message}", throttled_retries=calls.throttled_retries)
    finally:
        CURRENT_CALLS.reset(context)
    await asyncio.to_thread(artifact_store().write_text, path, recorder.to_jsonl())
    return recorder.summary(trace_blob=path).model_copy(
        update={
            "lowest_remaining_requests": calls.lowest_remaining_requests,
            "lowest_remaining_tokens": calls.lowest_remaining_tokens,
        }
    )


async def recorded(path: str, rollout_id: str) -> RolloutSummary | None:
    """The summary of a rollout that already ran to an answer (its trace is in Blob), else None."""
    existing = await asyncio.to_thread(artifact_store().read_text, path)
    if existing is None:
        return None
    previous = summarize(parse_jsonl(existing), rollout_id, path)
    return previous if previous.status == "ok" else None


async def cancel_requested(run_id: str) -> bool:
    """Whether ``POST /api/runs/{run_id}/cancel`` asked the run to stop (its marker in Blob)."""
    marker = await asyncio.to_thread(artifact_store().read_model, cancel_request_path(run_id), CancelRequest)
    return marker is not None and marker.requested
