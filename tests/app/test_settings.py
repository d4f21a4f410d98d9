"""App and run settings: a misconfigured app fails at start-up naming each bad setting."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from pydantic import ValidationError

from scripts.azurite import REPO_ROOT
from shared.settings import AppSettings, ConfigError, RunSettings, get_settings

REQUIRED = {
    "AZURE_OPENAI_ENDPOINT": "https://example.openai.azure.com",
    "AZURE_SUBSCRIPTION_ID": "sub",
    "AZURE_RESOURCE_GROUP": "rg",
    "AZURE_OPENAI_ACCOUNT": "acct",
    "ARTIFACTS_BLOB_ENDPOINT": "https://example.blob.core.windows.net",
}


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
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
    assert run.base_deployment == "gpt-4.1-mini" and run.base_model == "gpt-4.1-mini-2025-04-14"


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
