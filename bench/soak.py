"""Soak: a year of weekly retraining in minutes. ``python -m bench.soak --weeks 52``

Weekly scheduled runs of one lineage through devhost (the real timer trigger, ``RUN_DEFAULTS`` naming
the lineage) against Azurite and the emulator, whose clock is advanced a week between runs: every
DeveloperTier deployment Azure would have removed after 24 h is gone by the next run, jobs and files
pile up unless the app deletes them, and the emulator enforces Azure's per-resource limits (10
fine-tuned deployments, 100 jobs, 100 files). Prints one row per week, then the line

    soak: weeks=N failed_runs=N champion_changes=N max_deployments_alive=N files_alive=N jobs_listed=N

A run counts as failed unless it ends ``succeeded`` or ``completed_with_failures``.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from devhost import DevHost
from emulator.launch import EmulatorHandle
from scripts.local_env import local_services

WEEK = 7 * 24 * 3600
LINEAGE = "soak"
# Each weekly run: three iterations of 24 rollouts, evaluated on 8 validation tasks, polling often
# (the emulator's durations are scaled down; the devhost clock is virtual).
SOAK_RUN_DEFAULTS = {
    "lineage": LINEAGE,
    "iterations": 3,
    "val_limit": 8,
    "file_poll_seconds": 5,
    "job_poll_initial_seconds": 5,
    "job_poll_max_seconds": 60,
    "deployment_poll_seconds": 5,
    "retry_first_interval_seconds": 1,
}
FINISHED_WELL = {"succeeded", "completed_with_failures"}


def scheduled_run(host: DevHost, before: set[str]) -> str:
    """Fires the weekly timer once and returns the run it started."""
    host.fire_timer("scheduled_retrain")
    statuses = asyncio.run(host.client.get_status_all())
    started = {
        s.instance_id or "" for s in statuses if (s.instance_id or "").startswith("scheduled-")
    } - before
    if len(started) != 1:
        raise RuntimeError(f"the timer started {sorted(started)}, expected one run")
    return started.pop()


def week_row(week: int, host: DevHost, emulator: EmulatorHandle, run_id: str) -> dict[str, Any]:
    report: dict[str, Any] = json.loads(host.http("GET", f"/api/runs/{run_id}").get_body())["report"]
    state = emulator.state()
    champion = report.get("champion") or {}
    return {
        "week": week,
        "status": report["status"],
        "champion": champion.get("deployment", "-"),
        "reason": champion.get("reason", "-"),
        "val": champion.get("val_reward"),
        "deployments": sum(1 for d in state["deployments"] if d.get("model_id", "").count(".ft-")),
        "files": len(state["files"]),
        "jobs": len(state["jobs"]),
    }


def print_row(row: dict[str, Any]) -> None:
    val = "-" if row["val"] is None else f"{row['val']:.3f}"
    print(
        f"{row['week']:>4}  {row['status']:<24} {row['champion']:<22} {row['reason']:<9} {val:>6}"
        f"  {row['deployments']:>11}  {row['files']:>5}  {row['jobs']:>4}",
        flush=True,
    )


def soak(weeks: int, timeout: float, emulator: EmulatorHandle) -> list[dict[str, Any]]:
    import function_app  # noqa: PLC0415 - reads the app settings local_services exported

    rows: list[dict[str, Any]] = []
    with DevHost(function_app.app, clock="virtual", max_workers=8) as host:
        print(
            "week  status                   champion               reason      val  deployments  files  jobs"
        )
        for week in range(1, weeks + 1):
            known = {s.instance_id or "" for s in asyncio.run(host.client.get_status_all())}
            run_id = scheduled_run(host, known)
            asyncio.run(host.wait_for_completion(run_id, timeout=timeout))
            rows.append(week_row(week, host, emulator, run_id))
            print_row(rows[-1])
            emulator.advance_clock(WEEK)
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--weeks", type=int, default=12)
    parser.add_argument("--timeout", type=float, default=600, help="seconds a week's run may take")
    args = parser.parse_args(argv)
    started = time.monotonic()
    flags = ("--time-scale", "0.01", "--chat-latency", "0", "--seed", "7", "--rate-limit-scale", "100")
    with (
        tempfile.TemporaryDirectory(prefix="soak-azurite-") as azurite_dir,
        local_services(
            *flags,
            azurite_dir=Path(azurite_dir),
            run_defaults=SOAK_RUN_DEFAULTS,
            extra_env={"RETRAIN_SCHEDULE": "0 0 3 * * Mon"},
        ) as services,
    ):
        rows = soak(args.weeks, args.timeout, services.emulator)
    failed = sum(1 for row in rows if row["status"] not in FINISHED_WELL)
    changes = sum(1 for before, after in itertools.pairwise(rows) if after["champion"] != before["champion"])
    print(f"({time.monotonic() - started:.0f} s)")
    print(
        f"soak: weeks={len(rows)} failed_runs={failed} champion_changes={changes} "
        f"max_deployments_alive={max(row['deployments'] for row in rows)} "
        f"files_alive={rows[-1]['files']} jobs_listed={rows[-1]['jobs']}"
    )
    return 0 if failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
