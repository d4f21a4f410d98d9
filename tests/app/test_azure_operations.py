"""The app's Azure operations are safe to retry: a second attempt finds what the first created.

Run against the emulator through the real openai and azure-mgmt-cognitiveservices clients.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Literal, TypeVar

import openai
import pytest

from emulator.launch import EmulatorHandle
from shared.azure.deployments import GONE, Account
from shared.azure.errors import is_transient
from shared.azure.finetuning import (
    cancel_job,
    find_job,
    find_or_upload,
    get_file,
    get_job,
    job_result,
    training_file_name,
)
from shared.contracts.payloads import NO_SLOT, REQUEST_CONFLICT, StartDeployment, StartJob
from tests.emulator.support import fine_tuned_models


def _examples(count: int) -> bytes:
    tool = {
        "type": "function",
        "function": {
            "name": "country_capital_lookup",
            "parameters": {
                "type": "object",
                "properties": {"country": {"type": "string"}},
                "required": ["country"],
            },
        },
    }
    lines = []
    for k in range(count):
        lines.append(
            {
                "messages": [
                    {"role": "user", "content": f"What is the capital of France? ({k})"},
                    {
                        "role": "assistant",
                        "tool_calls": [
                            {
                                "id": f"call_{k}",
                                "type": "function",
                                "function": {
                                    "name": "country_capital_lookup",
                                    "arguments": '{"country": "France"}',
                                },
                            }
                        ],
                    },
                ],
                "tools": [tool],
            }
        )
    return "\n".join(json.dumps(line) for line in lines).encode()


T = TypeVar("T")


def _wait(predicate: Callable[[], T | Literal[False] | None], timeout: float = 20) -> T:
    """Polls ``predicate`` until it answers something truthy (a check, or ``check and value``); returns it."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError("condition not reached")


def _processed_file(client: openai.AzureOpenAI, name: str) -> str:
    file_id = find_or_upload(client, name, _examples(12)).file_id
    assert file_id
    _wait(lambda: get_file(client, file_id).status == "processed")
    return file_id


def test_upload_is_found_again_instead_of_repeated(emulator_reset: EmulatorHandle) -> None:
    client = emulator_reset.azure_openai()
    name = training_file_name("run-idem", 1)
    first = find_or_upload(client, name, _examples(12))
    second = find_or_upload(client, name, _examples(12))
    assert first.file_id == second.file_id
    assert [f.id for f in client.files.list() if f.filename == name] == [first.file_id]


def test_job_is_found_again_instead_of_started_twice(emulator_reset: EmulatorHandle) -> None:
    client = emulator_reset.azure_openai()
    file_id = _processed_file(client, training_file_name("run-job", 1))
    request = StartJob(
        run_id="run-job",
        iteration=1,
        file_id=file_id,
        model="gpt-4.1-mini-2025-04-14",
        suffix="v01",
        n_epochs=1,
        batch_size=2,
        learning_rate_multiplier=1.0,
        seed=42,
        training_type="developerTier",
    )
    assert find_job(client, request) is None
    created = client.fine_tuning.jobs.create(
        training_file=file_id, model=request.model, suffix="v01", extra_body={"trainingType": "developerTier"}
    )
    again = find_job(client, request)
    assert again is not None and again.id == created.id
    done = _wait(lambda: (r := get_job(client, created.id)).status == "succeeded" and r)
    assert done.fine_tuned_model and done.fine_tuned_model.startswith("gpt-4.1-mini-2025-04-14.ft-")
    assert done.fine_tuned_model.endswith("-v01")
    assert job_result(client.fine_tuning.jobs.retrieve(created.id)).job_id == created.id
    assert cancel_job(client, created.id).status == "succeeded"


def test_deployment_start_is_idempotent_and_conflicts_are_permanent(emulator_reset: EmulatorHandle) -> None:
    account = Account(emulator_reset.mgmt(), emulator_reset.resource_group, emulator_reset.account)
    request = StartDeployment(
        run_id="run-dep",
        name="agent_v01",
        model="gpt-5.1-2025-11-13",
        sku_name="Standard",
        sku_capacity=10,
    )
    first = account.start(request)
    assert first.state in {"Creating", "Accepted", "Succeeded"} and first.error is None
    second = account.start(request)
    assert second.error is None
    _wait(lambda: account.state("agent_v01").state == "Succeeded")
    deployment = account.get("agent_v01")
    assert deployment is not None
    assert deployment.tags == {"durable-finetune-run": "run-dep"}

    other = account.start(request.model_copy(update={"model": "gpt-4o-mini-2024-07-18"}))
    assert other.state == "Conflict"
    assert other.error is not None and other.error.code == "DeploymentNameTaken"
    assert "agent_v01" in other.error.message

    assert account.delete("agent_v01") in {"deleting", "gone"}
    _wait(lambda: account.state("agent_v01").state == GONE)
    assert account.delete("agent_v01") == "gone"


