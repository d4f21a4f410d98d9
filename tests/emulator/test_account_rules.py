"""ARM and account rules, issues 18 and 20: deployment names by the strictest rule, one deployment write at
a time per account (409 RequestConflict, when serialization is on), Standard training and Standard
deployments of fine-tuned models only in the regions that offer them, DeveloperTier only for fine-tuned
models of a model with a Developer tier."""

from __future__ import annotations

from collections.abc import Callable
from email.utils import parsedate_to_datetime
from typing import Any

import openai
import pytest

from emulator.cli import config_from_args
from tests.emulator.support import (
    BASE,
    FAST_JOBS_AT_SCALE_1,
    arm_call,
    arm_deployment,
    azure_status,
    create_job,
    error_body,
    fine_tuned_models,
    sku,
    wait_for,
)
from tests.fixtures.emulator import EmulatorHandle

pytestmark = pytest.mark.timeout(90)
NOT_SUPPORTED = "The specified base model does not support fine-tuning."
# Provisioning and deletion take seconds here (scale 1), so a write is surely still in progress when the
# next request arrives; jobs and files stay fast.
SLOW_WRITES = (*FAST_JOBS_AT_SCALE_1, "--provisioning", "3")


def _conflict(handle: EmulatorHandle) -> dict[str, Any]:
    parent = (
        f"/subscriptions/{handle.subscription}/resourceGroups/{handle.resource_group}/providers/"
        f"Microsoft.CognitiveServices/accounts/{handle.account}"
    )
    return {
        "error": {
            "code": "RequestConflict",
            "message": f"Another operation is being performed on the parent resource '{parent}'. Please try "
            "again later.",
            "target": None,
            "details": [],
            "additionalInfo": [],
        }
    }


def _state(handle: EmulatorHandle, name: str) -> str | None:
    answer = arm_call(handle, "GET", f"deployments/{name}")
    return answer.json()["properties"]["provisioningState"] if answer.status_code == 200 else None


@pytest.mark.rule("M17")
@pytest.mark.parametrize("name", ["a", "a.b", "gpt-4.1-mini-ft", "x" * 65, "has space", "ümlaut"])
def test_deployment_names_follow_the_strictest_rule(emulator_reset: EmulatorHandle, name: str) -> None:
    answer = arm_call(
        emulator_reset, "PUT", f"deployments/{name}", arm_deployment("gpt-4.1-mini", version="2025-04-14")
    )
    assert answer.status_code == 400
    error = answer.json()["error"]
    assert (error["code"], error["target"]) == ("InvalidResourceName", "name")
    assert error["message"] == (
        f"The deployment name '{name}' is invalid: it must be 2 to 64 characters of letters, digits, '-' and "
        "'_' (no '.')."
    )


@pytest.mark.rule("M17")
@pytest.mark.parametrize("name", ["ab", "capital-agent_v01", "Z" * 64])
def test_valid_deployment_names_are_accepted(emulator_reset: EmulatorHandle, name: str) -> None:
    answer = arm_call(
        emulator_reset, "PUT", f"deployments/{name}", arm_deployment("gpt-4.1-mini", version="2025-04-14")
    )
    assert answer.status_code == 201, answer.text


@pytest.mark.rule("M17")
def test_lenient_names_accept_what_strict_refuses(emulator_factory: Callable[..., EmulatorHandle]) -> None:
    handle = emulator_factory("--deployment-names", "lenient")
    answer = arm_call(handle, "PUT", "deployments/a.b", arm_deployment("gpt-4.1-mini", version="2025-04-14"))
    assert answer.status_code == 201, answer.text


@pytest.mark.rule("M18")
def test_writes_can_be_left_concurrent(emulator_factory: Callable[..., EmulatorHandle]) -> None:
    """The launcher serializes writes unless told not to; the bare command line (``python -m
    emulator``) does not, as before issue 20."""
    handle = emulator_factory(*SLOW_WRITES, "--no-serialize-deployment-writes")
    body = arm_deployment("gpt-4.1-mini", version="2025-04-14")
    assert [arm_call(handle, "PUT", f"deployments/d{n}", body).status_code for n in range(3)] == [201] * 3
    assert [arm_call(handle, "DELETE", f"deployments/d{n}").status_code for n in range(3)] == [202] * 3
    assert config_from_args([]).serialize_deployment_writes is False


