"""HTTP and timer triggers invoked through their registered wrappers, with the SDK client binding."""

from __future__ import annotations

import json
import logging

import pytest
from azure.durable_functions import OrchestrationRuntimeStatus as Status

from devhost import DevHost
from devhost.registry import compile_route
from tests.devhost import apps

pytestmark = pytest.mark.timeout(60)


def test_http_start_and_status_with_check_status_links(vhost: DevHost) -> None:
    response = vhost.http("POST", "/api/runs", json={"orchestrator": "sequence", "input": 4, "id": "http-1"})
    assert response.status_code == 202
    links = json.loads(response.get_body())
    assert links["id"] == "http-1"
    assert links["statusQueryGetUri"].startswith(
        f"{vhost.origin}/runtime/webhooks/durabletask/instances/http-1?"
    )
    assert response.headers["Location"] == links["statusQueryGetUri"]
    status = vhost.engine.wait("http-1", 10)
    assert status is not None
    assert status["runtimeStatus"] == "Completed"
    got = vhost.http("GET", "runs/http-1")
    assert got.status_code == 200
    assert json.loads(got.get_body())["output"]["second"] == 16


def test_http_routing_query_and_unknown_route(vhost: DevHost) -> None:
    response = vhost.http("POST", "/api/echo?a=1", body="hello")
    assert json.loads(response.get_body()) == {"method": "POST", "params": {"a": "1"}, "body": "hello"}
    assert vhost.http("GET", "/api/nowhere").status_code == 404
    assert vhost.http("GET", "runs/never-started").status_code == 404


def test_an_exception_in_a_function_is_an_empty_500_and_its_traceback_is_logged(
    vhost: DevHost, caplog: pytest.LogCaptureFixture
) -> None:
    """Starting an instance that is running makes the SDK raise inside the function, as in Azure; the
    host answers an empty 500 and logs the exception, so no traceback or path reaches the caller."""
    vhost.http("POST", "runs", json={"orchestrator": "waits_forever", "id": "busy"})
    with caplog.at_level(logging.ERROR, logger="devhost"):
        second = vhost.http("POST", "runs", json={"orchestrator": "waits_forever", "id": "busy"})
    assert (second.status_code, second.get_body()) == (500, b"")
    [record] = [r for r in caplog.records if r.name == "devhost" and r.levelno == logging.ERROR]
    assert record.exc_info is not None
    assert "already exists" in str(record.exc_info[1])


def test_timer_trigger_starts_a_singleton_once(vhost: DevHost) -> None:
    vhost.fire_timer("nightly")
    first = vhost.get_status_sync(apps.SINGLETON_ID)
    assert first is not None and first.runtime_status in (Status.Pending, Status.Running)
    vhost.fire_timer("nightly")  # sees it running and does not start another
    again = vhost.get_status_sync(apps.SINGLETON_ID)
    assert again is not None and again.created_time == first.created_time
    with pytest.raises(KeyError):
        vhost.fire_timer("no_such_timer")


def test_route_templates() -> None:
    run = compile_route("runs/{run_id}").fullmatch("runs/abc")
    assert run is not None
    assert run.groupdict() == {"run_id": "abc"}
    assert compile_route("runs/{run_id}").fullmatch("runs/abc/more") is None
    optional = compile_route("items/{id:int}/{tail?}").fullmatch("items/3")
    assert optional is not None and optional.groupdict() == {"id": "3", "tail": None}
    catch_all = compile_route("files/{*path}").fullmatch("files/a/b.txt")
    assert catch_all is not None
    assert catch_all.groupdict() == {"path": "a/b.txt"}
