"""What each base model allows for fine-tuning, as Microsoft documented it in 2026: one table (docs/models.md
shows it with the same sources), read by the run settings (a setting a model does not allow is a 400), by
preflight (the account and its region must offer it) and by the deployment stage (its format and SKU).

Sources (the keys the profiles name; emulator/profiles.py uses the same keys for its own copy, and
tests/shared/test_models.py checks that the two agree):

- ``schedule``: MicrosoftDocs/azure-ai-docs ``articles/foundry/openai/includes/
  concepts-model-retirement-schedule-content.md`` (ms.date 2026-07-07): base models' retirement; fine-tuned
  models' training retirement, "no earlier than" the date, "for existing customers only; otherwise training
  retirement occurs at base model retirement"; fine-tuned deployments' retirement.
- ``supported``: ``articles/foundry/includes/fine-tune-supported-models.md`` (ms.date 2026-03-05): per model
  the Standard training regions, Global and Developer tiers and methods (SFT, DPO, RFT); open models
  "only supported on Foundry resources".
- ``global-regions``: ``articles/foundry/openai/includes/fine-tune-global-training-regions.md`` (2026-10-06).
- ``standard-deployment``: ``articles/foundry/includes/fine-tune-standard-deployment-regions.md``
  (2026-10-07): the models whose fine-tuned versions deploy on (regional) Standard, and where.
- ``skill``: microsoft/GitHub-Copilot-for-Azure ``plugin/skills/microsoft-foundry/finetuning/references/``
  (deployment.md, platform-gotchas.md, training-types.md): Microsoft's practical notes on open models, not
  confirmed elsewhere: the versioned id ``gpt-oss-20b-11``, ``trainingType: globalStandard``, no job from a
  fine-tuned open model, ARM ``model.format`` by provider (``Microsoft``) or ``OpenAI-OSS`` (sources
  disagree: the ``OPEN_MODEL_DEPLOYMENT_FORMAT`` app setting), GlobalStandard with capacity of at least 100
  ("Failed to load LoRA" below), and ``capabilities.fineTune`` reading false for them.

Id forms: a base model's platform id is ``{ARM name}-{ARM version}`` (``gpt-4.1-mini-2025-04-14``,
``gpt-oss-20b-11``) except where the table gives no version in the id (``Ministral-3B``); a fine-tuned model
is ``{base id}.ft-{job id}-{suffix}``. Nothing here does I/O.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Literal, get_args

from pydantic import BaseModel, ConfigDict

from shared.domain.rate_limits import FINE_TUNED_MARK

TrainingType = Literal["Standard", "GlobalStandard", "developerTier"]
ContinueFrom = Literal["latest", "champion", "base"]
Method = Literal["supervised", "dpo", "reinforcement"]

STANDARD: TrainingType = "Standard"
GLOBAL: TrainingType = "GlobalStandard"
DEVELOPER: TrainingType = "developerTier"
DEVELOPER_SKU = "DeveloperTier"
OPENAI_FORMAT = "OpenAI"
OSS_FORMAT = "OpenAI-OSS"
FOUNDRY_KIND = "AIServices"
OPEN_MODEL_MIN_CAPACITY = 100  # skill: "deploy with capacity >= 100", else "Failed to load LoRA"
DEFAULT_CAPACITY = 250  # the reference example's DeveloperTier deployment

# global-regions: the Foundry regions of Global managed fine-tuning (UAE North serves only models this
# table does not list).
GLOBAL_TRAINING_REGIONS = frozenset(
    "australiaeast brazilsouth canadacentral canadaeast eastus eastus2 francecentral germanywestcentral "
    "italynorth japaneast koreacentral northcentralus norwayeast polandcentral southafricanorth "
    "southcentralus southindia southeastasia spaincentral swedencentral switzerlandnorth switzerlandwest "
    "uksouth westeurope westus westus3".split()
)
# ARM ``sku.name`` of a deployment that answers chat calls, as Azure spells them ("SKU name in code",
# learn.microsoft.com/azure/ai-foundry/foundry-models/concepts/deployment-types). The batch SKUs are
# left out: the app evaluates every checkpoint with chat calls. Fine-tuned models deploy today on
# Standard, GlobalStandard, DeveloperTier and ProvisionedManaged (openai/how-to/fine-tuning-deploy).
SkuName = Literal[
    "DeveloperTier",
    "Standard",
    "GlobalStandard",
    "DataZoneStandard",
    "ProvisionedManaged",
    "GlobalProvisionedManaged",
    "DataZoneProvisionedManaged",
]
# The SKUs a fine-tuned OpenAI model may be deployed on as far as the app refuses anything: every chat SKU
# but DeveloperTier, which only models with a Developer tier have (supported). Standard is offered in a
# few regions only (standard-deployment), which preflight checks against the account.
OPENAI_SKUS = tuple(sku for sku in get_args(SkuName) if sku != DEVELOPER_SKU)
NCUS_SWC = frozenset({"northcentralus", "swedencentral"})
EUS2_SWC = frozenset({"eastus2", "swedencentral"})
NO_REGION: frozenset[str] = frozenset()


@dataclass(frozen=True)
class ModelProfile:
    """One base model's rules. Dates are UTC days; None: the schedule publishes none."""

    id: str
    arm_name: str
    arm_version: str
    family: str
    """The schedule's row group, as ``EXISTING_FINE_TUNING_FAMILIES`` names it (gpt-4.1, gpt-4o, ...)."""
    methods: tuple[Method, ...]
    training_types: tuple[TrainingType, ...]
    standard_regions: frozenset[str]
    from_fine_tuned: bool
    deployment_skus: tuple[str, ...]
    """SKUs its fine-tuned models deploy on."""
    standard_deployment_regions: frozenset[str]
    deployment_format: str = OPENAI_FORMAT
    min_capacity: int = 1
    foundry_only: bool = False
    retires: date | None = None
    training_retires_existing: date | None = None
    deployments_retire: date | None = None
    sources: tuple[str, ...] = ()

    @property
    def sft(self) -> bool:
        return "supervised" in self.methods

    @property
    def dpo(self) -> bool:
        return "dpo" in self.methods

    @property
    def open_model(self) -> bool:
        return self.deployment_format != OPENAI_FORMAT

    @property
    def default_training_type(self) -> TrainingType:
        """Developer training where offered (the reference example's), else Global."""
        return DEVELOPER if DEVELOPER in self.training_types else GLOBAL

    @property
    def default_continue_from(self) -> ContinueFrom:
        """The reference example's chain where a fine-tuned model can be trained again, else the base."""
        return "latest" if self.from_fine_tuned else "base"

    @property
    def default_sku(self) -> tuple[str, int]:
        """DeveloperTier (no hosting fee) where offered, else GlobalStandard at the least capacity that
        serves (open models: 100)."""
        if DEVELOPER_SKU in self.deployment_skus:
            return DEVELOPER_SKU, DEFAULT_CAPACITY
        return "GlobalStandard", max(self.min_capacity, OPEN_MODEL_MIN_CAPACITY if self.open_model else 1)


