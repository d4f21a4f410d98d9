"""docs/production.md's quick start, run as written: its three blocks are read from the page, so the
page and this test cannot drift apart.

- the ``pip install`` line names the versions the suite installs (requirements*.txt);
- the ``export`` block, run by bash with only its placeholders filled in (app URL, function key,
  service name), and the Python set-up block, run as the agent's program runs it, make the official
  instrumentation send spans with message content to the app under devhost; the dataset built from
  what the app stored has an example per call;
- the snippet the page used to show (``OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT=true`` with a
  trace exporter only) stores spans without content, and a production run over them stops with
  ``NothingToLearn`` naming the settings that fix it.
"""

from __future__ import annotations

import json
import re
import sys
import uuid
from pathlib import Path
from typing import Any

import pytest

from emulator.launch import EmulatorHandle
from shared.domain.dataset import example_body
from shared.telemetry.otlp import structured
from shared.telemetry.spans import Span
from tests.app.support import production_dataset
from tests.app.test_telemetry_agent import agent_runs
from tests.driver import Runs

pytestmark = pytest.mark.timeout(300)

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "production.md"
SECTION = "### Quick start: an agent on the openai SDK"
QUESTIONS = [
    f"What is the capital of {country}?"
    for country in [
        "France",
        "Japan",
        "Kenya",
        "Peru",
        "Norway",
        "Egypt",
        "Chile",
        "Greece",
        "India",
        "Spain",
    ]
]
APP_URL = "https://<app>.azurewebsites.net/api"
KEY = "<function key>"
SERVICE = "OTEL_SERVICE_NAME=support-bot"
CONTENT_LINES = (
    "export OTEL_SEMCONV_STABILITY_OPT_IN=gen_ai_latest_experimental\n"
    "export OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT=span_only\n"
)
OLD_CONTENT_LINE = "export OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT=true\n"


def quick_start() -> dict[str, str]:
    """The quick start's fenced blocks by role: ``pip`` (bash), ``env`` (bash), ``setup`` (python)."""
    section = DOC.read_text().split(SECTION, 1)[1]
    section = re.split(r"\n#{2,3} ", section, maxsplit=1)[0]
    blocks = re.findall(r"```(\w+)\n(.*?)```", section, re.DOTALL)
    assert [language for language, _ in blocks] == ["bash", "bash", "python"], blocks
    return dict(zip(["pip", "env", "setup"], (code for _, code in blocks), strict=True))


def pinned_requirements() -> dict[str, str]:
    pins = {}
    for name in ("requirements.txt", "requirements-dev.txt"):
        for line in (ROOT / name).read_text().splitlines():
            match = re.fullmatch(r"([A-Za-z0-9_.-]+)==(\S+)", line.strip())
            if match:
                pins[match[1].lower()] = match[2]
    return pins


def test_the_quick_start_installs_the_versions_the_suite_tests() -> None:
    command = quick_start()["pip"].replace("\\\n", " ").split()
    assert command[:2] == ["pip", "install"]
    named = dict(requirement.lower().split("==") for requirement in command[2:])
    assert {"opentelemetry-instrumentation-openai-v2", "opentelemetry-util-genai"} <= named.keys()
    pins = pinned_requirements()
    assert {name: pins.get(name) for name in named} == named


def run_quick_start(host: Any, emulator: EmulatorHandle, env_block: str) -> tuple[str, list[dict[str, Any]]]:
    """Runs ``env_block`` in bash with its placeholders filled in, then an agent whose OpenTelemetry is
    set up by the quick start's Python block; returns the service name and the agent's runs."""
    for placeholder in (APP_URL, KEY, SERVICE):
        assert env_block.count(placeholder) == 1, f"{placeholder!r} is no longer in the quick start"
    service = f"support-bot-{uuid.uuid4().hex[:8]}"
    script = (
        env_block.replace(APP_URL, f"{host.origin}/api")
        .replace(KEY, "local-key")
        .replace(SERVICE, f"OTEL_SERVICE_NAME={service}")
    )
    config = {
        "setup": quick_start()["setup"],
        "emulator_url": emulator.url,
        "ca_path": emulator.ca_path,
        "questions": QUESTIONS,
    }
    command = ["bash", "-e", "-c", script + '\nexec "$0" -m tests.app.telemetry_agent "$1"']
    runs = agent_runs([*command, sys.executable, json.dumps(config)], {})
    assert [run["question"] for run in runs] == QUESTIONS
    return service, runs


