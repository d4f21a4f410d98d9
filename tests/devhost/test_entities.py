"""Durable entities as the extension runs them for a Python app: calls and signals from orchestrations,
signals and state reads from clients, one batch at a time per entity in arrival order, state that survives
a restart, and the failures (see devhost/README.md, "Entities"; the crash sweep is in test_crash.py)."""

from __future__ import annotations

import asyncio
import json
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import azure.durable_functions as df
import pytest
from azure.durable_functions import OrchestrationRuntimeStatus as Status
from azure.durable_functions.models.DurableOrchestrationStatus import DurableOrchestrationStatus

from devhost import DevHost
from devhost.store import EntityRecord, FileStore
from tests.devhost import entity_apps
from tests.devhost.entity_apps import counter_id
from tests.devhost.patterns import release
from tests.devhost.support import call

pytestmark = pytest.mark.timeout(60)


@pytest.fixture(scope="module")
def ehost() -> Iterator[DevHost]:
    """A virtual-clock host for the entity app, shared by the module (tests use distinct entity keys)."""
    with DevHost(entity_apps.app, clock="virtual", max_workers=8) as host:
        yield host


def run(host: DevHost, name: str, spec: Any) -> DurableOrchestrationStatus:
    status = host.run_orchestration(name, spec, timeout=30)
    assert status.runtime_status in (Status.Completed, Status.Failed), status
    return status


def read_state(host: DevHost, entity: df.EntityId) -> tuple[bool, Any]:
    """What the SDK's client reads through the HTTP API: ``(entity_exists, entity_state)``."""
    response = asyncio.run(host.client.read_entity_state(entity))
    return response.entity_exists, response.entity_state


def eventually(check: Callable[[], bool]) -> None:
    deadline = time.monotonic() + 20
    while not check():
        assert time.monotonic() < deadline, "condition not reached"
        time.sleep(0.01)


def wait_for_entity(
    host: DevHost, name: str, key: str, check: Callable[[EntityRecord], bool]
) -> EntityRecord:
    """The entity's record once ``check`` holds for it."""
    eventually(lambda: (record := host.engine.entity(name, key)) is not None and check(record))
    record = host.engine.entity(name, key)
    assert record is not None
    return record


def host_json(directory: Path, durable_task: dict[str, Any]) -> Path:
    (directory / "host.json").write_text(
        json.dumps({"version": "2.0", "extensions": {"durableTask": durable_task}})
    )
    return directory


def test_a_counter_called_from_many_orchestrations_at_once_ends_with_the_exact_sum(ehost: DevHost) -> None:
    amounts = {f"many-{index}": [index + 1, 100 + index] for index in range(25)}
    for instance_id, mine in amounts.items():
        ehost.engine.start_new("add_all", instance_id, json.dumps({"key": "many", "amounts": mine}))
    answers = []
    for instance_id in amounts:
        status = ehost.engine.wait(instance_id, 30)
        assert status is not None and status["runtimeStatus"] == "Completed", status
        first, second = status["output"]
        assert second > first  # one orchestration's calls take effect in the order it made them
        answers += [first, second]
    total = sum(sum(mine) for mine in amounts.values())
    assert read_state(ehost, counter_id("many")) == (True, total)
    assert len(set(answers)) == 50, "two calls answered the same total: they ran on the same state"
    assert max(answers) == total


def test_an_operation_that_raises_leaves_the_state_and_fails_the_callers_task_with_its_message(
    ehost: DevHost,
) -> None:
    assert run(ehost, "add_all", {"key": "refuse", "amounts": [7]}).output == [7]
    status = run(ehost, "call_and_catch", {"key": "refuse", "op": "add", "input": -3})
    assert status.output == {"result": None, "error": "amount must be a positive integer, not -3", "after": 7}


def test_a_change_made_before_an_operation_raises_is_kept_as_the_python_sdk_keeps_it(ehost: DevHost) -> None:
    """The SDK runs the batch in one call and returns the state as the operations left it: no rollback
    (Azure/azure-functions-durable-python#274). Validate before you change the state."""
    run(ehost, "add_all", {"key": "kept", "amounts": [7]})
    status = run(ehost, "call_and_catch", {"key": "kept", "op": "set_then_fail", "input": 100})
    assert status.output == {"result": None, "error": "failed after set_state", "after": 100}


def test_operations_of_one_entity_never_overlap(ehost: DevHost) -> None:
    keys = ["solo-a", "solo-b", "solo-c"]
    ids = []
    for key in keys:
        for round_ in range(4):
            instance_id = f"{key}-{round_}"
            spec = {"key": key, "op": "slow_add", "amounts": [0, 0, 0]}
            ids.append(ehost.engine.start_new("add_all", instance_id, json.dumps(spec)))
    for instance_id in ids:
        status = ehost.engine.wait(instance_id, 30)
        assert status is not None and status["runtimeStatus"] == "Completed", status
    for key in keys:
        assert read_state(ehost, counter_id(key)) == (True, 12)
        assert entity_apps.running(key).peak == 1, f"operations of {key} overlapped"