def test_a_write_while_another_is_in_progress_is_an_answer_to_send_again(
    emulator_factory: Callable[..., EmulatorHandle],
) -> None:
    """Azure takes one deployment write at a time per account: the second one's 409 RequestConflict is
    state RequestConflict (a create) or ``conflict`` (a delete), not an error, so the orchestrator
    waits it out on a durable timer instead of failing or retrying at once."""
    handle = emulator_factory("--provisioning", "300")  # 3 s of real time at the launcher's scale
    account = Account(handle.mgmt(), handle.resource_group, handle.account)
    request = StartDeployment(  # a current model: gpt-4.1-mini's base is refused since 2026-10-14
        run_id="run-dep", name="first", model="gpt-5.1-2025-11-13", sku_name="GlobalStandard", sku_capacity=1
    )
    assert account.start(request).state == "Creating"
    second = account.start(request.model_copy(update={"name": "second"}))
    assert second.state == REQUEST_CONFLICT
    assert second.error is not None
    assert second.error.code == "RequestConflict"
    assert account.delete("gpt-5.1") == "conflict"
    assert account.get("second") is None
    assert handle.account_rules()["request_conflicts"] == 2


def test_a_fine_tuned_deployment_is_not_started_without_a_free_slot(emulator_reset: EmulatorHandle) -> None:
    """Counted on ARM under the account's write grant: the create answers NoSlot and sends nothing."""
    (model,) = fine_tuned_models(emulator_reset)
    account = Account(emulator_reset.mgmt(), emulator_reset.resource_group, emulator_reset.account)
    request = StartDeployment(
        run_id="run-dep", name="one", model=model, sku_name="DeveloperTier", sku_capacity=1
    )
    assert account.start(request, slot_limit=1).state == "Creating"
    _wait(lambda: account.state("one").state == "Succeeded")
    refused = account.start(request.model_copy(update={"name": "two"}), slot_limit=1)
    assert refused.state == NO_SLOT
    assert refused.error is not None
    assert refused.error.message == "1 of 1 fine-tuned deployments in use: one"
    assert account.get("two") is None
    base = request.model_copy(
        update={"name": "base-two", "model": "gpt-5.1-2025-11-13", "sku_name": "GlobalStandard"}
    )
    assert account.start(base, slot_limit=1).state == "Creating", "a base model's deployment needs no slot"


@pytest.mark.parametrize("status", [429, 503])
def test_transient_errors_are_raised_for_durable_retries(emulator_reset: EmulatorHandle, status: int) -> None:
    emulator_reset.set_faults(routes=[{"route": "files", "status": status, "count": 10, "retry_after": 0}])
    client = emulator_reset.azure_openai(max_retries=0)
    with pytest.raises(Exception) as caught:
        find_or_upload(client, "x.jsonl", _examples(12))
    assert is_transient(caught.value)


@pytest.mark.parametrize(("world", "refused"), [("provider", None), ("OpenAI-OSS", "Microsoft")])
def test_an_open_models_deployment_takes_the_format_azure_accepts(
    emulator_factory: Callable[..., EmulatorHandle], world: str, refused: str | None
) -> None:
    """Sources disagree on an open model's ARM ``model.format``; Azure answers the wrong one with a bare
    500, so the app sends the other once and says which it refused (docs/models.md)."""
    handle = emulator_factory("--open-model-format", world, "--open-model-not-ready", "0")
    (tuned,) = fine_tuned_models(handle, training_type="GlobalStandard", model="gpt-oss-20b-11")
    account = Account(handle.mgmt(), handle.resource_group, handle.account)
    request = StartDeployment(
        run_id="run-oss", name="oss_v01", model=tuned, sku_name="GlobalStandard", sku_capacity=100
    )

    started = account.start(request, open_model_format="provider")

    assert started.error is None and started.format_refused == refused
    deployed = account.get("oss_v01")
    assert deployed is not None
    assert deployed.properties is not None
    assert deployed.properties.model is not None
    assert deployed.properties.model.format == ("Microsoft" if refused is None else "OpenAI-OSS")
    assert account.state("oss_v01").model == tuned
