"""shared/domain/cost.py and the report's cost fields: the price table and its overrides, the estimate, the
budget verdict, hosting hours, and the actual cost settled from ``trained_tokens``."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from azure.mgmt.cognitiveservices.models import (
    Deployment,
    DeploymentModel,
    DeploymentProperties,
    Sku,
    SystemData,
)
from pydantic import ValidationError

from shared.domain.cost import (
    DEFAULT_PRICING,
    HostingRecord,
    budget_verdict,
    dataset_tokens,
    estimate,
    expected_examples_tokens,
    hosting_records,
    pricing_from_json,
)
from shared.domain.rate_limits import estimate_prompt_tokens
from shared.domain.report import IterationReport, RunReport
from shared.domain.report_view import ReportView
from shared.domain.settings import AppSettings

MINI = "gpt-4.1-mini-2025-04-14"
TUNED = f"{MINI}.ft-0123456789abcdef-v01"
MESSAGES: list[dict[str, object]] = [
    {"role": "system", "content": "You answer questions about capitals."},
    {"role": "user", "content": "What is the capital of France?"},
    {"role": "assistant", "content": "Paris."},
]
TOOLS: list[dict[str, object]] = [
    {"type": "function", "function": {"name": "lookup", "parameters": {"type": "object"}}}
]
EXAMPLE = {"messages": MESSAGES, "tools": TOOLS}


def test_default_prices_follow_the_documented_ratios() -> None:
    """Global is OpenAI's training price; Standard costs Global / 0.7, Developer half of Global."""
    prices = DEFAULT_PRICING.families["gpt-4.1-mini"]
    assert prices.training_per_1m_tokens == {"GlobalStandard": 5.0, "Standard": 7.14, "developerTier": 2.5}
    assert prices.hosting_per_hour == {"Standard": 1.7, "GlobalStandard": 1.7, "DeveloperTier": 0.0}
    assert set(DEFAULT_PRICING.families) == {
        "gpt-4.1",
        "gpt-4.1-mini",
        "gpt-4.1-nano",
        "gpt-4o",
        "gpt-4o-mini",
    }


def test_pricing_overrides_replace_only_what_they_name() -> None:
    pricing = pricing_from_json(
        json.dumps(
            {
                "gpt-4.1-mini": {"training_per_1m_tokens": {"developerTier": 1.25}},
                "o4-mini": {
                    "training_per_1m_tokens": {"GlobalStandard": 100},
                    "hosting_per_hour": {"Standard": 2},
                },
            }
        )
    )
    mini = pricing.families["gpt-4.1-mini"]
    assert mini.training_per_1m_tokens == {"GlobalStandard": 5.0, "Standard": 7.14, "developerTier": 1.25}
    assert mini.hosting_per_hour == DEFAULT_PRICING.families["gpt-4.1-mini"].hosting_per_hour
    assert pricing.training_per_1m("o4-mini-2025-04-16", "GlobalStandard") == 100
    assert pricing.families["gpt-4o"] == DEFAULT_PRICING.families["gpt-4o"]


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ('{"gpt-4.1": {"training_per_1m_tokens": {"GlobalStandard": -1}}}', "greater than or equal to 0"),
        ('{"gpt-4.1": {"training_per_1m_tokens": {"Global": 1}}}', "Input should be 'Standard'"),
        ('{"gpt-4.1": {"training_per_1m_tokens": {"Standard": "2"}}}', "valid number"),
        ('{"gpt-4.1": {"hosting_per_hour": {"Standrad": 1.7}}}', "Input should be 'Standard'"),
        ('{"gpt-4.1": {"price": 1}}', "Extra inputs are not permitted"),
        ('{"gpt-4.1": 5}', "must be an object"),
        ("[1]", "must be a JSON object"),
        ("{oops", "must be a JSON object of model family prices"),
    ],
)
def test_a_bad_pricing_setting_stops_start_up_naming_it(text: str, problem: str) -> None:
    with pytest.raises(ValidationError) as caught:
        AppSettings(
            azure_openai_endpoint="https://example.openai.azure.com",
            azure_subscription_id="sub",
            azure_resource_group="rg",
            azure_openai_account="acct",
            artifacts_blob_endpoint="https://example.blob.core.windows.net",
            pricing=text,
        )
    errors = caught.value.errors()
    assert [error["loc"] for error in errors] == [("pricing",)]
    assert problem in errors[0]["msg"]


def test_the_estimate_counts_every_message_and_tool_as_the_rate_limit_estimate_does() -> None:
    jsonl = "\n".join([json.dumps(EXAMPLE)] * 3) + "\n\n"
    per_example = estimate_prompt_tokens(MESSAGES, TOOLS)

    assert dataset_tokens(jsonl) == 3 * per_example
    planned = estimate(DEFAULT_PRICING, TUNED, "developerTier", dataset_tokens(jsonl), 3, basis="dataset")
    assert planned.model_family == "gpt-4.1-mini", "a fine-tuned model is priced as its base model's family"
    assert planned.estimated_tokens == 9 * per_example
    assert planned.estimated_usd == pytest.approx(9 * per_example * 2.5 / 1e6)


def test_before_any_dataset_the_estimate_is_the_kept_share_of_rollouts() -> None:
    assert expected_examples_tokens(24, 0.6, 1000) == 15_000  # ceil(24 x 0.6) = 15 rollouts kept


