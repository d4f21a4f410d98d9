"""ARM deployments through azure-mgmt-cognitiveservices (and raw HTTPS for what the SDK cannot send)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from azure.core.exceptions import HttpResponseError, ResourceNotFoundError
from azure.mgmt.cognitiveservices.models import Deployment, PatchResourceTagsAndSku, Sku

from tests.emulator.support import BASE, arm_error, by_name, deployed_model, properties, sku
from tests.emulator.support import deployment_body as _body
from tests.emulator.support import fine_tuned_models as _fine_tuned
from tests.fixtures.emulator import EmulatorHandle

pytestmark = pytest.mark.timeout(60)


def _error_code(call: Any) -> str | None:
    with pytest.raises(HttpResponseError) as info:
        call()
    return arm_error(info.value).code


@pytest.mark.rule("AR3")
def test_base_deployment_is_preprovisioned(emulator_reset: EmulatorHandle) -> None:
    mgmt = emulator_reset.mgmt()
    base = mgmt.deployments.get(emulator_reset.resource_group, emulator_reset.account, "gpt-4.1-mini")
    assert properties(base).provisioning_state == "Succeeded"
    assert (deployed_model(base).name, deployed_model(base).version) == ("gpt-4.1-mini", "2025-04-14")
    assert sku(base).name == "GlobalStandard"


@pytest.mark.rule("LC6", "AR2", "AR3", "AR7")
def test_create_get_list_delete(emulator_reset: EmulatorHandle) -> None:
    (model,) = _fine_tuned(emulator_reset)
    mgmt = emulator_reset.mgmt()
    rg, account = emulator_reset.resource_group, emulator_reset.account
    poller = mgmt.deployments.begin_create_or_update(rg, account, "ft-a", _body(model, sku="developertier"))
    assert poller.status().lower() in ("creating", "inprogress")
    created = poller.result()
    assert properties(created).provisioning_state == "Succeeded"
    assert deployed_model(created).name == model
    assert sku(created).name == "DeveloperTier"
    assert created.id is not None
    assert created.id.endswith(f"/accounts/{account}/deployments/ft-a")
    assert sorted(by_name(mgmt.deployments.list(rg, account))) == ["ft-a", "gpt-4.1-mini"]
    same = mgmt.deployments.begin_create_or_update(rg, account, "ft-a", _body(model, capacity=60)).result()
    assert sku(same).capacity == 60
    mgmt.deployments.begin_delete(rg, account, "ft-a").result()
    with pytest.raises(ResourceNotFoundError):
        mgmt.deployments.get(rg, account, "ft-a")
    mgmt.deployments.begin_delete(rg, account, "ft-a").result()  # deleting what is gone: 204


@pytest.mark.rule("V3")
def test_validation_errors(emulator_reset: EmulatorHandle) -> None:
    first, second = _fine_tuned(emulator_reset, 2)
    mgmt = emulator_reset.mgmt()
    rg, account = emulator_reset.resource_group, emulator_reset.account
    mgmt.deployments.begin_create_or_update(rg, account, "ft-b", _body(first)).result()

    def put(name: str, body: Deployment) -> Any:
        return lambda: mgmt.deployments.begin_create_or_update(rg, account, name, body).result()

    assert _error_code(put("ft-b", _body(second))) == "ModelUpgradeNotSupported"
    assert _error_code(put("xx", _body("gpt-99"))) == "DeploymentModelNotSupported"
    assert _error_code(put("xx", _body(BASE + ".ft-" + "0" * 32))) == "DeploymentModelNotSupported"
    assert _error_code(put("xx", _body(first, sku="Platinum"))) == "InvalidSkuName"
    assert _error_code(put("xx", _body(first, capacity=0))) == "InvalidCapacity"
    assert mgmt.deployments.begin_create_or_update(
        rg, account, "base-2", _body("gpt-4.1-mini", "Standard", 1, "2025-04-14")
    ).result()


@pytest.mark.rule("Q1")
def test_fine_tuned_deployment_quota(emulator_factory: Callable[..., EmulatorHandle]) -> None:
    handle = emulator_factory("--ft-deployment-quota", "2")
    (model,) = _fine_tuned(handle)
    mgmt = handle.mgmt()
    rg, account = handle.resource_group, handle.account
    for name in ("q1", "q2"):
        mgmt.deployments.begin_create_or_update(rg, account, name, _body(model)).result()
    assert _error_code(
        lambda: mgmt.deployments.begin_create_or_update(rg, account, "q3", _body(model)).result()
    ) == ("InsufficientQuota")
    mgmt.deployments.begin_create_or_update(rg, account, "base-ok", _body(BASE, "GlobalStandard", 1)).result()
    mgmt.deployments.begin_delete(rg, account, "q1").result()
    assert mgmt.deployments.begin_create_or_update(rg, account, "q3", _body(model)).result().name == "q3"


@pytest.mark.rule("AD5")
def test_peaks_count_the_most_fine_tuned_deployments_alive_at_once(emulator_reset: EmulatorHandle) -> None:
    """Admin inspection, not Azure: three created, two deleted, one more created. Alive at the end is 2,
    the peak 3 (what a look at the end alone would miss); restarting the mark starts it from the 2
    alive; base-model deployments never count."""
    (model,) = _fine_tuned(emulator_reset)
    mgmt = emulator_reset.mgmt()
    rg, account = emulator_reset.resource_group, emulator_reset.account
    assert emulator_reset.peaks() == {"fine_tuned_deployments": 0}
    for name in ("p1", "p2", "p3"):
        mgmt.deployments.begin_create_or_update(rg, account, name, _body(model)).result()
    for name in ("p1", "p2"):
        mgmt.deployments.begin_delete(rg, account, name).result()
    mgmt.deployments.begin_create_or_update(rg, account, "p4", _body(model)).result()
    mgmt.deployments.begin_create_or_update(rg, account, "base-2", _body(BASE, "GlobalStandard", 1)).result()
    assert emulator_reset.peaks() == {"fine_tuned_deployments": 3}
    assert emulator_reset.state()["peaks"] == {"fine_tuned_deployments": 3}
    assert emulator_reset.restart_peaks() == {"fine_tuned_deployments": 2}
    mgmt.deployments.begin_delete(rg, account, "p3").result()
    assert emulator_reset.restart_peaks() == {"fine_tuned_deployments": 1}
    assert emulator_reset.reset()["peaks"] == {"fine_tuned_deployments": 0}


@pytest.mark.rule("AD3", "AD12", "D1", "V3", "LC6")
def test_injected_failure_and_slow_provisioning(emulator_reset: EmulatorHandle) -> None:
    (model,) = _fine_tuned(emulator_reset)
    mgmt = emulator_reset.mgmt()
    rg, account = emulator_reset.resource_group, emulator_reset.account
    emulator_reset.set_faults(fail_next_deployments=1)
    assert _error_code(
        lambda: mgmt.deployments.begin_create_or_update(rg, account, "bad", _body(model)).result()
    ) == ("DeploymentFailed")
    assert properties(mgmt.deployments.get(rg, account, "bad")).provisioning_state == "Failed"
    emulator_reset.set_faults(fail_deployments=["named-bad"], provisioning_slowdown=6)
    poller = mgmt.deployments.begin_create_or_update(rg, account, "slow", _body(model))
    assert properties(mgmt.deployments.get(rg, account, "slow")).provisioning_state == "Creating"
    # The account takes one deployment write at a time (on through emulator.launch, as on Azure): a second
    # write to the deployment being created is refused at the account ...
    assert _error_code(
        lambda: mgmt.deployments.begin_create_or_update(rg, account, "slow", _body(model)).result()
    ) == ("RequestConflict")
    # ... and, with that rule off, by the deployment itself.
    with emulator_reset.http_client() as http:
        answer = http.post(
            emulator_reset.url + "/_emulator/account", json={"serialize_deployment_writes": False}
        )
        assert answer.json()["serialize_deployment_writes"] is False
    assert _error_code(
        lambda: mgmt.deployments.begin_create_or_update(rg, account, "slow", _body(model)).result()
    ) == ("AnotherOperationInProgress")
    assert properties(poller.result()).provisioning_state == "Succeeded"
    emulator_reset.set_faults(provisioning_slowdown=1)
    assert _error_code(
        lambda: mgmt.deployments.begin_create_or_update(rg, account, "named-bad", _body(model)).result()
    )


@pytest.mark.rule("A2", "V3", "LC6")
def test_account_auth_and_version_errors(emulator_reset: EmulatorHandle) -> None:
    mgmt = emulator_reset.mgmt()
    with pytest.raises(ResourceNotFoundError) as info:
        mgmt.deployments.get(emulator_reset.resource_group, "other-account", "gpt-4.1-mini")
    assert arm_error(info.value).code == "ResourceNotFound"
    with pytest.raises(ResourceNotFoundError) as info:
        list(mgmt.deployments.list("other-rg", emulator_reset.account))
    assert arm_error(info.value).code == "ResourceGroupNotFound"
    path = (
        f"{emulator_reset.url}/subscriptions/{emulator_reset.subscription}/resourceGroups/"
        f"{emulator_reset.resource_group}/providers/Microsoft.CognitiveServices/accounts/{emulator_reset.account}"
        "/deployments"
    )
    with emulator_reset.http_client() as http:
        anonymous = http.get(path + "?api-version=2025-06-01")
        assert anonymous.status_code == 401 and anonymous.json()["error"]["code"] == "AuthenticationFailed"
        no_version = http.get(path, headers={"Authorization": "Bearer t"})
        assert no_version.json()["error"]["code"] == "MissingApiVersionParameter"
        ok = http.get(
            path.replace("resourceGroups", "resourcegroups") + "?api-version=2025-06-01",
            headers={"Authorization": "Bearer t"},
        )
        assert ok.status_code == 200 and [d["name"] for d in ok.json()["value"]] == ["gpt-4.1-mini"]
        bad_body = http.put(
            path + "/x?api-version=2025-06-01", headers={"Authorization": "Bearer t"}, content=b"{"
        )
        assert bad_body.status_code == 400 and set(bad_body.json()["error"]) >= {"code", "message", "details"}
        put = http.put(
            path + "/raw?api-version=2025-06-01",
            headers={"Authorization": "Bearer t"},
            json={
                "sku": {"name": "GlobalStandard", "capacity": 1},
                "properties": {"model": {"format": "OpenAI", "name": BASE, "version": "1"}},
            },
        )
        assert put.status_code == 201 and "Azure-AsyncOperation" in put.headers
        assert 0 < float(put.headers["Retry-After"]) <= 5


@pytest.mark.rule("AR4", "Q22", "LC6")
def test_patch_changes_capacity_and_tags(emulator_reset: EmulatorHandle) -> None:
    (model,) = _fine_tuned(emulator_reset)
    mgmt = emulator_reset.mgmt()
    rg, account = emulator_reset.resource_group, emulator_reset.account
    mgmt.deployments.begin_create_or_update(
        rg, account, "pp", _body(model, sku="Standard", capacity=5)
    ).result()
    emulator_reset.set_faults(provisioning_slowdown=100)  # the update takes 2 s
    poller = mgmt.deployments.begin_update(
        rg, account, "pp", PatchResourceTagsAndSku(sku=Sku(name="Standard", capacity=9), tags={"run": "r1"})
    )
    assert properties(mgmt.deployments.get(rg, account, "pp")).provisioning_state == "Accepted"
    updated = poller.result()
    assert (sku(updated).capacity, updated.tags, properties(updated).provisioning_state) == (
        9,
        {"run": "r1"},
        "Succeeded",
    )
    assert deployed_model(updated).name == model
    assert (
        _error_code(
            lambda: mgmt.deployments.begin_update(
                rg, account, "pp", PatchResourceTagsAndSku(sku=Sku(name="DeveloperTier", capacity=1))
            ).result()
        )
        == "InvalidResourceProperties"
    )
    with pytest.raises(ResourceNotFoundError):
        mgmt.deployments.begin_update(rg, account, "missing", PatchResourceTagsAndSku(tags={})).result()