def _day(text: str | None) -> date | None:
    return date.fromisoformat(text) if text else None


FINE_TUNING_SOURCES = ("schedule", "supported", "global-regions", "standard-deployment")


def _openai(
    name: str,
    version: str,
    family: str,
    regions: tuple[frozenset[str], frozenset[str]],
    dates: tuple[str, str | None, str | None],
    methods: tuple[Method, ...] = ("supervised", "dpo"),
    *,
    developer: bool = True,
) -> ModelProfile:
    """An OpenAI model of the fine-tuning tables: ``regions`` = (Standard training, Standard deployments
    of its fine-tuned models), ``dates`` = (base model, fine-tuned training for existing customers,
    fine-tuned deployments)."""
    tiers: tuple[TrainingType, ...] = (STANDARD, GLOBAL, DEVELOPER) if developer else (STANDARD, GLOBAL)
    skus = (*OPENAI_SKUS, DEVELOPER_SKU) if developer else OPENAI_SKUS
    return ModelProfile(
        id=f"{name}-{version}",
        arm_name=name,
        arm_version=version,
        family=family,
        methods=methods,
        training_types=tiers,
        standard_regions=regions[0],
        from_fine_tuned=True,
        deployment_skus=skus,
        standard_deployment_regions=regions[1],
        retires=_day(dates[0]),
        training_retires_existing=_day(dates[1]),
        deployments_retire=_day(dates[2]),
        sources=FINE_TUNING_SOURCES,
    )


def _open(model_id: str, arm_name: str, version: str, provider: str) -> ModelProfile:
    """supported: SFT, Global training only, no Developer tier, Foundry resources only; skill: no job from
    a fine-tuned open model, the provider's ``model.format``, GlobalStandard with capacity >= 100;
    standard-deployment lists none of them. The schedule gives them no date."""
    return ModelProfile(
        id=model_id,
        arm_name=arm_name,
        arm_version=version,
        family=arm_name,
        methods=("supervised",),
        training_types=(GLOBAL,),
        standard_regions=NO_REGION,
        from_fine_tuned=False,
        deployment_skus=("GlobalStandard",),
        standard_deployment_regions=NO_REGION,
        deployment_format=provider,
        min_capacity=OPEN_MODEL_MIN_CAPACITY,
        foundry_only=True,
        sources=("supported", "skill", "standard-deployment"),
    )


