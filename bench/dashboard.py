"""Benchmark: dashboard page latency with 1,000 runs in the index (target: < 200 ms from a warm app).

Starts Azurite and the emulator, writes 1,000 run reports (3 iterations each, started over the last
three months, in three lineages) and indexes them, serves the app through devhost's HTTP server, and
times each page over real HTTP after one warm-up request. Prints a table: page, median, p95 and
slowest of ``--requests`` requests, response size, and whether the p95 met the target (the slowest
single request says more about what else the machine was doing than about the page).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from devhost import DevHost
from scripts.local_env import local_services
from shared.azure.clients import artifact_store
from shared.domain.layout import report_path
from shared.domain.report_view import ReportView
from shared.storage.run_index import run_index

RUNS = 1_000
TARGET_MS = 200.0
LINEAGES = ("capitals", "capitals-large", "support-bot")
STATUSES = ("succeeded", "succeeded", "completed_with_failures", "failed", "running")


def synthetic_report(k: int, now: datetime) -> dict[str, Any]:
    """Run ``k`` of the benchmark: the shape the app writes, with the fields the lead is adding."""
    started = now - timedelta(minutes=131 * k)
    baseline = 0.4 + (k % 7) / 100
    iterations = [
        {
            "iteration": i,
            "status": "succeeded",
            "tasks": 24,
            "train_reward": baseline + i / 20,
            "traces_prefix": f"traces/bench-{k:04d}/{i:02d}/train/",
            "examples_total": 33,
            "examples_kept": 20,
            "dataset_blob": f"datasets/bench-{k:04d}/{i:02d}/train.jsonl",
            "file_id": f"file-{k:04d}{i}",
            "job_id": f"ftjob-{k:04d}{i}",
            "trained_tokens": 4000 + i,
            "base_model": "gpt-4.1-mini-2025-04-14",
            "fine_tuned_model": f"gpt-4.1-mini-2025-04-14.ft-{k:04d}-v{i:02d}",
            "deployment": f"bench_v{i:02d}",
            "val_reward": baseline + i / 15,
            "val_rollouts": 20,
            "promoted": True,
            "started_at": (started + timedelta(minutes=30 * i)).isoformat(),
            "finished_at": (started + timedelta(minutes=30 * i + 29)).isoformat(),
        }
        for i in (1, 2, 3)
    ]
    return {
        "run_id": f"bench-{k:04d}",
        "instance_id": f"bench-{k:04d}",
        "status": STATUSES[k % len(STATUSES)],
        "lineage": LINEAGES[k % len(LINEAGES)],
        "cost": {"total_usd": 3.5 + k % 5},
        "settings": {"iterations": 3, "agent": "capital_lookup", "data_filter_ratio": 0.5 + (k % 3) / 10},
        "started_at": started.isoformat(),
        "finished_at": (started + timedelta(minutes=100)).isoformat(),
        "baseline": {
            "deployment": "gpt-4.1-mini",
            "model": "gpt-4.1-mini-2025-04-14",
            "val_reward": baseline,
        },
        "iterations": iterations,
        "promoted_deployment": "bench_v03",
        "promoted_model": iterations[-1]["fine_tuned_model"],
        "promoted_val_reward": iterations[-1]["val_reward"],
    }


def seed(runs: int) -> None:
    """Writes the reports (8 writers) and indexes them with one conditional write per month shard."""
    store, now = artifact_store(), datetime.now(UTC)
    reports = [synthetic_report(k, now) for k in range(runs)]
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda r: store.write_json(report_path(r["run_id"]), r), reports))
    run_index(store).record_many([ReportView.parse(json.dumps(r)) for r in reports])


def time_page(origin: str, path: str, requests: int) -> tuple[list[float], int]:
    """Milliseconds per request (after one warm-up) and the response size."""
    size = 0
    timings = []
    for attempt in range(requests + 1):
        started = time.perf_counter()
        with urllib.request.urlopen(origin + path, timeout=30) as response:
            body = response.read()
            if response.status != 200:
                raise RuntimeError(f"{path} answered {response.status}")
        if attempt:
            timings.append((time.perf_counter() - started) * 1000)
        size = len(body)
    return timings, size


def cursor_of_page(origin: str, page: int) -> str:
    """The ``before`` cursor that opens page ``page`` of the runs list (50 a page)."""
    path = "/api/runs?limit=50"
    for _ in range(page - 1):
        with urllib.request.urlopen(origin + path, timeout=30) as response:
            path = json.loads(response.read())["older"]
    return path.split("before=")[1].split("&")[0]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=RUNS)
    parser.add_argument("--requests", type=int, default=40)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as scratch, local_services("--seed", "7", azurite_dir=Path(scratch)):
        from function_app import app  # noqa: PLC0415 - reads the settings local_services just exported

        started = time.perf_counter()
        seed(args.runs)
        print(f"seeded {args.runs} runs in {time.perf_counter() - started:.1f} s", flush=True)
        with DevHost(app, clock="real") as host:
            origin = host.origin
            deep = cursor_of_page(origin, 10)
            pages = {
                "runs page (newest 50)": "/api/dashboard",
                "runs page, status=failed": "/api/dashboard?status=failed",
                "runs page, lineage filter": "/api/dashboard?lineage=support-bot",
                "runs page 10 (cursor)": f"/api/dashboard?before={deep}",
                "runs JSON (newest 50)": "/api/runs",
                "run page (3 iterations)": "/api/dashboard/runs/bench-0500",
                "compare 3 runs": "/api/dashboard/compare?runs=bench-0001,bench-0002,bench-0003",
            }
            rows = []
            for name, path in pages.items():
                timings, size = time_page(origin, path, args.requests)
                p95 = statistics.quantiles(timings, n=20)[-1]
                rows.append(
                    (
                        name,
                        f"{statistics.median(timings):.1f}",
                        f"{p95:.1f}",
                        f"{max(timings):.1f}",
                        f"{size / 1024:.0f} KB",
                        "yes" if p95 < TARGET_MS else "NO",
                    )
                )
    header = ("page", "median ms", "p95 ms", "max ms", "size", f"p95 < {TARGET_MS:.0f} ms")
    widths = [max(len(str(row[i])) for row in [header, *rows]) for i in range(len(header))]
    print(f"\n{args.runs} runs in the index, {args.requests} requests per page after one warm-up\n")
    for line in [header, tuple("-" * w for w in widths), *rows]:
        print("  ".join(str(cell).ljust(width) for cell, width in zip(line, widths, strict=True)).rstrip())
    return 0 if all(row[-1] == "yes" for row in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
