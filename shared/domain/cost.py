"""What fine-tuning costs: trained tokens estimated from a dataset, priced from a table, held to a budget.

Azure bills supervised fine-tuning per trained token (the tokens of the training file times the
epochs) and fine-tuned Standard/GlobalStandard deployments per hour; DeveloperTier deployments have no
hourly fee. The estimate counts tokens with the character approximation ``shared.domain.rate_limits`` already
uses for Azure's request charge (no tokenizer that carries o200k_base works offline from a source we
accept; docs/cost.md says why, and how far the estimate is from ``trained_tokens``). Prices come from
the ``PRICING`` app setting laid over ``DEFAULT_PRICING`` (docs/cost.md gives each number's source and
the date it was read). Everything here is pure: no I/O.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from datetime import datetime
from typing import Annotated, Any, Literal

from azure.mgmt.cognitiveservices.models import Deployment
from pydantic import BaseModel, ConfigDict, Field

from shared.domain.models import profile_of
from shared.domain.rate_limits import (
    FINE_TUNED_MARK,
    UnknownModelFamily,
    estimate_prompt_tokens,
    model_family,
)
from shared.telemetry.spans import jsonl_lines

TrainingType = Literal["Standard", "GlobalStandard", "developerTier"]
"""Azure's ``trainingType`` values, spelled as the run setting ``training_type`` spells them."""

HostingSku = Literal["Standard", "GlobalStandard", "DataZoneStandard", "DeveloperTier"]
TokenKind = Literal["input", "output"]
"""Deployment SKUs a fine-tuned model is served on by the token (provisioned SKUs bill PTU-hours)."""

Usd = Annotated[float, Field(ge=0, le=1_000_000, allow_inf_nan=False)]
TOKENS_PER_MILLION = 1_000_000
SECONDS_PER_HOUR = 3600
CHARS_PER_TOKEN = 4
"""The approximation's ratio, also used backwards to size a file not yet built (docs/cost.md)."""

PRICES_READ_ON = "2026-11-25"
HOSTING_PER_HOUR: dict[HostingSku, float] = {"Standard": 1.70, "GlobalStandard": 1.70, "DeveloperTier": 0.0}
"""Fine-tuned deployment hosting, the same for every model: fine-tuning-cost-management.md (ms.date
2026-02-11): Standard and Global Standard $1.70/hour, Developer Tier none."""

GLOBAL_TRAINING_PER_1M = {
    "gpt-4.1": 25.00,
    "gpt-4.1-mini": 5.00,
    "gpt-4.1-nano": 1.50,
    "gpt-4o": 25.00,
    "gpt-4o-mini": 3.00,
}
"""Global training, USD per 1M trained tokens: OpenAI's published training prices for the same models
(Azure's pricing page could not be read offline; docs/cost.md)."""

INFERENCE_PER_1M: dict[str, tuple[float, float]] = {
    "gpt-4.1": (2.00, 8.00),
    "gpt-4.1-mini": (0.40, 1.60),
    "gpt-4.1-nano": (0.10, 0.40),
    "gpt-4o": (2.50, 10.00),
    "gpt-4o-mini": (0.15, 0.60),
}
"""Inference, USD per 1M (input, output) tokens: fine-tuned deployments "pay per-token at the same rate
as base model" deployments, Developer Tier "Same as Global Standard" (fine-tuning-cost-management.md);
the base models' Global Standard prices taken as OpenAI's published ones, as for training."""

EXPECTED_OUTPUT_SHARE = 0.1
"""Before any rollout is measured, a rollout is taken to write a tenth of the tokens it reads (the
bundled agents' rollouts measured 4-6 % on the emulator: docs/cost.md)."""

REGIONAL_SHARE = 1 / 0.7
"""Regional (Standard) training from Global: Global is "10-30% discount from regional standard
training"; the 30% end makes Standard the dearest the docs allow, so a budget is not underestimated."""

DEVELOPER_SHARE = 0.5
"""Developer training from Global: "developer (50% discount from global)"."""