def test_different_entities_run_their_operations_at_the_same_time(ehost: DevHost) -> None:
    # each operation waits until the other entity's operation has started too: one at a time would hang
    entity_apps.BARRIERS["pair"] = threading.Barrier(2, timeout=10)
    status = run(ehost, "call_together", {"keys": ["meet-a", "meet-b"], "op": "meet", "input": "pair"})
    assert status.output == ["meet-a", "meet-b"]


def test_requests_from_one_orchestration_take_effect_in_the_order_it_sent_them(ehost: DevHost) -> None:
    status = run(ehost, "signal_then_get", {"key": "order", "n": 30})
    assert status.output == list(range(30))  # 30 signals, then a call that sees them all, in order


async def test_client_signals_take_effect_in_the_order_they_were_sent(ehost: DevHost) -> None:
    ledger = df.EntityId("Ledger", "client-order")
    for value in range(1, 21):
        await ehost.client.signal_entity(ledger, "append", value)
    wait_for_entity(ehost, "ledger", "client-order", lambda record: record.operations == 20)
    response = await ehost.client.read_entity_state(ledger)
    assert (response.entity_exists, response.entity_state) == (True, list(range(1, 21)))


async def test_a_client_signal_without_input_reaches_the_operation_without_input(ehost: DevHost) -> None:
    """The SDK's client posts no body for a missing or falsy input, so the request has no input and the
    SDK's ``get_input()`` fails on it (``json.loads(None)``): the operation fails, the state stays."""
    entity = counter_id("no-input")
    await ehost.client.signal_entity(entity, "add", 5)
    await ehost.client.signal_entity(entity, "add")
    await ehost.client.signal_entity(entity, "add", 0)
    record = wait_for_entity(ehost, "counter", "no-input", lambda record: record.operations == 3)
    assert (record.exists, record.state) == (True, "5")


@pytest.mark.parametrize(("batch_size", "batches"), [(None, 2), (1, 11), (4, 4)])
def test_queued_operations_run_in_batches_of_at_most_max_entity_operation_batch_size(
    tmp_path: Path, batch_size: int | None, batches: int
) -> None:
    settings = {} if batch_size is None else {"maxEntityOperationBatchSize": batch_size}
    entity, gate = counter_id("batched"), f"batched-{batch_size}"
    with DevHost(entity_apps.app, config_dir=host_json(tmp_path, settings)) as host:

        async def signal_all() -> None:
            await host.client.signal_entity(entity, "hold", gate)  # its batch blocks the entity
            for _ in range(10):
                await host.client.signal_entity(entity, "add", 1)

        asyncio.run(signal_all())
        wait_for_entity(host, "counter", "batched", lambda record: len(record.queue) == 11)
        release(gate)
        record = wait_for_entity(host, "counter", "batched", lambda record: record.operations == 11)
    assert (record.batches, record.state) == (batches, "10")


def test_entity_state_survives_a_restart(tmp_path: Path) -> None:
    with DevHost(entity_apps.app, store_dir=tmp_path) as host:
        assert host.run_orchestration("add_all", {"key": "durable", "amounts": [2, 3]}).output == [2, 5]
    assert (tmp_path / "entities" / "%40counter%40durable.json").is_file()
    with DevHost(entity_apps.app, store_dir=tmp_path) as host:
        assert read_state(host, counter_id("durable")) == (True, 5)
        assert host.run_orchestration("add_all", {"key": "durable", "amounts": [4]}).output == [9]


def test_a_batch_running_when_the_host_stops_is_not_committed_and_runs_again_on_the_next_start(
    tmp_path: Path,
) -> None:
    entity, gate = counter_id("stopped"), "stopped-hold"
    with DevHost(entity_apps.app, store_dir=tmp_path) as host:

        async def signal_both() -> None:
            await host.client.signal_entity(entity, "hold", gate)
            await host.client.signal_entity(entity, "add", 1)

        asyncio.run(signal_both())
        eventually(lambda: host.engine.entities.running == 1)
    release(gate)  # the abandoned batch finishes after the host closed: its result is dropped
    [saved] = FileStore(tmp_path).load_entities()
    assert ([request.operation for request in saved.queue], saved.batches) == (["hold", "add"], 0)
    with DevHost(entity_apps.app, store_dir=tmp_path) as host:
        record = wait_for_entity(host, "counter", "stopped", lambda record: record.operations == 2)
    assert (record.state, record.queue) == ("1", [])


def test_each_continue_as_new_generation_gets_the_answers_to_its_own_calls(ehost: DevHost) -> None:
    status = run(ehost, "add_per_generation", {"key": "generations", "generations": 4, "answers": []})
    assert status.output == [1, 2, 3, 4]


def test_the_virtual_clock_does_not_skip_to_a_timer_while_an_entity_operation_runs(ehost: DevHost) -> None:
    status = run(ehost, "call_or_timeout", "clock")
    assert status.output == {"won": "call", "total": 1}


