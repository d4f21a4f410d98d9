"""`make run`: one full fine-tuning run on this machine, offline, with a real clock.

Starts Azurite and the emulator, starts a run through the app's own HTTP API in devhost, streams the
stage log, prints a summary table and the report's blob path, writes a local copy of the report to
out/runs/{run_id}/report.json, and stops what it started.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import sys
import time
from pathlib import Path
from typing import Any

from devhost import DevHost
from scripts.azurite import REPO_ROOT
from scripts.local_env import LOCAL_EMULATOR_FLAGS, LOCAL_EMULATOR_STATE, local_services, stop_on_sigterm

TERMINAL = {"Completed", "Failed", "Terminated", "Canceled"}


def _fmt(value: Any, pattern: str = "{}") -> str:
    return "-" if value is None else pattern.format(value)


def summary_table(report: dict[str, Any]) -> str:
    baseline = (report.get("baseline") or {}).get("val_reward")
    rows = [("iter", "status", "kept", "job", "model", "deployment", "val reward", "vs baseline")]
    for item in report.get("iterations", []):
        reward = item.get("val_reward")
        delta = None if reward is None or baseline is None else reward - baseline
        rows.append(
            (
                str(item["iteration"]),
                item["status"],
                f"{_fmt(item.get('examples_kept'))}/{_fmt(item.get('examples_total'))}",
                _fmt(item.get("job_id")),
                _fmt(item.get("fine_tuned_model")),
                _fmt(item.get("deployment")),
                _fmt(reward, "{:.3f}"),
                _fmt(delta, "{:+.3f}"),
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)) for row in rows]
    lines = [line.rstrip() for line in lines]
    lines.insert(1, "  ".join("-" * width for width in widths))
    return (
        f"baseline {report['baseline']['deployment']}: val reward {_fmt(baseline, '{:.3f}')}\n"
        + "\n".join(lines)
    )


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__,
        epilog='From make: make run ARGS="--iterations 1 --set val_limit=4 --set seed=7"',
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--time-scale", default="0.5", help="emulator duration multiplier (default 0.5)")
    parser.add_argument("--iterations", type=int, default=3, help="fine-tuning iterations (default 3)")
    parser.add_argument("--run-id", help="name the run (lower-case letters, digits, -); default: a new id")
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        dest="settings",
        help="any other run setting (README, Run settings); VALUE is read as JSON, else as text",
    )
    parser.add_argument("--timeout", type=float, default=600, help="seconds before giving up (default 600)")
    args = parser.parse_args(argv)
    for item in args.settings:
        if "=" not in item:
            parser.error(f"--set {item}: write NAME=VALUE, e.g. --set val_limit=4")
    return args


def run_body(args: argparse.Namespace) -> dict[str, Any]:
    """The POST /api/runs body for these options; the app validates it like any other request."""
    body: dict[str, Any] = {"iterations": args.iterations}
    if args.run_id:
        body["run_id"] = args.run_id
    for item in args.settings:
        name, _, text = item.partition("=")
        try:
            body[name] = json.loads(text)
        except ValueError:
            body[name] = text
    return body


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    stop_on_sigterm()
    logging.basicConfig(
        level=logging.WARNING, format="%(asctime)s %(message)s", datefmt="%H:%M:%S", stream=sys.stdout
    )
    logging.getLogger("durable_finetune").setLevel(logging.INFO)

    started = time.monotonic()
    with local_services(
        "--time-scale", args.time_scale, *LOCAL_EMULATOR_FLAGS, emulator_state=LOCAL_EMULATOR_STATE
    ):
        import function_app  # noqa: PLC0415 - reads the settings local_services just exported

        with DevHost(function_app.app, clock="real") as host:
            response = host.http("POST", "/api/runs", json=run_body(args))
            created = json.loads(response.get_body())
            if response.status_code != 202:
                print(f"could not start the run: {response.status_code} {created}", file=sys.stderr)
                return 1
            run_id = created["run_id"]
            print(f"run {run_id} started; status: {created['run_url']}")
            asyncio.run(host.wait_for_completion(run_id, timeout=args.timeout))
            details = json.loads(host.http("GET", f"/api/runs/{run_id}").get_body())

    report = details["report"]
    out = REPO_ROOT / "out" / "runs" / run_id / "report.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2))
    print()
    print(summary_table(report))
    print()
    elapsed = time.monotonic() - started
    print(f"run {run_id}: {details['runtime_status']} / {report['status']} in {elapsed:.0f} s")
    print(f"report blob: {created['report_blob']} (Azurite data in {Path('.azurite')})")
    print(f"local copy:  {out.relative_to(REPO_ROOT)}")
    return 0 if details["runtime_status"] == "Completed" else 1


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:  # Ctrl-C or SIGTERM: Azurite and the emulator are already stopped
        sys.exit(130)