def _chat(name: str, version: str, retires: str) -> ModelProfile:
    """A chat model no 2026 revision lets anyone fine-tune with SFT: a teacher to distil from (README,
    "Which path applies to whom"), with its retirement date (schedule)."""
    return ModelProfile(
        id=f"{name}-{version}",
        arm_name=name,
        arm_version=version,
        family=name,
        methods=(),
        training_types=(),
        standard_regions=NO_REGION,
        from_fine_tuned=False,
        deployment_skus=(),
        standard_deployment_regions=NO_REGION,
        retires=_day(retires),
        sources=("schedule",),
    )


GPT41 = ("2026-10-14", "2027-04-14", "2027-10-14")
GPT4O = ("2026-10-01", "2027-04-01", "2027-10-01")
PROFILES: Mapping[str, ModelProfile] = {
    p.id: p
    for p in (
        _openai("gpt-4.1-mini", "2025-04-14", "gpt-4.1", (NCUS_SWC, NCUS_SWC), GPT41),
        _openai("gpt-4.1", "2025-04-14", "gpt-4.1", (NCUS_SWC, NCUS_SWC), GPT41),
        _openai("gpt-4.1-nano", "2025-04-14", "gpt-4.1", (NCUS_SWC, NCUS_SWC), GPT41),
        _openai("gpt-4o-mini", "2024-07-18", "gpt-4o", (NCUS_SWC, NCUS_SWC), GPT4O, ("supervised",)),
        _openai("gpt-4o", "2024-08-06", "gpt-4o", (NCUS_SWC | {"eastus2"}, EUS2_SWC), GPT4O),
        # supported: RFT only; o4-mini without a Developer tier; gpt-5 gated (by invitation).
        _openai(
            "o4-mini",
            "2025-04-16",
            "o4-mini",
            (EUS2_SWC, EUS2_SWC),
            ("2026-10-16", "2027-04-16", "2027-10-16"),
            ("reinforcement",),
            developer=False,
        ),
        _openai(
            "gpt-5",
            "2025-08-07",
            "gpt-5",
            (NCUS_SWC, NCUS_SWC),
            ("2027-02-06", None, None),
            ("reinforcement",),
        ),
        _chat("gpt-5-mini", "2025-08-07", "2027-02-06"),
        _chat("gpt-5.1", "2025-11-13", "2027-05-15"),
        # Only gpt-oss-20b's versioned id is documented (skill); the others keep the supported table's
        # names (the schedule gives Ministral-3B version 1; assumed for the other two).
        _open("gpt-oss-20b-11", "gpt-oss-20b", "11", "Microsoft"),
        _open("Ministral-3B", "Ministral-3B", "1", "Mistral AI"),
        _open("Qwen-32B", "Qwen-32B", "1", "Alibaba"),
        _open("Llama-3.3-70B-Instruct", "Llama-3.3-70B-Instruct", "1", "Meta"),
    )
}
BY_ARM_NAME: Mapping[str, ModelProfile] = {p.arm_name: p for p in PROFILES.values()}
FAMILIES = frozenset(p.family for p in PROFILES.values() if p.training_retires_existing)


def root_model(model: str) -> str:
    """The base model a (fine-tuned) model id descends from: ``gpt-4.1-mini-2025-04-14.ft-abc-v01`` ->
    ``gpt-4.1-mini-2025-04-14``."""
    return model.split(FINE_TUNED_MARK, 1)[0]


def is_fine_tuned(model: str) -> bool:
    return FINE_TUNED_MARK in model


def descends_from(model: str, base: str) -> bool:
    """Whether ``model`` is ``base`` or was fine-tuned from it (the same chain)."""
    return root_model(model) == base


def profile_of(model: str) -> ModelProfile | None:
    """The profile of a base or fine-tuned model id, or of an ARM model name; None outside the table."""
    root = root_model(model)
    return PROFILES.get(root) or BY_ARM_NAME.get(root)


def platform_id(arm_name: str, arm_version: str) -> str:
    """The id a job names for the model ARM lists as ``arm_name`` / ``arm_version``: the table's form for
    the version it documents, else ``{name}-{version}``; a fine-tuned model is listed under its id."""
    if is_fine_tuned(arm_name):
        return arm_name
    profile = BY_ARM_NAME.get(arm_name)
    if profile is not None and profile.arm_version == arm_version:
        return profile.id
    return f"{arm_name}-{arm_version}"


