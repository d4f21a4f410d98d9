"""Helpers for the tests that drive ``python -m devhost serve`` over HTTP."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from devhost import DevHost

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def call(method: str, url: str, body: Any = None) -> tuple[int, dict[str, str], Any]:
    """One JSON request; returns (status, headers, decoded body) for 2xx and error statuses alike."""
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(
        url, data=data, method=method, headers={"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, dict(response.headers), json.loads(response.read() or b"null")
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), json.loads(error.read() or b"null")


def serve(
    port: int,
    *extra: str,
    app: str = "tests.devhost.apps:app",
    cwd: Path = ROOT,
    env: Mapping[str, str] | None = None,
) -> subprocess.Popen[str]:
    """Start ``python -m devhost serve`` with ``app`` (the test apps unless told) in ``cwd``; returns once
    it printed its address, and fails the test with devhost's stderr when it printed nothing."""
    command = [sys.executable, "-m", "devhost", "serve", "--port", str(port), "--app", app, *extra]
    process = subprocess.Popen(
        command,
        cwd=cwd,
        env=None if env is None else dict(env),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    assert process.stderr is not None
    first = process.stdout.readline().strip()
    if first != f"listening on http://127.0.0.1:{port}":
        process.kill()
        _, errors = process.communicate(timeout=15)
        raise AssertionError(f"devhost serve printed {first!r} first; its stderr: {errors}")
    return process


def instance_status(host: DevHost, instance_id: str, show_history: bool = False) -> dict[str, Any]:
    """The engine's status of an instance the test started: one that does not exist fails the test here."""
    status = host.engine.status(instance_id, show_history=show_history)
    assert status is not None, f"no instance {instance_id!r}"
    return status


def history_events(host: DevHost, instance_id: str) -> list[dict[str, Any]]:
    """The history of an instance the test started, oldest event first."""
    events: list[dict[str, Any]] = instance_status(host, instance_id, show_history=True)["historyEvents"]
    return events
