"""The preflight prices each part of an iteration's rollouts at the model that serves it: a teacher
serving the batch and the first champion's side costs the teacher's price, not the trained model's,
and a model without a price is named, never priced at another model's rate."""

from __future__ import annotations

import json
from collections.abc import Mapping

import pytest
from azure.mgmt.cognitiveservices.models import Deployment, DeploymentModel, DeploymentProperties

from shared.azure.preflight import PlannedFile, price
from shared.contracts.payloads import PreflightRequest
from shared.domain.cost import budget_verdict
from shared.domain.settings import AppSettings

BASE = "gpt-4.1-mini-2025-04-14"
TUNED = f"{BASE}.ft-0123456789abcdef-v01"
# gpt-5.1 (the teacher) has no default inference price; this table gives it one, and gpt-4.1-mini
# another, so the parts can be told apart by their prices.
PRICING = {
    "gpt-5.1": {"inference_per_1m_tokens": {"input": 10.0, "output": 40.0}},
    "gpt-4.1-mini": {"inference_per_1m_tokens": {"input": 1.0, "output": 4.0}},
}
PLANNED = PlannedFile(tokens=10_000, bytes=40_000, basis="expected")


@pytest.fixture(autouse=True)
def _no_app_settings_in_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Other tests in this process export the app's settings (as the Functions host would); these build
    their own."""
    for name in AppSettings.model_fields:
        monkeypatch.delenv(name.upper(), raising=False)


def _settings(pricing: Mapping[str, object]) -> AppSettings:
    return AppSettings(
        azure_openai_endpoint="https://example.openai.azure.com",
        azure_subscription_id="sub",
        azure_resource_group="rg",
        azure_openai_account="acct",
        artifacts_blob_endpoint="https://example.blob.core.windows.net",
        expected_tokens_per_rollout=1000,
        pricing=json.dumps(pricing),
    )


def _deployment(name: str, model: str, version: str) -> Deployment:
    """ARM's answer for one deployment, as the deployments list gives it."""
    deployment = Deployment(
        properties=DeploymentProperties(model=DeploymentModel(name=model, version=version))
    )
    deployment.name = name  # read-only on the SDK model: ARM sets it
    return deployment


LISTED = [
    _deployment("gpt-5.1", "gpt-5.1", "2025-11-13"),
    _deployment("agent_v01", TUNED, "1"),
]


def _request(**fields: object) -> PreflightRequest:
    base: dict[str, object] = {
        "model": BASE,
        "deployment": None,
        "training_type": "developerTier",
        "n_epochs": 1,
        "rollouts": 24,
        "data_filter_ratio": 0.5,
        "batch_rollouts": 24,
        "evaluation_rollouts": 10,
        "rollout_deployment": "gpt-5.1",
    }
    return PreflightRequest.model_validate({**base, **fields})


def test_a_teacher_serving_the_batch_and_the_first_champion_is_priced_at_its_own_rate() -> None:
    cost = price(_settings(PRICING), _request(), PLANNED, None, LISTED)

    assert cost.inference is not None
    parts = [(part.role, part.model, part.rollouts) for part in cost.inference.served_by]
    assert parts == [
        ("batch", "gpt-5.1-2025-11-13", 24),
        ("champion", "gpt-5.1-2025-11-13", 10),
        ("candidate", BASE, 10),
    ]
    # 1,000 tokens read and 100 written per rollout (EXPECTED_TOKENS_PER_ROLLOUT, a tenth written)
    assert [part.estimated_usd for part in cost.inference.served_by] == [0.336, 0.14, 0.014]
    assert cost.inference.estimated_usd == 0.49
    assert cost.inference.rollouts == 44
    assert cost.inference.price_per_1m_input is None, "the parts have different rates"


def test_the_champion_side_is_priced_at_the_champion_deployments_model() -> None:
    request = _request(rollout_deployment="agent_v01", champion_deployment="agent_v01", champion_model=TUNED)
    cost = price(_settings(PRICING), request, PLANNED, None, LISTED)

    assert cost.inference is not None
    assert [part.model for part in cost.inference.served_by] == [TUNED, TUNED, BASE]
    assert cost.inference.price_per_1m_input == 1.0
    assert cost.inference.estimated_usd == 0.0616


def test_a_model_without_a_price_is_named_not_priced_at_another_rate() -> None:
    cost = price(_settings({}), _request(), PLANNED, None, LISTED)

    assert cost.inference is not None
    assert cost.inference.unpriced == ["gpt-5.1-2025-11-13"]
    assert [part.estimated_usd is None for part in cost.inference.served_by] == [True, True, False]
    fits, detail = budget_verdict(None, 0.0, cost)
    assert fits
    assert "(without gpt-5.1-2025-11-13: no price; add it to PRICING)" in detail
