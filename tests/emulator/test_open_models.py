"""Open models (gpt-oss-20b, Ministral-3B, Qwen-32B, Llama-3.3-70B-Instruct) as Microsoft's notes describe
them, issue 18: versioned ids, Global training only, no Developer tier, no job from a fine-tuned open
model, deployments on GlobalStandard with the provider's ``model.format`` (the other format answers 500),
``DeploymentNotReady`` for a while after ``Succeeded``, and "Failed to load LoRA" below 100 units."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import openai
import pytest
from openai.types.chat import ChatCompletionMessageParam

from tests.emulator.support import (
    arm_call,
    arm_deployment,
    azure_status,
    create_job,
    error_body,
    fine_tuned_models,
    wait_for,
)
from tests.fixtures.emulator import EmulatorHandle

pytestmark = pytest.mark.timeout(90)
OSS = "gpt-oss-20b-11"
NOT_SUPPORTED = "The specified base model does not support fine-tuning."
HI: list[ChatCompletionMessageParam] = [{"role": "user", "content": "What is the capital of Peru?"}]


def _refusal(handle: EmulatorHandle, model: str, training_type: str) -> dict[str, Any]:
    with pytest.raises(openai.BadRequestError) as refused:
        create_job(handle, model, training_type)
    body = error_body(refused.value)
    return body


def _put(handle: EmulatorHandle, name: str, body: dict[str, Any]) -> Any:
    return arm_call(handle, "PUT", f"deployments/{name}", body)


def _succeeded(handle: EmulatorHandle, name: str) -> None:
    def done() -> bool:
        answer = arm_call(handle, "GET", f"deployments/{name}").json()
        return bool(answer["properties"]["provisioningState"] == "Succeeded")

    wait_for(done)


@pytest.mark.rule("M6")
@pytest.mark.parametrize("model", [OSS, "Ministral-3B", "Qwen-32B", "Llama-3.3-70B-Instruct"])
def test_open_models_train_on_global_only(emulator_reset: EmulatorHandle, model: str) -> None:
    name = model.removesuffix("-11")
    developer = _refusal(emulator_reset, model, "developerTier")
    assert (developer["message"], developer["param"]) == (
        f"{NOT_SUPPORTED} ({name} has no Developer training tier)",
        "trainingType",
    )
    standard = _refusal(emulator_reset, model, "Standard")
    assert standard["message"] == (
        f"{NOT_SUPPORTED} (Standard training of {name} is offered in no region, not in northcentralus)"
    )
    assert azure_status(create_job(emulator_reset, model, "globalStandard")) == "pending"


@pytest.mark.rule("M10")
def test_an_open_model_is_fine_tuned_from_its_base_only(emulator_reset: EmulatorHandle) -> None:
    (tuned,) = fine_tuned_models(emulator_reset, training_type="GlobalStandard", model=OSS)
    assert tuned.startswith(f"{OSS}.ft-")
    refused = _refusal(emulator_reset, tuned, "GlobalStandard")
    assert (refused["message"], refused["param"]) == (
        f"{NOT_SUPPORTED} (a model fine-tuned from gpt-oss-20b cannot be fine-tuned again; start from {OSS})",
        "model",
    )


@pytest.mark.rule("M11", "M5")
@pytest.mark.parametrize(
    ("flags", "accepted", "refused"),
    [((), "Microsoft", "OpenAI-OSS"), (("--open-model-format", "OpenAI-OSS"), "OpenAI-OSS", "Microsoft")],
)
def test_the_deployment_format_of_open_models(
    emulator_factory: Callable[..., EmulatorHandle], flags: tuple[str, ...], accepted: str, refused: str
) -> None:
    handle = emulator_factory(*flags, "--open-model-not-ready", "0")
    (tuned,) = fine_tuned_models(handle, training_type="GlobalStandard", model=OSS)
    for wrong in (refused, "OpenAI", "microsoft"):
        answer = _put(handle, "oss-a", arm_deployment(tuned, model_format=wrong))
        assert answer.status_code == 500, wrong
        assert answer.json()["error"]["code"] == "InternalServerError"
    created = _put(handle, "oss-a", arm_deployment(tuned, model_format=accepted))
    assert created.status_code == 201, created.text
    assert created.json()["properties"]["model"]["format"] == accepted
    listed = {m["name"]: m for m in arm_call(handle, "GET", "models").json()["value"]}
    assert listed[tuned]["format"] == accepted and listed[tuned]["baseModel"]["format"] == accepted
    assert listed[tuned]["capabilities"]["fineTune"] == "false"
    _succeeded(handle, "oss-a")
    assert handle.openai_v1(max_retries=0).chat.completions.create(model="oss-a", messages=HI).choices


@pytest.mark.rule("M12")
@pytest.mark.parametrize("sku", ["Standard", "DeveloperTier", "DataZoneStandard"])
def test_open_models_deploy_on_global_standard_only(emulator_reset: EmulatorHandle, sku: str) -> None:
    (tuned,) = fine_tuned_models(emulator_reset, training_type="GlobalStandard", model=OSS)
    answer = _put(emulator_reset, "oss-b", arm_deployment(tuned, sku=sku, model_format="Microsoft"))
    assert answer.status_code == 400
    assert answer.json()["error"] == {
        "code": "InvalidResourceProperties",
        "message": f"The specified SKU '{sku}' of account deployment is not supported by the model '{tuned}' "
        "version: '1'.",
        "target": "sku.name",
        "details": [],
        "additionalInfo": [],
    }


@pytest.mark.rule("M15")
def test_a_fresh_open_model_deployment_is_not_ready_for_a_while(
    emulator_factory: Callable[..., EmulatorHandle],
) -> None:
    # 120 s (the default window) at --time-scale 0.01: 1.2 emulated seconds after Succeeded.
    handle = emulator_factory("--lifecycle", "table")
    (tuned,) = fine_tuned_models(handle, training_type="GlobalStandard", model=OSS)
    assert _put(handle, "oss-c", arm_deployment(tuned, model_format="Microsoft")).status_code == 201
    _succeeded(handle, "oss-c")
    client = handle.openai_v1(max_retries=0)
    with pytest.raises(openai.NotFoundError) as not_ready:
        client.chat.completions.create(model="oss-c", messages=HI)
    assert error_body(not_ready.value)["code"] == "DeploymentNotReady"
    assert (
        error_body(not_ready.value)["message"]
        == "The deployment 'oss-c' is not ready yet. Please retry after some time."
    )
    handle.advance_clock(2)
    assert client.chat.completions.create(model="oss-c", messages=HI).choices


@pytest.mark.rule("M16")
def test_below_100_units_an_open_model_fails_to_load_its_lora(
    emulator_factory: Callable[..., EmulatorHandle],
) -> None:
    handle = emulator_factory("--open-model-not-ready", "0")
    (tuned,) = fine_tuned_models(handle, training_type="GlobalStandard", model=OSS)
    assert (
        _put(handle, "oss-d", arm_deployment(tuned, capacity=99, model_format="Microsoft")).status_code == 201
    )
    _succeeded(handle, "oss-d")
    client = handle.openai_v1(max_retries=0)
    with pytest.raises(openai.InternalServerError) as failed:
        client.chat.completions.create(model="oss-d", messages=HI)
    assert (
        error_body(failed.value)["message"]
        == "Failed to load LoRA adapter for deployment 'oss-d'. Please retry later."
    )
    patched = arm_call(
        handle, "PATCH", "deployments/oss-d", {"sku": {"name": "GlobalStandard", "capacity": 100}}
    )
    assert patched.status_code == 202
    _succeeded(handle, "oss-d")
    assert client.chat.completions.create(model="oss-d", messages=HI).choices


@pytest.mark.rule("M11")
def test_an_open_base_model_deploys_with_its_version(emulator_reset: EmulatorHandle) -> None:
    body = arm_deployment("gpt-oss-20b", model_format="Microsoft", version="11")
    created = _put(emulator_reset, "oss-base", body)
    assert created.status_code == 201, created.text
    assert created.json()["properties"]["model"] == {
        "format": "Microsoft",
        "name": "gpt-oss-20b",
        "version": "11",
    }
    _succeeded(emulator_reset, "oss-base")
    # No LoRA adapter to load: a base deployment serves as soon as it has succeeded.
    assert (
        emulator_reset.openai_v1(max_retries=0).chat.completions.create(model="oss-base", messages=HI).choices
    )
