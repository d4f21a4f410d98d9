"""The account's models, dated: ARM's model list (``accounts.list_models``) read once, with Azure's own
clock (the ``Date`` of ARM's answer: retirements happen at Azure's time, RFC 9110 section 6.6.1), and each
model's dates for this account (shared/domain/lifecycle.py decides what they refuse and warn about).

Where ARM's entry has no date, the profile table's schedule stands in (``source: schedule``): a base
model retires for inference at its base retirement, for fine-tuning at the date for existing customers
when ``EXISTING_FINE_TUNING_FAMILIES`` names its family, else with the base model; a fine-tuned model's
deployments retire at the table's date for them, its training follows its base model.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any, Literal

from azure.mgmt.cognitiveservices.models import AccountModel
from pydantic import BaseModel, Field

from shared.azure.deployments import Account
from shared.domain.lifecycle import (
    DateSource,
    LifecycleView,
    ModelDates,
    retirement_warnings,
    serving_refusal,
    training_refusal,
)
from shared.domain.lineage import Lineage
from shared.domain.models import (
    ModelProfile,
    as_datetime,
    descends_from,
    is_fine_tuned,
    platform_id,
    profile_of,
    root_model,
)
from shared.domain.settings import AppSettings

CAPABLE = "true"


@dataclass(frozen=True)
class AccountModels:
    """ARM's model list of the account, the clock it was read against, and the families the
    ``EXISTING_FINE_TUNING_FAMILIES`` setting says this account already fine-tunes."""

    listed: list[AccountModel]
    now: datetime
    clock: Literal["azure", "app"]
    existing_families: tuple[str, ...] = ()

    def entry(self, model: str) -> AccountModel | None:
        """The list's entry for a model id: base models are listed as name + version (gpt-4.1-mini,
        2025-04-14; gpt-oss-20b, 11), fine-tuned ones under their full id."""
        for item in self.listed:
            if item.name and model in (item.name, platform_id(item.name, item.version or "")):
                return item
        return None

    def dates(self, model: str) -> ModelDates:
        """``model``'s dates for this account (see the module docstring)."""
        own, base = self.entry(model), self.entry(root_model(model))
        profile = profile_of(model)
        tuned = is_fine_tuned(model)
        own_training = _date(own, "fine_tune") if tuned else (None, None)
        fine_tune, fine_tune_source = own_training if own_training[0] else _date(base, "fine_tune")
        if fine_tune is None and profile is not None and profile.sft:
            fine_tune, fine_tune_source = self._scheduled_training(profile)
        inference, inference_source = _date(own, "inference")
        if inference is None and profile is not None:
            end = (profile.deployments_retire or profile.retires) if tuned else profile.retires
            inference, inference_source = as_datetime(end), ("schedule" if end else None)
        capability = base.capabilities if base is not None else None
        return ModelDates(
            model=model,
            listed=base is not None,
            status=own.lifecycle_status if own is not None else None,
            fine_tune=fine_tune,
            fine_tune_source=fine_tune_source,
            inference=inference,
            inference_source=inference_source,
            fine_tune_capability=None
            if capability is None
            else str(capability.get("fineTune")).lower() == CAPABLE,
            skus={
                sku.name: _utc(sku.deprecation_date)
                for sku in (own.skus or [] if own is not None else [])
                if sku.name and sku.deprecation_date
            },
        )

    def _scheduled_training(self, profile: ModelProfile) -> tuple[datetime | None, DateSource | None]:
        existing = profile.family in self.existing_families and profile.training_retires_existing
        end = profile.training_retires_existing if existing else profile.retires
        return as_datetime(end), ("schedule" if end else None)

    def trainable_now(self) -> list[str]:
        """The base models this account can start a supervised fine-tuning job from now, as ids."""
        ids = [
            platform_id(item.name, item.version or "")
            for item in self.listed
            if item.name and item.base_model is None and not is_fine_tuned(item.name)
        ]
        return [model for model in ids if training_refusal(self.dates(model), self.now) is None]

    def view(self, models: list[str]) -> LifecycleView:
        """The dates of ``models`` (each once, in order) for a report or an answer."""
        unique = list(dict.fromkeys(models))
        return LifecycleView(
            now=self.now,
            clock=self.clock,
            models=[self.dates(model) for model in unique],
            trainable_now=self.trainable_now(),
        )


def _date(entry: AccountModel | None, kind: str) -> tuple[datetime | None, DateSource | None]:
    """ARM's ``deprecation.fineTune`` or ``.inference`` of an entry; a date without a zone is UTC."""
    deprecation = entry.deprecation if entry is not None else None
    text = getattr(deprecation, kind, None) if deprecation is not None else None
    if not text:
        return None, None
    moment = datetime.fromisoformat(str(text))
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)), "arm"


def read_models(
    account: Account, existing_families: tuple[str, ...], fallback_now: datetime
) -> AccountModels:
    """Lists the account's models; ``now`` is the ``Date`` of ARM's answer (``fallback_now`` without
    one). Raises what the SDK raises."""
    seen: list[str] = []

    def hook(response: Any) -> None:
        seen.append(response.http_response.headers.get("Date", ""))

    listed = list(
        account.client.accounts.list_models(account.resource_group, account.account, raw_response_hook=hook)
    )
    azure_now = _parsed(seen[0]) if seen else None
    if azure_now is None:
        return AccountModels(listed, fallback_now, "app", existing_families)
    return AccountModels(listed, azure_now, "azure", existing_families)


def _utc(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _parsed(header: str) -> datetime | None:
    try:
        moment = parsedate_to_datetime(header)
    except (TypeError, ValueError):
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


class LineageLifecycle(BaseModel):
    """The dates of what a lineage serves and trains, read now, and the warnings they give."""

    view: LifecycleView
    warnings: list[str]
    retired: list[str] = Field(description="models of the view retired for inference now")

    def as_json(self) -> dict[str, Any]:
        return {**self.view.model_dump(mode="json"), "warnings": self.warnings, "retired": self.retired}


def lifecycle_of(account: Account, record: Lineage, settings: AppSettings, now: datetime) -> LineageLifecycle:
    """A lineage's lifecycle (the lineage API, the dashboard): each chain's base model and the champion,
    dated by ARM against Azure's clock, with the warnings ``LIFECYCLE_WARNING_DAYS`` gives (the champion's
    deployment retiring while no rebase has succeeded, fine-tuning the newest chain's base retiring)."""
    models = read_models(account, settings.existing_families, now)
    champion = record.champion
    bases = [chain.base_model for chain in record.chains()]
    view = models.view([*bases, *([champion.model] if champion else [])])
    newest = record.chain_base()
    rebasing = newest if champion and newest and not descends_from(champion.model, newest) else None
    warnings = retirement_warnings(
        view,
        training=newest or (root_model(champion.model) if champion else ""),
        rollouts=None,
        champion=(champion.model, champion.deployment) if champion and champion.version != 0 else None,
        days=settings.lifecycle_warning_days,
        rebasing_to=rebasing,
    )
    retired = [item.model for item in view.models if serving_refusal(item, view.now) is not None]
    return LineageLifecycle(view=view, warnings=warnings, retired=retired)
