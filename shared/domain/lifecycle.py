"""When a model stops training and serving for this account, and what that refuses or warns about.

The dates come from ARM's model list of the account (``accounts/{a}/models``: ``deprecation.fineTune`` and
``deprecation.inference``, ``lifecycleStatus``), read by shared/azure/lifecycle.py; where the list gives no
date, from the schedule in the profile table (shared/domain/models.py). Whether this account may still
train a model whose base has retired depends on whether it already fine-tunes that family (the schedule:
"for existing customers only"), which ARM has no field for. The app takes the account's own list as the
answer (it is per account, and the date it gives is the one that applies to this account); where the list
has no date, the ``EXISTING_FINE_TUNING_FAMILIES`` app setting says, and without it the account is taken
for a new customer (money first: a refusal names the setting that changes it). docs/models.md, "How the
app learns what this account can train".

``capabilities.fineTune`` is not trusted alone: Microsoft's notes say it reads false for the open models,
which train; a model of the table is judged by its profile, one outside it by the flag. Nothing here does
I/O.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from shared.domain.models import ModelProfile, descends_from, is_fine_tuned, profile_of, root_model

DateSource = Literal["arm", "schedule"]


def day(moment: datetime) -> str:
    """A retirement moment as people read it: its UTC date (the schedule gives days)."""
    return moment.date().isoformat()


class ModelDates(BaseModel):
    """One model's lifecycle as it applies to this account: when its fine-tuning and its inference retire
    (None: no date known) and where each date comes from."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    model: str
    listed: bool = Field(description="ARM lists it (or, for a fine-tuned model, its base model)")
    status: str | None = Field(None, description="ARM lifecycleStatus")
    fine_tune: datetime | None = None
    fine_tune_source: DateSource | None = None
    inference: datetime | None = None
    inference_source: DateSource | None = None
    fine_tune_capability: bool | None = Field(None, description="ARM capabilities.fineTune of its base model")
    skus: dict[str, datetime] = Field(
        default_factory=dict, description="ARM skus[].deprecationDate: when each SKU stops serving it"
    )


class LifecycleView(BaseModel):
    """What a run touches, dated: the clock the dates are read against (Azure's, from ARM's answer, else
    the app's), each model's dates, and the base models this account can fine-tune now."""

    model_config = ConfigDict(extra="forbid")

    now: datetime
    clock: Literal["azure", "app"]
    models: list[ModelDates]
    trainable_now: list[str]


def training_refusal(dates: ModelDates, now: datetime) -> str | None:
    """Why this account cannot start a supervised fine-tuning job from ``dates.model`` at ``now``, the
    date named; None when it can."""
    model, profile = dates.model, profile_of(dates.model)
    if dates.fine_tune is not None and dates.fine_tune <= now:
        return f"fine-tuning {model} retired on {day(dates.fine_tune)} for this account{_why(profile, dates)}"
    if profile is not None:
        if not profile.sft:
            what = ", ".join(profile.methods) + " only" if profile.methods else "no fine-tuning at all"
            return f"{root_model(model)} offers no supervised fine-tuning ({what})"
        if is_fine_tuned(model) and not profile.from_fine_tuned:
            name = profile.arm_name
            return f"a model fine-tuned from {name} cannot be fine-tuned again; start from {profile.id}"
        return None
    if dates.fine_tune_capability is False:
        return f"{root_model(model)} cannot be fine-tuned (ARM capabilities.fineTune is false)"
    return None


def _why(profile: ModelProfile | None, dates: ModelDates) -> str:
    """What the schedule says about that date: for an account that does not already fine-tune the
    family, training ends with the base model; for one that does, later."""
    if profile is None or profile.training_retires_existing is None or dates.fine_tune is None:
        return ""
    later = profile.training_retires_existing
    if dates.fine_tune.date() >= later:
        return " (the schedule's last date, for accounts that already fine-tune the family)"
    source = "ARM's model list" if dates.fine_tune_source == "arm" else "the schedule"
    return (
        f" ({source}; training goes on until {later.isoformat()} only for accounts that already fine-tune "
        f"the {profile.family} family: if this one does and ARM gives no date, set "
        f"EXISTING_FINE_TUNING_FAMILIES={profile.family})"
    )


