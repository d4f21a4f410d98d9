"""The model catalogue: ARM names and versions of model ids, each model's retirement dates for this
account, and the model lists (ARM ``GET .../accounts/{account}/models``, the SDK's
``accounts.list_models``, and ``GET .../locations/{location}/models``, ``models.list``).

Retirement has two dates (ARM ``deprecation.fineTune`` and ``deprecation.inference``). From the first, a
fine-tuning job on the model (or on a model fine-tuned from it) is refused; from the second, deploying it
is refused and chat calls to its deployments fail. Where the dates come from, first match wins:

1. an entry for the model id set through the admin API (``POST /_emulator/models/retire``), then one from
   ``--retire-model``; a fine-tuned model without an entry of its own follows its base model's entry;
2. the lifecycle table of emulator/profiles.py (unless ``--lifecycle none``), read for this account: a
   base model retires for inference at its retirement date, and for fine-tuning at the fine-tuned table's
   training date if the account is an existing customer of its family (``--customer``), else at the base
   model's retirement; a fine-tuned model follows its base for training and retires for inference at the
   fine-tuned table's deployment date (or the base model's retirement where the table gives none).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from emulator.config import Retirement
from emulator.profiles import OPENAI_FORMAT, OSS_FORMAT, Profile, day, profile_of
from emulator.ratelimit import limits_for

if TYPE_CHECKING:
    from emulator.records import ModelRecord
    from emulator.store import Store

BASE_SKUS = ("GlobalStandard", "Standard", "DataZoneStandard")
FINE_TUNED_SKUS = ("Standard", "GlobalStandard", "DeveloperTier")
FOUNDRY_KIND = "AIServices"  # a Foundry resource: the kind open-model fine-tuning requires (supported)


def arm_version(model: str) -> str:
    """ARM's model version for a base model id (gpt-oss-20b-11 -> 11)."""
    return profile_of(model).arm_version


def arm_name(model: str) -> str:
    """ARM's model name for a base model id (gpt-4.1-mini-2025-04-14 -> gpt-4.1-mini)."""
    return profile_of(model).arm_name


def iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat().replace("+00:00", "Z")


def parse_time(text: str) -> float:
    """An ISO 8601 date or date-time (UTC when no offset is given) as Unix seconds; ValueError if not."""
    moment = datetime.fromisoformat(text.strip())
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()


def existing_families(store: Store) -> tuple[str, ...]:
    """The model families this account already fine-tunes (the admin API's setting, else ``--customer``)."""
    override = store.data.account.existing_families
    return tuple(override) if override is not None else store.config.existing_families


def serializes_writes(store: Store) -> bool:
    """Whether one deployment write at a time is allowed on the account (admin setting, else the flag)."""
    override = store.data.account.serialize_deployment_writes
    return override if override is not None else store.config.serialize_deployment_writes


def root_profile(store: Store, model_id: str) -> Profile:
    """The profile of the base model ``model_id`` is (or was fine-tuned from)."""
    model = store.data.models.get(model_id)
    return profile_of(model.root if model is not None else model_id)


def deployment_format(store: Store, profile: Profile) -> str:
    """The ARM ``model.format`` a deployment of a ``profile`` model must carry (``--open-model-format``)."""
    if not profile.open_model:
        return OPENAI_FORMAT
    return OSS_FORMAT if store.config.open_model_format == OSS_FORMAT else profile.provider_format


def _table_dates(store: Store, profile: Profile, fine_tuned: bool) -> tuple[float | None, float | None]:
    """(fine-tuning, inference) retirement of a base model or of a model fine-tuned from it."""
    existing = profile.family in existing_families(store) and profile.training_retires_existing is not None
    training = profile.training_retires_existing if existing else profile.retires
    inference = (profile.deployment_retires or profile.retires) if fine_tuned else profile.retires
    return (
        day(training) if training and profile.fine_tunable else None,
        day(inference) if inference else None,
    )


def retirement(store: Store, model_id: str) -> Retirement | None:
    """The retirement that applies to ``model_id`` on this account (see the module docstring), or None
    when the model has no date at all."""
    overrides = {r.model: r for r in store.config.retirements} | store.data.retirements
    model = store.data.models.get(model_id)
    fine_tuned = model is not None and model.job_id is not None
    own = overrides.get(model_id) or (overrides.get(model.root) if model is not None and fine_tuned else None)
    if own is not None:
        return own
    if store.config.lifecycle == "none":
        return None
    fine_tune, inference = _table_dates(store, root_profile(store, model_id), fine_tuned)
    if fine_tune is None and inference is None:
        return None
    return Retirement(model=model_id, fine_tune=fine_tune, inference=inference)


def fine_tune_retired_since(store: Store, model_id: str, now: float) -> float | None:
    """The moment fine-tuning on ``model_id`` was retired for this account, if that moment has passed."""
    entry = retirement(store, model_id)
    if entry is None or entry.fine_tune is None or now < entry.fine_tune:
        return None
    return entry.fine_tune


def inference_retired_since(store: Store, model_id: str, now: float) -> float | None:
    """The moment inference on ``model_id`` was retired, if that moment has passed."""
    entry = retirement(store, model_id)
    if entry is None or entry.inference is None or now < entry.inference:
        return None
    return entry.inference


