"""Typed configuration: app settings (read once from the environment) and per-run settings.

App settings are what an operator sets on the Function App (Bicep wires them from resource outputs);
run settings are what a caller may override per run in the body of ``POST /api/runs``. Both fail
loudly and early: a bad app setting stops start-up with a message naming every bad variable, a bad
run setting becomes an HTTP 400 naming the field. Nothing is coerced: a run setting that is an
integer must arrive as a JSON integer (``"3"``, ``true`` and ``3.0`` are refused), because a caller
who sent the wrong type most likely meant something else.
"""

from __future__ import annotations

import ipaddress
import json
import os
import re
import ssl
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import SplitResult, urlsplit

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, SettingsConfigDict

from shared.agents import load_agent_modules
from shared.agents.graders import grader_names
from shared.agents.tasks import TEST_SHARE, VALIDATION_SHARE, SplitRule
from shared.domain.cost import Pricing, pricing_from_json
from shared.domain.models import FAMILIES, Choice, Problem, SkuName, resolve
from shared.domain.timer_schedule import check_schedule

DEPLOYMENT_NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,55}$"
RUN_ID_PATTERN = r"^[a-z0-9][a-z0-9-]{2,62}$"
# Deployments are named {prefix}_v{NN} and {prefix}_champion_v{NN} (shared/domain/lineage.py), which must
# stay valid deployment names by the strictest rule the sources give: 2 to 64 letters, digits, '-' and
# '_', no '.' (InvalidResourceName; ../shared/docs/azure-facts.md). 49 characters leave room for
# ``_champion_v`` and a four-digit version.
DEPLOYMENT_PREFIX_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_-]{1,48}$"
STRICT_DEPLOYMENT_NAME_PATTERN = r"^[A-Za-z0-9_-]{2,64}$"
"""What Azure accepts as a deployment name, by the strictest source: every name the app makes matches it."""
# A lineage's name (its folder in Blob, the URL's segment): the prefix's rule before deployment names
# were held to the strict one, so lineages named then stay reachable.
LINEAGE_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,48}$"
# Azure model ids: base models (gpt-4.1-mini-2025-04-14), fine-tuned ones
# ({base}.ft-{job id}-{suffix}, suffix up to 40 characters) and checkpoints (ftchkpt-{hex}).
MODEL_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$"
IDENTIFIER_PATTERN = r"^[A-Za-z][A-Za-z0-9_]{0,63}$"
# The folder production telemetry of an agent is filed under (shared/telemetry/otlp.py ``safe_agent_name``).
TELEMETRY_AGENT_PATTERN = r"^[a-z0-9][a-z0-9._-]{0,63}$"

MIB = 1024 * 1024


@dataclass(frozen=True)
class Spelling:
    """How a string must be written, in words, declared beside the pattern that checks it: a 400 says
    this instead of the regular expression, which few callers read (api/http.py finds it by the
    error's field)."""

    rule: str