class FamilyPrice(BaseModel):
    """One model family's prices: training per 1M trained tokens by training type, hosting per hour by
    deployment SKU. A missing entry means unknown, not free."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    training_per_1m_tokens: dict[TrainingType, Usd] = Field(default_factory=dict)
    hosting_per_hour: dict[HostingSku, Usd] = Field(default_factory=dict)
    inference_per_1m_tokens: dict[TokenKind, Usd] = Field(default_factory=dict)


class Pricing(BaseModel):
    """The price table: model family (``gpt-4.1-mini``; see ``rate_limits.model_family``) -> prices."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    families: dict[str, FamilyPrice]

    def family(self, model: str) -> tuple[str, FamilyPrice]:
        """The family of a base or fine-tuned model id and its prices; raises UnknownModelFamily. A model
        the rate-limit table does not know but the profiles table does (gpt-oss-20b) is priced under its
        ARM name, so PRICING can name it."""
        try:
            family = model_family(model)
        except UnknownModelFamily:
            profile = profile_of(model)
            if profile is None:
                raise
            family = profile.arm_name
        prices = self.families.get(family)
        if prices is None:
            raise UnknownModelFamily(f"model family {family} has no entry in PRICING; add one (docs/cost.md)")
        return family, prices

    def training_per_1m(self, model: str, training_type: str) -> float:
        """USD per 1M trained tokens; raises UnknownModelFamily (or KeyError for an unpriced type)."""
        family, prices = self.family(model)
        price = next((p for kind, p in prices.training_per_1m_tokens.items() if kind == training_type), None)
        if price is None:
            raise KeyError(
                f"PRICING has no {training_type} training price for {family}; add one (docs/cost.md)"
            )
        return price

    def inference_per_1m(self, model: str) -> tuple[float, float] | None:
        """USD per 1M input and output tokens of chat calls, or None when the table lacks either."""
        try:
            _, prices = self.family(model)
        except UnknownModelFamily:
            return None
        rates = prices.inference_per_1m_tokens
        return (rates["input"], rates["output"]) if "input" in rates and "output" in rates else None

    def hosting_per_hour(self, model: str, sku_name: str) -> float | None:
        """USD per deployment hour, or None when the table does not know the family or SKU."""
        try:
            _, prices = self.family(model)
        except UnknownModelFamily:
            return None
        return next((p for sku, p in prices.hosting_per_hour.items() if sku == sku_name), None)


def _default_family(global_price: float, inference: tuple[float, float]) -> FamilyPrice:
    return FamilyPrice(
        training_per_1m_tokens={
            "GlobalStandard": global_price,
            "Standard": round(global_price * REGIONAL_SHARE, 2),
            "developerTier": round(global_price * DEVELOPER_SHARE, 2),
        },
        hosting_per_hour=dict(HOSTING_PER_HOUR),
        inference_per_1m_tokens={"input": inference[0], "output": inference[1]},
    )


DEFAULT_PRICING = Pricing(
    families={
        family: _default_family(price, INFERENCE_PER_1M[family])
        for family, price in GLOBAL_TRAINING_PER_1M.items()
    }
)


def pricing_from_json(text: str | None) -> Pricing:
    """``DEFAULT_PRICING`` with the ``PRICING`` app setting laid over it, entry by entry: a family, a
    training type or a SKU named there replaces the default, everything else stays. Raises ValueError
    (or pydantic's ValidationError) naming what is wrong."""
    if not text:
        return DEFAULT_PRICING
    overrides = json.loads(text)
    if not isinstance(overrides, dict):
        raise ValueError('must be a JSON object: {"<family>": {"training_per_1m_tokens": {...}, ...}}')
    merged: dict[str, Any] = DEFAULT_PRICING.model_dump()["families"]
    for family, prices in overrides.items():
        base = merged.get(
            family, {"training_per_1m_tokens": {}, "hosting_per_hour": {}, "inference_per_1m_tokens": {}}
        )
        if not isinstance(prices, dict):
            raise ValueError(f"{family}: must be an object with training_per_1m_tokens and hosting_per_hour")
        merged[family] = {
            **base,
            **prices,
            **{
                key: {**base.get(key, {}), **prices[key]}
                for key in ("training_per_1m_tokens", "hosting_per_hour", "inference_per_1m_tokens")
                if isinstance(prices.get(key), dict)
            },
        }
    return Pricing.model_validate({"families": merged})


def example_tokens(example: Mapping[str, Any]) -> int:
    """The approximation's tokens for one training example: every message and tool definition, as
    ``shared.domain.rate_limits.estimate_prompt_tokens`` counts a chat request."""
    messages = example.get("messages")
    tools = example.get("tools")
    return estimate_prompt_tokens(
        messages if isinstance(messages, list) else [],
        tools if isinstance(tools, list) else None,
    )


def dataset_tokens(jsonl: str) -> int:
    """The approximation's tokens for a whole training file (one example per non-empty line)."""
    return sum(example_tokens(json.loads(line)) for line in jsonl_lines(jsonl) if line.strip())


def expected_examples_tokens(rollouts: int, ratio: float, tokens_per_rollout: int) -> int:
    """Tokens of a dataset not built yet: the share ``ratio`` of ``rollouts`` rollouts is kept, each
    worth ``tokens_per_rollout`` (the ``EXPECTED_TOKENS_PER_ROLLOUT`` app setting)."""
    return math.ceil(rollouts * ratio) * tokens_per_rollout


