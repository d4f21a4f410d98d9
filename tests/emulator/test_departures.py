"""The departures from Azure that emulator/README.md lists ("Departures from Azure and the specs") and no
other test pins: each is a promise a client may rely on offline, so each answer is checked as stated."""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from pathlib import Path

import openai
import pytest
from azure.core.exceptions import HttpResponseError
from openai import OpenAI
from openai.types.chat import ChatCompletionMessageParam
from openai.types.fine_tuning import FineTuningJob

from tests.emulator.support import (
    ARM_HEADERS,
    BASE,
    arm_call,
    arm_deployment,
    deploy,
    error_body,
    fine_tuned_model,
    start_before_retirements,
    success_file,
    upload,
    wait_job,
    wait_processed,
)
from tests.fixtures.emulator import EmulatorHandle

pytestmark = pytest.mark.timeout(90)
HI: list[ChatCompletionMessageParam] = [{"role": "user", "content": "What is the capital of Peru?"}]
NOT_SUPPORTED = "The specified base model does not support fine-tuning."


def _processed_file(client: OpenAI) -> str:
    file_id = str(upload(client, success_file()).id)
    wait_processed(client, file_id)
    return file_id


def _job(client: OpenAI, file_id: str, model: str = BASE) -> FineTuningJob:
    return client.fine_tuning.jobs.create(
        model=model, training_file=file_id, extra_body={"trainingType": "Standard"}
    )


@pytest.mark.rule("D4")
def test_a_checkpoint_is_neither_deployed_nor_fine_tuned_from(emulator_reset: EmulatorHandle) -> None:
    client = emulator_reset.openai_v1(max_retries=0)
    file_id = _processed_file(client)
    done = wait_job(client, _job(client, file_id).id)
    assert done.status == "succeeded"
    checkpoint = list(client.fine_tuning.jobs.checkpoints.list(done.id))[-1]
    for name in (checkpoint.id, checkpoint.fine_tuned_model_checkpoint):
        with pytest.raises(HttpResponseError) as refused:
            deploy(emulator_reset, "from-checkpoint", name, sku="Standard")
        assert refused.value.error is not None
        assert refused.value.error.code == "DeploymentModelNotSupported", name
        with pytest.raises(openai.BadRequestError) as not_trained:
            _job(client, file_id, name)
        body = error_body(not_trained.value)
        assert (body["message"], body["param"]) == (
            NOT_SUPPORTED,
            "model",
        )
    assert deploy(emulator_reset, "from-model", fine_tuned_model(done), sku="Standard").name == "from-model"


@pytest.mark.rule("D5")
def test_jobs_still_validating_count_toward_the_queue(
    emulator_factory: Callable[..., EmulatorHandle],
) -> None:
    """No job runs (three free slots), but two are still validating: the queue of two is full."""
    handle = emulator_factory("--job-pending", "100000", "--max-queued-jobs", "2")
    client = handle.openai_v1(max_retries=0)
    file_id = _processed_file(client)
    waiting = [_job(client, file_id) for _ in range(2)]
    assert [job.status for job in waiting] == ["pending", "pending"]
    assert {job["internal_status"] for job in handle.state()["jobs"]} == {"pending"}  # not yet queued
    with pytest.raises(openai.BadRequestError) as refused:
        _job(client, file_id)
    assert refused.value.code == "quotaExceeded"
    assert (
        error_body(refused.value)["message"]
        == "The quota for queued fine-tuning jobs is reached. The maximum is 2."
    )