def lifecycle_status(store: Store, model: ModelRecord, now: float) -> str:
    """ARM ``lifecycleStatus``: Deprecated once inference is retired (the SDK's enum: "also known as
    retired"), else the table's status for a base model (Deprecating: retirement announced), else
    GenerallyAvailable."""
    if inference_retired_since(store, model.id, now) is not None:
        return "Deprecated"
    overridden = {r.model for r in store.config.retirements} | set(store.data.retirements)
    if model.job_id is None and store.config.lifecycle == "table" and model.id not in overridden:
        return profile_of(model.id).status
    return "GenerallyAvailable"


def _sku(name: str, model_name: str, capacity: int, retires: float | None) -> dict[str, Any]:
    """A SKU of the model list; its ``rateLimits`` are per capacity unit, by the same rules chat enforces;
    ``deprecationDate`` is the model's inference retirement, as ARM reports it on each SKU."""
    unit = limits_for(model_name, name, 1, window=60.0, scale=1.0)
    sku: dict[str, Any] = {
        "name": name,
        "usageName": f"OpenAI.{name}.{model_name}",
        "capacity": {"minimum": 1, "maximum": capacity * 10, "step": 1, "default": capacity},
        "rateLimits": [
            {"key": "request", "renewalPeriod": 60, "count": unit.rpm},
            {"key": "token", "renewalPeriod": 60, "count": unit.tpm},
        ]
        if unit
        else [],
    }
    if retires is not None:
        sku["deprecationDate"] = iso(retires)
    return sku


def deployable_skus(store: Store, profile: Profile, fine_tuned: bool) -> tuple[str, ...]:
    """The SKUs a deployment of the model may use: open models GlobalStandard only (skill, supported);
    fine-tuned models Standard only in the regions standard-deployment lists, DeveloperTier only where the
    model has a Developer tier (supported)."""
    if profile.open_model:
        return ("GlobalStandard",)
    if not fine_tuned:
        return BASE_SKUS
    regions = profile.standard_deployment_regions
    return tuple(
        sku
        for sku in FINE_TUNED_SKUS
        if (sku != "Standard" or regions is None or store.config.location in regions)
        and (sku != "DeveloperTier" or profile.developer)
    )


def model_json(store: Store, model: ModelRecord, now: float) -> dict[str, Any]:
    """One entry of the model lists, shaped as the spec's ListAccountModels / ListLocationModels examples
    (2025-06-01 / 2024-10-01). ``capabilities.fineTune`` reads "false" for open models although they can
    be fine-tuned: the quirk Microsoft's fine-tuning skill reports ("API returns fine_tune = false for all
    OSS models despite being FT-supported")."""
    fine_tuned = model.job_id is not None
    profile = profile_of(model.root)
    name, version = (model.id, "1") if fine_tuned else (profile.arm_name, profile.arm_version)
    capacity = store.config.base_capacity
    entry = retirement(store, model.id)
    retires = entry.inference if entry is not None else None
    fine_tunable = (
        profile.fine_tunable and not profile.open_model and (profile.from_fine_tuned or not fine_tuned)
    )
    model_format = deployment_format(store, profile)
    body: dict[str, Any] = {
        "format": model_format,
        "name": name,
        "version": version,
        "maxCapacity": capacity * 10,
        "capabilities": {"chatCompletion": "true", "fineTune": "true" if fine_tunable else "false"},
        "lifecycleStatus": lifecycle_status(store, model, now),
        "skus": [_sku(sku, name, capacity, retires) for sku in deployable_skus(store, profile, fine_tuned)],
        "systemData": {"createdAt": iso(model.created_at)},
    }
    if fine_tuned:
        body["baseModel"] = {"format": model_format, "name": profile.arm_name, "version": profile.arm_version}
    else:
        body["isDefaultVersion"] = True
    if entry is not None:
        deprecation = {"fineTune": iso(entry.fine_tune)} if entry.fine_tune is not None else {}
        if entry.inference is not None:
            deprecation["inference"] = iso(entry.inference)
        body["deprecation"] = deprecation
    return body


def _listed(store: Store) -> list[ModelRecord]:
    """Base models first (in flag order), then other base models, then fine-tuned models, oldest first."""
    base = [store.data.models[m] for m in store.config.base_models if m in store.data.models]
    extra = [
        m for m in store.data.models.values() if m.job_id is None and m.id not in store.config.base_models
    ]
    tuned = sorted(
        (m for m in store.data.models.values() if m.job_id is not None), key=lambda m: m.created_at
    )
    return [*base, *extra, *tuned]


def account_models(store: Store, now: float) -> list[dict[str, Any]]:
    """``accounts/{account}/models``: the account's base models and the models it fine-tuned."""
    return [model_json(store, m, now) for m in _listed(store)]


def location_models(store: Store, location: str, now: float) -> list[dict[str, Any]]:
    """``locations/{location}/models``: the platform's base models in the account's region, each wrapped
    as the ListLocationModels example wraps it (``kind``, ``skuName``, ``model``); other regions list
    nothing, since only one account and region are emulated."""
    if location.lower() != store.config.location.lower():
        return []
    return [
        {"kind": FOUNDRY_KIND, "skuName": "S0", "model": model_json(store, m, now)}
        for m in _listed(store)
        if m.job_id is None
    ]