Reward = Annotated[float, Field(ge=0, le=1, allow_inf_nan=False)]
Seconds = Annotated[float, Field(gt=0, le=7 * 24 * 3600, allow_inf_nan=False)]
ModelId = Annotated[
    str,
    Field(pattern=MODEL_ID_PATTERN),
    Spelling(
        "a model id: 1 to 128 letters, digits, '.', '_' and '-', starting with a letter or digit "
        "(e.g. gpt-4.1-mini-2025-04-14)"
    ),
]
Identifier = Annotated[
    str,
    Field(pattern=IDENTIFIER_PATTERN),
    Spelling("a name: a letter, then at most 63 letters, digits and '_' (e.g. capital_lookup)"),
]
DeploymentName = Annotated[
    str,
    Field(pattern=DEPLOYMENT_NAME_PATTERN),
    Spelling("a deployment name: 1 to 56 letters, digits, '_', '.' and '-', starting with a letter or digit"),
]
DeploymentPrefix = Annotated[
    str,
    Field(pattern=DEPLOYMENT_PREFIX_PATTERN),
    Spelling(
        "2 to 49 letters, digits, '_' and '-' (no '.'), starting with a letter or digit (e.g. "
        "capital-agent): deployments are named {prefix}_vNN and {prefix}_champion_vNN, and Azure allows "
        "only 2 to 64 letters, digits, '-' and '_' in a deployment name"
    ),
]
LineageName = Annotated[
    str,
    Field(pattern=LINEAGE_PATTERN),
    Spelling(
        "1 to 49 letters, digits, '_', '.' and '-', starting with a letter or digit (e.g. capital-agent)"
    ),
]
RUN_ID_RULE = "a run id: 3 to 63 lower-case letters, digits and '-', starting with a letter or digit"
RunId = Annotated[str, Field(pattern=RUN_ID_PATTERN), Spelling(RUN_ID_RULE)]
TelemetryAgent = Annotated[
    str,
    Field(pattern=TELEMETRY_AGENT_PATTERN),
    Spelling("1 to 64 lower-case letters, digits, '.', '_' and '-', starting with a letter or digit"),
]


EVAL_SAMPLES_PER_TASK = 4
"""Rollouts per task in an evaluation: docs/report.md, "Samples per task", gives the noise and cost
measured for 1, 2, 4 and 8."""
MAX_HELD_OUT = 0.8
"""Validation and test together leave training at least a fifth of the tasks."""

TrainingSource = Literal["rollouts", "production", "both"]
MAX_WINDOW_DAYS = 366  # a year of production traces: one Blob listing per day
PRODUCTION_SETTINGS = ("production_agent", "production_window_days", "grader")


class ConfigError(RuntimeError):
    """Raised at start-up when app settings are missing or invalid; the message names each one."""