@pytest.mark.rule("M18")
def test_one_deployment_write_at_a_time_per_account(emulator_factory: Callable[..., EmulatorHandle]) -> None:
    handle = emulator_factory(*SLOW_WRITES)  # the launcher's default: serialized, as Azure does
    (tuned,) = fine_tuned_models(handle, training_type="developerTier")
    body = arm_deployment(tuned, sku="DeveloperTier", capacity=50)
    assert arm_call(handle, "PUT", "deployments/first", body).status_code == 201
    # Another create, an update and a delete of the pre-provisioned deployment: all refused while the
    # first is Creating.
    for method, name, sent in (
        ("PUT", "second", body),
        ("PATCH", "gpt-4.1-mini", {"sku": {"name": "GlobalStandard", "capacity": 7}}),
        ("DELETE", "gpt-4.1-mini", None),
    ):
        answer = arm_call(handle, method, f"deployments/{name}", sent)
        assert (answer.status_code, answer.json()) == (409, _conflict(handle)), method
    assert _state(handle, "gpt-4.1-mini") == "Succeeded" and _state(handle, "second") is None
    wait_for(lambda: _state(handle, "first") == "Succeeded", timeout=10)
    assert arm_call(handle, "PUT", "deployments/second", body).status_code == 201
    wait_for(lambda: _state(handle, "second") == "Succeeded", timeout=10)
    # Pruning as the app does it, DELETEs back to back: the second waits for the first.
    assert arm_call(handle, "DELETE", "deployments/first").status_code == 202
    assert arm_call(handle, "DELETE", "deployments/second").json() == _conflict(handle)
    assert arm_call(handle, "DELETE", "deployments/first").status_code == 202  # its own delete, again
    wait_for(lambda: _state(handle, "first") is None, timeout=10)
    assert arm_call(handle, "DELETE", "deployments/second").status_code == 202
    # Each refusal is counted and logged, naming the refused write and what was in progress.
    assert handle.account_rules()["request_conflicts"] == 4
    wait_for(lambda: len(_conflicts_logged(handle)) == 4, timeout=10)
    assert "DELETE second refused while first is Deleting (conflict 4)" in _conflicts_logged(handle)[-1]


def _conflicts_logged(handle: EmulatorHandle) -> list[str]:
    return [line for line in handle.log_lines() if "409 RequestConflict" in line]


@pytest.mark.rule("M18", "AD7")
def test_serialization_is_an_admin_setting(emulator_factory: Callable[..., EmulatorHandle]) -> None:
    handle = emulator_factory(*SLOW_WRITES, "--no-serialize-deployment-writes")
    body = arm_deployment("gpt-4.1-mini", version="2025-04-14")
    with handle.http_client() as http:
        answer = http.post(handle.url + "/_emulator/account", json={"serialize_deployment_writes": True})
        assert answer.json()["serialize_deployment_writes"] is True
    assert arm_call(handle, "PUT", "deployments/one", body).status_code == 201
    assert arm_call(handle, "PUT", "deployments/two", body).json() == _conflict(handle)
    assert handle.state()["account"]["serialize_deployment_writes"] is True
    handle.reset()  # back to the flag: off
    assert arm_call(handle, "PUT", "deployments/one", body).status_code == 201
    assert arm_call(handle, "PUT", "deployments/two", body).status_code == 201


@pytest.mark.rule("M7")
def test_standard_training_only_in_the_listed_regions(
    emulator_factory: Callable[..., EmulatorHandle],
) -> None:
    north = emulator_factory()  # northcentralus, where infra/main.bicep puts the account
    assert azure_status(create_job(north, BASE, "Standard")) == "pending"
    east = emulator_factory("--location", "eastus2", "--customer", "existing=gpt-4.1,gpt-4o")
    with pytest.raises(openai.BadRequestError) as refused:
        create_job(east, BASE, "Standard")
    assert (error_body(refused.value)["message"], error_body(refused.value)["param"]) == (
        f"{NOT_SUPPORTED} (Standard training of gpt-4.1-mini is offered in northcentralus, swedencentral, "
        "not in eastus2)",
        "trainingType",
    )
    # gpt-4o trains in East US 2
    assert azure_status(create_job(east, "gpt-4o-2024-08-06", "Standard")) == "pending"
    assert azure_status(create_job(east, BASE, "GlobalStandard")) == "pending"
    assert azure_status(create_job(east, BASE, "developerTier")) == "pending"