def serving_refusal(dates: ModelDates, now: datetime, sku: str | None = None) -> str | None:
    """Why ``dates.model`` no longer answers chat calls at ``now`` on a deployment of ``sku`` (its
    inference retired, or that SKU's: ARM dates each SKU of a model apart), else None."""
    if dates.inference is not None and dates.inference <= now:
        return f"{dates.model} was retired for inference on {day(dates.inference)}"
    sku_end = dates.skus.get(sku) if sku else None
    if sku_end is not None and sku_end <= now:
        return (
            f"{sku} deployments of {dates.model} were retired on {day(sku_end)} (ARM's SKU deprecationDate)"
        )
    if dates.status == "Deprecated":
        return f"{dates.model} is retired for inference (ARM lifecycleStatus Deprecated)"
    return None


def soon(moment: datetime | None, now: datetime, days: int) -> int | None:
    """Days until ``moment`` when it is after ``now`` and within ``days``, else None."""
    if moment is None or moment <= now or moment - now > timedelta(days=days):
        return None
    return (moment - now).days


def retirement_warnings(
    view: LifecycleView,
    *,
    training: str,
    rollouts: str | None,
    champion: tuple[str, str] | None,
    days: int,
    rebasing_to: str | None = None,
    rollouts_sku: str | None = None,
) -> list[str]:
    """What retires within ``days`` and touches the run: fine-tuning ``training`` (the run's base model),
    the deployments its candidates will have, the model its rollouts run on (``rollouts``, on a
    deployment of ``rollouts_sku``, which ARM may retire before the model), and the lineage's champion
    (model, deployment). A champion whose deployment retires says what to do: rebase the lineage
    (``rebasing_to``: this run already does)."""
    dates = {item.model: item for item in view.models}
    now, warnings = view.now, []
    base = dates.get(training)
    if base is not None and (left := soon(base.fine_tune, now, days)) is not None:
        warnings.append(
            f"fine-tuning {training} retires for this account on {day(base.fine_tune or now)} (in {left} "
            f"days): rebase the lineage onto a model this account can fine-tune ({_listed(view, training)})"
        )
    profile = profile_of(training)
    tuned_end = profile.deployments_retire if profile is not None else None
    if tuned_end is not None:
        moment = datetime(tuned_end.year, tuned_end.month, tuned_end.day, tzinfo=now.tzinfo)
        if (left := soon(moment, now, days)) is not None:
            warnings.append(
                f"deployments of models fine-tuned from {training} stop serving on {tuned_end} (in {left} "
                "days, the schedule): the run's candidates will not outlive it"
            )
    served = dates.get(rollouts) if rollouts else None
    if served is not None and (left := soon(served.inference, now, days)) is not None:
        warnings.append(
            f"{served.model}, which the run's rollouts run on, stops serving on "
            f"{day(served.inference or now)} (in {left} days): choose another base_deployment (a teacher)"
        )
    elif served is not None and rollouts_sku is not None:
        sku_end = served.skus.get(rollouts_sku)
        if (left := soon(sku_end, now, days)) is not None:
            warnings.append(
                f"{rollouts_sku} deployments of {served.model}, which the run's rollouts run on, stop "
                f"serving on {day(sku_end or now)} (in {left} days): redeploy it on another SKU or choose "
                "another base_deployment"
            )
    if champion is not None:
        model, deployment = champion
        own = dates.get(model)
        if own is not None and (left := soon(own.inference, now, days)) is not None:
            plan = (
                f"this run rebases the lineage onto {rebasing_to}; its candidates take over when one beats "
                "the champion"
                if rebasing_to
                else "rebase the lineage: run it with base_model set to a model this account can "
                f"fine-tune ({_listed(view, model)})"
            )
            warnings.append(
                f"the champion {deployment} ({model}) stops serving on {day(own.inference or now)} (in "
                f"{left} days) and no rebase has succeeded: {plan}"
            )
    return warnings


def _listed(view: LifecycleView, model: str) -> str:
    others = [name for name in view.trainable_now if not descends_from(model, name)]
    return ", ".join(others) if others else "none is listed now"