@pytest.mark.rule("D7", "D8", "AR7")
def test_deployment_operations_report_at_their_own_status_url(emulator_reset: EmulatorHandle) -> None:
    """At the launcher's --time-scale 0.01 provisioning slowed ten times takes 0.8 s: ``Retry-After``
    says so in a fraction; the status URL is the location's ``operationStatuses/{id}`` and its status
    mirrors the deployment's provisioning state."""
    emulator_reset.set_faults(provisioning_slowdown=10)
    body = arm_deployment("gpt-4.1-mini", version="2025-04-14")
    created = arm_call(emulator_reset, "PUT", "deployments/op", body)
    assert created.status_code == 201, created.text
    assert created.headers["retry-after"] == "0.80"
    status_url = created.headers["azure-asyncoperation"]
    pattern = (
        rf"{re.escape(emulator_reset.url)}/subscriptions/{emulator_reset.subscription}/providers/"
        r"Microsoft\.CognitiveServices/locations/northcentralus/operationStatuses/([0-9a-f]{32})"
        r"\?api-version=2025-06-01"
    )
    found = re.fullmatch(pattern, status_url)
    assert found is not None, status_url
    with emulator_reset.http_client() as http:
        first = http.get(status_url, headers=ARM_HEADERS).json()
        assert (first["name"], first["status"]) == (found.group(1), "Creating")
        emulator_reset.advance_clock(1)
        assert http.get(status_url, headers=ARM_HEADERS).json()["status"] == "Succeeded"


@pytest.mark.rule("D9")
def test_chat_has_no_streaming_no_n_and_no_logprobs(emulator_reset: EmulatorHandle) -> None:
    client = emulator_reset.openai_v1(max_retries=0)
    with pytest.raises(openai.BadRequestError) as streamed:
        client.chat.completions.create(model="gpt-4.1-mini", messages=HI, stream=True)
    with pytest.raises(openai.BadRequestError) as several:
        client.chat.completions.create(model="gpt-4.1-mini", messages=HI, n=2)
    for refused, param in ((streamed, "stream"), (several, "n")):
        assert (refused.value.code, error_body(refused.value)["param"]) == ("invalidPayload", param)
    answer = client.chat.completions.create(model="gpt-4.1-mini", messages=HI, logprobs=True)
    assert answer.choices[0].logprobs is None


@pytest.mark.rule("D10")
def test_one_account_and_no_other_routes(emulator_reset: EmulatorHandle) -> None:
    assert arm_call(emulator_reset, "POST", "listKeys").json()["error"]["code"] == "InvalidResourceType"
    with emulator_reset.http_client() as http:
        other = http.get(_account_url(emulator_reset, "other-account"), headers=ARM_HEADERS).json()
        assert other["error"]["code"] == "ResourceNotFound"
        models = http.get(emulator_reset.url + "/openai/v1/models", headers={"api-key": "k"})
    assert models.status_code == 404


def _account_url(handle: EmulatorHandle, account: str) -> str:
    return (
        f"{handle.url}/subscriptions/{handle.subscription}/resourceGroups/{handle.resource_group}/providers/"
        f"Microsoft.CognitiveServices/accounts/{account}?api-version=2025-06-01"
    )


def _calls(handle: EmulatorHandle, deployment: str, count: int) -> list[int]:
    client = handle.openai_v1(max_retries=0)
    statuses = []
    for _ in range(count):
        try:
            client.chat.completions.create(model=deployment, messages=HI, max_tokens=10)
            statuses.append(200)
        except openai.RateLimitError:
            statuses.append(429)
    return statuses


@pytest.mark.rule("D11")
def test_rate_windows_live_in_memory_and_provisioned_deployments_are_not_limited(tmp_path: Path) -> None:
    """Capacity 1 of gpt-4.1-mini in a 60 s window: one request a minute. A restart with the same
    --state-dir forgets the window; a ProvisionedManaged deployment of the same capacity is not limited."""
    flags = ("--base-capacity", "1", "--rate-window", "60")
    first = start_before_retirements(*flags, state_dir=tmp_path)
    try:
        admitted = time.monotonic()
        assert _calls(first, "gpt-4.1-mini", 2) == [200, 429]
        ptu = arm_deployment("gpt-4.1-mini", sku="ProvisionedManaged", capacity=1, version="2025-04-14")
        assert arm_call(first, "PUT", "deployments/ptu", ptu).status_code == 201
        first.advance_clock(1)
        assert _calls(first, "ptu", 5) == [200] * 5
    finally:
        first.stop()
    second = start_before_retirements(*flags, state_dir=tmp_path)
    try:
        assert _calls(second, "gpt-4.1-mini", 2) == [200, 429]
        assert time.monotonic() - admitted < 60, "the first window would have emptied by itself"
    finally:
        second.stop()
