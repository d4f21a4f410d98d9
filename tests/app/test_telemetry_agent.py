"""Production end to end: an agent on the real openai SDK, instrumented by the official
opentelemetry-instrumentation-openai-v2, talks to the emulator and exports its spans (and log records)
with the real OTLP/HTTP exporters to the app under devhost; feedback arrives for some traces; the
production dataset holds exactly the rewarded, successful conversations.

Each content-capture mode of the instrumentation (2.4b0, with opentelemetry-util-genai 0.4b0) is run:
the default v1.30 conventions put the messages in log records (``gen_ai.user.message``, ``gen_ai.choice``
...), the latest experimental ones in span attributes (``span_only``) or in one
``gen_ai.client.inference.operation.details`` log event (``event_only``).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import pytest

from emulator.launch import EmulatorHandle
from tests.app.support import production_dataset

ROOT = Path(__file__).resolve().parents[2]
QUESTIONS = [
    "What is the capital of France?",
    "What is the capital of Japan?",
    "What is the capital of Kenya?",
    "What is the capital of Peru?",
    "What is the capital of Norway?",
    "What is the capital of Egypt?",
]
CRASH = 5  # this run fails after its first call
REWARDS = {0: 1.0, 1: 0.0, 2: 0.5, 3: 1.0, CRASH: 1.0}  # question 4 gets no feedback
MODES = {
    "v1.30 log events": {"OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT": "true"},
    "span attributes": {
        "OTEL_SEMCONV_STABILITY_OPT_IN": "gen_ai_latest_experimental",
        "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT": "span_only",
    },
    "details event": {
        "OTEL_SEMCONV_STABILITY_OPT_IN": "gen_ai_latest_experimental",
        "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT": "event_only",
    },
}
pytestmark = pytest.mark.timeout(180)


def run_agent(
    host: Any,
    emulator: EmulatorHandle,
    service: str,
    mode: dict[str, str],
    questions: list[str] = QUESTIONS,
    **options: int,
) -> list[dict[str, Any]]:
    """Runs tests/app/telemetry_agent.py on ``questions`` (``crash`` and ``image`` pick the question
    that fails and the one asked with a picture); returns its runs."""
    config = {
        "endpoint": f"{host.origin}/api",
        "emulator_url": emulator.url,
        "ca_path": emulator.ca_path,
        "service": service,
        "questions": questions,
        "crash": CRASH,
        **options,
    }
    return agent_runs([sys.executable, "-m", "tests.app.telemetry_agent", json.dumps(config)], mode)


def agent_runs(command: list[str], env: dict[str, str]) -> list[dict[str, Any]]:
    """Runs the agent process ``command`` with ``env`` on top of this environment without its OTEL_*
    variables; checks it exported everything; returns its runs."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    done = subprocess.run(
        command, cwd=ROOT, env={**clean, **env}, capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr
    assert "Failed to export" not in done.stderr, done.stderr
    return [json.loads(line) for line in done.stdout.splitlines()]


@pytest.mark.parametrize("mode", list(MODES))
def test_an_instrumented_agent_feeds_the_production_dataset(
    host: Any, emulator_reset: EmulatorHandle, mode: str
) -> None:
    service = f"capital-agent-{uuid.uuid4().hex[:8]}"
    runs = run_agent(host, emulator_reset, service, MODES[mode])
    feedback = [{"trace_id": runs[i]["trace_id"], "reward": reward} for i, reward in REWARDS.items()]
    assert host.http("POST", "/api/feedback", json=feedback).status_code == 200
    _, examples, stats = production_dataset(service, seed=3, days=1)
    rewarded = [run for i, run in enumerate(runs) if REWARDS.get(i, 0) > 0 and not run["failed"]]
    assert len(rewarded) == 3
    assert len(examples) == sum(run["calls"] for run in rewarded)
    assert (stats["rollouts"], stats["failed_rollouts"], stats["no_reward"]) == (6, 1, 1)
    assert stats["below_min_reward"] == runs[1]["calls"]
    assert (stats["no_content"], stats["format_rejected"], stats["duplicates"]) == (0, 0, 0)
    for run in rewarded:
        conversation = [
            e["messages"]
            for e in examples
            if e["messages"][1] == {"role": "user", "content": run["question"]}
        ]
        assert len(conversation) == run["calls"], run
        final = max(conversation, key=len)
        assert final[0]["role"] == "system"
        assert final[-1] == {"role": "assistant", "content": run["answer"]}
        if run["calls"] == 2:
            call = final[2]["tool_calls"][0]
            assert (final[2]["role"], call["function"]["name"]) == ("assistant", "country_capital_lookup")
            assert final[3]["role"] == "tool" and final[3]["tool_call_id"] == call["id"]
    assert {e["messages"][1]["content"] for e in examples} == {run["question"] for run in rewarded}
