"""``python -m devhost serve``: start a run over HTTP and follow ``statusQueryGetUri`` to completion."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from tests.devhost.support import call, free_port, serve

pytestmark = pytest.mark.timeout(60)


@pytest.fixture
def server() -> Iterator[str]:
    port = free_port()
    process = serve(port, "--clock", "virtual")
    try:
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