class RunSettings(BaseModel):
    """Everything that shapes one fine-tuning run. Defaults match the reference example; timings are
    sized for Azure (minutes and hours) and shortened by local runs and tests.

    Strict: JSON types must match exactly (an integer is accepted where a number is expected, as JSON
    has no other way to write 2.0). Every free string has a bounded character class. To add a setting,
    add a field with a default, bounds and a description; nothing else needs to change.
    """

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    iterations: int = Field(3, ge=1, le=50)
    finetune_every_n_rollouts: int = Field(24, ge=1, le=1000)
    data_filter_ratio: float = Field(0.6, gt=0, le=1, allow_inf_nan=False)
    n_epochs: int = Field(1, ge=1, le=50)
    batch_size: int = Field(2, ge=1, le=256)
    learning_rate_multiplier: float = Field(1.0, gt=0, le=10, allow_inf_nan=False)
    seed: int = Field(42, ge=0, le=2**31 - 1)
    training_type: Literal["Standard", "GlobalStandard", "developerTier"] = "developerTier"
    agent: Identifier = "capital_lookup"
    dataset: Identifier | None = Field(None, description="None: the agent's default")
    val_limit: int | None = Field(None, ge=1, le=10_000, description="cap on validation tasks per eval")
    max_concurrent_rollouts: int | None = Field(
        None,
        ge=1,
        le=1000,
        description="rollouts in flight per stage; None: sized from the deployment's limit",
    )
    base_model: ModelId | None = Field(
        None,
        description="None: the BASE_MODEL app setting; an ARM name of docs/models.md (gpt-oss-20b) is "
        "resolved to its versioned id, and the settings it leaves out follow the model's profile",
    )
    base_deployment: DeploymentName | None = Field(
        None,
        description="None: the BASE_DEPLOYMENT app setting; a deployment of another model than base_model "
        "is a teacher (distillation: README)",
    )
    deployment_prefix: DeploymentPrefix = "capital-agent"
    sku_name: SkuName = "DeveloperTier"
    sku_capacity: int = Field(250, ge=1, le=100_000)
    max_deployments: int = Field(2, ge=1, le=20)
    file_poll_seconds: Seconds = 10
    file_deadline_seconds: Seconds = 3600
    job_poll_initial_seconds: Seconds = 30
    job_poll_max_seconds: Seconds = 600
    job_deadline_seconds: float = Field(
        7 * 24 * 3600,
        gt=0,
        le=30 * 24 * 3600,
        allow_inf_nan=False,
        description="then the job is cancelled; Developer-tier jobs queue and can be preempted for days, "
        "and Azure stops any job after 720 h",
    )
    deployment_poll_seconds: Seconds = 30
    deployment_deadline_seconds: Seconds = 3600
    account_wait_seconds: Seconds = Field(
        24 * 3600,
        description="the longest a deployment write waits for its turn on the account, or for a free "
        "fine-tuned deployment slot, before its stage fails (a DeveloperTier deployment lives 24 h)",
    )
    retry_max_attempts: int = Field(5, ge=1, le=20)
    retry_first_interval_seconds: Seconds = 5
    lineage: LineageName | None = Field(
        None,
        description="None: the deployment_prefix; runs of a lineage build on it",
    )
    start_from: Literal["champion", "latest", "base"] | None = Field(
        None, description="None: the lineage's champion once it has one, else the base model"
    )
    continue_from: Literal["latest", "champion", "base"] = Field(
        "latest",
        description="the model each job starts from: the latest, the champion, or the base model on the "
        "lineage's accumulated examples; left out: the base model's profile decides (docs/models.md)",
    )
    max_training_examples: int = Field(
        1000,
        ge=10,
        le=100_000,
        description="a job that starts from the base model trains on the lineage's kept examples so far, "
        "newest and best first, at most this many",
    )
    min_reward: float = Field(
        0.01, gt=0, le=1, allow_inf_nan=False, description="an example's trace must have earned this"
    )
    promotion: Literal["auto", "approval"] = "auto"
    promotion_margin: float = Field(
        0.0,
        ge=0,
        le=1,
        allow_inf_nan=False,
        description="the paired difference's lower bound must exceed it (docs/report.md, Promotion)",
    )
    promotion_confidence: float = Field(
        0.9,
        ge=0.5,
        le=0.999,
        allow_inf_nan=False,
        description="the confidence of that bound: equal models are promoted at most 1 - this often",
    )
    eval_samples_per_task: int = Field(
        EVAL_SAMPLES_PER_TASK,
        ge=1,
        le=32,
        description="rollouts per validation (and test) task in every evaluation (docs/report.md)",
    )
    validation_share: float | None = Field(
        None,
        gt=0,
        le=0.5,
        allow_inf_nan=False,
        description=f"None: the lineage's split, else {VALIDATION_SHARE} (its first run records it)",
    )
    test_share: float | None = Field(
        None,
        ge=0,
        le=0.5,
        allow_inf_nan=False,
        description=f"None: the lineage's split, else {TEST_SHARE} (its first run records it)",
    )
    approval_timeout_seconds: Seconds = 24 * 3600
    champion_sku_name: SkuName | None = None
    champion_sku_capacity: int = Field(50, ge=1, le=100_000)
    source: TrainingSource = Field(
        "rollouts",
        description="what an iteration trains on: its own rollouts, production traces, or both",
    )
    production_agent: TelemetryAgent | None = Field(
        None,
        description="None: the run's agent; the agent name production telemetry is filed under",
    )
    production_window_days: int = Field(
        7, ge=1, le=MAX_WINDOW_DAYS, description="production traces of this many days before the iteration"
    )
    grader: str | None = Field(None, description="a registered grader rewarding traces without feedback")

    @field_validator("grader")
    @classmethod
    def _registered_grader(cls, value: str | None) -> str | None:
        if value is not None and value not in grader_names():
            raise ValueError(f"no grader {value!r}; registered graders: {grader_names()}")
        return value

    budget_usd: float | None = Field(
        None,
        gt=0,
        le=1_000_000,
        allow_inf_nan=False,
        description="None: no budget; else the run's training and hosting spend stays within it",
    )

    @field_validator("test_share")
    @classmethod
    def _training_keeps_a_share(cls, value: float | None, info: ValidationInfo) -> float | None:
        validation = info.data.get("validation_share") or VALIDATION_SHARE
        if value is not None and validation + value > MAX_HELD_OUT:
            raise ValueError(
                f"validation_share ({validation}) and test_share together must leave training at least "
                f"{1 - MAX_HELD_OUT:.0%} of the tasks"
            )
        return value

    @field_validator("job_poll_max_seconds")
    @classmethod
    def _poll_bounds(cls, value: float, info: ValidationInfo) -> float:
        initial = info.data.get("job_poll_initial_seconds")
        if initial is not None and value < initial:
            raise ValueError(f"must be >= job_poll_initial_seconds ({initial})")
        return value

    @property
    def batch_rollouts(self) -> int:
        """The rollouts of an iteration's training batch: none when it trains on production traces
        alone."""
        return 0 if self.source == "production" else self.finetune_every_n_rollouts

    def evaluation_rollouts(self, validation_tasks: int) -> int:
        """The rollouts of one side of an iteration's paired evaluation (the candidate's, or the
        champion's): every validation task (up to ``val_limit``) ``eval_samples_per_task`` times."""
        evaluated = min(validation_tasks, self.val_limit or validation_tasks)
        return evaluated * self.eval_samples_per_task

    def split_rule(self) -> SplitRule:
        """The split a new lineage records: these shares, or the defaults for those left unset."""
        validation = self.validation_share or VALIDATION_SHARE
        test = TEST_SHARE if self.test_share is None else self.test_share
        return SplitRule(validation_share=validation, test_share=test)

    @property
    def telemetry_agent(self) -> str:
        """The agent whose production traces the run reads: ``production_agent``, else the run's agent
        as ingestion files it (lower-cased)."""
        return self.production_agent or self.agent.lower()

    def unused_production_settings(self, given: Iterable[str]) -> list[dict[str, str]]:
        """The production settings among ``given`` (the fields a caller set) when the run reads no
        production traces: they would do nothing, most likely because ``source`` was forgotten."""
        if self.source != "rollouts":
            return []
        error = (
            'only used when source is "production" or "both" (source is "rollouts"); '
            'set "source" too, or leave this out'
        )
        return [{"field": name, "error": error} for name in PRODUCTION_SETTINGS if name in given]


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
    base_model: ModelId = "gpt-4.1-mini-2025-04-14"
    # A current model that serves the first rollouts: gpt-4.1-mini's own base deployment stopped serving
    # on 2026-10-14 (docs/models.md), so by default a run distils from gpt-5.1 (README).
    base_deployment: DeploymentName = "gpt-5.1"
    retrain_schedule: str | None = None
    # Before run_defaults: fields are validated in order, and RUN_DEFAULTS may name what they register.
    agent_modules: str | None = Field(
        None, description="comma-separated modules whose AGENTS are registered, e.g. shared.agents.inventory"
    )
    run_defaults: str | None = Field(None, description="JSON object of RunSettings overrides")
    feedback_labels: dict[str, Reward] = Field(
        default_factory=dict,
        description='label -> reward for POST /api/feedback, e.g. {"thumbs_up": 1, "thumbs_down": 0}',
    )
    feedback_max_items: int = Field(default=1000, ge=1, le=10_000)
    telemetry_max_body_bytes: int = Field(default=16 * MIB, ge=1024, le=100 * MIB)
    telemetry_max_decoded_bytes: int = Field(default=32 * MIB, ge=1024, le=256 * MIB)
    telemetry_max_items: int = Field(default=20_000, ge=1, le=1_000_000)
    pricing: str | None = Field(
        None, description="JSON price table laid over the defaults of shared/domain/cost.py (docs/cost.md)"
    )
    # Per-resource limits preflight checks against: quotas-limits.md (Feb 2026 revision) gives 10
    # fine-tuned deployments, 100 fine-tuning files and 1 GB of them per resource; they have changed
    # between revisions (azure-facts: the 2025 one said 5 and 50), hence settings.
    max_fine_tuned_deployments: int = Field(default=10, ge=1, le=1000)
    max_training_files: int = Field(default=100, ge=1, le=100_000)
    max_training_file_bytes: int = Field(default=1_000_000_000, ge=1, le=10**13)
    lifecycle_warning_days: int = Field(
        default=60,
        ge=0,
        le=3650,
        description="warn this many days before a training or deployment retirement that touches a run or "
        "its lineage's champion",
    )
    existing_fine_tuning_families: str | None = Field(
        None,
        description="comma-separated model families this account already fine-tunes (gpt-4.1, gpt-4o, "
        "o4-mini), read only where ARM's model list gives no fine-tuning date (docs/models.md)",
    )
    open_model_deployment_format: Literal["provider", "OpenAI-OSS"] = Field(
        "provider",
        description="ARM model.format of open models' deployments: the provider's name (Microsoft for "
        "gpt-oss) or OpenAI-OSS; the other is tried when Azure refuses one (sources disagree)",
    )
    expected_tokens_per_rollout: int = Field(
        default=1000,
        ge=1,
        le=10_000_000,
        description="sizes the cost estimate made before any dataset exists",
    )

    @field_validator("existing_fine_tuning_families")
    @classmethod
    def _known_families(cls, value: str | None) -> str | None:
        unknown = sorted(set(families_of(value)) - FAMILIES)
        if unknown:
            raise ValueError(f"unknown model families {unknown}; the schedule's are {sorted(FAMILIES)}")
        return value

    @property
    def existing_families(self) -> tuple[str, ...]:
        return families_of(self.existing_fine_tuning_families)

    @field_validator("azure_openai_endpoint", "arm_endpoint")
    @classmethod
    def _service_endpoint(cls, value: str) -> str:
        """The SDKs append their own paths, so a path here (a portal URL) would send calls astray."""
        url = urlsplit(value)
        if url.path not in ("", "/") or url.query or url.fragment:
            raise ValueError(
                f"must be the endpoint alone, without a path or query: use {url.scheme}://{url.netloc} "
                "(the Endpoint shown on the resource's Keys and Endpoint page)"
            )
        parse_endpoint(value)
        return value.rstrip("/")

    @field_validator("artifacts_blob_endpoint")
    @classmethod
    def _blob_endpoint(cls, value: str | None) -> str | None:
        if value is None:
            return None
        parse_endpoint(value)
        return value.rstrip("/")

    @field_validator("artifacts_storage_connection_string")
    @classmethod
    def _azurite_only(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None:
            blob_endpoint_of(value.get_secret_value())
        return value

    @field_validator("tls_ca_bundle")
    @classmethod
    def _ca_bundle_loads(cls, value: str | None) -> str | None:
        """A missing or broken CA file would otherwise fail every call, long after start-up."""
        if value is None:
            return None
        if not Path(value).is_file():
            raise ValueError(f"{value} is not a file; point it at a PEM CA file or unset it")
        try:
            ssl.create_default_context().load_verify_locations(cafile=value)
        except (ssl.SSLError, OSError) as exc:
            raise ValueError(f"{value} is not a readable PEM CA file: {exc}") from None
        return value

    @field_validator("retrain_schedule")
    @classmethod
    def _schedule(cls, value: str | None) -> str | None:
        # WEBSITE_SKU is set by the platform (not an app setting): it tells which plan runs the app.
        return None if value is None else check_schedule(value, os.environ.get("WEBSITE_SKU"))

    @field_validator("run_defaults")
    @classmethod
    def _run_defaults_json(cls, value: str | None) -> str | None:
        if value:
            try:
                given = json.loads(value)
                unused = RunSettings.model_validate(given).unused_production_settings(given)
            except json.JSONDecodeError as exc:
                raise ValueError(f"must be a JSON object of run settings: {exc}") from None
            except ValidationError as exc:
                problems = "; ".join(
                    f"{'.'.join(map(str, error['loc'])) or '(object)'}: {error['msg']}"
                    for error in exc.errors()
                )
                raise ValueError(f"must hold valid run settings: {problems}") from None
            if unused:
                problems = "; ".join(f"{item['field']}: {item['error']}" for item in unused)
                raise ValueError(f"must hold valid run settings: {problems}")
        return value

    @field_validator("pricing")
    @classmethod
    def _pricing_table(cls, value: str | None) -> str | None:
        """Reads the table now, so a bad price stops start-up naming the entry."""
        try:
            pricing_from_json(value)
        except json.JSONDecodeError as exc:
            raise ValueError(f"must be a JSON object of model family prices: {exc}") from None
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(map(str, error['loc'][1:])) or '(object)'}: {error['msg']}"
                for error in exc.errors()
            )
            raise ValueError(f"must hold valid prices: {problems}") from None
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
            for name in ("azure_openai_endpoint", "arm_endpoint", "artifacts_blob_endpoint"):
                value = getattr(self, name)
                if value is not None and not is_loopback(urlsplit(value).hostname or ""):
                    raise ValueError(
                        f"AZURE_AUTH_MODE=emulator only talks to local emulators, but {name.upper()} "
                        f"({value}) is not a loopback address; use AZURE_AUTH_MODE=identity for Azure"
                    )
        return self

    def prices(self) -> Pricing:
        """The price table: the defaults with ``PRICING`` laid over them."""
        return pricing_from_json(self.pricing)

    @property
    def account_key(self) -> str:
        """The Azure OpenAI account as one key: ``{subscription}:{resource group}:{account}``, lower-case
        (ARM names are case-insensitive), ``:`` because entity keys may not hold ``/``."""
        parts = (self.azure_subscription_id, self.azure_resource_group, self.azure_openai_account)
        return ":".join(parts).lower()

    def run_settings(self, overrides: dict[str, Any] | None = None) -> RunSettings:
        """Defaults from code, then RUN_DEFAULTS, then the caller's overrides."""
        return self.resolve(RunSettings.model_validate(self.with_run_defaults(overrides or {})))

    def with_run_defaults(self, overrides: dict[str, Any]) -> dict[str, Any]:
        """RUN_DEFAULTS with ``overrides`` on top, not yet validated (so errors name the caller's field)."""
        merged: dict[str, Any] = json.loads(self.run_defaults) if self.run_defaults else {}
        return {**merged, **overrides}

    def plan(self, settings: RunSettings, given: Iterable[str]) -> Planned:
        """The run's settings for its base model (``resolve`` first): what the caller left out (``given``
        names what they or RUN_DEFAULTS set) follows the model's profile, and what the profile does not
        allow is a problem naming the field (shared/domain/models.py)."""
        resolved = self.resolve(settings)
        values = resolved.model_dump()
        outcome = resolve(values, set(given))
        planned = RunSettings.model_validate({**values, **outcome.updates})
        return Planned(planned, outcome.choices, outcome.problems)

    def resolve(self, settings: RunSettings) -> RunSettings:
        """Fills what a run leaves to the app settings (its first model and deployment)."""
        return settings.model_copy(
            update={
                "base_model": settings.base_model or self.base_model,
                "base_deployment": settings.base_deployment or self.base_deployment,
                "lineage": settings.lineage or settings.deployment_prefix,
            }
        )


