"""What each model allows and when it retires, as Microsoft documented it in 2026: one table, each value
with its source, so the emulator refuses what Azure refuses and retires what Azure retires.

Sources (the same keys name them in emulator/README.md, "Models and lifecycle"):

- ``schedule``: MicrosoftDocs/azure-ai-docs ``articles/foundry/openai/includes/
  concepts-model-retirement-schedule-content.md``, ms.date 2026-07-07 (commit 00bb5540). Base models'
  lifecycle and retirement date; fine-tuned models' training retirement ("no earlier than", **for
  existing customers only; otherwise training retirement occurs at base model retirement**) and
  deployment retirement; "unless explicitly stated, training retires no earlier than the base model
  retirement date".
- ``supported``: azure-ai-docs ``articles/foundry/includes/fine-tune-supported-models.md``, ms.date
  2026-03-05 (commit 10fd319b). Per model: Standard training regions, Global and Developer tiers, methods;
  open models "only supported on Foundry resources".
- ``global-regions``: azure-ai-docs ``articles/foundry/openai/includes/fine-tune-global-training-regions.md``,
  ms.date 2026-10-06 (commit 9586c846): the Foundry regions of Global managed fine-tuning.
- ``standard-deployment``: azure-ai-docs
  ``articles/foundry/includes/fine-tune-standard-deployment-regions.md``, ms.date 2026-10-07 (commit
  9586c846): "Only the following models support serverless Standard deployments".
- ``skill``: microsoft/GitHub-Copilot-for-Azure ``plugin/skills/microsoft-foundry/finetuning/references/``
  ``deployment.md``, ``platform-gotchas.md``, ``training-types.md`` (Microsoft's own practical notes,
  unverified elsewhere): the versioned id ``gpt-oss-20b-11``, ``trainingType: globalStandard`` for open
  models, the ARM ``model.format`` per provider (``"Microsoft"``, ``"Mistral AI"``, ``"Meta"``,
  ``"Alibaba"``; ``az cognitiveservices`` uses ``"OpenAI-OSS"``; "mixing them produces HTTP 500"),
  capacity of at least 100 ("Failed to load LoRA" below), ``DeploymentNotReady`` after ARM says
  ``Succeeded``, and ``capabilities.fineTune`` reading false for open models.

A model id outside the table (``--base-model`` can add any) gets ``UNLISTED``: every tier, every region,
no retirement date, as the emulator behaved before the table existed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime

# Training types, as the data plane's ``trainingType`` names them (any case; "developer" is accepted too).
STANDARD = "Standard"
GLOBAL = "GlobalStandard"
DEVELOPER = "Developer"
OPEN_MODEL_MIN_CAPACITY = 100  # skill: "deploy with capacity >= 100"
OPENAI_FORMAT = "OpenAI"
OSS_FORMAT = "OpenAI-OSS"  # skill: the format `az cognitiveservices` uses for every open model

NORTH_CENTRAL_US, SWEDEN_CENTRAL, EAST_US_2 = "northcentralus", "swedencentral", "eastus2"
# global-regions: every Foundry region with managed Global fine-tuning. UAE North is left out: it offers
# Global fine-tuning only for models this table does not list (footnote 4).
GLOBAL_TRAINING_REGIONS = frozenset(
    {
        "australiaeast",
        "brazilsouth",
        "canadacentral",
        "canadaeast",
        "eastus",
        "eastus2",
        "francecentral",
        "germanywestcentral",
        "italynorth",
        "japaneast",
        "koreacentral",
        "northcentralus",
        "norwayeast",
        "polandcentral",
        "southafricanorth",
        "southcentralus",
        "southindia",
        "southeastasia",
        "spaincentral",
        "swedencentral",
        "switzerlandnorth",
        "switzerlandwest",
        "uksouth",
        "westeurope",
        "westus",
        "westus3",
    }
)


@dataclass(frozen=True)
class Profile:
    """One model's rules. Dates are ISO dates (UTC midnight); None means no date is published."""

    id: str  # the platform model id a fine-tuning job names (and the root of its fine-tuned ids)
    arm_name: str
    arm_version: str
    family: str  # what ``--customer existing=FAMILY`` names: the fine-tuned table's row group
    sft: bool = True  # supervised fine-tuning, the one method the emulator runs
    fine_tunable: bool = True  # any method (o4-mini and gpt-5 are RFT-only)
    standard_regions: frozenset[str] | None = None  # Standard training; None: anywhere
    global_training: bool = True
    developer: bool = True  # Developer training tier and DeveloperTier deployments
    from_fine_tuned: bool = True  # can a job start from a model fine-tuned from this one
    standard_deployment_regions: frozenset[str] | None = None  # fine-tuned Standard deployments
    open_model: bool = False
    provider_format: str = OPENAI_FORMAT  # ARM model.format (open models: the provider's name)
    status: str = "GenerallyAvailable"  # ARM lifecycleStatus before retirement
    retires: str | None = None  # base model retirement: inference (and, for new customers, training)
    training_retires_existing: str | None = None  # fine-tuned training, for existing customers
    deployment_retires: str | None = None  # deployments of fine-tuned models
    sources: tuple[str, ...] = field(default=())

    @property
    def min_capacity(self) -> int:
        """Below this a fine-tuned deployment serves nothing but "Failed to load LoRA" (open models)."""
        return OPEN_MODEL_MIN_CAPACITY if self.open_model else 1


