"""Offline checks of infra/: every Bicep file parses (pycep, a real Bicep parser), checkov finds
nothing, the app settings Bicep sets match what the app reads, roles are scoped to one resource, and
no key or secret-bearing connection string is set or output anywhere."""

from __future__ import annotations

import json
import os
import subprocess
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from pycep import BicepParser

from shared.domain.settings import AppSettings
from tests.infra.bicep_eval import module_file

ROOT = Path(__file__).resolve().parents[2]
INFRA = ROOT / "infra"
BICEP_FILES = sorted(INFRA.rglob("*.bicep"))

# App settings the app may run without, and why Bicep does not set them.
OPTIONAL_SETTINGS = {
    "AZURE_OPENAI_API_VERSION": "has a default matching the API the app is written against",
    "AZURE_OPENAI_API_KEY": "opt-in key auth; a deployment uses managed identity and never holds a key",
    "AZURE_AUTH_MODE": "defaults to identity; 'emulator' is for local runs only",
    "ARM_ENDPOINT": "defaults to the public-cloud ARM endpoint",
    "TLS_CA_BUNDLE": "only for trusting the local emulator's CA",
    "ARTIFACTS_STORAGE_CONNECTION_STRING": "Azurite only; Azure uses ARTIFACTS_BLOB_ENDPOINT + identity",
    "RUN_DEFAULTS": "optional overrides of the run-setting defaults",
    "AGENT_MODULES": "only for agents beyond the bundled ones (docs/agents.md)",
    "FEEDBACK_LABELS": "only when feedback arrives as labels rather than rewards (docs/production.md)",
    "FEEDBACK_MAX_ITEMS": "a default limit on feedback items per request",
    "TELEMETRY_MAX_BODY_BYTES": "a default limit on an OTLP request's body",
    "TELEMETRY_MAX_DECODED_BYTES": "a default limit on an OTLP body once decompressed",
    "TELEMETRY_MAX_ITEMS": "a default limit on spans or log records per OTLP request",
    "PRICING": "optional overrides of the documented default price table (docs/cost.md)",
    "MAX_FINE_TUNED_DEPLOYMENTS": "defaults to Azure's documented per-resource limit (docs/cost.md)",
    "MAX_TRAINING_FILES": "defaults to Azure's documented per-resource limit (docs/cost.md)",
    "MAX_TRAINING_FILE_BYTES": "defaults to Azure's documented per-resource limit (docs/cost.md)",
    "EXPECTED_TOKENS_PER_ROLLOUT": "a default size for the estimate made before any dataset (docs/cost.md)",
    "LIFECYCLE_WARNING_DAYS": "a default warning period before retirements (docs/models.md)",
    "EXISTING_FINE_TUNING_FAMILIES": "read only where ARM lists no fine-tuning date (docs/models.md)",
    "OPEN_MODEL_DEPLOYMENT_FORMAT": "a documented default; the other is tried on refusal (docs/models.md)",
}
# Settings Bicep sets for the platform and SDKs rather than for the app's settings object.
PLATFORM_SETTINGS = {
    "AzureWebJobsStorage__credential": "identity-based host storage (Functions host)",
    "AzureWebJobsStorage__clientId": "which identity the host uses for its storage",
    "AzureWebJobsStorage__blobServiceUri": "host storage endpoint",
    "AzureWebJobsStorage__queueServiceUri": "host storage endpoint (Durable work items)",
    "AzureWebJobsStorage__tableServiceUri": "host storage endpoint (Durable history)",
    "APPLICATIONINSIGHTS_CONNECTION_STRING": "telemetry endpoint; local auth is off so it grants nothing",
    "APPLICATIONINSIGHTS_AUTHENTICATION_STRING": "Entra ID auth for telemetry with the app's identity",
    "AZURE_CLIENT_ID": "DefaultAzureCredential picks the user-assigned identity by it",
    "PYTHON_THREADPOOL_THREAD_COUNT": "Python worker throughput for sync activities",
    "DURABLE_TASK_SCHEDULER_CONNECTION_STRING": "Durable extension via host.json (scheduler backend)",
    "OVERRIDE_USE_MI_FIC_ASSERTION_CLIENTID": "App Service Authentication's stand-in for a client secret",
}
SECRET_MARKERS = (
    "listkeys(",
    "primarykey",
    "secondarykey",
    "accountkey=",
    "sharedaccesssignature",
    "password",
)


@cache
def parsed(path: Path) -> dict[str, Any]:
    """The template as a JSON tree (read by section names chosen at run time, as in bicep_eval.py)."""
    return dict(BicepParser().parse(file_path=path))


# Every switch that adds app settings, so the union below is everything Bicep can set.
SETTING_SWITCHES: tuple[dict[str, Any], ...] = (
    {"retrainSchedule": ""},
    {"retrainSchedule": "0 0 3 * * 0"},
    {"durableTaskSchedulerEndpoint": "https://dts-x.westus2.durabletask.io"},
    {"signInClientId": "00000000-0000-0000-0000-000000000001", "signInIdentityClientId": "sign-in-id"},
)


def app_settings(**params: Any) -> dict[str, Any]:
    """The Function App's appSettings for one parameter combination, evaluated."""
    site = module_file(INFRA / "modules" / "function-app.bicep", **params).body("resources", "app")
    return {entry["name"]: entry["value"] for entry in site["properties"]["siteConfig"]["appSettings"]}


