"""The model catalogue: ARM names and versions of model ids, retirement dates, and the account's model list
(ARM ``GET .../accounts/{account}/models``, the SDK's ``accounts.list_models``).

Retirement has two dates (ARM ``deprecation.fineTune`` and ``deprecation.inference``). From the first, a
fine-tuning job on the model (or on a model fine-tuned from it) is refused; from the second, deploying it
is refused and chat calls to its deployments fail. A fine-tuned model without an entry of its own follows
the entry of the base model it was trained from. Entries come from ``--retire-model`` and from the admin
API (``POST /_emulator/models/retire``), the latter winning.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from emulator.config import Retirement
from emulator.ratelimit import limits_for

if TYPE_CHECKING:
    from emulator.records import ModelRecord
    from emulator.store import Store

BASE_SKUS = ("GlobalStandard", "Standard", "DataZoneStandard")
FINE_TUNED_SKUS = ("Standard", "GlobalStandard", "DeveloperTier")


def arm_version(model: str) -> str:
    """ARM's model version for a base model id: its date (gpt-4.1-mini-2025-04-14 -> 2025-04-14)."""
    parts = model.split("-")
    if len(parts) >= 4 and all(p.isdigit() for p in parts[-3:]):
        return "-".join(parts[-3:])
    return "1"


def arm_name(model: str) -> str:
    """ARM's model name for a base model id: no date (gpt-4.1-mini-2025-04-14 -> gpt-4.1-mini)."""
    version = arm_version(model)
    return model[: -len(version) - 1] if version != "1" else model


def iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat().replace("+00:00", "Z")


def parse_time(text: str) -> float:
    """An ISO 8601 date or date-time (UTC when no offset is given) as Unix seconds; ValueError if not."""
    moment = datetime.fromisoformat(text.strip())
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()


def retirement(store: Store, model_id: str) -> Retirement | None:
    """The retirement that applies to ``model_id``: its own entry, else its base model's."""
    table = {r.model: r for r in store.config.retirements} | store.data.retirements
    if model_id in table:
        return table[model_id]
    model = store.data.models.get(model_id)
    return table.get(model.root) if model is not None else None


def fine_tune_retired(store: Store, model_id: str, now: float) -> bool:
    entry = retirement(store, model_id)
    return entry is not None and now >= entry.fine_tune


def inference_retired_since(store: Store, model_id: str, now: float) -> float | None:
    """The moment inference on ``model_id`` was retired, if that moment has passed."""
    entry = retirement(store, model_id)
    if entry is None or entry.inference is None or now < entry.inference:
        return None
    return entry.inference


def _sku(name: str, model_name: str, capacity: int) -> dict[str, Any]:
    """A SKU of the model list; its ``rateLimits`` are per capacity unit, by the same rules chat enforces."""
    unit = limits_for(model_name, name, 1, window=60.0, scale=1.0)
    return {
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


def _model_json(store: Store, model: ModelRecord, now: float) -> dict[str, Any]:
    fine_tuned = model.job_id is not None
    name, version = (model.id, "1") if fine_tuned else (arm_name(model.id), arm_version(model.id))
    capacity = store.config.base_capacity
    entry = retirement(store, model.id)
    body: dict[str, Any] = {
        "format": "OpenAI",
        "name": name,
        "version": version,
        "maxCapacity": capacity * 10,
        "capabilities": {"chatCompletion": "true", "fineTune": "true"},
        "lifecycleStatus": "Deprecated"
        if inference_retired_since(store, model.id, now) is not None
        else "GenerallyAvailable",
        "skus": [_sku(sku, name, capacity) for sku in (FINE_TUNED_SKUS if fine_tuned else BASE_SKUS)],
        "systemData": {"createdAt": iso(model.created_at)},
    }
    if fine_tuned:
        body["baseModel"] = {
            "format": "OpenAI",
            "name": arm_name(model.root),
            "version": arm_version(model.root),
        }
    else:
        body["isDefaultVersion"] = True
    if entry is not None:
        deprecation = {"fineTune": iso(entry.fine_tune)}
        if entry.inference is not None:
            deprecation["inference"] = iso(entry.inference)
        body["deprecation"] = deprecation
    return body


def account_models(store: Store, now: float) -> list[dict[str, Any]]:
    """Base models first (in flag order), then the account's fine-tuned models, oldest first."""
    base = [store.data.models[m] for m in store.config.base_models if m in store.data.models]
    tuned = sorted(
        (m for m in store.data.models.values() if m.job_id is not None), key=lambda m: m.created_at
    )
    extra = [
        m for m in store.data.models.values() if m.job_id is None and m.id not in store.config.base_models
    ]
    return [_model_json(store, m, now) for m in [*base, *extra, *tuned]]
