"""The preflight's model check on ARM's model list (``accounts.list_models``): a base model by its own
entry, a fine-tuned model by its base model's fine-tune capability and by the retirement dates that
apply to it (its own entry's, else its base model's)."""

from __future__ import annotations

from datetime import UTC, datetime

from azure.mgmt.cognitiveservices.models import AccountModel, ModelDeprecationInfo

from emulator.launch import EmulatorHandle
from shared.azure.deployments import Account
from shared.azure.preflight import check_model, model_problems
from tests.emulator.support import BASE, fine_tuned_models

NOW = datetime(2026, 11, 25, tzinfo=UTC)


def account(emulator: EmulatorHandle) -> Account:
    return Account(emulator.mgmt(), emulator.resource_group, emulator.account)


def test_a_fine_tuned_model_is_checked_against_its_base_models_retirement(
    emulator_reset: EmulatorHandle,
) -> None:
    (tuned,) = fine_tuned_models(emulator_reset)
    assert check_model(account(emulator_reset), tuned, NOW).ok

    emulator_reset.admin(
        "POST", "models/retire", {"model": BASE, "fine_tune": "2026-11-01T00:00:00Z", "inference": None}
    )
    tuned_check = check_model(account(emulator_reset), tuned, NOW)
    later_base = check_model(account(emulator_reset), BASE, datetime(2026, 10, 1, tzinfo=UTC))

    assert tuned_check.ok is False
    assert tuned_check.detail == f"{tuned} is retired for fine-tuning since 2026-11-01T00:00:00+00:00"
    assert later_base.ok is True
    assert later_base.detail == f"{BASE} is fine-tunable (fine-tune retires 2026-11-01T00:00:00+00:00)"


def test_a_model_the_account_does_not_list_is_named(emulator_reset: EmulatorHandle) -> None:
    check = check_model(account(emulator_reset), "gpt-5-2030-01-01", NOW)

    assert check.ok is False
    assert check.detail == "gpt-5-2030-01-01 is not among the account's models"


def listed(name: str, version: str, fine_tune: str, deprecation: ModelDeprecationInfo | None) -> AccountModel:
    return AccountModel(
        name=name,
        version=version,
        format="OpenAI",
        capabilities={"fineTune": fine_tune},
        deprecation=deprecation,
    )


def test_a_fine_tuned_model_inherits_its_base_models_fine_tune_capability() -> None:
    """Azure's older data-plane list showed fine-tuned models with fine_tune false; continuous
    fine-tuning goes by the base model, so a fine-tuned entry's own flag is not what decides."""
    tuned_id = f"{BASE}.ft-abc-v01"
    base = listed("gpt-4.1-mini", "2025-04-14", "true", None)
    tuned = listed(tuned_id, "1", "false", ModelDeprecationInfo(inference="2027-01-01T00:00:00Z"))
    frozen_base = listed("gpt-4.1-mini", "2025-04-14", "false", None)

    assert model_problems(tuned_id, tuned, base, NOW) == []
    assert model_problems(tuned_id, tuned, frozen_base, NOW) == [
        "gpt-4.1-mini 2025-04-14 cannot be fine-tuned (capabilities.fineTune is not true)"
    ]
    assert model_problems(tuned_id, tuned, base, datetime(2027, 2, 1, tzinfo=UTC)) == [
        f"{tuned_id} is retired for inference since 2027-01-01T00:00:00+00:00"
    ]
