"""The model lifecycle table (emulator/profiles.py) as an account sees it, issue 18: retirement dates by
default, with the training of the gpt-4.1 family kept until 2027-04-14 for an existing customer only,
retired base deployments that refuse chat, fine-tuned deployments serving until 2027-10-14, and the model
lists showing all of it in Azure's shapes.

Each test starts its own emulator with ``--lifecycle table`` (the emulator tests' own default is
``none``: tests/emulator/support.py; the launcher's, for the app, is ``table``: emulator/launch.py). The
clock can only move forward, so a test that needs a moment before a date skips once the wall clock has
passed it."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import openai
import pytest
from azure.core.exceptions import HttpResponseError
from openai.types.chat import ChatCompletionMessageParam

from emulator.cli import config_from_args
from tests.emulator.support import (
    FAST_JOBS_AT_SCALE_1,
    arm_call,
    arm_error,
    azure_status,
    by_name,
    create_job,
    deploy,
    error_body,
    fine_tuned_models,
    start_before_retirements,
)
from tests.fixtures.emulator import EmulatorHandle

pytestmark = pytest.mark.timeout(120)
TABLE = ("--lifecycle", "table")
# Durations at scale 1, short enough for a test, and an idle lifetime (10 years) no clock jump here reaches.
REAL_TIME = (*FAST_JOBS_AT_SCALE_1, "--provisioning", "0.05", "--idle-lifetime", str(10 * 365 * 86400))


def _ts(text: str) -> float:
    return datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp()


def _move_to(handle: EmulatorHandle, moment: str) -> None:
    """Moves the emulated clock to ``moment`` (UTC), or skips when the clock is already past it."""
    now = handle.state()["now"]
    if now >= _ts(moment):
        pytest.skip(f"the clock is past {moment}: the world this test checks has moved on")
    handle.advance_clock(_ts(moment) - now)


def _models(handle: EmulatorHandle) -> dict[str, dict[str, Any]]:
    response = arm_call(handle, "GET", "models")
    assert response.status_code == 200, response.text
    return {m["name"]: m for m in response.json()["value"]}


@pytest.mark.rule("M4", "M5", "AR5", "AR8", "Q18")
def test_the_account_model_list_carries_the_table(emulator_factory: Callable[..., EmulatorHandle]) -> None:
    handle = emulator_factory(*TABLE)
    models = _models(handle)
    mini = models["gpt-4.1-mini"]
    assert (mini["format"], mini["version"]) == ("OpenAI", "2025-04-14")
    # An existing customer of the gpt-4.1 family (the default): training until 2027-04-14; inference
    # ended with the base model on 2026-10-14, which the clock has passed.
    assert mini["deprecation"] == {"fineTune": "2027-04-14T00:00:00Z", "inference": "2026-10-14T00:00:00Z"}
    assert mini["lifecycleStatus"] == "Deprecated"
    assert mini["capabilities"] == {"chatCompletion": "true", "fineTune": "true"}
    assert {s["name"]: s["deprecationDate"] for s in mini["skus"]} == {
        "GlobalStandard": "2026-10-14T00:00:00Z",
        "Standard": "2026-10-14T00:00:00Z",
        "DataZoneStandard": "2026-10-14T00:00:00Z",
    }
    # Not an existing customer of gpt-4o: its training retired with the base model.
    assert models["gpt-4o"]["deprecation"] == {
        "fineTune": "2026-10-01T00:00:00Z",
        "inference": "2026-10-01T00:00:00Z",
    }
    teacher = models["gpt-5-mini"]
    assert teacher["capabilities"]["fineTune"] == "false"
    assert teacher["deprecation"] == {"inference": "2027-02-06T00:00:00Z"}
    oss = models["gpt-oss-20b"]
    assert (oss["format"], oss["version"], oss["capabilities"]["fineTune"]) == ("Microsoft", "11", "false")
    assert "deprecation" not in oss and [s["name"] for s in oss["skus"]] == ["GlobalStandard"]
    assert {models[m]["format"] for m in ("Ministral-3B", "Qwen-32B", "Llama-3.3-70B-Instruct")} == {
        "Mistral AI",
        "Alibaba",
        "Meta",
    }


@pytest.mark.rule("M4", "AR5")
def test_the_sdk_reads_the_lifecycle_fields(emulator_factory: Callable[..., EmulatorHandle]) -> None:
    handle = emulator_factory(*TABLE)
    listed = by_name(handle.mgmt().accounts.list_models(handle.resource_group, handle.account))
    mini = listed["gpt-4.1-mini"]
    assert mini.lifecycle_status == "Deprecated"
    assert mini.deprecation is not None
    assert (mini.deprecation.fine_tune, mini.deprecation.inference) == (
        "2027-04-14T00:00:00Z",
        "2026-10-14T00:00:00Z",
    )
    assert mini.skus is not None
    assert mini.skus[0].deprecation_date == datetime(2026, 10, 14, tzinfo=UTC)


@pytest.mark.rule("AR6", "AR9")
def test_the_location_model_list_wraps_each_base_model(
    emulator_factory: Callable[..., EmulatorHandle],
) -> None:
    handle = emulator_factory(*TABLE)
    listed = list(handle.mgmt().models.list("northcentralus"))
    assert listed
    assert all((m.kind, m.sku_name) == ("AIServices", "S0") for m in listed)
    models = []
    for entry in listed:
        assert entry.model is not None, entry
        models.append(entry.model)
    platform = by_name(models)
    assert ".ft-" not in " ".join(platform)  # the platform's models, not the account's fine-tuned ones
    oss_capabilities = platform["gpt-oss-20b"].capabilities
    assert oss_capabilities is not None
    assert oss_capabilities["fineTune"] == "false"
    mini_deprecation = platform["gpt-4.1-mini"].deprecation
    assert mini_deprecation is not None
    assert mini_deprecation.inference == "2026-10-14T00:00:00Z"
    assert list(handle.mgmt().models.list("westeurope")) == []


@pytest.mark.rule("M2", "LC8", "Q15")
def test_an_existing_customer_trains_the_gpt41_family_until_2027_04_14(
    emulator_factory: Callable[..., EmulatorHandle],
) -> None:
    handle = emulator_factory(*TABLE)
    assert azure_status(create_job(handle)) == "pending"  # today
    _move_to(handle, "2027-04-13T23:00:00")
    assert azure_status(create_job(handle)) == "pending"  # the last hour
    handle.advance_clock(3600)
    with pytest.raises(openai.BadRequestError) as refused:
        create_job(handle)
    assert error_body(refused.value)["message"] == (
        "The specified base model does not support fine-tuning. (fine-tuning gpt-4.1-mini was retired on "
        "2027-04-14T00:00:00Z)"
    )
    assert error_body(refused.value)["param"] == "model"


@pytest.mark.rule("M2", "Q15")
def test_a_new_customer_cannot_fine_tune_a_retired_base(
    emulator_factory: Callable[..., EmulatorHandle],
) -> None:
    handle = emulator_factory(*TABLE, "--customer", "new")
    with pytest.raises(openai.BadRequestError) as refused:
        create_job(handle)
    assert error_body(refused.value)["message"] == (
        "The specified base model does not support fine-tuning. (fine-tuning gpt-4.1-mini was retired on "
        "2026-10-14T00:00:00Z for accounts that do not already fine-tune the gpt-4.1 family)"
    )
    assert _models(handle)["gpt-4.1-mini"]["deprecation"]["fineTune"] == "2026-10-14T00:00:00Z"
    # The new customer's path: an open model, on Global training.
    job = create_job(handle, "gpt-oss-20b-11", "GlobalStandard")
    assert azure_status(job) == "pending"


@pytest.mark.rule("M2", "AD2", "AD7")
def test_existing_families_are_chosen_by_flag_and_admin_api(
    emulator_factory: Callable[..., EmulatorHandle],
) -> None:
    handle = emulator_factory(*TABLE, "--customer", "existing=gpt-4o")
    assert azure_status(create_job(handle, "gpt-4o-2024-08-06")) == "pending"
    with pytest.raises(openai.BadRequestError):
        create_job(handle)  # gpt-4.1-mini: not a family this account fine-tunes
    assert handle.state()["account"] == {
        "customer": "existing",
        "existing_families": ["gpt-4o"],
        "serialize_deployment_writes": True,  # the launcher's default, as Azure does
        "request_conflicts": 0,
    }
    with handle.http_client() as http:
        account = http.post(handle.url + "/_emulator/account", json={"customer": "existing"}).json()
        assert account["existing_families"] == ["gpt-4.1"]
        assert azure_status(create_job(handle)) == "pending"
        assert http.post(handle.url + "/_emulator/account", json={"customer": "new"}).json() == {
            "customer": "new",
            "existing_families": [],
            "serialize_deployment_writes": True,
            "request_conflicts": 0,
        }
        with pytest.raises(openai.BadRequestError):
            create_job(handle)
        for bad in ({"families": ["gpt-5-mini"]}, {"customer": "new", "families": ["gpt-4o"]}, {"x": 1}):
            answer = http.post(handle.url + "/_emulator/account", json=bad)
            assert answer.status_code == 400, bad
            assert answer.json()["error"]["code"] == "invalidPayload"
        handle.reset()
        assert http.get(handle.url + "/_emulator/account").json()["existing_families"] == ["gpt-4o"]


@pytest.mark.rule("M2", "CL2")
def test_the_customer_flag_is_checked() -> None:
    assert config_from_args(["--customer", "existing=gpt-4o,o4-mini"]).existing_families == (
        "gpt-4o",
        "o4-mini",
    )
    assert config_from_args(["--customer", "new"]).existing_families == ()
    assert config_from_args([]).existing_families == ("gpt-4.1",)
    for bad in ("existing=gpt-9", "old", "new=gpt-4o", "existing="):
        with pytest.raises(SystemExit) as exit_info:
            config_from_args(["--customer", bad])
        assert exit_info.value.code == 2


@pytest.mark.rule("M1", "V5", "Q17")
@pytest.mark.parametrize(("flags", "status"), [((), 404), (("--retired-chat-status", "410"), 410)])
def test_a_retired_base_deployment_refuses_chat(
    emulator_factory: Callable[..., EmulatorHandle], flags: tuple[str, ...], status: int
) -> None:
    handle = emulator_factory(*TABLE, *flags)
    client = handle.openai_v1(max_retries=0)
    with pytest.raises(openai.APIStatusError) as refused:
        client.chat.completions.create(model="gpt-4.1-mini", messages=[{"role": "user", "content": "hi"}])
    assert refused.value.status_code == status
    expected = (
        {"code": "404", "message": "Resource not found"}
        if status == 404
        else {
            "code": "ModelDeprecated",
            "message": "The model 'gpt-4.1-mini' of deployment 'gpt-4.1-mini' was retired on "
            "2026-10-14T00:00:00Z.",
        }
    )
    assert {k: error_body(refused.value)[k] for k in ("code", "message")} == expected


@pytest.mark.rule("M1", "Q16")
def test_a_retired_base_model_cannot_be_deployed(emulator_factory: Callable[..., EmulatorHandle]) -> None:
    handle = emulator_factory(*TABLE)
    with pytest.raises(HttpResponseError) as refused:
        deploy(handle, "mini-again", "gpt-4.1-mini", sku="GlobalStandard", version="2025-04-14")
    assert arm_error(refused.value).code == "ServiceModelDeprecated"
    assert arm_error(refused.value).message == (
        "The model 'Format:OpenAI,Name:gpt-4.1-mini,Version:2025-04-14' has been deprecated since "
        "10/14/2026 00:00:00."
    )


@pytest.mark.rule("M3", "LC8")
def test_fine_tuned_deployments_serve_until_2027_10_14(
    emulator_factory: Callable[..., EmulatorHandle],
) -> None:
    handle = emulator_factory(*TABLE, *REAL_TIME)
    (tuned,) = fine_tuned_models(handle, training_type="developerTier")
    deploy(handle, "ft-mini", tuned, sku="GlobalStandard")
    client = handle.openai_v1(max_retries=0)
    message: list[ChatCompletionMessageParam] = [
        {"role": "user", "content": "What is the capital of France?"}
    ]
    assert client.chat.completions.create(model="ft-mini", messages=message).choices
    assert _models(handle)[tuned]["deprecation"] == {
        "fineTune": "2027-04-14T00:00:00Z",
        "inference": "2027-10-14T00:00:00Z",
    }
    _move_to(handle, "2027-10-13T23:59:00")
    assert client.chat.completions.create(model="ft-mini", messages=message).choices
    handle.advance_clock(120)
    with pytest.raises(openai.NotFoundError) as gone:
        client.chat.completions.create(model="ft-mini", messages=message)
    assert error_body(gone.value)["message"] == "Resource not found"
    assert _models(handle)[tuned]["lifecycleStatus"] == "Deprecated"
    with pytest.raises(HttpResponseError) as refused:
        deploy(handle, "ft-mini-2", tuned, sku="GlobalStandard")
    assert arm_error(refused.value).code == "ServiceModelDeprecated"


@pytest.mark.rule("M1")
def test_lifecycle_none_has_no_dates(emulator_factory: Callable[..., EmulatorHandle]) -> None:
    handle = emulator_factory("--lifecycle", "none")
    mini = _models(handle)["gpt-4.1-mini"]
    assert "deprecation" not in mini and mini["lifecycleStatus"] == "GenerallyAvailable"
    client = handle.openai_v1(max_retries=0)
    assert client.chat.completions.create(model="gpt-4.1-mini", messages=[{"role": "user", "content": "hi"}])


@pytest.mark.rule("M9")
def test_models_outside_supervised_fine_tuning_are_refused(
    emulator_factory: Callable[..., EmulatorHandle],
) -> None:
    handle = emulator_factory(*TABLE)
    for model, name in (("gpt-5-mini-2025-08-07", "gpt-5-mini"), ("o4-mini-2025-04-16", "o4-mini")):
        with pytest.raises(openai.BadRequestError) as refused:
            create_job(handle, model, "GlobalStandard")
        assert error_body(refused.value)["message"] == (
            f"The specified base model does not support fine-tuning. ({name} has no supervised fine-tuning)"
        )


@pytest.mark.rule("AD7", "LC1")
def test_the_account_settings_survive_a_restart(tmp_path: Path) -> None:
    first = start_before_retirements(*TABLE, state_dir=tmp_path)
    try:
        with first.http_client() as http:
            changed = {"customer": "new", "serialize_deployment_writes": False}
            assert http.post(first.url + "/_emulator/account", json=changed).status_code == 200
    finally:
        first.stop()
    second = start_before_retirements(*TABLE, state_dir=tmp_path)
    try:
        assert second.state()["account"] == {
            "customer": "new",
            "existing_families": [],
            "serialize_deployment_writes": False,
            "request_conflicts": 0,
        }
        with pytest.raises(openai.BadRequestError):
            create_job(second)
    finally:
        second.stop()
