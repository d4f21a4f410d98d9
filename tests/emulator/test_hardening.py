"""Malformed input through the real HTTPS server: 4xx in Azure's envelopes, never 500; values that could
poison the state file are refused; a damaged state dir is salvaged; TLS and scratch files are handled
safely (issue 8)."""

from __future__ import annotations

import json
import os
import signal
import stat
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from emulator.launch import ROOT
from tests.emulator.support import arm_url as _arm_path
from tests.emulator.support import start_before_retirements, success_file, upload, wait_processed
from tests.fixtures.emulator import EmulatorHandle

pytestmark = pytest.mark.timeout(60)
DEEP = b"[" * 1000 + b"]" * 1000
AUTH = {"api-key": "k", "Authorization": "Bearer t", "content-type": "application/json"}


def _post(handle: EmulatorHandle, url: str, body: bytes, method: str = "POST") -> Any:
    with handle.http_client() as http:
        return http.request(method, url, headers=AUTH, content=body)


def _error(response: Any, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    error: dict[str, Any] = response.json()["error"]
    assert isinstance(error["code"], str) and isinstance(error["message"], str)
    return error


@pytest.mark.rule("X2")
@pytest.mark.parametrize(
    "route",
    ["/openai/v1/chat/completions", "/openai/v1/fine_tuning/jobs", "/_emulator/clock", "/_emulator/faults"],
)
@pytest.mark.parametrize(
    "body", [DEEP, b'{"advance": NaN}', b"[Infinity]", b"[1e999]", b'{"seed": ' + b"9" * 30 + b"}"]
)
def test_bad_json_is_a_400_on_data_plane_and_admin(
    emulator_reset: EmulatorHandle, route: str, body: bytes
) -> None:
    error = _error(_post(emulator_reset, emulator_reset.url + route, body), 400)
    assert error["code"] == "invalidPayload"


@pytest.mark.rule("X3", "AD12")
@pytest.mark.parametrize(
    ("route", "body"),
    [
        ("/_emulator/clock", b'{"advance": 1, "advance": 1e6}'),
        ("/_emulator/faults", b'{"fail_next_jobs": 0, "fail_next_jobs": 5}'),
        ("/_emulator/models/retire", b'{"model": "a", "model": "b", "fine_tune": "2030-01-01"}'),
        (
            "/_emulator/ratelimit/lower",
            b'{"deployment": "gpt-4.1-mini", "factor": 0.5, "seconds": 9, "nested": {"x": 1, "x": 2}}',
        ),
    ],
)
def test_admin_refuses_duplicate_keys(emulator_reset: EmulatorHandle, route: str, body: bytes) -> None:
    before = emulator_reset.state()
    error = _error(_post(emulator_reset, emulator_reset.url + route, body), 400)
    assert error["code"] == "invalidPayload" and "duplicate keys" in error["message"]
    after = emulator_reset.state()
    assert (after["faults"], after["models"]) == (before["faults"], before["models"])


@pytest.mark.rule("X3")
def test_data_plane_keeps_the_last_of_duplicate_keys(emulator_reset: EmulatorHandle) -> None:
    # Json.NET's default (DuplicatePropertyNameHandling.Replace); what Azure does is not documented.
    body = b'{"model": "nope", "model": "gpt-4.1-mini", "messages": [{"role": "user", "content": "hi"}]}'
    answer = _post(emulator_reset, emulator_reset.url + "/openai/v1/chat/completions", body)
    assert answer.status_code == 200, answer.text


@pytest.mark.rule("X2")
@pytest.mark.parametrize("body", [DEEP, b'{"sku": {"name": "Standard", "capacity": NaN}}'])
def test_bad_json_is_a_400_on_arm(emulator_reset: EmulatorHandle, body: bytes) -> None:
    response = _post(emulator_reset, _arm_path(emulator_reset, "deployments/xx"), body, method="PUT")
    error = _error(response, 400)
    assert error["code"] == "InvalidRequestContent" and error["details"] == [] and "target" in error


@pytest.mark.rule("Q23")
@pytest.mark.parametrize(
    ("tags", "path"),
    [("x", "tags"), ({"a": 1}, "tags.a"), (["a"], "tags")],
)
def test_arm_tags_of_the_wrong_type(emulator_reset: EmulatorHandle, tags: Any, path: str) -> None:
    body = {
        "sku": {"name": "GlobalStandard", "capacity": 1},
        "properties": {"model": {"format": "OpenAI", "name": "gpt-4.1-mini", "version": "2025-04-14"}},
        "tags": tags,
    }
    response = _post(
        emulator_reset, _arm_path(emulator_reset, "deployments/tt"), json.dumps(body).encode(), "PUT"
    )
    error = _error(response, 400)
    assert error["code"] == "InvalidRequestContent" and f"Path '{path}'" in error["message"]


@pytest.mark.rule("V3")
def test_capacity_beyond_int32_is_refused(emulator_reset: EmulatorHandle) -> None:
    body = {
        "sku": {"name": "GlobalStandard", "capacity": 2**31},
        "properties": {"model": {"format": "OpenAI", "name": "gpt-4.1-mini", "version": "2025-04-14"}},
    }
    response = _post(
        emulator_reset, _arm_path(emulator_reset, "deployments/cc"), json.dumps(body).encode(), "PUT"
    )
    assert _error(response, 400)["code"] == "InvalidCapacity"


@pytest.mark.rule("AD4")
@pytest.mark.parametrize(
    "body",
    [{"advance": -1}, {"advance": "10"}, {"advance": True}, {"advance": 1e12}, {}, {"advance": 1, "x": 2}],
)
def test_clock_refuses_what_it_cannot_apply(emulator_reset: EmulatorHandle, body: dict[str, Any]) -> None:
    before = emulator_reset.state()["now"]
    error = _error(
        _post(emulator_reset, emulator_reset.url + "/_emulator/clock", json.dumps(body).encode()), 400
    )
    assert error["code"] == "invalidPayload"
    assert emulator_reset.state()["now"] - before < 5


@pytest.mark.rule("AD12")
@pytest.mark.parametrize(
    "faults",
    [
        {"provisioning_slowdown": 1e300},
        {"routes": [{"status": 429, "count": 1, "retry_after": 1e300}]},
        {"x": 1},
    ],
)
def test_faults_refuse_unbounded_values(emulator_reset: EmulatorHandle, faults: dict[str, Any]) -> None:
    response = _post(emulator_reset, emulator_reset.url + "/_emulator/faults", json.dumps(faults).encode())
    assert _error(response, 400)["code"] == "invalidPayload"
    assert emulator_reset.clear_faults()["routes"] == []


@pytest.mark.rule("X4")
def test_oversized_bodies_are_413(emulator_factory: Callable[..., EmulatorHandle]) -> None:
    handle = emulator_factory("--max-file-size", "1000")
    client = handle.openai_v1(max_retries=0)
    with handle.http_client() as http:
        response = http.post(
            handle.url + "/openai/v1/files",
            headers={"api-key": "k"},
            files={"purpose": (None, "fine-tune"), "file": ("t.jsonl", b"x" * 2_000_000)},
        )
    assert _error(response, 413)["code"] == "413"
    assert list(client.files.list()) == []


@pytest.mark.rule("X1")
def test_unknown_routes_use_each_surface_envelope(emulator_reset: EmulatorHandle) -> None:
    with emulator_reset.http_client() as http:
        data_plane = http.get(emulator_reset.url + "/openai/v1/no/such/thing", headers=AUTH)
        arm = http.post(_arm_path(emulator_reset, "deployments"), headers=AUTH)
    assert _error(data_plane, 404)["code"] == "404"
    arm_error = _error(arm, 405)
    assert arm_error["code"] == "MethodNotAllowed" and arm_error["details"] == []


@pytest.mark.rule("X6")
def test_a_damaged_state_dir_is_salvaged_not_fatal(tmp_path: Path) -> None:
    first = start_before_retirements(state_dir=tmp_path)
    try:
        client = first.openai_v1()
        file_id = upload(client, success_file()).id
        wait_processed(client, file_id)
    finally:
        first.stop()
    state = json.loads((tmp_path / "state.json").read_text())
    state["clock_offset"] = float("nan")  # written as NaN, as an older version could
    state["files"]["file-bad"] = {"id": "file-bad", "bytes": "many"}
    state["deployments"]["gpt-4.1-mini"]["capacity"] = float("inf")
    (tmp_path / "state.json").write_text(json.dumps(state))

    second = start_before_retirements(state_dir=tmp_path)
    try:
        snapshot = second.state()
        assert abs(snapshot["now"] - time.time()) < 60  # the NaN offset was dropped, not kept
        assert [f["id"] for f in snapshot["files"]] == [file_id]
        assert snapshot["deployments"] == []
        assert second.openai_v1().files.retrieve(file_id).status == "processed"
        assert second.advance_clock(5)["offset"] == 5
    finally:
        second.stop()
    assert len(list(tmp_path.glob("state.json.bad-*"))) == 1
    json.loads((tmp_path / "state.json").read_text())  # strict JSON again (no NaN)


@pytest.mark.rule("X6", "AD4")
def test_a_non_finite_clock_advance_never_reaches_the_state_dir(tmp_path: Path) -> None:
    """Finding: a clock advance of NaN was accepted, saved to --state-dir, and every restart failed."""
    handle = start_before_retirements(state_dir=tmp_path)
    try:
        for advance in (b"NaN", b"Infinity", b"-Infinity", b"1e999"):
            body = b'{"advance": ' + advance + b"}"
            response = _post(handle, handle.url + "/_emulator/clock", body)
            assert _error(response, 400)["code"] == "invalidPayload", advance
    finally:
        handle.stop()

    def refuse(constant: str) -> None:
        raise AssertionError(f"state.json holds {constant}")

    state = json.loads((tmp_path / "state.json").read_text(), parse_constant=refuse)
    assert state["clock_offset"] == 0
    restarted = start_before_retirements(state_dir=tmp_path)
    try:
        assert abs(restarted.state()["now"] - time.time()) < 60
    finally:
        restarted.stop()
    assert list(tmp_path.glob("state.json.bad-*")) == [], "nothing needed salvaging"


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.mark.rule("X7")
def test_tls_private_key_is_owner_only(tmp_path: Path) -> None:
    handle = start_before_retirements(state_dir=tmp_path)
    try:
        assert _mode(tmp_path / "tls" / "server-key.pem") == 0o600
        assert _mode(tmp_path / "tls") == 0o700
    finally:
        handle.stop()
    scratch = (
        start_before_retirements()
    )  # no --state-dir: the key lives in a scratch dir for the process's life
    try:
        assert _mode(Path(scratch.ca_path).parent / "server-key.pem") == 0o600
        assert _mode(Path(scratch.ca_path).parent) == 0o700
    finally:
        scratch.stop()


@pytest.mark.rule("X7")
def test_a_world_readable_key_left_by_an_older_version_is_made_owner_only(tmp_path: Path) -> None:
    """Finding: the key was written 0644; a state dir from then is reused with its key locked down."""
    start_before_retirements(state_dir=tmp_path).stop()
    key, ca = tmp_path / "tls" / "server-key.pem", tmp_path / "tls" / "ca.pem"
    key.chmod(0o644)
    issued = ca.read_bytes()
    handle = start_before_retirements(state_dir=tmp_path)
    try:
        assert _mode(key) == 0o600
        assert ca.read_bytes() == issued, "the CA clients trust is kept"
    finally:
        handle.stop()


@pytest.mark.rule("X8")
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_scratch_dir_is_removed_on_signal(sig: int) -> None:
    handle = start_before_retirements()
    scratch = Path(handle.ca_path).parent
    assert scratch.is_dir()
    handle.process.send_signal(sig)
    assert handle.process.wait(timeout=10) == 0
    assert not scratch.exists()


@pytest.mark.rule("CL2")
@pytest.mark.parametrize(
    "flags",
    [
        ["--time-scale", "nan"],
        ["--idle-lifetime", "inf"],
        ["--retire-model", "gpt-4o=soon"],
        ["--max-files", "-1"],
    ],
)
def test_bad_flags_are_a_usage_error(flags: list[str]) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "emulator", *flags],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=30,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    assert result.returncode == 2 and "usage:" in result.stderr and "Traceback" not in result.stderr