def deployment_format(model: str, open_model_format: str) -> str:
    """ARM ``model.format`` of a deployment of ``model`` (a fine-tuned one included): ``OpenAI``, or for
    an open model its provider's name unless ``OPEN_MODEL_DEPLOYMENT_FORMAT`` says ``OpenAI-OSS``."""
    profile = profile_of(model)
    if profile is None or not profile.open_model:
        return OPENAI_FORMAT
    return OSS_FORMAT if open_model_format == OSS_FORMAT else profile.deployment_format


def other_format(model: str, tried: str) -> str | None:
    """The format to try when Azure refused ``tried`` for an open model (sources disagree), else None."""
    profile = profile_of(model)
    if profile is None or not profile.open_model:
        return None
    return profile.deployment_format if tried == OSS_FORMAT else OSS_FORMAT


def fit_sku(model: str, sku_name: str, capacity: int) -> tuple[str, int]:
    """The SKU and capacity to deploy ``model`` on: as asked when its profile allows it, else the
    profile's default SKU; never below the profile's minimum capacity. A model outside the table gets
    what was asked (Azure decides)."""
    profile = profile_of(model)
    if profile is None or not profile.deployment_skus:
        return sku_name, capacity
    if sku_name not in profile.deployment_skus:
        sku_name, capacity = profile.default_sku
    return sku_name, max(capacity, profile.min_capacity)


@dataclass(frozen=True)
class OfferProblem:
    """Something an account does not offer that a run needs, and what the user can change for it."""

    problem: str
    fix: str


def offer_problems(
    profile: ModelProfile, kind: str, location: str, training_type: str, sku_name: str | None
) -> list[OfferProblem]:
    """What an account of ``kind`` in ``location`` does not offer that a run training ``profile``'s model
    on ``training_type`` and deploying on ``sku_name`` needs (supported, global-regions,
    standard-deployment), each with its own fix."""
    problems = []
    if profile.foundry_only and kind != FOUNDRY_KIND:
        problems.append(
            OfferProblem(
                f"{profile.arm_name} is fine-tuned on Foundry resources (kind {FOUNDRY_KIND}) only, not on "
                f"kind {kind}",
                f"point the app at a Foundry resource (kind {FOUNDRY_KIND}; infra/: openModels), or train a "
                "model this account can fine-tune",
            )
        )
    if training_type == STANDARD and location not in profile.standard_regions:
        offered = ", ".join(sorted(profile.standard_regions)) or "no region"
        problems.append(
            OfferProblem(
                f"Standard training of {profile.arm_name} is offered in {offered}, not in {location}",
                f"set training_type to {GLOBAL} (or {DEVELOPER} where the model allows it), or use an "
                "account in one of those regions",
            )
        )
    if training_type == GLOBAL and location not in GLOBAL_TRAINING_REGIONS:
        problems.append(
            OfferProblem(
                f"Global training is not offered in {location}",
                "use an account in a region that offers Global training (docs/models.md)",
            )
        )
    if sku_name == "Standard" and location not in profile.standard_deployment_regions:
        offered = ", ".join(sorted(profile.standard_deployment_regions)) or "no region"
        problems.append(
            OfferProblem(
                f"Standard deployments of fine-tuned {profile.arm_name} are offered in {offered}",
                f"set sku_name to GlobalStandard (or {DEVELOPER_SKU} where the model allows it)",
            )
        )
    return problems


class Choice(BaseModel):
    """A run setting the app chose from the base model's profile because the caller left it out."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    setting: str
    value: str | int
    reason: str


Problem = dict[str, str]
"""``{"field", "error"}``, as a 400 lists them."""


@dataclass(frozen=True)
class Resolution:
    """What a run's settings become for their base model: the changed values, why, and what cannot be."""

    updates: dict[str, object]
    choices: list[Choice]
    problems: list[Problem]


def resolve_base_model(text: str) -> str:
    """A base model as a job names it: an ARM name of the table (``gpt-oss-20b``) becomes its platform id
    (``gpt-oss-20b-11``); ids and models outside the table stay as given."""
    profile = BY_ARM_NAME.get(text)
    return profile.id if profile is not None and text not in PROFILES else text


