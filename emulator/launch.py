"""Launching ``python -m emulator`` in a subprocess and talking to it: used by the test fixtures, the
local runner (`make run`), `make serve` and the benchmarks, so there is one way to start it.

The handle's clients trust the emulator's own CA; verification is never turned off.
"""

from __future__ import annotations

import json
import os
import ssl
import subprocess
import sys
import threading
import time
import urllib.request
from collections import deque
from pathlib import Path
from typing import IO, Any

import httpx2
from azure.core.credentials import AccessToken
from azure.mgmt.cognitiveservices import CognitiveServicesManagementClient
from openai import AzureOpenAI, OpenAI

ROOT = Path(__file__).resolve().parents[1]
# What every launch for the app (test fixtures, make run and serve, benchmarks) fills in when not given:
# each group is added unless its first flag is. The world as published (the lifecycle table of
# emulator/profiles.py: gpt-4.1-mini's base stopped serving on 2026-10-14) with two base deployments: the
# retired gpt-4.1-mini an existing customer still has (it answers 404), and gpt-5.1, the current model the
# app distils from by default (its BASE_DEPLOYMENT; README, "Which path applies to whom").
# One deployment write at a time per account is Azure's behaviour (emulator/README.md, "Account rules");
# the app takes turns through its account gate (docs/accounts.md), so it is on for the app's worlds too.
TEACHER_DEPLOYMENT = "gpt-5.1"
DEFAULT_FLAGS: tuple[tuple[str, ...], ...] = (
    ("--port", "0"),
    ("--time-scale", "0.01"),
    ("--chat-latency", "0"),
    ("--seed", "7"),
    ("--lifecycle", "table"),
    (
        "--deployment",
        f"{TEACHER_DEPLOYMENT}=gpt-5.1-2025-11-13",
        "--deployment",
        "gpt-4.1-mini=gpt-4.1-mini-2025-04-14",
    ),
    ("--serialize-deployment-writes",),
)
LOG_LINES = 20_000
"""The emulator's stderr lines a handle keeps (its log: 409 refusals, bugs), newest last."""
AZURE_API_VERSION = "2025-04-01-preview"


class StaticTokenCredential:
    """A TokenCredential for azure-mgmt clients: always the same bearer token."""

    def __init__(self, token: str = "emulator-token") -> None:
        self.token = token

    def get_token(self, *scopes: str, **kwargs: Any) -> Any:
        return AccessToken(self.token, int(time.time()) + 3600)


