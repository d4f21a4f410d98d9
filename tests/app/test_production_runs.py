"""Runs that learn from production, end to end: the real Function App in devhost against Azurite and the
emulator, an instrumented agent exporting its spans over OTLP/HTTP, feedback through the API, and runs
started through ``POST /api/runs`` (or the timer) with ``source`` ``production`` or ``both``."""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from typing import Any

import openai
import pytest

from emulator.launch import EmulatorHandle
from shared.azure.clients import artifact_store
from shared.domain.layout import dataset_stats_path
from shared.domain.settings import get_settings
from tests.app.test_loop import blob_names
from tests.app.test_telemetry_agent import MODES, run_agent
from tests.driver import TEST_RUN_DEFAULTS, Runs
from tests.shared.otlp_support import Recorder, conversation

pytestmark = pytest.mark.timeout(300)

COUNTRIES = [
    "France", "Japan", "Kenya", "Peru", "Norway", "Egypt", "Chile", "Greece", "India", "Mexico",
    "Poland", "Spain", "Sweden", "Turkey", "Vietnam",
]  # fmt: skip
QUESTIONS = [f"What is the capital of {country}?" for country in COUNTRIES]
RATED_DOWN, UNRATED, CRASH, IMAGE = 11, 12, 13, 14
# Questions 0-10 are rated well; the crashed run and the one with a picture are rated well too, but the
# first failed and Azure cannot train on the second's picture.
REWARDS = {**{n: 1.0 if n % 2 else 0.8 for n in range(11)}, RATED_DOWN: 0.0, CRASH: 1.0, IMAGE: 1.0}
PROTOBUF = {"Content-Type": "application/x-protobuf"}


@contextmanager
def training_file_copies(emulator: EmulatorHandle, prefix: str) -> Iterator[dict[str, str]]:
    """Copies, by file id, the content of every training file named ``prefix...`` while it exists on
    the emulator: the app deletes its training files once their job is done (as on Azure)."""
    copies: dict[str, str] = {}
    stop = threading.Event()
    client = emulator.azure_openai()

    def watch() -> None:
        while not stop.is_set():
            for item in client.files.list(purpose="fine-tune"):
                if item.filename.startswith(prefix) and item.id not in copies:
                    try:
                        copies[item.id] = client.files.content(item.id).text
                    except openai.NotFoundError:  # deleted between the listing and the read
                        continue
            stop.wait(0.05)

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    try:
        yield copies
    finally:
        stop.set()
        watcher.join(timeout=10)


def _read_jsonl(text: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in text.splitlines()]


def _stats(run_id: str) -> dict[str, Any]:
    stats: dict[str, Any] = json.loads(artifact_store().read_text(dataset_stats_path(run_id, 1)) or "null")
    return stats


def _questions(examples: list[dict[str, Any]]) -> list[str]:
    """The user question of each example, whatever shape its content has."""
    return [next(m["content"] for m in example["messages"] if m["role"] == "user") for example in examples]


def test_a_production_run_trains_on_the_rewarded_well_formed_conversations(
    runs: Runs, emulator_reset: EmulatorHandle
) -> None:
    host = runs.host
    service = f"capital-prod-{uuid.uuid4().hex[:8]}"
    served = run_agent(
        host, emulator_reset, service, MODES["v1.30 log events"], QUESTIONS, crash=CRASH, image=IMAGE
    )
    feedback = [{"trace_id": served[n]["trace_id"], "reward": reward} for n, reward in REWARDS.items()]
    assert host.http("POST", "/api/feedback", json=feedback).status_code == 200
    run_id = f"prod-{uuid.uuid4().hex[:8]}"

    with training_file_copies(emulator_reset, run_id) as uploaded:
        runs.start(run_id, source="production", production_agent=service, iterations=1, data_filter_ratio=1.0)
        report = runs.finish(run_id)

    (entry,) = report.iterations
    assert entry.status == "succeeded", entry
    assert entry.file_id is not None
    assert entry.dataset_blob is not None
    assert uploaded[entry.file_id] == artifact_store().read_text(entry.dataset_blob)
    examples = _read_jsonl(uploaded[entry.file_id])
    trained = [n for n in range(len(QUESTIONS)) if n < RATED_DOWN]
    assert sorted(set(_questions(examples))) == sorted(QUESTIONS[n] for n in trained)
    assert len(examples) == sum(served[n]["calls"] for n in trained), "one example per call, none twice"
    for n in trained:
        final = max((e["messages"] for e in examples if e["messages"][1]["content"] == QUESTIONS[n]), key=len)
        assert final[-1] == {"role": "assistant", "content": served[n]["answer"]}

    stats = _stats(run_id)
    assert (stats["source"], list(stats["sources"])) == ("production", ["production"])
    production = stats["sources"]["production"]
    assert (production["traces"], production["failed"], production["no_reward"]) == (len(QUESTIONS), 1, 1)
    assert production["format_rejected"] == served[IMAGE]["calls"]
    assert production["below_min_reward"] == served[RATED_DOWN]["calls"]
    assert any("image_url" in problem for problem in stats["format_problems"])
    assert (stats["production"]["agent"], stats["production"]["rewarded_by_feedback"]) == (
        service,
        len(REWARDS),
    )

    # No training rollouts (the dataset reads none); the evaluation still runs on the validation tasks.
    assert (entry.tasks, blob_names(f"traces/{run_id}/01/train/")) == (0, [])
    assert report.baseline is not None
    assert entry.val_rollouts == report.baseline.val_rollouts == 16
    assert entry.val_reward is not None