def test_entity_batches_count_against_max_concurrent_orchestrator_functions(tmp_path: Path) -> None:
    config = host_json(tmp_path, {"maxConcurrentOrchestratorFunctions": 1})
    with DevHost(entity_apps.app, config_dir=config) as host:
        entity_apps.ALL.reset()
        status = host.run_orchestration(
            "call_together", {"keys": ["limit-a", "limit-b", "limit-c"], "op": "slow_add"}
        )
    assert status.output == [1, 1, 1]
    assert entity_apps.ALL.peak == 1


def test_a_call_to_an_entity_the_app_does_not_have_fails_where_azure_would_hang(ehost: DevHost) -> None:
    status = run(ehost, "call_missing", None)
    assert status.runtime_status == Status.Failed
    assert status.output.startswith(
        "Orchestrator function 'call_missing' failed: The function 'no_such_entity' doesn't exist, is "
        "disabled, or is not an entity function. Additional info: The following are the known entity "
        "functions: 'Ledger', 'counter'."
    )
    assert "In Azure the extension drops this call" in status.output


def test_a_signal_to_an_entity_the_app_does_not_have_fails_the_orchestration_as_in_azure(
    ehost: DevHost,
) -> None:
    status = run(ehost, "signal_missing", None)
    assert status.runtime_status == Status.Failed
    assert status.output == (
        "Orchestrator function 'signal_missing' failed: The function 'no_such_entity' doesn't exist, is "
        "disabled, or is not an entity function. Additional info: The following are the known entity "
        "functions: 'Ledger', 'counter'."
    )


async def test_a_client_signal_to_an_entity_the_app_does_not_have_is_refused(ehost: DevHost) -> None:
    with pytest.raises(Exception, match="unexpected status code 400"):
        await ehost.client.signal_entity(df.EntityId("no_such_entity", "k"), "get", 1)


def test_a_deleted_entity_reads_as_missing_and_leaves_the_store(ehost: DevHost) -> None:
    assert read_state(ehost, counter_id("never")) == (False, None)
    run(ehost, "add_all", {"key": "deleted", "amounts": [3]})
    assert read_state(ehost, counter_id("deleted")) == (True, 3)
    assert run(ehost, "add_all", {"key": "deleted", "op": "delete", "amounts": [None]}).output == [None]
    assert read_state(ehost, counter_id("deleted")) == (False, None)
    assert ehost.engine.entity("counter", "deleted") is None


def test_a_batch_whose_state_cannot_be_serialized_fails_its_calls_and_keeps_the_state(ehost: DevHost) -> None:
    run(ehost, "add_all", {"key": "spoiled", "amounts": [4]})
    status = run(ehost, "call_and_catch", {"key": "spoiled", "op": "spoil", "input": None})
    assert status.output["error"].startswith(
        "devhost: the entity function 'counter' failed for a whole batch of 1 operation(s): TypeError"
    )
    assert "the extension aborts such a batch and retries it for ever" in status.output["error"]
    assert (status.output["result"], status.output["after"]) == (None, 4)


def raw(method: str, url: str, body: bytes, content_type: str) -> tuple[int, bytes]:
    request = urllib.request.Request(url, data=body, method=method, headers={"Content-Type": content_type})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def test_the_http_api_serves_the_entity_routes_with_the_extensions_answers(ehost: DevHost) -> None:
    base = f"{ehost.origin}/runtime/webhooks/durabletask/entities"
    # the SDK posts its input as a JSON string holding the JSON of the value, which get_input() decodes twice
    assert call("POST", f"{base}/Ledger/http?op=append", json.dumps({"raw": True}))[0] == 202
    wait_for_entity(ehost, "ledger", "http", lambda record: record.operations == 1)
    status, _, body = call("GET", f"{base}/LEDGER/http")  # entity names are case-insensitive, keys are not
    assert (status, body) == (200, [{"raw": True}])
    assert call("GET", f"{base}/ledger/HTTP")[0] == 404
    assert call("GET", f"{base}/ledger/nobody")[0] == 404
    assert call("GET", f"{base}/ledger")[0] == 501
    status, _, body = call("POST", f"{base}/ledger/bad%23key?op=append", 1)
    assert (status, body["Message"]) == (
        400,
        "entityKey (Parameter 'Entity keys must not contain /, \\, #, ?, or control characters.')",
    )
    status, text = raw("POST", f"{base}/ledger/http?op=append", b'{"unclosed": ', "application/json")
    assert status == 400
    assert json.loads(text)["Message"].startswith("Could not parse JSON content: ")
    run(ehost, "add_all", {"key": "http-delete", "amounts": [1]})
    assert call("DELETE", f"{base}/counter/http-delete")[0] == 202  # the operation "delete"
    eventually(lambda: ehost.engine.entity("counter", "http-delete") is None)
    assert read_state(ehost, counter_id("http-delete")) == (False, None)