NCUS_SWC = frozenset({NORTH_CENTRAL_US, SWEDEN_CENTRAL})
EUS2_SWC = frozenset({EAST_US_2, SWEDEN_CENTRAL})
FINE_TUNING_SOURCES = ("schedule", "supported", "standard-deployment")


def _openai(
    name: str,
    version: str,
    family: str,
    regions: tuple[frozenset[str], frozenset[str]],
    retires: tuple[str, str | None, str | None],
    status: str = "GenerallyAvailable",
    *,
    sft: bool = True,
    developer: bool = True,
) -> Profile:
    """An OpenAI model of the fine-tuning tables. ``regions``: (Standard training, Standard deployments of
    its fine-tuned models); ``retires``: (base model, fine-tuned training for existing customers,
    fine-tuned deployments)."""
    base, training, deployments = retires
    return Profile(
        id=f"{name}-{version}",
        arm_name=name,
        arm_version=version,
        family=family,
        sft=sft,
        standard_regions=regions[0],
        developer=developer,
        standard_deployment_regions=regions[1],
        status=status,
        retires=base,
        training_retires_existing=training,
        deployment_retires=deployments,
        sources=FINE_TUNING_SOURCES,
    )


def _chat(name: str, version: str, retires: str) -> Profile:
    """A chat model no 2026 revision lets anyone fine-tune: a current deployment to serve rollouts from
    (issue 18, distillation), with its retirement date (schedule)."""
    return Profile(
        id=f"{name}-{version}",
        arm_name=name,
        arm_version=version,
        family=name,
        sft=False,
        fine_tunable=False,
        retires=retires,
        sources=("schedule",),
    )


def _open(model_id: str, arm_name: str, arm_version: str, provider_format: str) -> Profile:
    """supported: SFT, Global training only, no Developer tier, no Standard regions; standard-deployment
    lists none of them; skill: no job from a fine-tuned open model, provider format, capacity >= 100."""
    return Profile(
        id=model_id,
        arm_name=arm_name,
        arm_version=arm_version,
        family=arm_name,
        standard_regions=frozenset(),
        developer=False,
        from_fine_tuned=False,
        standard_deployment_regions=frozenset(),
        open_model=True,
        provider_format=provider_format,
        sources=("supported", "skill", "standard-deployment"),
    )


