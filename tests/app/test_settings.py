"""App and run settings: a misconfigured app fails at start-up naming each bad setting."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from pydantic import ValidationError

from scripts.azurite import REPO_ROOT
from shared.domain.settings import AppSettings, ConfigError, RunSettings, get_settings

REQUIRED = {
    "AZURE_OPENAI_ENDPOINT": "https://example.openai.azure.com",
    "AZURE_SUBSCRIPTION_ID": "sub",
    "AZURE_RESOURCE_GROUP": "rg",
    "AZURE_OPENAI_ACCOUNT": "acct",
    "ARTIFACTS_BLOB_ENDPOINT": "https://example.blob.core.windows.net",
}


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[pytest.MonkeyPatch]:
    for name in list(os.environ):
        if name.upper() in {field.upper() for field in AppSettings.model_fields}:
            monkeypatch.delenv(name)
    get_settings.cache_clear()
    yield monkeypatch
    get_settings.cache_clear()


def test_missing_settings_are_each_named(clean_env: pytest.MonkeyPatch) -> None:
    with pytest.raises(ConfigError) as caught:
        get_settings()
    message = str(caught.value)
    for name in (
        "AZURE_OPENAI_ENDPOINT",
        "AZURE_SUBSCRIPTION_ID",
        "AZURE_RESOURCE_GROUP",
        "AZURE_OPENAI_ACCOUNT",
    ):
        assert name in message


def test_valid_settings_and_defaults(clean_env: pytest.MonkeyPatch) -> None:
    for name, value in REQUIRED.items():
        clean_env.setenv(name, value)
    settings = get_settings()
    assert settings.azure_auth_mode == "identity"
    assert settings.artifacts_container == "finetune"
    run = settings.run_settings()
    assert (run.iterations, run.finetune_every_n_rollouts, run.data_filter_ratio, run.max_deployments) == (
        3,
        24,
        0.6,
        2,
    )
    assert (run.n_epochs, run.batch_size, run.learning_rate_multiplier, run.seed) == (1, 2, 1.0, 42)
    assert run.base_deployment == "gpt-5.1" and run.base_model == "gpt-4.1-mini-2025-04-14"


@pytest.mark.parametrize(
    ("override", "expected"),
    [
        ({"AZURE_OPENAI_ENDPOINT": "http://example.openai.azure.com"}, "https://"),
        ({"ARTIFACTS_STORAGE_CONNECTION_STRING": "UseDevelopmentStorage=true"}, "exactly one of"),
        ({"AZURE_AUTH_MODE": "emulator"}, "loopback"),
        ({"AZURE_AUTH_MODE": "keys"}, "AZURE_AUTH_MODE"),
        ({"RUN_DEFAULTS": "{not json"}, "RUN_DEFAULTS"),
        ({"RUN_DEFAULTS": json.dumps({"iterations": 0})}, "RUN_DEFAULTS"),
    ],
)
def test_bad_settings_name_the_setting(
    clean_env: pytest.MonkeyPatch, override: dict[str, str], expected: str
) -> None:
    for name, value in {**REQUIRED, **override}.items():
        clean_env.setenv(name, value)
    with pytest.raises(ConfigError, match="invalid app settings") as caught:
        get_settings()
    assert expected in str(caught.value)


def test_run_settings_reject_unknown_and_bad_fields() -> None:
    with pytest.raises(ValidationError) as caught:
        RunSettings.model_validate({"iteratons": 2, "data_filter_ratio": 1.5, "job_poll_max_seconds": 1})
    fields = {".".join(map(str, error["loc"])) for error in caught.value.errors()}
    assert {"iteratons", "data_filter_ratio"} <= fields


def test_run_defaults_then_overrides(clean_env: pytest.MonkeyPatch) -> None:
    for name, value in {**REQUIRED, "RUN_DEFAULTS": json.dumps({"iterations": 5, "seed": 1})}.items():
        clean_env.setenv(name, value)
    run = get_settings().run_settings({"seed": 9})
    assert (run.iterations, run.seed) == (5, 9)


def test_function_app_refuses_to_start_without_settings() -> None:
    env = {
        key: value
        for key, value in os.environ.items()
        if key.upper() not in {f.upper() for f in AppSettings.model_fields}
    }
    result = subprocess.run(
        [sys.executable, "-c", "import function_app"],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0
    assert "ConfigError: invalid app settings" in result.stderr
    assert "AZURE_OPENAI_ENDPOINT" in result.stderr


@pytest.mark.parametrize(("schedule", "registered"), [(None, False), ("0 0 3 * * 0", True)])
def test_timer_exists_only_when_a_schedule_is_set(schedule: str | None, registered: bool) -> None:
    env = {
        k: v for k, v in os.environ.items() if k.upper() not in {f.upper() for f in AppSettings.model_fields}
    }
    env.update(REQUIRED)
    if schedule:
        env["RETRAIN_SCHEDULE"] = schedule
    script = (
        "import function_app; print(sorted(f.get_function_name() for f in function_app.app.get_functions()))"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    names = result.stdout
    assert "start_run" in names and "finetune_run" in names and "run_rollout" in names
    assert ("scheduled_retrain" in names) is registered


EMULATOR = {
    **{name: value for name, value in REQUIRED.items() if name != "ARTIFACTS_BLOB_ENDPOINT"},
    "AZURE_AUTH_MODE": "emulator",
    "AZURE_OPENAI_ENDPOINT": "https://127.0.0.1:8443",
    "ARM_ENDPOINT": "https://127.0.0.1:8443",
    "ARTIFACTS_STORAGE_CONNECTION_STRING": "UseDevelopmentStorage=true",
}


def refusal(clean_env: pytest.MonkeyPatch, env: dict[str, str]) -> str:
    """The start-up error for ``env``: it must exist, and is returned for the caller to check."""
    for name, value in env.items():
        clean_env.setenv(name, value)
    with pytest.raises(ConfigError, match="invalid app settings") as caught:
        get_settings()
    return str(caught.value)


def refused_line(message: str, setting: str) -> str:
    """The line of the start-up error that names ``setting``."""
    lines = [line for line in message.splitlines() if setting in line]
    assert lines, f"{setting} is not named in:\n{message}"
    return "\n".join(lines)


@pytest.mark.parametrize(
    "endpoint",
    ["https://127.0.0.1:8443", "https://localhost:8443/", "https://[::1]:8443", "https://127.0.0.2"],
)
def test_emulator_mode_accepts_loopback_endpoints(clean_env: pytest.MonkeyPatch, endpoint: str) -> None:
    for name, value in {**EMULATOR, "AZURE_OPENAI_ENDPOINT": endpoint, "ARM_ENDPOINT": endpoint}.items():
        clean_env.setenv(name, value)
    assert get_settings().azure_openai_endpoint == endpoint.rstrip("/")


@pytest.mark.parametrize(
    ("setting", "value", "fix"),
    [
        # Python's urlsplit reads host 127.0.0.1; HTTP clients send the request (and token) to evil.example.
        (
            "AZURE_OPENAI_ENDPOINT",
            "https://evil.example\\@127.0.0.1",
            "no spaces, user info (@), backslashes",
        ),
        ("ARM_ENDPOINT", "https://user@127.0.0.1", "user info (@)"),
        ("ARM_ENDPOINT", "https://127.0.0.1%2f@evil.example", "percent-encoding"),
        ("ARM_ENDPOINT", "https://127.0.0.1\t.evil.example", "no spaces"),
        ("ARM_ENDPOINT", "https://127.0.0.1:99999", "invalid port"),
        ("ARM_ENDPOINT", "https://127.0.0.1:0", "invalid host or port"),
        ("ARM_ENDPOINT", "https://[::1%25eth0]:8443", "percent-encoding"),
        ("ARM_ENDPOINT", "https://127.0.0.1.evil.example", "not a loopback address"),
        ("ARM_ENDPOINT", "https://localhost.evil.example", "not a loopback address"),
        ("AZURE_OPENAI_ENDPOINT", "https://[::ffff:10.0.0.1]", "not a loopback address"),
    ],
)
def test_emulator_mode_refuses_endpoints_that_may_leave_the_machine(
    clean_env: pytest.MonkeyPatch, setting: str, value: str, fix: str
) -> None:
    message = refusal(clean_env, {**EMULATOR, setting: value})
    assert fix in refused_line(message, setting)


def test_emulator_mode_checks_the_blob_endpoint_too(clean_env: pytest.MonkeyPatch) -> None:
    env = {**EMULATOR, "ARTIFACTS_BLOB_ENDPOINT": "https://acct.blob.core.windows.net"}
    del env["ARTIFACTS_STORAGE_CONNECTION_STRING"]
    line = refused_line(refusal(clean_env, env), "ARTIFACTS_BLOB_ENDPOINT")
    assert "not a loopback address" in line


@pytest.mark.parametrize(
    ("setting", "value", "fix"),
    [
        (
            "AZURE_OPENAI_ENDPOINT",
            "https://x.openai.azure.com/openai/deployments/gpt/chat/completions?api-version=2025-04-01-preview",
            "use https://x.openai.azure.com",
        ),
        ("AZURE_OPENAI_ENDPOINT", "https://x.openai.azure.com/openai/v1", "without a path"),
        ("AZURE_OPENAI_ENDPOINT", "http://example.openai.azure.com", "https://"),
        ("ARTIFACTS_BLOB_ENDPOINT", "https://evil.example\\@acct.blob.core.windows.net", "user info (@)"),
        ("ARTIFACTS_BLOB_ENDPOINT", "https://acct.blob.core.windows.net?sv=2024", "query"),
        (
            "ARTIFACTS_STORAGE_CONNECTION_STRING",
            "DefaultEndpointsProtocol=https;AccountName=a;AccountKey=k;BlobEndpoint=https://a.blob.core.windows.net",
            "ARTIFACTS_BLOB_ENDPOINT instead",
        ),
        ("TLS_CA_BUNDLE", "/nonexistent/ca.pem", "is not a file"),
        ("RETRAIN_SCHEDULE", "every day", "NCRONTAB"),
        ("RUN_DEFAULTS", json.dumps({"iterations": "3"}), "iterations"),
        ("RUN_DEFAULTS", json.dumps({"sku_name": "Cheapest"}), "sku_name"),
    ],
)
def test_bad_settings_are_refused_with_the_fix(
    clean_env: pytest.MonkeyPatch, setting: str, value: str, fix: str
) -> None:
    env = {**REQUIRED, setting: value}
    if setting == "ARTIFACTS_STORAGE_CONNECTION_STRING":
        del env["ARTIFACTS_BLOB_ENDPOINT"]
    assert fix in refused_line(refusal(clean_env, env), setting)


def test_a_ca_bundle_that_is_not_pem_is_refused(clean_env: pytest.MonkeyPatch, tmp_path: Path) -> None:
    bundle = tmp_path / "ca.pem"
    bundle.write_text("not a certificate")
    line = refused_line(refusal(clean_env, {**REQUIRED, "TLS_CA_BUNDLE": str(bundle)}), "TLS_CA_BUNDLE")
    assert "not a readable PEM CA file" in line


def test_a_connection_string_to_local_azurite_is_accepted(clean_env: pytest.MonkeyPatch) -> None:
    env = {name: value for name, value in REQUIRED.items() if name != "ARTIFACTS_BLOB_ENDPOINT"}
    env["ARTIFACTS_STORAGE_CONNECTION_STRING"] = (
        "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=k;"
        "BlobEndpoint=http://127.0.0.1:10000/devstoreaccount1;"
    )
    for name, value in env.items():
        clean_env.setenv(name, value)
    assert get_settings().artifacts_storage_connection_string is not None


@pytest.mark.parametrize(
    "schedule",
    [
        "0 0 3 * * *",
        "0 */5 * * * *",
        "0 30 9 * Jan Mon",
        "0 30 9 * * 1-5",
        "5,8,10 * * * * *",
        "0 0 9-17/2 * * *",
        "0 0 3 * * sunday",
        "  0  0 3 * * 0 ",
        "0 3 * * *",  # five fields: the host reads them without seconds
    ],
)
def test_ncrontab_schedules_the_host_accepts(clean_env: pytest.MonkeyPatch, schedule: str) -> None:
    for name, value in {**REQUIRED, "RETRAIN_SCHEDULE": schedule}.items():
        clean_env.setenv(name, value)
    assert get_settings().retrain_schedule == schedule


@pytest.mark.parametrize(
    ("schedule", "fix"),
    [
        ("every day", "neither an NCRONTAB expression"),
        ("0 0 3 * * * *", "six fields"),
        ("0 0 3 * * 7", "outside 0-6"),
        ("0 0 24 * * *", "outside 0-23"),
        ("60 * * * * *", "outside 0-59"),
        ("0 0 3 0 * *", "outside 1-31"),
        ("0 */0 * * * *", "step after '/' must be a whole number >= 1"),
        ("0 0 3 * Foo *", "'Foo' is not a value"),
        ("0 0 3,,4 * * *", "'' is not a value"),
        ("0 0 3 * * Mon#2", "is not a value"),
        ("0 0\t3 * * *", "not tabs"),
        ("0 0 3 L * *", "is not a value"),
    ],
)
def test_schedules_the_host_would_reject_are_refused(
    clean_env: pytest.MonkeyPatch, schedule: str, fix: str
) -> None:
    line = refused_line(refusal(clean_env, {**REQUIRED, "RETRAIN_SCHEDULE": schedule}), "RETRAIN_SCHEDULE")
    assert fix in line


@pytest.mark.parametrize(
    ("schedule", "website_sku", "accepted"),
    [
        ("01:00:00", None, False),  # not in Azure (or not told which plan): assume Flex Consumption
        ("01:00:00", "FlexConsumption", False),
        ("01:00:00", "Dynamic", False),
        ("01:00:00", "ElasticPremium", False),
        ("01:00:00", "Standard", True),  # App Service (Dedicated) plans
        ("1.00:00:00", "PremiumV3", True),
        ("25:00:00:00", "Basic", True),
        ("00:00:00", "Standard", False),
        ("01:61:00", "Standard", False),
    ],
)
def test_timespan_schedules_only_on_dedicated_plans(
    clean_env: pytest.MonkeyPatch, schedule: str, website_sku: str | None, accepted: bool
) -> None:
    env = {**REQUIRED, "RETRAIN_SCHEDULE": schedule}
    if website_sku:
        env["WEBSITE_SKU"] = website_sku
    else:
        clean_env.delenv("WEBSITE_SKU", raising=False)
    if accepted:
        for name, value in env.items():
            clean_env.setenv(name, value)
        assert get_settings().retrain_schedule == schedule
    else:
        assert "RETRAIN_SCHEDULE" in refusal(clean_env, env)


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"iterations": "3"}, "iterations"),
        ({"iterations": True}, "iterations"),
        ({"iterations": 1.0}, "iterations"),
        ({"iterations": "1_000"}, "iterations"),
        ({"seed": 4.5}, "seed"),
        ({"data_filter_ratio": "0.5"}, "data_filter_ratio"),
        ({"data_filter_ratio": False}, "data_filter_ratio"),
        ({"file_poll_seconds": float("inf")}, "file_poll_seconds"),
        ({"base_model": "x" * 129}, "base_model"),
        ({"base_model": "gpt-4.1\u0000"}, "base_model"),
        ({"base_model": "../../etc/passwd"}, "base_model"),
        ({"agent": "../capital_lookup"}, "agent"),
        ({"agent": "x" * 65}, "agent"),
        ({"dataset": "capitals; rm"}, "dataset"),
        ({"sku_name": "Cheapest"}, "sku_name"),
        ({"sku_name": "developertier"}, "sku_name"),
        ({"sku_name": "GlobalBatch"}, "sku_name"),
        ({"job_poll_initial_seconds": 60, "job_poll_max_seconds": 30}, "job_poll_max_seconds"),
    ],
)
def test_run_settings_coerce_nothing(data: dict[str, object], field: str) -> None:
    with pytest.raises(ValidationError) as caught:
        RunSettings.model_validate(data)
    assert [".".join(map(str, error["loc"])) for error in caught.value.errors()] == [field]


def test_run_settings_take_an_integer_where_a_number_is_expected() -> None:
    settings = RunSettings.model_validate(
        {
            "data_filter_ratio": 1,
            "file_poll_seconds": 2,
            "sku_name": "GlobalStandard",
            "base_model": "m.ft-1_a",
        }
    )
    assert (settings.data_filter_ratio, settings.file_poll_seconds, settings.sku_name) == (
        1.0,
        2.0,
        "GlobalStandard",
    )


# ---------------------------------------------------------------- learning from production


def test_production_settings_default_to_the_runs_agent_and_a_week() -> None:
    run = RunSettings.model_validate({"source": "production", "agent": "capital_lookup"})
    assert (run.production_agent, run.telemetry_agent, run.production_window_days, run.grader) == (
        None,
        "capital_lookup",
        7,
        None,
    )
    named = RunSettings.model_validate({"source": "both", "production_agent": "support-bot.v2"})
    assert named.telemetry_agent == "support-bot.v2"


@pytest.mark.parametrize(
    ("body", "field", "error"),
    [
        ({"source": "prod"}, "source", "'rollouts', 'production' or 'both'"),
        ({"source": "production", "production_agent": "Support Bot"}, "production_agent", "pattern"),
        (
            {"source": "production", "production_window_days": 0},
            "production_window_days",
            "greater than or equal to 1",
        ),
        ({"source": "production", "production_window_days": "7"}, "production_window_days", "integer"),
        ({"source": "production", "grader": "nope"}, "grader", "no grader 'nope'; registered graders: ["),
    ],
)
def test_production_settings_are_checked(body: dict[str, object], field: str, error: str) -> None:
    with pytest.raises(ValidationError) as caught:
        RunSettings.model_validate(body)
    (problem,) = caught.value.errors()
    assert (problem["loc"], error in problem["msg"]) == ((field,), True), problem["msg"]


def test_production_settings_without_a_production_source_are_named() -> None:
    run = RunSettings.model_validate({"grader": "tool_result_in_answer", "production_window_days": 3})
    assert [
        item["field"] for item in run.unused_production_settings({"grader", "production_window_days"})
    ] == [
        "production_window_days",
        "grader",
    ]
    assert run.unused_production_settings({"seed"}) == []
    production = RunSettings.model_validate({"source": "production", "grader": "tool_result_in_answer"})
    assert production.unused_production_settings({"grader"}) == []


def test_run_defaults_can_retrain_weekly_on_last_weeks_traffic(clean_env: pytest.MonkeyPatch) -> None:
    weekly = {"source": "production", "production_agent": "support-bot", "production_window_days": 7}
    for name, value in {
        **REQUIRED,
        "RETRAIN_SCHEDULE": "0 0 3 * * Mon",
        "RUN_DEFAULTS": json.dumps({**weekly, "grader": "tool_result_in_answer", "iterations": 1}),
    }.items():
        clean_env.setenv(name, value)
    run = get_settings().run_settings()
    assert (run.source, run.telemetry_agent, run.production_window_days, run.grader, run.iterations) == (
        "production",
        "support-bot",
        7,
        "tool_result_in_answer",
        1,
    )


def test_run_defaults_with_production_settings_but_no_production_source_stop_start_up(
    clean_env: pytest.MonkeyPatch,
) -> None:
    for name, value in {**REQUIRED, "RUN_DEFAULTS": json.dumps({"production_window_days": 7})}.items():
        clean_env.setenv(name, value)
    with pytest.raises(
        ConfigError, match=r"RUN_DEFAULTS: .*production_window_days: only used when source is"
    ):
        get_settings()