@dataclass(frozen=True)
class Planned:
    """A run's settings as its base model's profile leaves them, the choices made, and the problems."""

    settings: RunSettings
    choices: list[Choice]
    problems: list[Problem]


def families_of(value: str | None) -> tuple[str, ...]:
    """The families of an ``EXISTING_FINE_TUNING_FAMILIES`` value, each once, in order."""
    return tuple(dict.fromkeys(name.strip() for name in (value or "").split(",") if name.strip()))


_ENDPOINT_CHARACTERS = re.compile(r"[A-Za-z0-9._~:/\[\]-]+")
_HOST_LABEL = re.compile(r"(?!-)[A-Za-z0-9-]{1,63}(?<!-)")


def parse_endpoint(value: str, schemes: tuple[str, ...] = ("https",)) -> SplitResult:
    """Parses an endpoint URL strictly, so that what we check is what the HTTP clients will reach.

    URL parsers disagree on user info, backslashes, percent-encoding and stray whitespace (Python reads
    ``https://evil.example\\@127.0.0.1`` as host 127.0.0.1, an HTTP client as evil.example), so none of
    them is accepted: the host must be a DNS name, an IPv4 address or a bracketed IPv6 address, with at
    most a numeric port, and no query or fragment.
    """
    if not _ENDPOINT_CHARACTERS.fullmatch(value):
        raise ValueError(
            "must be a plain URL such as https://host[:port]: no spaces, user info (@), backslashes, "
            "percent-encoding, query or fragment"
        )
    url = urlsplit(value)
    if url.scheme not in schemes or not url.netloc:
        raise ValueError(f"must be an {' or '.join(f'{s}://' for s in schemes)} URL")
    try:
        port = url.port
    except ValueError:
        raise ValueError("has an invalid port (1-65535)") from None
    if port == 0 or not _valid_host(url.netloc, url.hostname or ""):
        raise ValueError(f"has an invalid host or port: {url.netloc}")
    return url