GPT41_DATES = ("2026-10-14", "2027-04-14", "2027-10-14")
GPT4O_DATES = ("2026-10-01", "2027-04-01", "2027-10-01")
PROFILES: dict[str, Profile] = {
    p.id: p
    for p in (
        _openai("gpt-4.1-mini", "2025-04-14", "gpt-4.1", (NCUS_SWC, NCUS_SWC), GPT41_DATES, "Deprecating"),
        _openai("gpt-4.1", "2025-04-14", "gpt-4.1", (NCUS_SWC, NCUS_SWC), GPT41_DATES, "Deprecating"),
        _openai("gpt-4.1-nano", "2025-04-14", "gpt-4.1", (NCUS_SWC, NCUS_SWC), GPT41_DATES, "Deprecating"),
        _openai("gpt-4o-mini", "2024-07-18", "gpt-4o", (NCUS_SWC, NCUS_SWC), GPT4O_DATES, "Deprecating"),
        _openai(
            "gpt-4o", "2024-08-06", "gpt-4o", (NCUS_SWC | {EAST_US_2}, EUS2_SWC), GPT4O_DATES, "Deprecating"
        ),
        # supported: o4-mini and gpt-5 are RFT only (gpt-5 gated); o4-mini has no Developer tier.
        _openai(
            "o4-mini",
            "2025-04-16",
            "o4-mini",
            (EUS2_SWC, EUS2_SWC),
            ("2026-10-16", "2027-04-16", "2027-10-16"),
            "Deprecating",
            sft=False,
            developer=False,
        ),
        _openai("gpt-5", "2025-08-07", "gpt-5", (NCUS_SWC, NCUS_SWC), ("2027-02-06", None, None), sft=False),
        _chat("gpt-5-mini", "2025-08-07", "2027-02-06"),
        _chat("gpt-5.1", "2025-11-13", "2027-05-15"),
        # Open models. Only gpt-oss-20b's versioned id is documented (skill); the others keep the names of
        # the supported table with version "1" (the schedule's version of Ministral-3B; assumed for the
        # other two). None has a retirement date in the schedule.
        _open("gpt-oss-20b-11", "gpt-oss-20b", "11", "Microsoft"),
        _open("Ministral-3B", "Ministral-3B", "1", "Mistral AI"),
        _open("Qwen-32B", "Qwen-32B", "1", "Alibaba"),
        _open("Llama-3.3-70B-Instruct", "Llama-3.3-70B-Instruct", "1", "Meta"),
    )
}
DEFAULT_BASE_MODELS = tuple(PROFILES)
DEFAULT_EXISTING_FAMILIES = ("gpt-4.1",)
FAMILIES = frozenset(p.family for p in PROFILES.values() if p.training_retires_existing)


def unlisted(model_id: str) -> Profile:
    """A model the table does not list: its ARM name and version from the id's date, no restriction."""
    parts = model_id.split("-")
    dated = len(parts) >= 4 and all(p.isdigit() for p in parts[-3:])
    version = "-".join(parts[-3:]) if dated else "1"
    name = model_id[: -len(version) - 1] if dated else model_id
    return Profile(id=model_id, arm_name=name, arm_version=version, family=name, sources=("unlisted",))


def profile_of(model_id: str) -> Profile:
    return PROFILES.get(model_id) or unlisted(model_id)


def day(iso_date: str) -> float:
    """An ISO date of the table as Unix seconds (UTC midnight: the schedule gives days, not times)."""
    return datetime.fromisoformat(iso_date).replace(tzinfo=UTC).timestamp()


def canonical_training_type(raw: object) -> str | None:
    """``trainingType`` as one of the three tiers (any case and spacing), None if it names none. The
    integer form the emulator also accepts (1, 2, 3) is undocumented and treated as Standard."""
    if isinstance(raw, bool):
        return None
    if isinstance(raw, int):
        return STANDARD if raw in (1, 2, 3) else None
    if not isinstance(raw, str):
        return None
    key = raw.replace(" ", "").lower()
    return {
        "standard": STANDARD,
        "globalstandard": GLOBAL,
        "developertier": DEVELOPER,
        "developer": DEVELOPER,
    }.get(key)


def training_refusal(profile: Profile, tier: str, location: str) -> str | None:
    """Why ``tier`` training of ``profile`` is refused in ``location``, or None when it is offered."""
    if tier == STANDARD and profile.standard_regions is not None and location not in profile.standard_regions:
        offered = ", ".join(sorted(profile.standard_regions)) or "no region"
        return f"Standard training of {profile.arm_name} is offered in {offered}, not in {location}"
    nano_in_poland = profile.arm_name == "gpt-4.1-nano" and location == "polandcentral"  # footnote 3
    if tier == GLOBAL and (
        nano_in_poland or not profile.global_training or location not in GLOBAL_TRAINING_REGIONS
    ):
        return f"Global training of {profile.arm_name} is not offered in {location}"
    if tier == DEVELOPER and not profile.developer:
        return f"{profile.arm_name} has no Developer training tier"
    return None