def app_setting_names() -> set[str]:
    """Names of every app setting any parameter combination gives the Function App."""
    return {name for switch in SETTING_SWITCHES for name in app_settings(**switch)}


def app_fields() -> set[str]:
    return {name.upper() for name in AppSettings.model_fields}


@pytest.mark.parametrize("path", BICEP_FILES, ids=lambda p: str(p.relative_to(INFRA)))
def test_bicep_parses(path: Path) -> None:
    tree = parsed(path)
    assert tree.get("resources") or tree.get("modules"), f"{path} declares nothing"


def test_checkov_finds_nothing_and_every_skip_has_a_reason() -> None:
    checkov = os.environ.get("CHECKOV_BIN") or str(ROOT / ".venv-checkov" / "bin" / "checkov")
    assert Path(checkov).exists(), (
        f"checkov not found at {checkov}: run `make setup` (it installs .venv-checkov)"
    )
    result = subprocess.run(
        [
            checkov,
            "-d",
            str(INFRA),
            "--framework",
            "bicep",
            "--compact",
            "--skip-download",
            "-o",
            "json",
        ],
        capture_output=True,
        text=True,
        timeout=240,
    )
    report = json.loads(result.stdout)
    reports = report if isinstance(report, list) else [report]
    summary = reports[0]["summary"]
    failed = [f"{c['check_id']} {c['file_path']}" for r in reports for c in r["results"]["failed_checks"]]
    assert summary["failed"] == 0 and not failed, failed
    assert summary["passed"] > 10
    for check in (c for r in reports for c in r["results"]["skipped_checks"]):
        reason = check["check_result"].get("suppress_comment") or ""
        assert len(reason) > 20, f"{check['check_id']} is skipped without a reason"


def test_bicep_sets_what_the_app_reads_and_nothing_unused() -> None:
    bicep = app_setting_names()
    missing = app_fields() - bicep - set(OPTIONAL_SETTINGS)
    assert not missing, f"settings the app reads but Bicep does not set: {sorted(missing)}"
    unused = bicep - app_fields() - set(PLATFORM_SETTINGS)
    assert not unused, f"settings Bicep sets that nothing reads: {sorted(unused)}"
    assert "RETRAIN_SCHEDULE" in bicep, "the schedule must be settable from a parameter"
    assert not {"AZURE_OPENAI_API_KEY", "ARTIFACTS_STORAGE_CONNECTION_STRING"} & bicep


def test_local_settings_example_lists_every_setting() -> None:
    values = json.loads((ROOT / "local.settings.json.example").read_text())["Values"]
    assert not app_fields() - set(values), sorted(app_fields() - set(values))
    assert values["AzureWebJobsStorage"] == "UseDevelopmentStorage=true"
    assert values["FUNCTIONS_WORKER_RUNTIME"] == "python"


def role_assignments() -> list[tuple[Path, str, dict[str, Any], dict[str, Any]]]:
    found = []
    for path in BICEP_FILES:
        resources = parsed(path).get("resources", {})
        for name, resource in resources.items():
            if resource["type"] == "Microsoft.Authorization/roleAssignments":
                found.append((path, name, resource, resources))
    return found


def test_every_role_assignment_is_scoped_to_one_resource() -> None:
    """Each assignment names a resource of its own file as scope (a child resource such as a task hub
    is narrower still), never a resource group or subscription."""
    assignments = role_assignments()
    assert len(assignments) >= 7
    for path, name, resource, resources in assignments:
        scope = resource["config"].get("scope")
        assert isinstance(scope, str), f"{path.name}:{name} has no resource scope"
        assert scope in resources, f"{path.name}:{name} is scoped to {scope!r}, not a resource of the file"
        target = resources[scope]["type"]
        assert not target.startswith("Microsoft.Resources"), f"{name} scope {target}"


def test_roles_cover_storage_openai_and_deployments() -> None:
    text = "\n".join(path.read_text() for path in BICEP_FILES)
    for role in (
        "b7e6dc6d-f1e8-4753-8033-0f276bb0955b",  # Storage Blob Data Owner
        "974c5e8b-45b9-4653-ba55-5f855dd0fb88",  # Storage Queue Data Contributor
        "0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3",  # Storage Table Data Contributor
        "3913510d-42f4-4e42-8a64-420c390055eb",  # Monitoring Metrics Publisher
        "a001fd3d-188f-4b5d-821b-7da978bf7442",  # Cognitive Services OpenAI Contributor
        "0ad04412-c4d5-4796-b79c-f76d14c8d402",  # Durable Task Data Contributor
        "Microsoft.CognitiveServices/accounts/deployments/write",
    ):
        assert role in text


def test_no_keys_or_secrets_in_outputs_or_settings() -> None:
    for path in BICEP_FILES:
        text = path.read_text().lower()
        for marker in SECRET_MARKERS:
            assert marker not in text, f"{path.name} mentions {marker}"
        for name, output in parsed(path).get("outputs", {}).items():
            rendered = json.dumps(output, default=str).lower()
            assert not any(word in name.lower() for word in ("key", "secret", "connectionstring", "password"))
            assert "connectionstring" not in rendered and "secure" not in rendered, (
                f"{path.name} output {name}"
            )
    storage = parsed(INFRA / "modules" / "storage.bicep")["resources"]["storage"]["config"]["properties"]
    assert storage["allowSharedKeyAccess"] is False and storage["minimumTlsVersion"] == "TLS1_2"
    assert storage["allowBlobPublicAccess"] is False