def _valid_host(netloc: str, host: str) -> bool:
    if netloc.startswith("["):
        try:
            ipaddress.IPv6Address(host)
        except ValueError:
            return False
        return True
    return all(_HOST_LABEL.fullmatch(label) for label in host.split("."))


def is_loopback(host: str) -> bool:
    """True for ``localhost``, 127.0.0.0/8 and ::1: a parsed hostname, see ``parse_endpoint``."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def blob_endpoint_of(connection_string: str) -> str:
    """The blob endpoint of an Azurite connection string; refuses one that reaches anything else.

    Connection strings carry a shared key, which Azure deployments never use (they use managed
    identity and ARTIFACTS_BLOB_ENDPOINT), so the only one accepted is Azurite's on this machine.
    """
    if connection_string.strip().lower().rstrip(";") == "usedevelopmentstorage=true":
        return "http://127.0.0.1:10000/devstoreaccount1"
    parts = dict(
        (key.strip().lower(), value.strip())
        for key, _, value in (part.partition("=") for part in connection_string.split(";"))
        if key.strip()
    )
    endpoint = parts.get("blobendpoint")
    if not endpoint:
        raise ValueError(
            "is for local Azurite only and must be UseDevelopmentStorage=true or name a BlobEndpoint"
        )
    url = parse_endpoint(endpoint, schemes=("http", "https"))
    if not is_loopback(url.hostname or ""):
        raise ValueError(
            "is for local Azurite only, but its BlobEndpoint is not a loopback address; for Azure set "
            "ARTIFACTS_BLOB_ENDPOINT instead (managed identity)"
        )
    return endpoint


def describe_errors(exc: ValidationError) -> list[dict[str, str]]:
    """Turns pydantic errors about app settings into ``{field, error}`` pairs naming the variable."""
    items = []
    for error in exc.errors():
        field = ".".join(str(part) for part in error["loc"]) or "(settings)"
        items.append({"field": field.upper(), "error": error["msg"].removeprefix("Value error, ")})
    return items


@lru_cache(maxsize=1)
def get_settings() -> AppSettings:
    """Reads and validates app settings once per process."""
    try:
        return AppSettings()
    except ValidationError as exc:
        lines = [f"  {item['field']}: {item['error']}" for item in describe_errors(exc)]
        raise ConfigError("invalid app settings:\n" + "\n".join(lines)) from None