def test_a_model_without_a_price_is_not_guessed() -> None:
    planned = estimate(DEFAULT_PRICING, "o4-mini-2025-04-16", "GlobalStandard", 1000, 1, basis="dataset")

    assert (planned.model_family, planned.price_per_1m_tokens, planned.estimated_usd) == (None, None, None)
    assert budget_verdict(None, 0.0, planned)[0] is True
    fits, detail = budget_verdict(10.0, 0.0, planned)
    assert fits is False
    assert "cannot be priced" in detail


def test_the_budget_holds_spent_plus_planned() -> None:
    planned = estimate(DEFAULT_PRICING, MINI, "GlobalStandard", 200_000, 1, basis="dataset")  # $1.00

    assert budget_verdict(None, 5.0, planned) == (
        True,
        "no budget set; ~200,000 trained tokens ~ $1.0000; $5.0000 spent so far",
    )
    assert budget_verdict(1.5, 0.5, planned)[0] is True
    fits, detail = budget_verdict(1.5, 0.51, planned)
    assert fits is False
    assert detail.endswith("does not fit budget $1.50")


def iteration(**fields: object) -> IterationReport:
    cost = estimate(DEFAULT_PRICING, MINI, "developerTier", 1000, 2, basis="dataset")  # 2,000 tokens, $0.005
    return IterationReport.model_validate({"iteration": 1, "cost": cost.model_dump(), **fields})


def test_an_iteration_costs_its_actual_tokens_else_its_estimate_while_a_job_may_bill() -> None:
    trained = iteration(job_id="ftjob-1", trained_tokens=3000, status="succeeded").cost
    running = iteration(job_id="ftjob-1").cost
    failed = iteration(job_id="ftjob-1", status="failed").cost
    no_job = iteration(status="skipped").cost

    assert trained is not None
    assert (trained.actual_tokens, trained.actual_usd, trained.total_usd) == (3000, 0.0075, 0.0075)
    assert running is not None
    assert (running.actual_usd, running.total_usd) == (None, 0.005)
    assert failed is not None
    assert failed.total_usd == 0.0, "Azure does not bill failed jobs"
    assert no_job is not None
    assert no_job.total_usd == 0.0


def test_the_run_cost_sums_iterations_and_hosting_and_the_dashboard_reads_its_total() -> None:
    hosting = HostingRecord(
        deployment="champ",
        model=TUNED,
        sku_name="Standard",
        created_at="2026-11-01T00:00:00+00:00",
        until="2026-11-01T10:00:00+00:00",
        alive=True,
        hours=10.0,
        usd_per_hour=1.7,
        usd=17.0,
    )
    report = RunReport(
        run_id="r",
        instance_id="r",
        settings={"budget_usd": 50},
        started_at="2026-11-01T00:00:00+00:00",
        iterations=[iteration(job_id="a", trained_tokens=3000), iteration(iteration=2, job_id="b")],
        hosting=[hosting],
    )

    cost = report.cost
    assert cost is not None
    assert (cost.estimated_usd, cost.actual_usd, cost.training_usd) == (0.01, 0.0075, 0.0125)
    assert (cost.hosting_hours, cost.hosting_usd, cost.total_usd) == (10.0, 17.0, 17.0125)
    assert cost.budget_usd == 50
    text = report.model_dump_json()
    assert json.loads(text)["cost"]["total_usd"] == 17.0125
    assert RunReport.model_validate_json(text).cost == cost, "a report read back computes the same"
    assert ReportView.parse(text).cost_usd == 17.0125
    assert ReportView.parse(text).iterations[0].cost_usd == 0.0075


def deployment(name: str, sku: str, created: datetime, model: str = TUNED) -> Deployment:
    item = Deployment(
        sku=Sku(name=sku, capacity=1),
        properties=DeploymentProperties(model=DeploymentModel(format="OpenAI", name=model, version="1")),
    )
    item.name = name  # read-only in the SDK model (the server sets it); set here as a response would
    item.system_data = SystemData(created_at=created)
    return item


def test_hosting_counts_hours_of_hourly_billed_fine_tuned_deployments_until_now_or_their_deletion() -> None:
    created = datetime(2026, 11, 1, tzinfo=UTC)
    previous = [
        HostingRecord(
            deployment="gone",
            model=TUNED,
            sku_name="GlobalStandard",
            created_at="2026-10-31T00:00:00+00:00",
            until="2026-10-31T06:00:00+00:00",
            alive=True,
            hours=6.0,
            usd_per_hour=1.7,
            usd=10.2,
        )
    ]
    alive = [
        deployment("standard", "Standard", created),
        deployment("developer", "DeveloperTier", created),
        deployment("base", "Standard", created, model=MINI),
    ]

    records = hosting_records(
        DEFAULT_PRICING, alive, previous, {"gone": "2026-10-31T12:00:00+00:00"}, "2026-11-01T02:30:00+00:00"
    )

    assert [(r.deployment, r.alive, r.hours, r.usd) for r in records] == [
        ("gone", False, 12.0, 20.4),
        ("standard", True, 2.5, 4.25),
    ]


def test_an_open_model_is_priced_under_its_arm_name_once_pricing_names_it() -> None:
    """The rate-limit table does not know gpt-oss-20b; the profiles table does, so PRICING can price it
    (no default: docs/cost.md) and its fine-tuned models with it."""
    tuned = "gpt-oss-20b-11.ft-0123-v01"
    assert estimate(DEFAULT_PRICING, tuned, "GlobalStandard", 1000, 1, basis="expected").estimated_usd is None
    pricing = pricing_from_json('{"gpt-oss-20b": {"training_per_1m_tokens": {"GlobalStandard": 2.0}}}')
    assert pricing.training_per_1m(tuned, "GlobalStandard") == 2.0
    assert pricing.family("gpt-oss-20b-11")[0] == "gpt-oss-20b"
