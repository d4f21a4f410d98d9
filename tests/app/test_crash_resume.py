"""Durable and resumable: the app's process is killed (SIGKILL) right after it started a fine-tuning
job, and a new process on the same devhost store finishes the run without starting a second job,
uploading a second file or losing a step."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from emulator.launch import EmulatorHandle
from scripts.azurite import REPO_ROOT
from scripts.local_env import app_environment
from shared.azure.clients import artifact_store
from shared.domain.layout import lineage_path, report_path
from shared.domain.lineage import Lineage
from shared.domain.report import RunReport
from tests.driver import TEST_RUN_DEFAULTS

RUN_ID = "e2e-crash-resume"


def _child(store: Path, env: dict[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "tests.app.crash_resume_child", str(store), RUN_ID],
        cwd=REPO_ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


@pytest.mark.timeout(300)
def test_run_survives_a_kill_after_its_job_started(
    tmp_path: Path, azurite: Any, emulator_reset: EmulatorHandle, function_app: Any
) -> None:
    env = {**os.environ, **app_environment(azurite, emulator_reset, TEST_RUN_DEFAULTS)}
    env.pop("RETRAIN_SCHEDULE", None)
    store = tmp_path / "store"

    first = _child(store, env)
    deadline = time.monotonic() + 120
    while not emulator_reset.state()["jobs"]:
        assert first.poll() is None, first.communicate()[1][-3000:]
        assert time.monotonic() < deadline, "no job was started"
        time.sleep(0.02)
    first.kill()
    first.wait()

    second = _child(store, env)
    out, err = second.communicate(timeout=240)
    assert second.returncode == 0, err[-3000:]
    assert json.loads(out.strip().splitlines()[-1]) == {"runtime_status": "Completed"}

    state = emulator_reset.state()
    report = artifact_store().read_model(report_path(RUN_ID), RunReport)
    assert report is not None
    assert report.status == "succeeded"
    lineage = artifact_store().read_model(lineage_path(RUN_ID), Lineage)
    assert lineage is not None
    # Every job the emulator ever had is one of the run's two, alive or deleted by the run's clean-up
    # (the jobs of models the lineage no longer needs).
    made = {item.job_id for item in report.iterations}
    forgotten = {item.job_id for item in lineage.versions if item.job_deleted_at}
    assert len(made) == 2
    assert {job["id"] for job in state["jobs"]} | forgotten == made, "a fine-tuning job was started twice"
    assert len(state["jobs"]) + len(forgotten) == 2
    uploaded = [f for f in state["files"] + state["deleted_files"] if f["filename"].startswith(RUN_ID)]
    assert len(uploaded) == 2, "a training file was uploaded twice"
    assert [f for f in state["files"] if f["filename"].startswith(RUN_ID)] == [], "training files are deleted"
    assert [item.iteration for item in report.iterations] == [1, 2]
    assert report.iterations[1].base_model == report.iterations[0].fine_tuned_model
