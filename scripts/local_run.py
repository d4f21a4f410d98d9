"""`make run`: one full fine-tuning run on this machine, offline, with a real clock.

Starts Azurite and the emulator, starts a run through the app's own HTTP API in devhost, streams the
stage log, prints a summary (each iteration's outcome and why, against which champion, and what became
of the champion), the report's blob path, writes a local copy of the report to
out/runs/{run_id}/report.json, and stops what it started. Its last line is always
`champion: <deployment> (<how it changed>)`.

Exit status: 0 when the run succeeded (or completed with some iterations skipped or failed, each with
its reason), 1 when it failed, was cancelled or did not finish in time, 2 when it was refused before it
started (a 400 or 409 from POST /api/runs: nothing was created) or the local services could not start.
Extra emulator flags come from the EMULATOR_ARGS environment variable (scripts/local_env.py).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from devhost import DevHost
from scripts.azurite import REPO_ROOT
from scripts.local_env import LocalSetupError, make_services, stop_on_sigterm, warn_unplugged
from shared.domain.report import shown_reward
from shared.domain.settings import RunSettings

FINISHED_WELL = {"succeeded", "completed_with_failures"}
REFUSED, FAILED = 2, 1


def _fmt(value: Any, pattern: str = "{}") -> str:
    return "-" if value is None else pattern.format(value)


def _table(rows: Sequence[tuple[str, ...]]) -> list[str]:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)) for row in rows]
    lines = [line.rstrip() for line in lines]
    lines.insert(1, "  ".join("-" * width for width in widths))
    return lines


def _reason(error: dict[str, Any] | None) -> str:
    if not error:
        return ""
    return f"{error.get('code', 'Error')}: {error.get('message', '')}"


def summary_table(report: dict[str, Any]) -> str:
    """Where the run started, then one row per iteration: what it kept, trained and deployed, how its
    candidate scored against the champion of that moment, whether it was promoted and who is champion
    after it; then the reason of every iteration that did not succeed."""
    baseline = report.get("baseline")
    champion = champion_at_start(report)
    if baseline is None:
        lines = ["no baseline: the run ended before it evaluated where it starts"]
    else:
        lines = [
            f"start: {baseline['deployment']} ({baseline.get('start_from') or 'base'}), val reward "
            f"{shown_reward(baseline.get('val_reward'))}; champion at the start: {_fmt(champion)} "
            f"(val {shown_reward(baseline.get('champion_val_reward'))})"
        ]
    rows = [
        (
            "iter",
            "status",
            "kept",
            "job",
            "model",
            "deployment",
            "val reward",
            "vs champion",
            "promoted",
            "champion after",
        )
    ]
    for item in report.get("iterations", []):
        versus = versus_champion(item, champion)
        champion = champion_after(report, item, champion)
        rows.append(
            (
                str(item["iteration"]),
                item["status"],
                f"{_fmt(item.get('examples_kept'))}/{_fmt(item.get('examples_total'))}",
                _fmt(item.get("job_id")),
                _fmt(item.get("fine_tuned_model")),
                _fmt(item.get("deployment")),
                shown_reward(item.get("val_reward")),
                versus,
                promotion(item),
                _fmt(champion),
            )
        )
    lines += _table(rows)
    lines += [
        f"iteration {item['iteration']} {item['status']}: {_reason(item.get('error'))}"
        for item in report.get("iterations", [])
        if item.get("error")
    ]
    lines += test_scores(report)
    return "\n".join(lines)


def versus_champion(item: dict[str, Any], champion: str | None) -> str:
    """The candidate minus the champion measured beside it, with the lower bound promotion rests on."""
    comparison = item.get("comparison") or {}
    difference, lower = comparison.get("difference"), comparison.get("lower")
    if difference is None or lower is None:
        return "-"
    return f"{difference:+.3f} (lower bound {lower:+.3f}) vs {champion}"


def test_scores(report: dict[str, Any]) -> list[str]:
    """The champion's held-out test score at the run's start and end (never used to choose)."""
    scores = [(when, report.get(f"champion_test_{when}")) for when in ("start", "end")]
    return [
        f"test score at the {when}: {score['deployment']} {shown_reward(score.get('reward'))} "
        f"({score.get('tasks')} test tasks x {score.get('samples_per_task')})"
        for when, score in scores
        if score
    ]


def champion_at_start(report: dict[str, Any]) -> str | None:
    """The champion the first candidate is compared with: the lineage's, or the start when it had none."""
    baseline = report.get("baseline") or {}
    return baseline.get("champion_deployment") or baseline.get("deployment")