@pytest.mark.rule("M8")
def test_global_training_only_in_the_listed_regions(emulator_factory: Callable[..., EmulatorHandle]) -> None:
    handle = emulator_factory("--location", "uaenorth")
    with pytest.raises(openai.BadRequestError) as refused:
        create_job(handle, "gpt-oss-20b-11", "GlobalStandard")
    assert (
        error_body(refused.value)["message"]
        == f"{NOT_SUPPORTED} (Global training of gpt-oss-20b is not offered in uaenorth)"
    )


@pytest.mark.rule("M14")
def test_standard_deployments_of_fine_tuned_models_only_in_the_listed_regions(
    emulator_factory: Callable[..., EmulatorHandle],
) -> None:
    east = emulator_factory("--location", "eastus2")
    (tuned,) = fine_tuned_models(east, training_type="GlobalStandard")
    answer = arm_call(east, "PUT", "deployments/std", arm_deployment(tuned, sku="Standard"))
    assert (answer.status_code, answer.json()["error"]["code"]) == (400, "InvalidResourceProperties")
    assert answer.json()["error"]["message"] == (
        f"The specified SKU 'Standard' for model '{tuned} 1' is not supported in this region 'eastus2'."
    )
    assert arm_call(east, "PUT", "deployments/glb", arm_deployment(tuned)).status_code == 201
    north = emulator_factory()
    (tuned,) = fine_tuned_models(north, training_type="GlobalStandard")
    assert arm_call(north, "PUT", "deployments/std", arm_deployment(tuned, sku="Standard")).status_code == 201


@pytest.mark.rule("M13")
def test_developer_tier_deployments_only_for_fine_tuned_models_that_have_one(
    emulator_reset: EmulatorHandle,
) -> None:
    base = arm_call(
        emulator_reset,
        "PUT",
        "deployments/dev-base",
        arm_deployment("gpt-4.1-mini", sku="DeveloperTier", version="2025-04-14"),
    )
    assert base.status_code == 400
    assert base.json()["error"]["message"] == (
        "The specified SKU 'DeveloperTier' of account deployment is not supported by the model "
        "'gpt-4.1-mini' version: '2025-04-14'."
    )
    (tuned,) = fine_tuned_models(emulator_reset, training_type="developerTier")
    tuned_answer = arm_call(
        emulator_reset, "PUT", "deployments/dev-ft", arm_deployment(tuned, sku="DeveloperTier")
    )
    assert tuned_answer.status_code == 201, tuned_answer.text


@pytest.mark.rule("M19", "AR1")
def test_the_account_itself_is_a_foundry_resource_in_its_region(emulator_reset: EmulatorHandle) -> None:
    """``accounts.get``: kind AIServices (open models fine-tune on Foundry resources only) and the region
    that decides which training types are offered (the app's preflight reads both)."""
    account = emulator_reset.mgmt().accounts.get(emulator_reset.resource_group, emulator_reset.account)
    assert (account.kind, account.location, sku(account).name) == ("AIServices", "northcentralus", "S0")
    assert account.properties is not None
    assert account.properties.endpoint == emulator_reset.url + "/"
    refused = arm_call(emulator_reset, "DELETE", "").status_code
    assert refused == 405


@pytest.mark.rule("M20")
def test_every_answer_is_dated_by_the_emulated_clock(emulator_reset: EmulatorHandle) -> None:
    """RFC 9110 section 6.6.1: ``Date`` is the origin server's clock; Azure's is the emulated one here,
    so a client that reads Azure's time (the app's lifecycle checks) reads the emulated time."""
    emulator_reset.advance_clock(400 * 86400)
    now = emulator_reset.state()["now"]
    for answer in (
        arm_call(emulator_reset, "GET", "models"),
        arm_call(emulator_reset, "GET", "nothing-here"),
    ):
        (date,) = answer.headers.get_list("date")
        assert abs(parsedate_to_datetime(date).timestamp() - now) < 5, date
