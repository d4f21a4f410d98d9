"""The model profiles (shared/domain/models.py): one test per entry against its sources, the emulator's copy
of the same table agreeing, and what a run's settings become for a base model."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest

from emulator import profiles as emulated
from shared.domain.models import (
    GLOBAL_TRAINING_REGIONS,
    OPENAI_SKUS,
    PROFILES,
    OfferProblem,
    deployment_format,
    fit_sku,
    offer_problems,
    other_format,
    platform_id,
    profile_of,
    resolve,
    resolve_base_model,
)
from shared.domain.settings import RunSettings

ALL_TIERS = ("Standard", "GlobalStandard", "developerTier")
NCUS_SWC = {"northcentralus", "swedencentral"}
GPT41 = (date(2026, 10, 14), date(2027, 4, 14), date(2027, 10, 14))
GPT4O = (date(2026, 10, 1), date(2027, 4, 1), date(2027, 10, 1))
OPEN = {
    "methods": ("supervised",),
    "training_types": ("GlobalStandard",),
    "standard_regions": set(),
    "standard_deployment_regions": set(),
    "from_fine_tuned": False,
    "deployment_skus": ("GlobalStandard",),
    "min_capacity": 100,
    "foundry_only": True,
    "dates": (None, None, None),
}

# Each entry as its sources say it (docs/models.md gives the same table): the schedule's dates (base,
# fine-tuned training for existing customers, fine-tuned deployments), supported's tiers, regions and
# methods, standard-deployment's regions, the skill's notes on open models.
EXPECTED: dict[str, dict[str, Any]] = {
    "gpt-4.1-mini-2025-04-14": {
        "methods": ("supervised", "dpo"),
        "training_types": ALL_TIERS,
        "dates": GPT41,
    },
    "gpt-4.1-2025-04-14": {"methods": ("supervised", "dpo"), "training_types": ALL_TIERS, "dates": GPT41},
    "gpt-4.1-nano-2025-04-14": {
        "methods": ("supervised", "dpo"),
        "training_types": ALL_TIERS,
        "dates": GPT41,
    },
    "gpt-4o-mini-2024-07-18": {"methods": ("supervised",), "training_types": ALL_TIERS, "dates": GPT4O},
    "gpt-4o-2024-08-06": {
        "methods": ("supervised", "dpo"),
        "training_types": ALL_TIERS,
        "standard_regions": NCUS_SWC | {"eastus2"},
        "standard_deployment_regions": {"eastus2", "swedencentral"},
        "dates": GPT4O,
    },
    "o4-mini-2025-04-16": {
        "methods": ("reinforcement",),
        "training_types": ("Standard", "GlobalStandard"),
        "standard_regions": {"eastus2", "swedencentral"},
        "standard_deployment_regions": {"eastus2", "swedencentral"},
        "deployment_skus": OPENAI_SKUS,
        "dates": (date(2026, 10, 16), date(2027, 4, 16), date(2027, 10, 16)),
    },
    "gpt-5-2025-08-07": {
        "methods": ("reinforcement",),
        "training_types": ALL_TIERS,
        "dates": (date(2027, 2, 6), None, None),
    },
    "gpt-5-mini-2025-08-07": {"methods": (), "training_types": (), "dates": (date(2027, 2, 6), None, None)},
    "gpt-5.1-2025-11-13": {"methods": (), "training_types": (), "dates": (date(2027, 5, 15), None, None)},
    "gpt-oss-20b-11": {**OPEN, "format": "Microsoft"},
    "Ministral-3B": {**OPEN, "format": "Mistral AI"},
    "Qwen-32B": {**OPEN, "format": "Alibaba"},
    "Llama-3.3-70B-Instruct": {**OPEN, "format": "Meta"},
}
FINE_TUNABLE_DEFAULTS = {
    "standard_regions": NCUS_SWC,
    "from_fine_tuned": True,
    "deployment_skus": (*OPENAI_SKUS, "DeveloperTier"),
    "standard_deployment_regions": NCUS_SWC,
    "min_capacity": 1,
    "foundry_only": False,
    "format": "OpenAI",
}


def test_the_table_lists_exactly_the_expected_models() -> None:
    assert set(PROFILES) == set(EXPECTED)


@pytest.mark.parametrize("model", sorted(EXPECTED))
def test_each_profile_entry_says_what_its_sources_say(model: str) -> None:
    profile = PROFILES[model]
    expected = {**FINE_TUNABLE_DEFAULTS, **EXPECTED[model]}
    assert profile.methods == expected["methods"]
    assert profile.training_types == expected["training_types"]
    assert (profile.retires, profile.training_retires_existing, profile.deployments_retire) == expected[
        "dates"
    ]
    if profile.methods:
        assert profile.standard_regions == expected["standard_regions"]
        assert profile.from_fine_tuned == expected["from_fine_tuned"]
        assert profile.deployment_skus == expected["deployment_skus"]
        assert profile.standard_deployment_regions == expected["standard_deployment_regions"]
        assert profile.min_capacity == expected["min_capacity"]
        assert profile.foundry_only == expected["foundry_only"]
        assert profile.deployment_format == expected["format"]
    assert profile.id == platform_id(profile.arm_name, profile.arm_version)
    assert profile.sources, "every entry names its sources"


@pytest.mark.parametrize("model", sorted(EXPECTED))
def test_the_emulator_has_the_same_table(model: str) -> None:
    """The emulator may not import the app (nor the app the emulator): two copies, kept equal here."""
    mine, theirs = PROFILES[model], emulated.PROFILES[model]
    assert (mine.arm_name, mine.arm_version) == (theirs.arm_name, theirs.arm_version)
    assert mine.sft == theirs.sft
    if mine.methods:  # a model some method fine-tunes: its tiers and chain rule
        assert mine.from_fine_tuned == theirs.from_fine_tuned
        assert ("developerTier" in mine.training_types) == theirs.developer
    assert mine.open_model == theirs.open_model
    assert mine.min_capacity == (theirs.min_capacity if theirs.open_model else 1)
    if mine.open_model:
        assert mine.deployment_format == theirs.provider_format
    dates = (mine.retires, mine.training_retires_existing, mine.deployments_retire)
    assert [d.isoformat() if d else None for d in dates] == [
        theirs.retires,
        theirs.training_retires_existing,
        theirs.deployment_retires,
    ]
    if mine.sft and mine.standard_regions:
        assert mine.standard_regions == theirs.standard_regions
    assert GLOBAL_TRAINING_REGIONS == emulated.GLOBAL_TRAINING_REGIONS


def test_id_forms() -> None:
    assert platform_id("gpt-oss-20b", "11") == "gpt-oss-20b-11"
    assert platform_id("gpt-oss-20b", "12") == "gpt-oss-20b-12"  # a version the table does not know
    assert platform_id("Ministral-3B", "1") == "Ministral-3B"
    assert platform_id("gpt-4.1-mini", "2025-04-14") == "gpt-4.1-mini-2025-04-14"
    tuned = "gpt-oss-20b-11.ft-0123abcd-v01"
    assert platform_id(tuned, "1") == tuned
    assert profile_of(tuned) is PROFILES["gpt-oss-20b-11"]
    assert resolve_base_model("gpt-oss-20b") == "gpt-oss-20b-11"
    assert resolve_base_model("gpt-4.1-mini") == "gpt-4.1-mini-2025-04-14"
    assert resolve_base_model("my-model-1") == "my-model-1"


def test_deployment_format_and_its_alternative() -> None:
    tuned = "gpt-oss-20b-11.ft-0123abcd-v01"
    assert deployment_format(tuned, "provider") == "Microsoft"
    assert deployment_format(tuned, "OpenAI-OSS") == "OpenAI-OSS"
    assert other_format(tuned, "Microsoft") == "OpenAI-OSS"
    assert other_format(tuned, "OpenAI-OSS") == "Microsoft"
    assert deployment_format("gpt-4.1-mini-2025-04-14.ft-x-v01", "OpenAI-OSS") == "OpenAI"
    assert other_format("gpt-4.1-mini-2025-04-14.ft-x-v01", "OpenAI") is None


def test_fit_sku_keeps_what_the_model_allows() -> None:
    assert fit_sku("gpt-oss-20b-11.ft-x-v01", "DeveloperTier", 250) == ("GlobalStandard", 100)
    assert fit_sku("gpt-oss-20b-11.ft-x-v01", "GlobalStandard", 50) == ("GlobalStandard", 100)
    assert fit_sku("gpt-4.1-mini-2025-04-14.ft-x-v01", "DeveloperTier", 250) == ("DeveloperTier", 250)
    assert fit_sku("unlisted-model.ft-x-v01", "DeveloperTier", 7) == ("DeveloperTier", 7)


def values(**settings: Any) -> dict[str, Any]:
    return RunSettings.model_validate(settings).model_dump() | {
        "base_model": settings.get("base_model", "gpt-4.1-mini-2025-04-14")
    }


def test_an_open_model_alone_gets_its_profiles_defaults() -> None:
    outcome = resolve(values(base_model="gpt-oss-20b"), {"base_model"})
    assert outcome.problems == []
    assert outcome.updates == {
        "base_model": "gpt-oss-20b-11",
        "training_type": "GlobalStandard",
        "continue_from": "base",
        "sku_name": "GlobalStandard",
        "sku_capacity": 100,
    }
    assert [choice.setting for choice in outcome.choices] == list(outcome.updates)


def test_the_reference_models_defaults_are_unchanged() -> None:
    outcome = resolve(values(), set())
    assert (outcome.updates, outcome.choices, outcome.problems) == ({}, [], [])


@pytest.mark.parametrize(
    ("given", "field"),
    [
        ({"training_type": "developerTier"}, "training_type"),
        ({"continue_from": "latest"}, "continue_from"),
        ({"sku_name": "DeveloperTier"}, "sku_name"),
        ({"sku_capacity": 50}, "sku_capacity"),
        ({"champion_sku_name": "Standard"}, "champion_sku_name"),
    ],
)
def test_what_an_open_model_does_not_allow_is_refused_by_name(given: dict[str, Any], field: str) -> None:
    outcome = resolve(values(base_model="gpt-oss-20b", **given), {"base_model", *given})
    assert [problem["field"] for problem in outcome.problems] == [field]


def test_a_model_without_supervised_fine_tuning_is_refused() -> None:
    outcome = resolve(values(base_model="gpt-5-mini-2025-08-07"), {"base_model"})
    assert outcome.problems == [
        {
            "field": "base_model",
            "error": "gpt-5-mini-2025-08-07 has no SFT: it cannot be fine-tuned; docs/models.md lists the "
            "models a run can train",
        }
    ]


def test_what_an_account_must_offer_for_a_profile() -> None:
    """Preflight's ``offer`` check: open models on Foundry resources only; Standard training and Standard
    deployments of fine-tuned models only in their regions; Global training in the Global regions."""
    oss, mini = PROFILES["gpt-oss-20b-11"], PROFILES["gpt-4.1-mini-2025-04-14"]
    assert offer_problems(oss, "AIServices", "northcentralus", "GlobalStandard", "GlobalStandard") == []
    assert offer_problems(oss, "OpenAI", "northcentralus", "GlobalStandard", "GlobalStandard") == [
        OfferProblem(
            "gpt-oss-20b is fine-tuned on Foundry resources (kind AIServices) only, not on kind OpenAI",
            "point the app at a Foundry resource (kind AIServices; infra/: openModels), or train a model "
            "this account can fine-tune",
        )
    ]
    assert offer_problems(mini, "OpenAI", "westus", "Standard", "Standard") == [
        OfferProblem(
            "Standard training of gpt-4.1-mini is offered in northcentralus, swedencentral, not in westus",
            "set training_type to GlobalStandard (or developerTier where the model allows it), or use an "
            "account in one of those regions",
        ),
        OfferProblem(
            "Standard deployments of fine-tuned gpt-4.1-mini are offered in northcentralus, swedencentral",
            "set sku_name to GlobalStandard (or DeveloperTier where the model allows it)",
        ),
    ]
    assert [item.problem for item in offer_problems(mini, "OpenAI", "uaenorth", "GlobalStandard", "x")] == [
        "Global training is not offered in uaenorth"
    ]
    assert offer_problems(mini, "OpenAI", "westus", "developerTier", "DeveloperTier") == []