def champion_after(report: dict[str, Any], item: dict[str, Any], before: str | None) -> str | None:
    """The champion once ``item`` was decided: its deployment when it was promoted (where the report's
    champion serves, if that is this version: a billed champion deployment), else ``before``."""
    if not item.get("promoted"):
        return before
    final = report.get("champion") or {}
    if item.get("version") is not None and final.get("version") == item.get("version"):
        deployment: str | None = final.get("deployment")
        return deployment
    return item.get("deployment") or before


def promotion(item: dict[str, Any]) -> str:
    if item.get("promoted"):
        return "yes"
    outcome = (item.get("comparison") or {}).get("decision") or item.get("promotion")
    return f"no ({outcome.replace('_', ' ')})" if outcome else "no"


def rollouts_line(report: dict[str, Any]) -> str:
    """How the run's rollouts were served: by the model it trains, or by a teacher (distillation)."""
    baseline = report.get("baseline")
    if not baseline:
        return "rollouts: none ran (the run ended before its baseline)"
    served = f"{baseline['deployment']} ({baseline['model']})"
    if baseline.get("teacher"):
        return (
            f"rollouts: served by distillation: the teacher {served} answers them and its rewarded traces "
            f"train {baseline.get('trains')} (docs/models.md)"
        )
    return f"rollouts: served by {served}, the model the run trains"


def choice_lines(report: dict[str, Any]) -> list[str]:
    """The settings the app chose from the base model's profile, and why."""
    return [
        f"chose {item['setting']}={item['value']}: {item['reason']}" for item in report.get("choices") or []
    ]


def account_line(state: dict[str, Any]) -> str:
    """Which account the emulator plays (its ``/_emulator/state``, so the flags it was started with):
    its ARM kind, which decides whether the open models train, and which kind of fine-tuning customer
    it is."""
    kind = state["config"]["account_kind"]
    families = state["account"].get("existing_families") or []
    if families:
        return (
            f"emulated account (kind {kind}): an existing fine-tuning customer of {', '.join(families)} "
            '(EMULATOR_ARGS="--customer new" for a new customer)'
        )
    where = "" if kind == "AIServices" else ", on a kind AIServices account"
    return (
        f"emulated account (kind {kind}): a new fine-tuning customer "
        f"(it can fine-tune the open models only{where}; docs/models.md)"
    )


def error_lines(error: dict[str, Any] | None) -> list[str]:
    """The run's error: code and message, then each failed check with its fix."""
    if not error:
        return []
    lines = [f"error: {error.get('code', 'Error')}: {error.get('message', '')}"]
    for check in error.get("checks") or []:
        lines.append(f"  {check.get('name')}: {check.get('detail')}")
        if check.get("fix"):
            lines.append(f"    fix: {check['fix']}")
    return lines


def refusal_lines(status: int, body: dict[str, Any]) -> list[str]:
    """Why POST /api/runs refused the run: each field with its error (and the fix it names)."""
    lines = [f"the run was refused ({status}): {body.get('error', body)}"]
    lines += [f"  {item.get('field')}: {item.get('error')}" for item in body.get("errors") or []]
    return lines


# How a champion came to be, by the lineage record's ``reason`` (shared/domain/lineage.py).
CROWNED = {
    "baseline": "the starting model, crowned as the lineage's first champion",
    "promoted": "a candidate beat the champion",
    "fallback": "the champion could not serve, so the run fell back to the base model",
    "rollback": "rolled back",
    "redeployed": "redeployed",
}


def champion_line(lineage: dict[str, Any] | None, report: dict[str, Any] | None, run_status: str) -> str:
    """``champion: <deployment> (<how it changed>)``, from the lineage record after the run
    (``champion``, ``champion_history``): against the champion before the run, or, in a lineage's
    first run, the starting model the run crowned."""
    run_id = (report or {}).get("run_id")
    now = (lineage or {}).get("champion")
    history = (lineage or {}).get("champion_history") or []
    earlier = [entry for entry in history if entry.get("run_id") != run_id]
    before = earlier[-1] if earlier else None
    if now is None:
        return "champion: none (the lineage has no champion yet: its first run that evaluates crowns one)"
    deployment, reward = now["deployment"], shown_reward(now.get("val_reward"))
    if before is None:
        first = next((entry for entry in history if entry.get("run_id") == run_id), now)
        if _same(first, now):
            return f"champion: {deployment} (new: {CROWNED['baseline']}; val {reward})"
        before = first
    elif _same(before, now):
        why = "no candidate beat it" if run_status in FINISHED_WELL else f"the run {run_status}"
        return f"champion: {deployment} (unchanged: {why}; val {reward})"
    how = CROWNED.get(str(now.get("reason")), str(now.get("reason")))
    by = [item["iteration"] for item in (report or {}).get("iterations", []) if _same(item, now)]
    where = f" in iteration {by[0]}" if by and now.get("reason") == "promoted" else ""
    was = f"was {before['deployment']} (val {shown_reward(before.get('val_reward'))})"
    return f"champion: {deployment} (changed{where}: {how}; val {reward}; {was})"