class EmulatorHandle:
    """A running emulator process and helpers to talk to it."""

    def __init__(self, process: subprocess.Popen[str], url: str, ca_path: str) -> None:
        self.process = process
        self.url = url
        self.ca_path = ca_path
        self.log: deque[str] = deque(maxlen=LOG_LINES)
        """The emulator's stderr so far (``log_lines``), filled by a reader thread."""
        config = self.state()["config"]
        self.subscription: str = config["subscription"]
        self.resource_group: str = config["resource_group"]
        self.account: str = config["account"]

    def ssl_context(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=self.ca_path)

    def admin(self, method: str, path: str, body: Any = None) -> Any:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(
            f"{self.url}/_emulator/{path}",
            data=data,
            method=method,
            headers={"content-type": "application/json"},
        )
        with urllib.request.urlopen(request, context=self.ssl_context(), timeout=10) as response:
            return json.loads(response.read() or b"null")

    def _admin_object(self, method: str, path: str, body: Any = None) -> dict[str, Any]:
        """An admin call whose answer is a JSON object (every admin route but errors answers one)."""
        answer = self.admin(method, path, body)
        if not isinstance(answer, dict):
            raise TypeError(f"/_emulator/{path} answered {answer!r}, not an object")
        return answer

    def state(self) -> dict[str, Any]:
        return self._admin_object("GET", "state")

    def reset(self) -> dict[str, Any]:
        return self._admin_object("POST", "reset", {})

    def set_faults(self, **faults: Any) -> dict[str, Any]:
        """Merge faults (see emulator/README.md).

        Example: ``set_faults(routes=[{"route": "chat", "status": 429, "count": 1}])``.
        """
        return self._admin_object("POST", "faults", faults)

    def clear_faults(self) -> dict[str, Any]:
        return self._admin_object("DELETE", "faults")

    def advance_clock(self, seconds: float) -> dict[str, Any]:
        return self._admin_object("POST", "clock", {"advance": seconds})

    def peaks(self) -> dict[str, int]:
        """The most of each kind alive at once since the marks last restarted (``/_emulator/peaks``)."""
        peaks: dict[str, int] = self.admin("GET", "peaks")
        return peaks

    def restart_peaks(self) -> dict[str, int]:
        """Restarts the marks from what is alive now."""
        peaks: dict[str, int] = self.admin("DELETE", "peaks")
        return peaks

    def log_lines(self) -> list[str]:
        """What the emulator logged on stderr so far (the last LOG_LINES lines)."""
        return list(self.log)

    def account_rules(self) -> dict[str, Any]:
        """The account's rules and counters (``/_emulator/account``): write serialization, 409s given."""
        return self._admin_object("GET", "account")

    def rate_limits(self) -> dict[str, Any]:
        """Each rate-limited deployment's limits, usage and pressure (see emulator/README.md)."""
        deployments: dict[str, Any] = self._admin_object("GET", "ratelimit")["deployments"]
        return deployments

    def lower_limits(self, deployment: str, factor: float, seconds: float, after: float = 0.0) -> None:
        """Azure lowers ``deployment``'s limits to ``factor`` of them for ``seconds``, ``after`` from now."""
        body = {"deployment": deployment, "factor": factor, "seconds": seconds, "after": after}
        self._admin_object("POST", "ratelimit/lower", body)

    def background_load(
        self, deployment: str, share: float, seconds: float | None = None, after: float = 0.0
    ) -> None:
        """Another consumer sends ``share`` of ``deployment``'s limits (0 stops it)."""
        body = {"deployment": deployment, "share": share, "seconds": seconds, "after": after}
        self._admin_object("POST", "ratelimit/load", body)

    def clear_rate_pressure(self) -> None:
        self._admin_object("DELETE", "ratelimit")

    def http_client(self) -> httpx2.Client:
        return httpx2.Client(verify=self.ssl_context())

    def openai_v1(self, **kwargs: Any) -> OpenAI:
        kwargs.setdefault("api_key", "test-key")
        return OpenAI(base_url=self.url + "/openai/v1/", http_client=self.http_client(), **kwargs)

    def azure_openai(self, **kwargs: Any) -> AzureOpenAI:
        kwargs.setdefault("api_key", "test-key")
        kwargs.setdefault("api_version", AZURE_API_VERSION)
        return AzureOpenAI(azure_endpoint=self.url, http_client=self.http_client(), **kwargs)

    def mgmt(self, **kwargs: Any) -> CognitiveServicesManagementClient:
        return CognitiveServicesManagementClient(
            StaticTokenCredential(),
            self.subscription,
            base_url=self.url,
            connection_verify=self.ca_path,
            **kwargs,
        )

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)


def _drain(stream: IO[str], keep: deque[str] | None = None) -> None:
    """Reads a pipe to its end (the emulator exited), keeping its lines in ``keep``, then closes it."""
    with stream:
        for line in stream:
            if keep is not None:
                keep.append(line.rstrip("\n"))


def start_emulator(*flags: str, state_dir: Path | None = None, timeout: float = 15.0) -> EmulatorHandle:
    """Start ``python -m emulator`` with ``flags`` (DEFAULT_FLAGS fill in what is not given)."""
    args = list(flags)
    given = {a.replace("--no-", "--", 1) for a in args if a.startswith("--")}
    for group in DEFAULT_FLAGS:
        if group[0] not in given:
            args += group
    if state_dir is not None:
        args += ["--state-dir", str(state_dir)]
    process = subprocess.Popen(
        [sys.executable, "-m", "emulator", *args],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    lines: list[str] = []

    def read() -> None:
        assert process.stdout is not None
        for _ in range(2):
            lines.append(process.stdout.readline().strip())

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    reader.join(timeout)
    if len(lines) < 2 or not lines[0].startswith("listening on https://") or not lines[1].startswith("ca: "):
        process.kill()
        _, err = process.communicate(timeout=10)
        raise RuntimeError(f"emulator did not start: stdout={lines!r} stderr={err[-2000:]!r}")
    # Keep draining the pipes so a chatty emulator can never block on a full pipe; stderr is its log.
    handle = EmulatorHandle(process, lines[0].removeprefix("listening on "), lines[1].removeprefix("ca: "))
    threading.Thread(target=_drain, args=(process.stdout,), daemon=True).start()
    threading.Thread(target=_drain, args=(process.stderr, handle.log), daemon=True).start()
    return handle
