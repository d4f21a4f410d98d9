"""Typed configuration: app settings (read once from the environment) and per-run settings.

App settings are what an operator sets on the Function App (Bicep wires them from resource outputs);
run settings are what a caller may override per run in the body of ``POST /api/runs``. Both fail
loudly and early: a bad app setting stops start-up with a message naming every bad variable, a bad
run setting becomes an HTTP 400 naming the field.
"""

from __future__ import annotations

import ipaddress
import json
from functools import lru_cache
from typing import Annotated, Any, Literal
from urllib.parse import urlparse

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, SettingsConfigDict

from shared.agents import load_agent_modules

DEPLOYMENT_NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,55}$"
RUN_ID_PATTERN = r"^[a-z0-9][a-z0-9-]{2,62}$"
LINEAGE_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,48}$"

Seconds = Annotated[float, Field(gt=0, le=7 * 24 * 3600)]


class ConfigError(RuntimeError):
    """Raised at start-up when app settings are missing or invalid; the message names each one."""


class RunSettings(BaseModel):
    """Everything that shapes one fine-tuning run. Defaults match the reference example; timings are
    sized for Azure (minutes and hours) and shortened by local runs and tests."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    iterations: int = Field(3, ge=1, le=50)
    finetune_every_n_rollouts: int = Field(24, ge=1, le=1000)
    data_filter_ratio: float = Field(0.6, gt=0, le=1)
    n_epochs: int = Field(1, ge=1, le=50)
    batch_size: int = Field(2, ge=1, le=256)
    learning_rate_multiplier: float = Field(1.0, gt=0, le=10)
    seed: int = Field(42, ge=0, le=2**31 - 1)
    training_type: Literal["Standard", "GlobalStandard", "developerTier"] = "developerTier"
    agent: str = Field("capital_lookup", min_length=1, max_length=64)
    dataset: str | None = Field(None, min_length=1, max_length=64, description="None: the agent's default")
    val_limit: int | None = Field(None, ge=1, le=10_000, description="cap on validation tasks per eval")
    base_model: str | None = Field(None, min_length=1, description="None: the BASE_MODEL app setting")
    base_deployment: str | None = Field(
        None, pattern=DEPLOYMENT_NAME_PATTERN, description="None: the BASE_DEPLOYMENT app setting"
    )
    deployment_prefix: str = Field("capital-agent", pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,48}$")
    sku_name: str = Field("DeveloperTier", min_length=1, max_length=64)
    sku_capacity: int = Field(250, ge=1, le=100_000)
    max_deployments: int = Field(2, ge=1, le=20)
    file_poll_seconds: Seconds = 10
    file_deadline_seconds: Seconds = 3600
    job_poll_initial_seconds: Seconds = 30
    job_poll_max_seconds: Seconds = 600
    job_deadline_seconds: Seconds = 24 * 3600
    deployment_poll_seconds: Seconds = 30
    deployment_deadline_seconds: Seconds = 3600
    retry_max_attempts: int = Field(5, ge=1, le=20)
    retry_first_interval_seconds: Seconds = 5
    lineage: str | None = Field(
        None,
        pattern=LINEAGE_PATTERN,
        description="None: the deployment_prefix; runs of a lineage build on it",
    )
    start_from: Literal["champion", "latest", "base"] | None = Field(
        None, description="None: the lineage's champion once it has one, else the base model"
    )
    continue_from: Literal["latest", "champion"] = "latest"
    min_reward: float = Field(0.01, gt=0, le=1, description="an example's trace must have earned this")
    promotion: Literal["auto", "approval"] = "auto"
    promotion_margin: float = Field(0.0, ge=0, le=1)
    approval_timeout_seconds: Seconds = 24 * 3600
    champion_sku_name: str | None = Field(None, min_length=1, max_length=64)
    champion_sku_capacity: int = Field(50, ge=1, le=100_000)

    @model_validator(mode="after")
    def _poll_bounds(self) -> RunSettings:
        if self.job_poll_max_seconds < self.job_poll_initial_seconds:
            raise ValueError("job_poll_max_seconds must be >= job_poll_initial_seconds")
        return self


class AppSettings(BaseSettings):
    """App settings; each field is read from the environment variable of the same name in upper case."""

    model_config = SettingsConfigDict(
        extra="ignore", case_sensitive=False, frozen=True, env_ignore_empty=True
    )

    azure_openai_endpoint: str = Field(description="https://<account>.openai.azure.com (or the emulator URL)")
    azure_openai_api_version: str = "2025-04-01-preview"
    azure_openai_api_key: SecretStr | None = Field(
        None, description="opt-in; managed identity is the default"
    )
    azure_auth_mode: Literal["identity", "emulator"] = "identity"
    azure_subscription_id: str = Field(min_length=1)
    azure_resource_group: str = Field(min_length=1)
    azure_openai_account: str = Field(min_length=1)
    arm_endpoint: str = "https://management.azure.com"
    tls_ca_bundle: str | None = Field(None, description="extra CA file to trust (the local emulator's CA)")
    artifacts_blob_endpoint: str | None = None
    artifacts_storage_connection_string: SecretStr | None = None
    artifacts_container: str = Field("finetune", pattern=r"^[a-z0-9][a-z0-9-]{1,61}[a-z0-9]$")
    base_model: str = "gpt-4.1-mini-2025-04-14"
    base_deployment: str = Field("gpt-4.1-mini", pattern=DEPLOYMENT_NAME_PATTERN)
    retrain_schedule: str | None = None
    run_defaults: str | None = Field(None, description="JSON object of RunSettings overrides")
    agent_modules: str | None = Field(
        None, description="comma-separated modules whose AGENTS are registered, e.g. shared.agents.inventory"
    )

    @field_validator("azure_openai_endpoint", "arm_endpoint", "artifacts_blob_endpoint")
    @classmethod
    def _https(cls, value: str | None) -> str | None:
        if value is None:
            return None
        if urlparse(value).scheme != "https" or not urlparse(value).netloc:
            raise ValueError("must be an https:// URL")
        return value.rstrip("/")

    @field_validator("run_defaults")
    @classmethod
    def _run_defaults_json(cls, value: str | None) -> str | None:
        if value:
            try:
                RunSettings.model_validate(json.loads(value))
            except (json.JSONDecodeError, ValidationError) as exc:
                raise ValueError(f"must be a JSON object of valid run settings: {exc}") from exc
        return value

    @field_validator("agent_modules")
    @classmethod
    def _agent_modules_register(cls, value: str | None) -> str | None:
        """Imports each module and registers its agents now, so a bad module stops start-up by name."""
        load_agent_modules(value)
        return value

    @model_validator(mode="after")
    def _storage_and_auth(self) -> AppSettings:
        if bool(self.artifacts_blob_endpoint) == bool(self.artifacts_storage_connection_string):
            raise ValueError(
                "set exactly one of ARTIFACTS_BLOB_ENDPOINT (managed identity) or "
                "ARTIFACTS_STORAGE_CONNECTION_STRING (local Azurite only)"
            )
        if self.azure_auth_mode == "emulator":
            for name in ("azure_openai_endpoint", "arm_endpoint"):
                if not _is_loopback(getattr(self, name)):
                    raise ValueError(
                        f"AZURE_AUTH_MODE=emulator only talks to a local emulator, but {name.upper()} is "
                        "not a loopback address; use AZURE_AUTH_MODE=identity for Azure"
                    )
        return self

    def run_settings(self, overrides: dict[str, Any] | None = None) -> RunSettings:
        """Defaults from code, then RUN_DEFAULTS, then the caller's overrides."""
        merged: dict[str, Any] = json.loads(self.run_defaults) if self.run_defaults else {}
        merged.update(overrides or {})
        settings = RunSettings.model_validate(merged)
        return settings.model_copy(
            update={
                "base_model": settings.base_model or self.base_model,
                "base_deployment": settings.base_deployment or self.base_deployment,
                "lineage": settings.lineage or settings.deployment_prefix,
            }
        )


def _is_loopback(url: str) -> bool:
    host = urlparse(url).hostname or ""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def describe_errors(exc: ValidationError, *, env: bool) -> list[dict[str, str]]:
    """Turns pydantic errors into ``{field, error}`` pairs; env=True names the environment variable."""
    items = []
    for error in exc.errors():
        field = ".".join(str(part) for part in error["loc"]) or "(settings)"
        items.append({"field": field.upper() if env else field, "error": error["msg"]})
    return items


@lru_cache(maxsize=1)
def get_settings() -> AppSettings:
    """Reads and validates app settings once per process."""
    try:
        return AppSettings()
    except ValidationError as exc:
        lines = [f"  {item['field']}: {item['error']}" for item in describe_errors(exc, env=True)]
        raise ConfigError("invalid app settings:\n" + "\n".join(lines)) from None
