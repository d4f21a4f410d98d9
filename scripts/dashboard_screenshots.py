"""`make screenshots`: every dashboard page in headless Chromium, at a desktop and a phone width.

Starts Azurite (in a scratch folder) and the emulator, makes runs through the app's own HTTP API in
devhost (three finished runs, one with a failed job, and one held in its fine-tune stage so the live
view shows), and writes ``out/screenshots/{page}-{desktop,phone}.png``. Everything on the pages comes
from those runs; nothing is staged by hand.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from api.dashboard.data import load_report
from devhost import DevHost
from emulator.launch import EmulatorHandle, start_emulator
from scripts.azurite import REPO_ROOT, run_azurite
from scripts.browser import chromium, missing
from scripts.local_env import LOCAL_RUN_DEFAULTS, app_environment
from shared.azure.clients import artifact_store
from shared.domain.layout import lineage_path

WIDTHS = {"desktop": (1280, 900), "phone": (390, 844)}
TERMINAL = {"Completed", "Failed", "Terminated"}


def start(host: Any, **body: Any) -> str:
    response = host.http("POST", "/api/runs", json=body)
    if response.status_code != 202:
        raise RuntimeError(f"POST /api/runs answered {response.status_code}: {response.get_body()!r}")
    return str(body["run_id"])


def wait(host: Any, run_id: str, done: Any, timeout: float = 600) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status = host.get_status_sync(run_id)
        if status is not None and done(status):
            return
        time.sleep(0.2)
    raise TimeoutError(f"{run_id} did not get there in {timeout} s")


def finished(status: Any) -> bool:
    return status.runtime_status is not None and status.runtime_status.value in TERMINAL


def make_runs(app: Any, emulator: EmulatorHandle) -> None:
    """Three finished runs through a virtual-clock host (minutes of polling take no time)."""
    with DevHost(app, clock="virtual") as host:
        emulator.set_faults(fail_next_jobs=1)
        wait(
            host,
            start(host, run_id="capitals-job-fails", deployment_prefix="capitals-f", iterations=2),
            finished,
        )
        for run_id, prefix, ratio in (
            ("capitals-ratio-60", "capitals-a", 0.6),
            ("capitals-ratio-40", "capitals-b", 0.4),
        ):
            wait(
                host,
                start(host, run_id=run_id, deployment_prefix=prefix, iterations=3, data_filter_ratio=ratio),
                finished,
            )


def lineage_of(run_id: str) -> str | None:
    """The run's lineage when its report names one and the lineage has a record to show."""
    view = load_report(artifact_store(), run_id)
    name = view.lineage if view else None
    if name is None or artifact_store().read_text(lineage_path(name)) is None:
        print(
            f"no lineage page: run {run_id} names no lineage with a record (the lineage activities write it)"
        )
        return None
    return name


def shoot(origin: str, out: Path, lineage: str | None) -> list[Path]:
    pages = {
        "runs": "/api/dashboard",
        "run": "/api/dashboard/runs/capitals-ratio-60",
        "run-failed-job": "/api/dashboard/runs/capitals-job-fails",
        "run-live": "/api/dashboard/runs/capitals-live",
        "iteration": "/api/dashboard/runs/capitals-ratio-60/iterations/2",
        "compare": "/api/dashboard/compare?runs=capitals-ratio-60,capitals-ratio-40,capitals-job-fails",
    }
    if lineage:
        pages["lineage"] = f"/api/dashboard/lineages/{lineage}"
    written = []
    with chromium() as browser:
        for device, (width, height) in WIDTHS.items():
            context = browser.new_context(viewport={"width": width, "height": height}, device_scale_factor=1)
            page = context.new_page()
            for name, path in pages.items():
                page.goto(origin + path)
                target = out / f"{name}-{device}.png"
                page.screenshot(path=str(target), full_page=True)
                written.append(target)
            context.close()
        # The README's picture: the top of a finished run's page (docs/dashboard.png is a copy of it).
        context = browser.new_context(viewport={"width": 1100, "height": 980}, device_scale_factor=1)
        page = context.new_page()
        page.goto(origin + pages["run"])
        written.append(out / "readme.png")
        page.screenshot(path=str(written[-1]))
        context.close()
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", type=Path, default=REPO_ROOT / "out" / "screenshots")
    args = parser.parse_args(argv)
    reason = missing()
    if reason:
        print(f"cannot take screenshots: {reason}", file=sys.stderr)
        return 2
    args.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as scratch, run_azurite(Path(scratch)) as azurite:
        emulator = start_emulator("--time-scale", "0.01", "--chat-latency", "0", "--seed", "7")
        try:
            os.environ.update(app_environment(azurite, emulator, LOCAL_RUN_DEFAULTS))
            return take(args.out, emulator)
        finally:
            emulator.stop()


def take(out: Path, emulator: EmulatorHandle) -> int:
    """Makes the runs and shoots the pages (the app is imported here, once its settings are set)."""
    from function_app import app  # noqa: PLC0415 - validates its settings at import, exported just above

    make_runs(app, emulator)
    with DevHost(app, clock="real") as host:
        live = start(
            host,
            run_id="capitals-live",
            deployment_prefix="capitals-l",
            iterations=2,
            job_poll_initial_seconds=3600,
            job_poll_max_seconds=3600,
        )
        wait(host, live, lambda s: str((s.custom_status or {}).get("message", "")).startswith("job "))
        for path in shoot(host.origin, out, lineage_of("capitals-ratio-60")):
            print(path.relative_to(REPO_ROOT))
    return 0


if __name__ == "__main__":
    sys.exit(main())