def _same(first: dict[str, Any], second: dict[str, Any]) -> bool:
    """The same model version: a champion record, or a report's iteration, naming the same version."""
    return first.get("version") is not None and first.get("version") == second.get("version")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__,
        epilog='From make: make run ARGS="--iterations 1 --set val_limit=4 --set seed=7" '
        'EMULATOR_ARGS="--behaviour my_agents_offline.shop"',
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
    parser.add_argument(
        "--state-dir",
        type=Path,
        help="keep Azurite's data, the emulator's state and the report copies in DIR/azurite, "
        "DIR/emulator and DIR/out (default: .azurite/, .emulator/ and out/ of the repository): "
        "a lineage world of its own",
    )
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


def lineage_of(body: dict[str, Any]) -> str:
    """The lineage a run of ``body`` belongs to, as the app resolves it (lineage, else the prefix)."""
    named = body.get("lineage") or body.get("deployment_prefix")
    return named if isinstance(named, str) else RunSettings().deployment_prefix


def read_lineage(host: DevHost, name: str) -> dict[str, Any] | None:
    response = host.http("GET", f"/api/lineages/{name}")
    if response.status_code != 200:
        return None
    record: dict[str, Any] = json.loads(response.get_body())
    return record


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    stop_on_sigterm()
    logging.basicConfig(
        level=logging.WARNING, format="%(asctime)s %(message)s", datefmt="%H:%M:%S", stream=sys.stdout
    )
    logging.getLogger("durable_finetune").setLevel(logging.INFO)
    try:
        return run(args, time.monotonic())
    except LocalSetupError as exc:
        print(f"could not start the local services: {exc}", file=sys.stderr)
        return REFUSED


def run(args: argparse.Namespace, started: float) -> int:
    body = run_body(args)
    state: Path | None = args.state_dir
    with make_services(args.time_scale, state) as services:
        import function_app  # noqa: PLC0415 - reads the settings make_services just exported

        warn_unplugged(services)
        print(account_line(services.emulator.state()))
        with DevHost(function_app.app, clock="real") as host:
            response = host.http("POST", "/api/runs", json=body)
            created = json.loads(response.get_body())
            if response.status_code != 202:
                print("\n".join(refusal_lines(response.status_code, created)))
                print(champion_line(read_lineage(host, lineage_of(body)), None, "was refused"))
                return REFUSED
            run_id = created["run_id"]
            print(f"run {run_id} started; status: {created['run_url']}")
            finished = wait(host, run_id, args.timeout)
            details = json.loads(host.http("GET", f"/api/runs/{run_id}").get_body())
            report = details["report"] or {}
            lineage = read_lineage(host, report.get("lineage") or lineage_of(body))

    status = report.get("status", "unknown") if finished else "not finished"
    out = (state or REPO_ROOT) / "out" / "runs" / run_id / "report.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2))
    print()
    for line in choice_lines(report):
        print(line)
    print(rollouts_line(report))
    print(summary_table(report))
    for line in error_lines(report.get("error")):
        print(line)
    for warning in report.get("warnings") or []:
        print(f"warning: {_reason(warning)}")
    print()
    elapsed = time.monotonic() - started
    print(f"run {run_id}: {details['runtime_status']} / {status} in {elapsed:.0f} s")
    print(f"report blob: {created['report_blob']} (Azurite data in {_shown(services.azurite.location)})")
    print(f"local copy:  {_shown(out)}")
    print(champion_line(lineage, report, status))
    return 0 if status in FINISHED_WELL else FAILED


def _shown(path: Path) -> Path:
    """A path as short as it reads well: relative to the repository when inside it."""
    return path.relative_to(REPO_ROOT) if path.is_relative_to(REPO_ROOT) else path


def wait(host: DevHost, run_id: str, timeout: float) -> bool:
    """Waits for the run to end; False (said on stdout) when it did not within ``timeout``."""
    try:
        asyncio.run(host.wait_for_completion(run_id, timeout=timeout))
    except TimeoutError:
        print(f"run {run_id} did not finish within {timeout:.0f} s (--timeout); stopping it with make run")
        return False
    return True


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:  # Ctrl-C or SIGTERM: Azurite and the emulator are already stopped
        sys.exit(130)
