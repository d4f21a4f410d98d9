"""``python -m devhost serve`` reads ``local.settings.json`` as ``func start`` does: Values into the
environment without overriding variables already set (devhost/local_settings.py cites Core Tools'
source), Host.LocalHttpPort as the default port, and a file it cannot use refused by name."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from devhost import local_settings
from tests.devhost.support import ROOT, call, free_port

pytestmark = pytest.mark.timeout(60)


def write(tmp_path: Path, document: Any) -> Path:
    path = tmp_path / "local.settings.json"
    path.write_text(json.dumps(document))
    return path


def test_values_fill_the_environment_without_overriding_what_is_set(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        {
            "IsEncrypted": False,
            "Values": {"FROM_FILE": "file", "EXPORTED": "file", "BLANK_BEFORE": "file", "EMPTY": "", "": "x"},
            "Host": {"LocalHttpPort": 7123},
        },
    )
    environ = {"EXPORTED": "shell", "BLANK_BEFORE": ""}

    applied = local_settings.apply(path, environ)

    assert environ == {"EXPORTED": "shell", "BLANK_BEFORE": "file", "FROM_FILE": "file", "EMPTY": ""}
    assert applied.set == ["FROM_FILE", "BLANK_BEFORE", "EMPTY"]
    assert applied.warnings == [
        "Skipping 'EXPORTED' from local settings as it's already defined in current environment variables.",
        "Skipping local setting with empty key.",
    ]
    assert applied.port == 7123


def test_a_null_value_is_skipped_and_a_missing_file_changes_nothing(tmp_path: Path) -> None:
    environ: dict[str, str] = {}
    applied = local_settings.apply(write(tmp_path, {"Values": {"NOTHING": None}}), environ)
    assert environ == {}
    assert applied.warnings == ["Skipping 'NOTHING' because value is null"]
    assert local_settings.apply(tmp_path / "absent.json", environ) == local_settings.Applied()


@pytest.mark.parametrize(
    ("document", "says"),
    [
        ({"IsEncrypted": True, "Values": {"A": "x"}}, "func settings decrypt"),
        ({"Values": {"FEEDBACK_MAX_ITEMS": 1000, "OK": "x"}}, "Values FEEDBACK_MAX_ITEMS must be strings"),
        ({"Values": ["A=x"]}, "Values must be a JSON object"),
        ({"Values": {}, "Host": {"LocalHttpPort": "7071"}}, "Host.LocalHttpPort must be a port number"),
        ([1, 2], "must hold a JSON object"),
    ],
)
def test_a_file_that_cannot_be_used_is_refused_before_anything_is_set(
    tmp_path: Path, document: Any, says: str
) -> None:
    environ: dict[str, str] = {}
    with pytest.raises(local_settings.LocalSettingsError, match=says):
        local_settings.apply(write(tmp_path, document), environ)
    assert environ == {}


def test_serve_reads_the_file_in_its_directory_and_listens_on_its_port(tmp_path: Path) -> None:
    """The test app (tests/devhost/apps.py) answers GET /api/env/{name} with the variable's value."""
    port = free_port()
    write(
        tmp_path,
        {"Values": {"DEVHOST_SETTING": "from the file", "EXPORTED": "file"}, "Host": {"LocalHttpPort": port}},
    )
    env = {**_clean_env(), "EXPORTED": "shell", "PYTHONPATH": str(ROOT)}
    command = [
        sys.executable,
        "-m",
        "devhost",
        "serve",
        "--app",
        "tests.devhost.apps:app",
        "--clock",
        "virtual",
    ]
    process = subprocess.Popen(
        command, cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        assert process.stdout is not None
        assert process.stdout.readline().strip() == f"listening on http://127.0.0.1:{port}"
        assert call("GET", f"http://127.0.0.1:{port}/api/env/DEVHOST_SETTING")[2] == {
            "value": "from the file"
        }
        assert call("GET", f"http://127.0.0.1:{port}/api/env/EXPORTED")[2] == {"value": "shell"}
    finally:
        process.terminate()
        _, errors = process.communicate(timeout=15)
    assert "Skipping 'EXPORTED' from local settings" in errors


def test_serve_refuses_an_encrypted_file_and_says_how_to_fix_it(tmp_path: Path) -> None:
    write(tmp_path, {"IsEncrypted": True, "Values": {"A": "x"}})
    result = subprocess.run(
        [sys.executable, "-m", "devhost", "serve", "--app", "tests.devhost.apps:app"],
        cwd=tmp_path,
        env={**_clean_env(), "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 2
    assert "func settings decrypt" in result.stderr
    assert "Traceback" not in result.stderr


def _clean_env() -> dict[str, str]:
    """This process's environment without the variables the tests set through the file."""
    return {name: value for name, value in os.environ.items() if name not in {"EXPORTED", "DEVHOST_SETTING"}}