class ServedRollouts(BaseModel):
    """Rollouts one model serves (the training batch, or one side's evaluation) and their price."""

    model_config = ConfigDict(extra="forbid")

    role: Literal["batch", "champion", "candidate"]
    model: str
    rollouts: int
    input_tokens: int
    output_tokens: int
    price_per_1m_input: float | None = None
    price_per_1m_output: float | None = None
    estimated_usd: float | None = Field(None, description="None: no inference price for the model")


class InferenceEstimate(BaseModel):
    """What an iteration's rollouts are expected to cost in chat calls: the training batch and the
    candidate's and the champion's evaluations, at tokens per rollout ``measured`` by the run so far or
    ``expected`` (``EXPECTED_TOKENS_PER_ROLLOUT`` read, a tenth of that written), each at the price of
    the model that serves it (``served_by``): a teacher serving the batch or the champion's side costs
    its own price, not the trained model's."""

    model_config = ConfigDict(extra="forbid")

    basis: Literal["measured", "expected"]
    rollouts: int
    input_tokens: int
    output_tokens: int
    price_per_1m_input: float | None = Field(
        None, description="the one rate of every serving model; None when they differ or one has none"
    )
    price_per_1m_output: float | None = None
    estimated_usd: float | None = Field(None, description="the priced parts of served_by, summed")
    served_by: list[ServedRollouts] = Field(default_factory=list)

    @property
    def unpriced(self) -> list[str]:
        """The models serving some of the rollouts that have no inference price."""
        return sorted({part.model for part in self.served_by if part.estimated_usd is None})


def estimate_inference(
    pricing: Pricing,
    parts: list[tuple[Literal["batch", "champion", "candidate"], str, int]],
    tokens_per_rollout: tuple[float, float],
    *,
    basis: Literal["measured", "expected"],
) -> InferenceEstimate:
    """The chat tokens of each part's rollouts (role, serving model, rollouts) at ``tokens_per_rollout``
    (read, written), each at its model's price; parts of no rollout are left out. The sum leaves out
    parts without a price (``unpriced`` names their models), so a known part is never hidden by an
    unknown one."""
    served: list[ServedRollouts] = []
    for role, model, rollouts in parts:
        if rollouts <= 0:
            continue
        reading, writing = (math.ceil(rollouts * tokens) for tokens in tokens_per_rollout)
        rates = pricing.inference_per_1m(model)
        usd = None if rates is None else usd_of_tokens(reading, rates[0]) + usd_of_tokens(writing, rates[1])
        served.append(
            ServedRollouts(
                role=role,
                model=model,
                rollouts=rollouts,
                input_tokens=reading,
                output_tokens=writing,
                price_per_1m_input=rates[0] if rates else None,
                price_per_1m_output=rates[1] if rates else None,
                estimated_usd=None if usd is None else round(usd, 6),
            )
        )
    rates_seen = {(part.price_per_1m_input, part.price_per_1m_output) for part in served}
    (one_in, one_out) = rates_seen.pop() if len(rates_seen) == 1 else (None, None)
    priced = [part.estimated_usd for part in served if part.estimated_usd is not None]
    return InferenceEstimate(
        basis=basis,
        rollouts=sum(part.rollouts for part in served),
        input_tokens=sum(part.input_tokens for part in served),
        output_tokens=sum(part.output_tokens for part in served),
        price_per_1m_input=one_in,
        price_per_1m_output=one_out,
        estimated_usd=round(sum(priced), 6) if priced else None,
        served_by=served,
    )


class CostEstimate(BaseModel):
    """What one job is expected to cost, and the price it was computed with (so the actual cost can be
    computed from ``trained_tokens`` with the same price)."""

    model_config = ConfigDict(extra="forbid")

    basis: Literal["dataset", "expected"] = Field(
        description="dataset: counted from the training file; expected: from the run's settings"
    )
    model_family: str | None = None
    training_type: str
    n_epochs: int
    estimated_tokens: int = Field(description="tokens of the file times the epochs")
    price_per_1m_tokens: float | None = Field(None, description="None: no price for the family or type")
    estimated_usd: float | None = None
    inference: InferenceEstimate | None = Field(
        None, description="the iteration's rollouts (training batch and evaluations); not in estimated_usd"
    )


def estimate(
    pricing: Pricing,
    model: str,
    training_type: str,
    file_tokens: int,
    n_epochs: int,
    *,
    basis: Literal["dataset", "expected"],
) -> CostEstimate:
    """Trained tokens (file tokens x epochs) and their price; an unknown family or training type gives
    no price rather than a guess."""
    trained = file_tokens * n_epochs
    family: str | None = None
    price: float | None = None
    try:
        family, _ = pricing.family(model)
        price = pricing.training_per_1m(model, training_type)
    except (UnknownModelFamily, KeyError):
        pass
    return CostEstimate(
        basis=basis,
        model_family=family,
        training_type=training_type,
        n_epochs=n_epochs,
        estimated_tokens=trained,
        price_per_1m_tokens=price,
        estimated_usd=None if price is None else usd_of_tokens(trained, price),
    )


