"""CI cannot be green with the browser tests skipped: with ``BROWSER_REQUIRED=1``, which ``.ci/run``
exports, a Chromium that does not start fails both ``make browser`` (the start-up check ``make test``
runs first) and the browser tests themselves; without it (a local ``make test``) both say why and the
tests skip. The broken browser is an executable that exits at once, as a Chromium missing its shared
libraries does."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from scripts.browser import REQUIRED

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.timeout(120)
# `-o .venv/.installed`: the target as make test runs it, but never a venv install from inside a test.
MAKE_BROWSER = ["make", "--no-print-directory", "-o", ".venv/.installed", "browser"]


@pytest.fixture
def broken_chromium(tmp_path: Path) -> Path:
    path = tmp_path / "chromium"
    path.write_text("#!/bin/sh\necho 'chromium: error while loading shared libraries' >&2\nexit 127\n")
    path.chmod(0o755)
    return path


def environment(chromium: Path, *, required: bool) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != REQUIRED}
    return {**env, "CHROMIUM_BIN": str(chromium), **({REQUIRED: "1"} if required else {})}


def run(command: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=100, check=False
    )


def test_ci_requires_the_browser_before_it_runs_make_test() -> None:
    lines = [line.strip() for line in (ROOT / ".ci" / "run").read_text().splitlines()]
    assert f"export {REQUIRED}=1" in lines
    assert lines.index(f"export {REQUIRED}=1") < lines.index("make test")


def test_make_browser_fails_in_ci_when_chromium_cannot_start(broken_chromium: Path) -> None:
    ci = run(MAKE_BROWSER, environment(broken_chromium, required=True))
    assert ci.returncode != 0, ci.stdout
    assert f"{broken_chromium} did not start" in ci.stderr
    assert f"{REQUIRED}=1, so this fails" in ci.stderr

    local = run(MAKE_BROWSER, environment(broken_chromium, required=False))
    assert local.returncode == 0, local.stderr
    assert f"{broken_chromium} did not start" in local.stdout
    assert "the browser tests will be skipped" in local.stdout


def test_the_browser_tests_fail_in_ci_and_skip_locally_when_chromium_cannot_start(
    broken_chromium: Path,
) -> None:
    pytest_command = [
        sys.executable,
        *("-m", "pytest", "-p", "no:cacheprovider", "-q", "-rfEs"),
        "tests/dashboard/test_browser.py",
    ]
    ci = run(pytest_command, environment(broken_chromium, required=True))
    assert ci.returncode == 1, ci.stdout
    assert "1 error" in ci.stdout
    assert f"no headless browser and {REQUIRED}=1: {broken_chromium} did not start" in ci.stdout

    local = run(pytest_command, environment(broken_chromium, required=False))
    assert local.returncode == 0, local.stdout
    assert "1 skipped" in local.stdout
    assert f"no headless browser: {broken_chromium} did not start" in local.stdout
