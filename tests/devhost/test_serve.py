"""``python -m devhost serve``: start a run over HTTP and follow ``statusQueryGetUri`` to completion."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.timeout(60)
ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def call(method: str, url: str, body: Any = None) -> tuple[int, dict[str, str], Any]:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(
        url, data=data, method=method, headers={"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, dict(response.headers), json.loads(response.read() or b"null")
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), json.loads(error.read() or b"null")


@pytest.fixture
def server() -> Any:
    port = free_port()
    command = [
        sys.executable,
        "-m",
        "devhost",
        "serve",
        "--port",
        str(port),
        "--app",
        "tests.devhost.apps:app",
    ]
    process = subprocess.Popen(
        [*command, "--clock", "virtual"], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        assert process.stdout is not None
        first = process.stdout.readline().strip()
        assert first == f"listening on http://127.0.0.1:{port}", first
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait(10)


def test_serve_start_and_follow_status_query_uri(server: str) -> None:
    code, headers, links = call("POST", f"{server}/api/runs", {"orchestrator": "poller"})
    assert code == 202
    status_uri = links["statusQueryGetUri"]
    assert status_uri.startswith(f"{server}/runtime/webhooks/durabletask/instances/{links['id']}?")
    assert headers["Location"] == status_uri
    deadline = time.monotonic() + 30
    while True:
        code, _, status = call("GET", status_uri)
        if code != 202:
            break
        assert status["runtimeStatus"] in ("Pending", "Running")
        assert time.monotonic() < deadline
        time.sleep(0.05)
    assert code == 200
    assert status["runtimeStatus"] == "Completed" and status["output"] >= 48 * 3600
    assert status["name"] == "poller" and status["instanceId"] == links["id"]
    assert status["createdTime"].endswith("Z") and status["lastUpdatedTime"].endswith("Z")

    code, _, app_view = call("GET", f"{server}/api/runs/{links['id']}")
    assert code == 200 and app_view["status"] == "Completed"


def test_serve_durable_api_directly(server: str) -> None:
    base = f"{server}/runtime/webhooks/durabletask"
    code, _, started = call("POST", f"{base}/orchestrators/waits_forever/direct-1", {"any": "input"})
    assert code == 202 and started["id"] == "direct-1"
    code, _, refused = call("POST", f"{base}/orchestrators/waits_forever/direct-1")
    assert code == 409 and "already exists" in refused["Message"]
    code, _, unknown = call("POST", f"{base}/orchestrators/nope")
    assert code == 400 and "nope" in unknown["ExceptionMessage"]
    code, _, status = call("GET", f"{base}/instances/direct-1")
    assert code == 202 and status["input"] == {"any": "input"}
    assert call("DELETE", f"{base}/instances/direct-1")[0] == 412
    assert call("POST", f"{base}/instances/direct-1/terminate?reason=stop")[0] == 202
    assert call("POST", f"{base}/instances/direct-1/terminate?reason=stop")[0] == 410
    code, _, status = call("GET", f"{base}/instances/direct-1")
    assert code == 200 and status["runtimeStatus"] == "Terminated" and status["output"] == "stop"
    assert call("DELETE", f"{base}/instances/direct-1")[0] == 200
    assert call("GET", f"{base}/instances/direct-1")[0] == 404
    assert call("POST", f"{base}/instances/missing/raiseEvent/x", 1)[0] == 404