def usd_of_tokens(tokens: int, price_per_1m: float) -> float:
    return round(tokens * price_per_1m / TOKENS_PER_MILLION, 6)


def hours_between(start: str, end: str) -> float:
    """Hours from one ISO 8601 time to a later one (0 when ``end`` is not later)."""
    seconds = (datetime.fromisoformat(end) - datetime.fromisoformat(start)).total_seconds()
    return round(max(0.0, seconds) / SECONDS_PER_HOUR, 6)


def budget_verdict(budget_usd: float | None, spent_usd: float, planned: CostEstimate) -> tuple[bool, str]:
    """Whether ``planned`` fits what is left of the budget, and a sentence saying so with the numbers.
    Without a budget everything fits; with one, a job whose price is unknown does not (it cannot be
    shown to fit)."""
    spent = f"${spent_usd:.4f} spent so far"
    if planned.estimated_usd is None:
        if budget_usd is None:
            return True, f"no budget set; no price for {planned.model_family or 'this model'}'s training"
        return False, (
            f"budget ${budget_usd:.2f}: the job cannot be priced ({planned.model_family or 'unknown family'},"
            f" {planned.training_type}), so it cannot be shown to fit"
        )
    cost = f"~{planned.estimated_tokens:,} trained tokens ~ ${planned.estimated_usd:.4f}"
    inference = planned.inference
    chat_usd = inference.estimated_usd if inference is not None and inference.estimated_usd else 0.0
    if inference is not None:
        priced = f"~ ${inference.estimated_usd:.4f}" if inference.estimated_usd is not None else "(unpriced)"
        cost += f" + {inference.rollouts:,} rollouts' chat calls {priced}"
        if inference.unpriced and inference.estimated_usd is not None:
            cost += f" (without {', '.join(inference.unpriced)}: no price; add it to PRICING)"
    if budget_usd is None:
        return True, f"no budget set; {cost}; {spent}"
    fits = spent_usd + planned.estimated_usd + chat_usd <= budget_usd
    verdict = "fits" if fits else "does not fit"
    return fits, f"{cost}; {spent}; {verdict} budget ${budget_usd:.2f}"


class HostingRecord(BaseModel):
    """Hours a fine-tuned deployment this run created has been billing by the hour: from ARM's
    ``systemData.createdAt`` to its deletion (the lineage records when) or, while it lives, to the
    last measurement. DeveloperTier deployments have no hourly fee and are not recorded."""

    deployment: str
    model: str
    sku_name: str
    created_at: str
    until: str
    alive: bool
    hours: float
    usd_per_hour: float | None = Field(None, description="None: PRICING has no price for it")
    usd: float | None = None


def hosting_records(
    pricing: Pricing,
    deployments: list[Deployment],
    previous: list[HostingRecord],
    deleted_at: Mapping[str, str],
    at: str,
) -> list[HostingRecord]:
    """The run's hourly-billed deployments as of ``at``: ``deployments`` (those ARM lists now that the
    run created), and those recorded before that are gone, ended at their deletion time when the
    lineage knows it, else at the last time they were seen."""
    alive = {record.deployment: record for item in deployments if (record := _alive(pricing, item, at))}
    gone = [
        _ended(record, deleted_at.get(record.deployment))
        for record in previous
        if record.deployment not in alive
    ]
    return sorted([*alive.values(), *gone], key=lambda record: record.created_at)


def _alive(pricing: Pricing, item: Deployment, at: str) -> HostingRecord | None:
    model = item.properties.model.name if item.properties and item.properties.model else None
    sku = item.sku.name if item.sku else None
    created = item.system_data.created_at if item.system_data else None
    if not (item.name and model and FINE_TUNED_MARK in model and sku and created):
        return None
    price = pricing.hosting_per_hour(model, sku)
    if price == 0:
        return None
    return _priced(item.name, model, sku, created.isoformat(), at, alive=True, price=price)


def _ended(record: HostingRecord, deleted_at: str | None) -> HostingRecord:
    until = deleted_at or record.until
    return _priced(
        record.deployment,
        record.model,
        record.sku_name,
        record.created_at,
        until,
        alive=False,
        price=record.usd_per_hour,
    )


def _priced(
    name: str, model: str, sku: str, created: str, until: str, *, alive: bool, price: float | None
) -> HostingRecord:
    hours = hours_between(created, until)
    return HostingRecord(
        deployment=name,
        model=model,
        sku_name=sku,
        created_at=created,
        until=until,
        alive=alive,
        hours=hours,
        usd_per_hour=price,
        usd=None if price is None else round(hours * price, 6),
    )
