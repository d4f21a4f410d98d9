"""A newcomer's first hour, as the README has them spend it (issue 21): `make run` refused, run twice,
and run on their own agent with its emulator plug-in; `make serve`; the app started from
``local.settings.json.example`` with the files the emulator writes.

`make run` and `make serve` run as the user runs them, in processes of their own (scripts/local_run.py,
scripts/local_serve.py), each with a state directory of its own so they neither read nor change the
repository's .azurite/ and .emulator/.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from emulator.launch import start_emulator
from scripts import azurite as azurite_script
from scripts import local_env
from scripts.azurite import REPO_ROOT, Azurite, free_port
from scripts.local_run import champion_line, error_lines, summary_table
from shared.domain.report import RunReport
from tests.devhost.support import serve

pytestmark = pytest.mark.timeout(600)
# Quick emulated durations and no chat latency: the rules are the same, the waits shorter.
QUICK = ["--time-scale", "0.05"]
QUICK_EMULATOR = "--chat-latency 0"
# Training hard on one batch (tests/app/test_lineages.py PROMOTING): candidates move far from their parent.
# Every rewarded example of 48 rollouts kept, so an iteration has Azure's 10 examples to train on.
HARD = [
    "--set",
    "n_epochs=3",
    "--set",
    "learning_rate_multiplier=2.0",
    "--set",
    "finetune_every_n_rollouts=48",
    "--set",
    "data_filter_ratio=1.0",
]
APP_SETTINGS_OF_THE_TESTS = {"AGENT_MODULES", "EMULATOR_ARGS", "RUN_DEFAULTS", "TLS_CA_BUNDLE"}


def make_run(state: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    """`make run ARGS="..."` with ``env`` exported, in a world of its own under ``state``."""
    environ = {k: v for k, v in os.environ.items() if k not in APP_SETTINGS_OF_THE_TESTS} | env
    return subprocess.run(
        [sys.executable, "-m", "scripts.local_run", "--state-dir", str(state), *QUICK, *args],
        cwd=REPO_ROOT,
        env=environ,
        capture_output=True,
        text=True,
        timeout=540,
    )


def last_line(result: subprocess.CompletedProcess[str]) -> str:
    return result.stdout.rstrip().splitlines()[-1]


def no_traceback(result: subprocess.CompletedProcess[str]) -> None:
    assert "Traceback" not in result.stdout + result.stderr, result.stdout + result.stderr


def report_copy(state: Path, run_id: str) -> RunReport:
    """The copy of the run's report `make run` leaves in its state directory (a run of its own process,
    so not one tests/driver.py drives)."""
    return RunReport.model_validate_json((state / "out" / "runs" / run_id / "report.json").read_text())


# ---------------------------------------------------------------- a refused run


@pytest.mark.parametrize(
    ("setting", "says"),
    [
        (
            "budget_usd=0.01",
            # Training as expected from the settings, and an iteration's 24 + 2 x 16 x 4 rollouts
            # (training, then candidate and champion on 16 validation tasks, 4 samples each); the
            # teacher's (batch and champion) have no default price, the candidate's 64 are priced.
            "  budget_usd: ~15,000 trained tokens ~ $0.0375 + 152 rollouts' chat calls ~ $0.0358 (without "
            "gpt-5.1-2025-11-13: no price; add it to PRICING); $0.0000 spent so far; does not fit budget "
            "$0.01; 3 iterations ~ $0.2200; fix: raise budget_usd",
        ),
        (
            "base_model=gpt-4.1-mini-2099-01-01",
            "  base_model: gpt-4.1-mini-2099-01-01 is not among the account's models; this account can "
            "fine-tune now: gpt-4.1-mini-2025-04-14, ",
        ),
    ],
)
def test_make_run_refused_says_why_and_exits_non_zero_without_a_traceback(
    tmp_path: Path, setting: str, says: str
) -> None:
    result = make_run(tmp_path, "--set", setting, EMULATOR_ARGS=QUICK_EMULATOR)

    assert result.returncode == 2, result.stdout + result.stderr
    no_traceback(result)
    lines = result.stdout.splitlines()
    assert lines[0] == (  # the emulator's defaults: a Foundry resource that fine-tunes gpt-4.1 already
        "emulated account (kind AIServices): an existing fine-tuning customer of gpt-4.1 "
        '(EMULATOR_ARGS="--customer new" for a new customer)'
    )
    assert "the run was refused (400): the run would fail its preflight" in lines
    assert any(line.startswith(says) for line in lines), result.stdout
    assert last_line(result) == (
        "champion: none (the lineage has no champion yet: its first run that evaluates crowns one)"
    )


def test_a_run_that_failed_before_its_baseline_is_summed_up_with_its_error_and_fixes() -> None:
    """The report of a run whose own preflight failed (a scheduled run, or a condition that arose after
    the POST), which `make run` used to crash on (the report has no baseline)."""
    check = {"name": "files", "ok": False, "detail": "100 of 100 training files", "fix": "delete some"}
    report = RunReport(
        run_id="failed-early",
        instance_id="failed-early",
        settings={"iterations": 1},
        started_at="2026-12-01T00:00:00+00:00",
        status="failed",
        error={"code": "ResourceFull", "message": "preflight failed: files: ...", "checks": [check]},
    ).model_dump(mode="json")

    assert summary_table(report).splitlines()[0] == (
        "no baseline: the run ended before it evaluated where it starts"
    )
    assert error_lines(report["error"]) == [
        "error: ResourceFull: preflight failed: files: ...",
        "  files: 100 of 100 training files",
        "    fix: delete some",
    ]
    champion = {"version": 0, "deployment": "gpt-4.1-mini", "val_reward": 0.5, "run_id": "earlier"}
    lineage = {"champion": champion, "champion_history": [champion]}
    assert champion_line(lineage, report, "failed") == (
        "champion: gpt-4.1-mini (unchanged: the run failed; val 0.500)"
    )


def test_bad_emulator_args_are_refused_without_a_traceback(tmp_path: Path) -> None:
    result = make_run(tmp_path, EMULATOR_ARGS="--no-such-flag 1")

    assert result.returncode == 2
    no_traceback(result)
    assert "the emulator did not start with the flags" in result.stderr
    assert "--no-such-flag" in result.stderr


def test_make_passes_emulator_args_to_the_emulator(tmp_path: Path) -> None:
    """`make run EMULATOR_ARGS=...`: make exports a variable given on its command line to the recipe."""
    result = subprocess.run(
        ["make", "--no-print-directory", "run", "EMULATOR_ARGS=--no-such-flag 1", "ARGS=--iterations 1"],
        cwd=REPO_ROOT,
        env={k: v for k, v in os.environ.items() if k not in APP_SETTINGS_OF_THE_TESTS},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode != 0
    assert "the emulator did not start with the flags" in result.stderr
    assert "--no-such-flag" in result.stderr


# ---------------------------------------------------------------- two runs of one lineage


def test_two_runs_of_a_lineage_say_which_champion_they_faced_and_what_became_of_it(tmp_path: Path) -> None:
    first = make_run(
        tmp_path,
        "--iterations",
        "1",
        "--run-id",
        "lineage-first",
        *HARD,
        EMULATOR_ARGS=QUICK_EMULATOR,
    )
    second = make_run(
        tmp_path,
        "--iterations",
        "1",
        "--run-id",
        "lineage-second",
        *HARD,
        EMULATOR_ARGS=QUICK_EMULATOR,
    )

    for result in (first, second):
        assert result.returncode == 0, result.stdout + result.stderr
        no_traceback(result)
    one, two = report_copy(tmp_path, "lineage-first"), report_copy(tmp_path, "lineage-second")
    assert "baseline: evaluating gpt-5.1 on 16 validation tasks x 4" in first.stdout, "samples count"
    # The existing customer's reference example, its rollouts served by distillation, and said so.
    assert (
        "emulated account (kind AIServices): an existing fine-tuning customer of gpt-4.1 "
        '(EMULATOR_ARGS="--customer new" for a new customer)'
    ) in first.stdout
    assert (
        "rollouts: served by distillation: the teacher gpt-5.1 (gpt-5.1-2025-11-13) answers them and its "
        "rewarded traces train gpt-4.1-mini-2025-04-14 (docs/models.md)"
    ) in first.stdout.splitlines()
    assert "0.5833333333333334" not in first.stdout + second.stdout

    # The first run starts the lineage: the base model is crowned, then its candidate beats it or not.
    (candidate,) = one.iterations
    base = one.baseline
    assert base is not None
    assert base.val_reward is not None
    assert f"champion at the start: gpt-5.1 (val {base.val_reward:.3f})" in first.stdout
    if candidate.promoted:
        assert candidate.val_reward is not None
        assert last_line(first) == (
            f"champion: {candidate.deployment} (changed in iteration 1: a candidate beat the champion; "
            f"val {candidate.val_reward:.3f}; was gpt-5.1 (val {base.val_reward:.3f}))"
        )
    else:
        assert last_line(first) == (
            "champion: gpt-5.1 (new: the starting model, crowned as the lineage's first champion; "
            f"val {base.val_reward:.3f})"
        )

    # The second run faces that champion, names it in its summary and says whether it changed.
    champion = one.champion
    assert champion is not None
    assert two.baseline is not None
    assert two.champion is not None
    assert two.baseline.champion_deployment == champion.deployment
    assert f"champion at the start: {champion.deployment}" in second.stdout
    (row,) = [line for line in second.stdout.splitlines() if line.startswith("1 ")]
    assert f"vs {champion.deployment}" in row
    assert row.rstrip().endswith(two.champion.deployment)
    if two.iterations[0].promoted:
        assert last_line(second).startswith(f"champion: {two.champion.deployment} (changed in iteration 1")
        # The reward the lineage recorded when it crowned that champion (each run measures it again,
        # on samples of its own, for its comparisons).
        assert champion.val_reward is not None
        assert last_line(second).endswith(f"was {champion.deployment} (val {champion.val_reward:.3f}))")
    else:
        assert two.champion.val_reward is not None
        assert last_line(second) == (
            f"champion: {champion.deployment} (unchanged: no candidate beat it; "
            f"val {two.champion.val_reward:.3f})"
        )


# ---------------------------------------------------------------- your own agent, through make run

MY_AGENT = {"AGENT_MODULES": "tests.app.letters.agent"}
MY_PLUGIN = "--behaviour tests.app.letters.offline"
NO_PLUGIN_WARNING = "warning: agent letters has no emulator behaviour plug-in"


def test_your_agent_and_its_plug_in_registered_by_settings_alone_improve_through_make_run(
    tmp_path: Path,
) -> None:
    result = make_run(
        tmp_path,
        "--iterations",
        "2",
        "--run-id",
        "letters-first",
        "--set",
        "agent=letters",
        "--set",
        "deployment_prefix=letters-agent",
        *HARD,
        **MY_AGENT,
        EMULATOR_ARGS=f"{MY_PLUGIN} {QUICK_EMULATOR}",
    )

    assert result.returncode == 0, result.stdout + result.stderr
    assert NO_PLUGIN_WARNING not in result.stdout
    report = report_copy(tmp_path, "letters-first")
    assert report.settings["agent"] == "letters"
    assert report.baseline is not None
    baseline = report.baseline.val_reward
    assert baseline is not None
    best = max(item.val_reward for item in report.iterations if item.val_reward is not None)
    assert best > baseline, (baseline, report.iterations)
    assert report.champion is not None
    assert report.champion.deployment.startswith("letters-agent_v"), "a candidate became champion"
    assert last_line(result).startswith(f"champion: {report.champion.deployment} (changed in iteration")


def test_an_agent_without_a_plug_in_gets_a_warning_that_names_the_fix(tmp_path: Path) -> None:
    result = make_run(tmp_path, "--set", "budget_usd=0.01", **MY_AGENT, EMULATOR_ARGS=QUICK_EMULATOR)

    warnings = [line for line in result.stdout.splitlines() if line.startswith("warning: agent")]
    assert warnings == [
        f"{NO_PLUGIN_WARNING}, so the emulator answers it as the capital-city agent and it scores about 0. "
        'Write one (docs/agents.md, section 5) and load it: EMULATOR_ARGS="--behaviour '
        'your_package.your_module"'
    ], "only the agent without a plug-in is warned about (the bundled ones have theirs)"


# ---------------------------------------------------------------- make serve


def test_make_serve_prints_the_dashboard_url_and_stops_within_seconds(tmp_path: Path) -> None:
    port = free_port()
    environ = {k: v for k, v in os.environ.items() if k not in APP_SETTINGS_OF_THE_TESTS}
    command = [sys.executable, "-m", "scripts.local_serve", "--port", str(port), "--state-dir", str(tmp_path)]
    process = subprocess.Popen(
        command,
        cwd=REPO_ROOT,
        env=environ,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        assert process.stdout is not None
        dashboard = ""
        deadline = time.monotonic() + 60
        while not dashboard and time.monotonic() < deadline:
            line = process.stdout.readline()
            assert line, (
                f"make serve ended before it listened: {process.stderr.read() if process.stderr else ''}"
            )
            if line.startswith("dashboard: "):
                dashboard = line.split()[1]
        assert dashboard == f"http://127.0.0.1:{port}/api/dashboard"
        with urllib.request.urlopen(dashboard, timeout=10) as page:
            assert page.status == 200
            assert b"durable-finetune" in page.read()

        stopping = time.monotonic()
        os.killpg(process.pid, signal.SIGINT)  # Ctrl-C reaches the whole foreground group
        process.wait(timeout=15)
        stopped_in = time.monotonic() - stopping
        group_gone = _group_gone(process.pid, deadline=time.monotonic() + 5)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
    assert stopped_in < 5, f"make serve took {stopped_in:.1f} s to stop"
    assert group_gone, "Azurite, the emulator or the server outlived make serve"


def _group_gone(pgid: int, deadline: float) -> bool:
    while time.monotonic() < deadline:
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            return True
        time.sleep(0.1)
    return False


# ---------------------------------------------------------------- local.settings.json.example


def test_the_app_starts_from_local_settings_example(tmp_path: Path, azurite: Azurite) -> None:
    """The example's Values as they are, in the layout the README's commands make (the emulator's
    state in .emulator/ beside it): only the two endpoints change, because this test's Azurite and
    emulator listen on free ports (the machine is shared) rather than on 10000-10002 and 8443."""
    example = (REPO_ROOT / "local.settings.json.example").read_text()
    values = json.loads(example)["Values"]
    emulator = start_emulator("--time-scale", "0.01", state_dir=tmp_path / ".emulator")
    try:
        assert Path(emulator.ca_path) == tmp_path / values["TLS_CA_BUNDLE"], (
            "where the emulator writes its CA"
        )
        document = json.loads(example)
        document["Values"] |= {
            "AZURE_OPENAI_ENDPOINT": emulator.url,
            "ARM_ENDPOINT": emulator.url,
            "ARTIFACTS_STORAGE_CONNECTION_STRING": azurite.connection_string,
        }
        (tmp_path / "local.settings.json").write_text(json.dumps(document))
        port = free_port()
        environ = {k: v for k, v in os.environ.items() if k not in values} | {"PYTHONPATH": str(REPO_ROOT)}
        server = serve(port, app="function_app:app", cwd=tmp_path, env=environ)
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/preflight", timeout=30) as answer:
                preflight = json.loads(answer.read())
        finally:
            server.terminate()
            server.wait(15)
    finally:
        emulator.stop()
    failed = [check for check in preflight["checks"] if not check["ok"]]
    assert failed == [], "every dependency answered with the example's settings"
    assert preflight["ok"] is True


def test_azurite_on_a_port_taken_after_it_was_found_free_starts_on_new_ports(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Another test worker can bind a port between ``free_port`` and Azurite's listen: Azurite then
    exits with EADDRINUSE, and run_azurite starts it again on fresh ports instead of failing."""
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        taken_port = taken.getsockname()[1]
        handed_out: list[int] = []

        def first_one_taken() -> int:
            port = taken_port if not handed_out else free_port()
            handed_out.append(port)
            return port

        monkeypatch.setattr(azurite_script, "free_port", first_one_taken)
        with azurite_script.run_azurite(tmp_path / "azurite") as azurite:
            assert azurite.blob_port != taken_port
            with socket.create_connection(("127.0.0.1", azurite.blob_port), timeout=2):
                pass
        assert handed_out.count(taken_port) == 1
        assert len(handed_out) == 6  # three ports refused as a set, three more that worked


def test_local_services_take_free_ports_when_the_default_ones_go_while_azurite_starts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two `make run`s started together both find 10000-10002 free; the one that loses the race runs on
    free ports instead of failing. The "default" blob port here is one this test holds, so no other
    test on the machine (a `make run` on the real defaults) can free or take it meanwhile; the other two
    are free, so Azurite's refusal (EADDRINUSE) is what shows while they are awaited."""
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        taken = (holder.getsockname()[1], azurite_script.free_port(), azurite_script.free_port())
        monkeypatch.setattr(azurite_script, "DEFAULT_PORTS", taken)
        monkeypatch.setattr(local_env, "_default_ports_free", lambda: True)
        saved = dict(os.environ)  # local_services exports the app's settings into this process
        try:
            with local_env.local_services(
                azurite_dir=tmp_path / "azurite", emulator_state=tmp_path / "emulator"
            ) as services:
                assert services.azurite.blob_port != taken[0]
                connection = services.env["ARTIFACTS_STORAGE_CONNECTION_STRING"]
                assert f":{services.azurite.blob_port}/" in connection
        finally:
            os.environ.clear()
            os.environ.update(saved)