def resolve(values: Mapping[str, object], given: set[str]) -> Resolution:
    """Checks a run's settings (``values``, every field) against its base model's profile and fills what
    the caller left out (``given`` names what they set) from it: the versioned id, training type,
    ``continue_from``, the candidates' SKU and capacity (and the champion's, when it has its own)."""
    base = str(values["base_model"])
    model = resolve_base_model(base)
    updates: dict[str, object] = {}
    choices: list[Choice] = []
    if model != base:
        updates["base_model"] = model
        reason = f"the platform's versioned id of {base} (docs/models.md)"
        choices.append(Choice(setting="base_model", value=model, reason=reason))
    profile = profile_of(model)
    if profile is None:
        return Resolution(updates, choices, [])
    rules = _Rules(profile, values, given, updates, choices)
    rules.training_type()
    rules.continue_from()
    rules.sku("sku_name", "sku_capacity")
    if values.get("champion_sku_name") is not None:
        rules.sku("champion_sku_name", "champion_sku_capacity")
    return Resolution(updates, choices, rules.problems)


@dataclass
class _Rules:
    """The checks of ``resolve``: each either keeps a given value the profile allows, refuses one it does
    not (a problem naming the field and the fix), or chooses the profile's value."""

    profile: ModelProfile
    values: Mapping[str, object]
    given: set[str]
    updates: dict[str, object]
    choices: list[Choice]
    problems: list[Problem] = field(default_factory=list)

    def _set(self, setting: str, value: str | int, reason: str) -> None:
        if self.values.get(setting) != value:
            self.updates[setting] = value
            self.choices.append(Choice(setting=setting, value=value, reason=reason))

    def _refuse(self, setting: str, error: str) -> None:
        self.problems.append({"field": setting, "error": error})

    def training_type(self) -> None:
        p, offered = self.profile, self.profile.training_types
        if not p.sft:
            kind = "no SFT: " + (", ".join(p.methods) + " only" if p.methods else "it cannot be fine-tuned")
            self._refuse("base_model", f"{p.id} has {kind}; docs/models.md lists the models a run can train")
            return
        if "training_type" in self.given:
            if self.values["training_type"] not in offered:
                self._refuse(
                    "training_type",
                    f"{p.arm_name} trains on {', '.join(offered)} only; set one of them or leave it out",
                )
            return
        reason = f"{p.arm_name} offers {', '.join(offered)} training; " + (
            "Developer is the cheapest" if p.default_training_type == DEVELOPER else "Global only"
        )
        self._set("training_type", p.default_training_type, reason)

    def continue_from(self) -> None:
        p = self.profile
        if "continue_from" in self.given:
            if self.values["continue_from"] != "base" and not p.from_fine_tuned:
                self._refuse(
                    "continue_from",
                    f"a model fine-tuned from {p.arm_name} cannot be fine-tuned again; set base (each "
                    "iteration trains from the base model on the lineage's examples) or leave it out",
                )
            return
        if not p.from_fine_tuned:
            reason = (
                f"a model fine-tuned from {p.arm_name} cannot be fine-tuned again: each iteration trains "
                "from the base model on the lineage's accumulated examples"
            )
            self._set("continue_from", "base", reason)

    def sku(self, name_field: str, capacity_field: str) -> None:
        p = self.profile
        name, capacity = self.values[name_field], self.values[capacity_field]
        default_name, default_capacity = p.default_sku
        skus = ", ".join(p.deployment_skus)
        if name not in p.deployment_skus:
            if name_field in self.given:
                self._refuse(
                    name_field,
                    f"fine-tuned {p.arm_name} models deploy on {skus} only; set one or leave it out",
                )
                return
            self._set(name_field, default_name, f"fine-tuned {p.arm_name} models deploy on {skus} only")
            if capacity_field not in self.given:
                capacity = max(default_capacity, p.min_capacity)
                self._set(
                    capacity_field, capacity, f"the least capacity that serves a fine-tuned {p.arm_name}"
                )
        if not isinstance(capacity, int) or capacity >= p.min_capacity:
            return
        if capacity_field in self.given:
            self._refuse(
                capacity_field,
                f"must be at least {p.min_capacity} for {p.arm_name}: below it Azure answers 'Failed to load "
                "LoRA' (docs/models.md)",
            )
            return
        reason = (
            f"at least {p.min_capacity} units serve a fine-tuned {p.arm_name} (below: 'Failed to load LoRA')"
        )
        self._set(capacity_field, p.min_capacity, reason)


def as_datetime(day: date | None) -> datetime | None:
    """A table date as the UTC midnight it starts at."""
    return None if day is None else datetime(day.year, day.month, day.day, tzinfo=UTC)
