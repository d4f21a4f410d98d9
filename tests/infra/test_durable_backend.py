"""The Durable backend switch: ``durableBackend`` in Bicep deploys the Durable Task Scheduler and the
identity-based connection, and the azd package hooks give host.json the matching provider. The
default (Azure Storage) deploys none of it and leaves host.json as committed."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.infra.bicep_eval import BicepFile, Opaque, module_file

ROOT = Path(__file__).resolve().parents[2]
INFRA = ROOT / "infra"
HOOK = INFRA / "hooks" / "durable_backend.py"
CONNECTION = "DURABLE_TASK_SCHEDULER_CONNECTION_STRING"
DATA_CONTRIBUTOR = "0ad04412-c4d5-4796-b79c-f76d14c8d402"


def main_bicep(**params: object) -> BicepFile:
    return BicepFile(INFRA / "main.bicep", {"environmentName": "dev", **params})


def function_app(endpoint: str) -> BicepFile:
    return module_file(
        INFRA / "modules" / "function-app.bicep",
        identityClientId="client-id",
        durableTaskSchedulerEndpoint=endpoint,
    )


def app_settings(endpoint: str) -> dict[str, object]:
    site = function_app(endpoint).body("resources", "app")["properties"]["siteConfig"]
    return {entry["name"]: entry["value"] for entry in site["appSettings"]}


def scheduler_module(**params: object) -> BicepFile:
    defaults: dict[str, object] = {
        "name": "dts-x",
        "location": "eastus2",
        "tags": {},
        "taskHubName": "hub",
        "principalId": "pid",
    }
    defaults |= {"skuName": "Consumption", "capacity": 1, "ipAllowlist": ["0.0.0.0/0"]}
    return BicepFile(INFRA / "modules" / "durable-task-scheduler.bicep", defaults | params)


def host_json() -> dict[str, Any]:
    settings: dict[str, Any] = json.loads((ROOT / "host.json").read_text())
    return settings


def test_default_backend_is_azure_storage_and_deploys_no_scheduler() -> None:
    bicep = main_bicep()
    assert bicep.lookup("durableBackend") == "AzureStorage"
    assert not bicep.deployed("modules", "durableTaskScheduler")
    assert bicep.body("modules", "functionApp")["params"]["durableTaskSchedulerEndpoint"] == ""
    assert CONNECTION not in app_settings("")
    provider = host_json()["extensions"]["durableTask"]["storageProvider"]
    assert "type" not in provider, "the committed host.json must stay on the Azure Storage provider"


def test_scheduler_backend_deploys_scheduler_and_passes_its_endpoint() -> None:
    bicep = main_bicep(durableBackend="DurableTaskScheduler")
    assert bicep.deployed("modules", "durableTaskScheduler")
    endpoint = bicep.body("modules", "functionApp")["params"]["durableTaskSchedulerEndpoint"]
    assert endpoint == Opaque("durableTaskScheduler.outputs.endpoint")
    params = bicep.body("modules", "durableTaskScheduler")["params"]
    assert params["taskHubName"] == host_json()["extensions"]["durableTask"]["hubName"]
    assert params["principalId"] == Opaque("identity.outputs.principalId")


def test_backend_parameter_accepts_only_the_two_backends() -> None:
    declared = main_bicep().tree["parameters"]["durableBackend"]
    allowed = next(d["argument"] for d in declared["decorators"] if d["type"] == "allowed")
    assert sorted(allowed) == ["AzureStorage", "DurableTaskScheduler"]
    parameters = json.loads((INFRA / "main.parameters.json").read_text())["parameters"]
    assert parameters["durableBackend"]["value"] == "${DURABLE_BACKEND=AzureStorage}"


def test_scheduler_connection_is_identity_based_and_names_the_app_identity() -> None:
    settings = app_settings("https://dts-x.westus2.durabletask.io")
    assert settings[CONNECTION] == (
        "Endpoint=https://dts-x.westus2.durabletask.io;Authentication=ManagedIdentity;ClientID=client-id"
    )


@pytest.mark.parametrize(
    ("params", "sku"),
    [
        ({"skuName": "Consumption"}, {"name": "Consumption"}),
        ({"skuName": "Dedicated", "capacity": 3}, {"name": "Dedicated", "capacity": 3}),
    ],
)
def test_scheduler_sku(params: dict[str, object], sku: dict[str, object]) -> None:
    scheduler = scheduler_module(**params).body("resources", "scheduler")
    assert scheduler["properties"]["sku"] == sku
    assert scheduler["properties"]["ipAllowlist"], "an empty allow-list denies all traffic"


def test_scheduler_grants_data_contributor_on_the_task_hub_only() -> None:
    module = scheduler_module(taskHubName="durablefinetune")
    assert module.body("resources", "taskHub") == {"parent": Opaque("scheduler"), "name": "durablefinetune"}
    role = module.tree["resources"]["dataContributor"]["config"]
    assert role["scope"] == "taskHub"
    properties = module.body("resources", "dataContributor")["properties"]
    assert DATA_CONTRIBUTOR in str(properties["roleDefinitionId"])
    assert properties["principalId"] == "pid"
    assert properties["principalType"] == "ServicePrincipal"


def test_host_json_task_hub_name_is_valid_for_both_backends() -> None:
    hub = str(host_json()["extensions"]["durableTask"]["hubName"])
    assert re.fullmatch(r"[A-Za-z][A-Za-z0-9]{2,44}", hub), "Azure Storage task hub names"
    assert re.fullmatch(r"[A-Za-z0-9-]{3,64}", hub), "Microsoft.DurableTask/schedulers/taskHubs names"


def test_committed_host_json_logging() -> None:
    levels = host_json()["logging"]["logLevel"]
    assert levels["Function"] == "Information"
    for sdk in ("Azure.Core", "Azure.Identity", "Azure.Storage"):
        assert levels[sdk] == "Warning", sdk


# --- the package hook -------------------------------------------------------------------------------


def run_hook(cwd: Path, *args: str, backend: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {"PATH": "/usr/bin:/bin"} | ({"DURABLE_BACKEND": backend} if backend else {})
    return subprocess.run(
        [sys.executable, str(HOOK), *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=30
    )


@pytest.fixture
def app_dir(tmp_path: Path) -> Path:
    shutil.copy(ROOT / "host.json", tmp_path / "host.json")
    return tmp_path


def test_hook_switches_host_json_to_the_scheduler_and_restores_it(app_dir: Path) -> None:
    committed = (app_dir / "host.json").read_bytes()
    applied = run_hook(app_dir, "apply", backend="DurableTaskScheduler")
    assert applied.returncode == 0, applied.stderr
    switched = json.loads((app_dir / "host.json").read_text())
    durable = switched["extensions"]["durableTask"]
    assert durable["storageProvider"] == {"type": "azureManaged", "connectionStringName": CONNECTION}
    original = json.loads(committed)
    original["extensions"]["durableTask"]["storageProvider"] = durable["storageProvider"]
    assert switched == original, "only the storage provider changes"
    assert CONNECTION in app_settings("https://x.durabletask.io"), "the name host.json points at is set"

    again = run_hook(app_dir, "apply", backend="DurableTaskScheduler")
    assert again.returncode == 0, again.stderr
    restored = run_hook(app_dir, "restore")
    assert restored.returncode == 0, restored.stderr
    assert (app_dir / "host.json").read_bytes() == committed
    assert not (app_dir / "out" / "durable-backend" / "host.json").exists()


def test_hook_leaves_host_json_alone_for_azure_storage(app_dir: Path) -> None:
    committed = (app_dir / "host.json").read_bytes()
    for backend in (None, "AzureStorage"):
        result = run_hook(app_dir, "apply", backend=backend)
        assert result.returncode == 0, result.stderr
        assert (app_dir / "host.json").read_bytes() == committed
    assert run_hook(app_dir, "restore").returncode == 0
    assert (app_dir / "host.json").read_bytes() == committed


def test_hook_rejects_an_unknown_backend_by_name(app_dir: Path) -> None:
    result = run_hook(app_dir, "apply", backend="Netherite")
    assert result.returncode == 2
    assert "DURABLE_BACKEND='Netherite' is not one of AzureStorage, DurableTaskScheduler" in result.stderr
    assert "Traceback" not in result.stderr


def test_hook_refuses_azure_storage_over_a_switched_host_json(app_dir: Path) -> None:
    assert run_hook(app_dir, "apply", backend="DurableTaskScheduler").returncode == 0
    result = run_hook(app_dir, "apply", backend="AzureStorage")
    assert result.returncode == 2
    assert "restore" in result.stderr


def test_azure_yaml_runs_the_hook_around_packaging(app_dir: Path) -> None:
    """Run the posix hook commands exactly as azure.yaml spells them, from the service directory."""
    yaml = (ROOT / "azure.yaml").read_text()
    hooks = dict(
        re.findall(r"^ {6}(pre|post)package:\n {8}posix:\n {10}shell: sh\n {10}run: (.+)$", yaml, re.M)
    )
    assert set(hooks) == {"pre", "post"}, "azure.yaml needs prepackage and postpackage posix hooks"
    (app_dir / "infra" / "hooks").mkdir(parents=True)
    shutil.copy(HOOK, app_dir / "infra" / "hooks" / HOOK.name)
    committed = (app_dir / "host.json").read_bytes()
    env = {"PATH": f"{Path(sys.executable).parent}:/usr/bin:/bin", "DURABLE_BACKEND": "DurableTaskScheduler"}
    subprocess.run(["sh", "-c", hooks["pre"]], cwd=app_dir, env=env, check=True, timeout=30)
    assert (
        json.loads((app_dir / "host.json").read_text())["extensions"]["durableTask"]["storageProvider"][
            "type"
        ]
        == "azureManaged"
    )
    subprocess.run(["sh", "-c", hooks["post"]], cwd=app_dir, env=env, check=True, timeout=30)
    assert (app_dir / "host.json").read_bytes() == committed