def test_a_run_on_both_sources_adds_production_examples_to_its_rollouts(
    runs: Runs, emulator_reset: EmulatorHandle
) -> None:
    host = runs.host
    agent = f"support-{uuid.uuid4().hex[:8]}"
    recorder = Recorder(**{"service.name": agent})
    traces = [conversation(recorder, f"production question {n}", answer=f"answer {n}") for n in range(3)]
    assert host.http("POST", "/api/v1/traces", body=recorder.protobuf(), headers=PROTOBUF).status_code == 200
    feedback = [{"trace_id": trace, "reward": 1.0} for trace in traces]
    assert host.http("POST", "/api/feedback", json=feedback).status_code == 200
    run_id = f"both-{uuid.uuid4().hex[:8]}"

    runs.start(run_id, source="both", production_agent=agent, iterations=1, data_filter_ratio=1.0)
    report = runs.finish(run_id)

    (entry,) = report.iterations
    assert entry.tasks == 24
    assert len(blob_names(f"traces/{run_id}/01/train/")) == 24
    stats = _stats(run_id)
    assert stats["source"] == "both"
    assert (stats["sources"]["rollouts"]["traces"], stats["sources"]["production"]["traces"]) == (24, 3)
    kept = stats["sources"]["rollouts"]["examples_kept"] + stats["sources"]["production"]["examples_kept"]
    assert kept == stats["examples_kept"] == entry.examples_kept
    assert entry.dataset_blob is not None
    examples = _read_jsonl(artifact_store().read_text(entry.dataset_blob) or "")
    from_production = [q for q in _questions(examples) if q.startswith("production question")]
    assert sorted(from_production) == [f"production question {n}" for n in range(3)]
    assert stats["sources"]["production"]["examples_kept"] == 3


@pytest.fixture
def weekly_production_defaults(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """RUN_DEFAULTS of an app that retrains weekly on last week's production traffic of one agent."""
    agent = f"weekly-{uuid.uuid4().hex[:8]}"
    defaults = {
        **TEST_RUN_DEFAULTS,
        "source": "production",
        "production_agent": agent,
        "production_window_days": 7,
        "iterations": 1,
        "data_filter_ratio": 1.0,
        "lineage": agent,
    }
    monkeypatch.setenv("RUN_DEFAULTS", json.dumps(defaults))
    get_settings.cache_clear()
    yield agent
    monkeypatch.undo()
    get_settings.cache_clear()


def test_a_scheduled_production_run_retrains_on_the_last_week(
    runs: Runs, emulator_reset: EmulatorHandle, weekly_production_defaults: str
) -> None:
    host = runs.host
    agent = weekly_production_defaults
    recorder = Recorder(**{"service.name": agent})
    traces = [conversation(recorder, f"weekly question {n}", answer=f"answer {n}") for n in range(12)]
    assert host.http("POST", "/api/v1/traces", body=recorder.protobuf(), headers=PROTOBUF).status_code == 200
    feedback = [{"trace_id": trace, "reward": 1.0} for trace in traces]
    assert host.http("POST", "/api/feedback", json=feedback).status_code == 200

    run_id = runs.fire_schedule()
    report = runs.finish(run_id)

    assert (report.settings["source"], report.settings["production_window_days"]) == ("production", 7)
    (entry,) = report.iterations
    assert entry.status == "succeeded", entry
    assert entry.started_at is not None
    assert entry.finished_at is not None
    stats = _stats(run_id)
    window = stats["production"]
    assert (window["agent"], window["traces"], stats["examples_kept"]) == (agent, 12, 12)
    end = datetime.fromisoformat(window["window_end"])
    assert datetime.fromisoformat(entry.started_at) <= end <= datetime.fromisoformat(entry.finished_at)
    assert end - datetime.fromisoformat(window["window_start"]) == timedelta(days=7)


@pytest.mark.parametrize(
    ("body", "errors"),
    [
        (
            {"grader": "tool_result_in_answer", "production_window_days": 3},
            {"production_window_days": "only used when", "grader": "only used when"},
        ),
        ({"source": "production", "grader": "nope"}, {"grader": "no grader 'nope'; registered graders: ["}),
        (
            {"source": "production", "production_agent": "Support Bot"},
            {"production_agent": "must be 1 to 64 lower-case letters, digits, '.', '_' and '-'"},
        ),
    ],
)
def test_production_settings_that_cannot_work_are_a_400_naming_them(
    runs: Runs, body: dict[str, Any], errors: dict[str, str]
) -> None:
    status, answer = runs.post("/api/runs", body)
    assert status == 400
    found = {item["field"]: item["error"] for item in answer["errors"]}
    assert found.keys() == errors.keys()
    for field, error in errors.items():
        assert error in found[field], found
    assert runs.instances() == set(), "no run started"


def test_a_caller_may_run_on_rollouts_when_run_defaults_say_production(
    runs: Runs, weekly_production_defaults: str
) -> None:
    """The production settings of RUN_DEFAULTS are the app's defaults, not the caller's mistake. The
    body is only these two fields (no lineage: RUN_DEFAULTS names it), so it is posted as it is."""
    run_id = f"adhoc-{uuid.uuid4().hex[:8]}"
    status, answer = runs.post("/api/runs", {"run_id": run_id, "source": "rollouts"})
    assert status == 202, answer
    runs.terminate(run_id, "the test only needed it accepted")