def rate_all(host: Any, runs: list[dict[str, Any]]) -> None:
    feedback = [{"trace_id": run["trace_id"], "reward": 1.0} for run in runs]
    assert host.http("POST", "/api/feedback", json=feedback).status_code == 200


def test_the_quick_start_as_written_feeds_a_training_file(host: Any, emulator_reset: EmulatorHandle) -> None:
    service, runs = run_quick_start(host, emulator_reset, quick_start()["env"])
    rate_all(host, runs)

    result, examples, stats = production_dataset(service, seed=5, days=1)

    assert (stats["rollouts"], stats["no_content"], stats["format_rejected"]) == (len(QUESTIONS), 0, 0)
    assert len(examples) == result.examples_kept == sum(run["calls"] for run in runs) >= len(QUESTIONS)
    assert (result.enough_for_azure, result.shortfall) == (True, None)
    for run in runs:
        final = max(
            (e["messages"] for e in examples if e["messages"][1]["content"] == run["question"]), key=len
        )
        assert final[-1] == {"role": "assistant", "content": run["answer"]}


def test_the_old_snippet_stores_spans_without_content_and_the_run_names_the_settings(
    runs: Runs, emulator_reset: EmulatorHandle
) -> None:
    """What issue 20 found: the page's old snippet (``true``, a trace exporter only) stored every trace,
    feedback rated every one, and the run said only ``0 examples earned >= 0.01``."""
    env_block = quick_start()["env"]
    assert env_block.count(CONTENT_LINES) == 1
    host = runs.host
    service, served = run_quick_start(
        host, emulator_reset, env_block.replace(CONTENT_LINES, OLD_CONTENT_LINE)
    )
    rate_all(host, served)
    run_id = f"quick-{uuid.uuid4().hex[:8]}"

    runs.start(run_id, source="production", production_agent=service, iterations=1)
    (entry,) = runs.finish(run_id).iterations

    calls = sum(run["calls"] for run in served)
    assert entry.error is not None
    assert (entry.status, entry.error.code, entry.examples_total) == ("skipped", "NothingToLearn", 0)
    assert entry.error.message == (
        f"{len(QUESTIONS)} traces, none with message content ({calls} chat calls of the {len(QUESTIONS)} "
        "rewarded traces recorded no messages): set "
        "OTEL_SEMCONV_STABILITY_OPT_IN=gen_ai_latest_experimental and "
        "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT=span_only where the agent runs, or export its "
        "log records to /api/v1/logs (docs/production.md). 0 examples earned >= 0.01 and made the top "
        "60%; Azure needs at least 10"
    )


def test_the_pages_example_message_value_becomes_the_example_it_shows() -> None:
    """The ``gen_ai.input.messages`` value docs/production.md shows, with its output messages, gives the
    fine-tuning example shown beside it."""
    text = DOC.read_text().split("An example: the second chat call", 1)[1]
    inputs, example = (json.loads(block) for block in re.findall(r"```json\n(.*?)```", text, re.DOTALL)[:2])
    shown = re.search(r"`gen_ai.output.messages` =\n`(.*?)`", text, re.DOTALL)
    assert shown is not None, "the page no longer shows gen_ai.output.messages"
    outputs = json.loads(shown[1])
    raw = {
        "gen_ai.operation.name": "chat",
        "gen_ai.input.messages": json.dumps(inputs),
        "gen_ai.output.messages": json.dumps(outputs),
    }
    span = Span(
        trace_id="7bb1798459cffdf4f2a17b51cf4034af",
        span_id="d1a230e3a303cdf3",
        name="chat gpt-4.1-mini",
        start_time="2026-12-06T18:04:26.940998+00:00",
        end_time="2026-12-06T18:04:27.024039+00:00",
        duration_ms=83.0,
        attributes=structured(raw),
    )
    assert example_body(span) == example
