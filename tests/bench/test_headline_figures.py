"""The README's headline figures as CI gates: a short soak and a short rollout-scale row run as the
benchmarks themselves (``python -m bench.soak`` and ``bench.rollout_scale``, in subprocesses, each with
its own Azurite and emulator), and a regression in what they measure fails the suite.

These are correctness floors, not speed targets (those stay in bench/'s tables): nothing failed, lost,
leaked or left behind, the deployments alive never above what ``max_deployments`` allows, and the
rate limit used well enough that a broken pacer shows. Each threshold says what it was chosen from.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import TypeVar

import pytest
from pydantic import BaseModel

from bench.rollout_scale import Row, ScaleResult
from bench.soak import SoakResult

ROOT = Path(__file__).resolve().parents[2]
Result = TypeVar("Result", bound=BaseModel)

SOAK_WEEKS = 3
"""Week 1 trains from the base model, later weeks from the lineage's champion, with the previous week's
deployments expired and its jobs to forget: by week 3 every kind of clean-up has run at least once. Which
week's candidate becomes champion varies from run to run (week 1's val reward was 0.875 in some runs,
1.000 in others), so nothing here depends on it."""

SCALE_ROW = Row(tasks=120, capacity=250)
"""120 rollouts (164 chat calls, four of the app's 10 s windows at 250 RPM, 41 calls each) on a
DeveloperTier-sized limit: limit-bound (its latency alone would take about 14 s) and about 40 s long."""

PRESSURED_ROW = Row(tasks=60, capacity=250, pressure="lowered")
"""The pressured row of the README (a second consumer takes half the limit, and Azure halves the limit
for a while mid-stage), short: 60 rollouts (about 84 chat calls) on what is left of 250 RPM."""

PRESSURED_FLOOR = 0.4
"""Of the capacity the other consumer and the lowering left to the app (the emulator's own counters).
Measured 0.46, 0.79 and above 0.6 in three runs of this row on the 2-core machine at load average 7-19
(other suites running beside it); the short row spends a third of its minute in the lowering and its
edges, so it varies more than the full row, whose target is 0.8 (bench/rollout_scale.py). 0.4 still
fails a pacer that stops during a lowering or never takes back what the lowering's end frees."""

UTILISATION_FLOOR = 0.8
"""Measured 0.99-1.01 for this row on the 2-core machine at load average 3-5 (the full benchmark's
limit-bound rows: 0.91-0.92, target 0.85). 0.8 leaves room for a loaded machine and still fails a pacer
that wastes one window in five."""


def bench(module: str, args: list[str], model: type[Result], out: Path, timeout: float) -> Result:
    """Runs ``python -m module args --json out``; its results. Its output is shown if it fails."""
    command = [sys.executable, "-m", module, *args, "--json", str(out)]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=timeout, check=False)
    assert out.exists(), f"{module} wrote no results (exit {done.returncode}):\n{done.stdout}\n{done.stderr}"
    print(done.stdout)
    return model.model_validate_json(out.read_text())


SOAK_SECONDS = 560
"""The three weeks' wall time allowed: each week of the quote agent runs about 500 rollouts (its baseline
and test, and three iterations of 24 training rollouts beside the candidate's and the champion's
evaluations of 22 tasks x 2 samples); three took about 5 minutes at load average 10-20 on 2 cores."""


@pytest.mark.timeout(SOAK_SECONDS + 40)
def test_a_short_soak_ends_every_week_clean(tmp_path: Path) -> None:
    soak = bench("bench.soak", ["--weeks", str(SOAK_WEEKS)], SoakResult, tmp_path / "soak.json", SOAK_SECONDS)

    assert [week.week for week in soak.weeks] == list(range(1, SOAK_WEEKS + 1))
    assert soak.weeks[0].status == "succeeded"
    assert soak.failed_runs == 0
    # A later week may skip an iteration whose kept examples the lineage has all learned already (the
    # weeks train from the base model on the accumulated examples): that, and nothing else, may fail.
    assert {code for week in soak.weeks for code in week.failures} <= {"NothingToLearn"}
    for week in soak.weeks:
        # Every fine-tuned deployment alive at once, counted at every creation: the candidates
        # max_deployments keeps plus the champion's.
        assert 1 <= week.most_deployments_alive <= soak.max_deployments + 1, week
        assert week.deployments_at_end <= week.most_deployments_alive, week
        assert week.files_at_end == 0, week  # training and results files deleted after every job
        assert week.leaked == 0, week
        # Jobs kept: the champion's, the previous champion's, the latest and the deployed models'
        # (shared.domain.lineage.models_to_forget); without deleting, 3 a week would pile up.
        assert week.jobs_listed <= soak.max_deployments + 4, week
        assert week.champion != "-", week  # every week ends with a champion, evaluated
        assert week.val is not None, week
        # Each week says what its evaluations decided (or that it stopped before training).
        assert week.decision != "-", week
        if week.stopped:
            assert (week.trained, week.promoted) == (0, 0), "a week that stopped paid for no job"


@pytest.mark.timeout(300)
def test_a_short_limit_bound_rollout_stage_loses_nothing_and_uses_the_limit(tmp_path: Path) -> None:
    row = f"{SCALE_ROW.tasks}@{SCALE_ROW.capacity}"
    scale = bench("bench.rollout_scale", ["--row", row], ScaleResult, tmp_path / "scale.json", 280)

    (result,) = scale.results
    assert result.row == SCALE_ROW
    assert result.limit_bound, "the row must measure the limit, not the latency"
    assert (result.failed, result.throttled, result.scored_zero_by_throttling) == (0, 0, 0)
    assert result.calls >= SCALE_ROW.tasks
    assert result.utilisation >= UTILISATION_FLOOR, result


@pytest.mark.timeout(300)
def test_a_short_pressured_rollout_stage_loses_nothing_and_uses_what_is_left(tmp_path: Path) -> None:
    """Issue 20: another consumer on the deployment and a temporary lowering slow the stage instead of
    throttling it: nothing lost or scored 0, and most of what was left to the app used."""
    row = PRESSURED_ROW.label
    scale = bench("bench.rollout_scale", ["--row", row], ScaleResult, tmp_path / "pressured.json", 280)

    (result,) = scale.results
    assert result.row == PRESSURED_ROW
    assert (result.failed, result.throttled, result.scored_zero_by_throttling) == (0, 0, 0)
    assert result.left is not None
    assert result.left.others > 0, "the second consumer used the deployment throughout"
    assert result.left.utilisation >= PRESSURED_FLOOR, result
