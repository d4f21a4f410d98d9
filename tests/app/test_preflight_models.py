"""The preflight's model checks on ARM's model list of the account (``accounts.list_models``), read against
Azure's clock (the ``Date`` of ARM's answer): what this account can fine-tune now (existing customers of
the gpt-4.1 family until 2027-04-14, everyone the open models), a fine-tuned model by its base model's
training date, and the open models despite ``capabilities.fineTune`` reading false."""

from __future__ import annotations

from datetime import UTC, datetime

from emulator.launch import EmulatorHandle
from shared.azure.deployments import Account
from shared.azure.lifecycle import AccountModels, read_models
from shared.azure.preflight import check_model
from shared.domain.lifecycle import ModelDates, serving_refusal, training_refusal
from tests.emulator.support import BASE, fine_tuned_models

OPEN_MODELS = "gpt-oss-20b-11, Ministral-3B, Qwen-32B, Llama-3.3-70B-Instruct"
NOW = datetime(2026, 12, 6, tzinfo=UTC)


def models(emulator: EmulatorHandle, families: tuple[str, ...] = ()) -> AccountModels:
    account = Account(emulator.mgmt(), emulator.resource_group, emulator.account)
    return read_models(account, families, datetime(2000, 1, 1, tzinfo=UTC))


def test_an_existing_customer_trains_gpt41_until_2027_04_14_by_azures_clock(
    emulator_restored: EmulatorHandle,
) -> None:
    listed = models(emulator_restored)
    assert listed.clock == "azure"
    assert abs((listed.now - datetime.now(UTC)).total_seconds()) < 60
    check = check_model(listed, BASE)
    assert check.ok, check.detail
    assert check.detail == (
        f"{BASE} is fine-tunable (fine-tuning retires 2027-04-14 (arm); inference retires 2026-10-14 (arm))"
    )
    assert listed.trainable_now() == [
        "gpt-4.1-mini-2025-04-14",
        "gpt-4.1-2025-04-14",
        "gpt-4.1-nano-2025-04-14",
        *OPEN_MODELS.split(", "),
    ]

    emulator_restored.advance_clock(
        datetime(2027, 4, 15, tzinfo=UTC).timestamp() - emulator_restored.state()["now"]
    )
    later = models(emulator_restored)
    refused = check_model(later, BASE)
    assert later.now.date().isoformat() == "2027-04-15"
    assert refused.ok is False
    assert refused.detail == (
        f"fine-tuning {BASE} retired on 2027-04-14 for this account (the schedule's last date, for accounts "
        f"that already fine-tune the family); this account can fine-tune now: {OPEN_MODELS}"
    )
    assert refused.fix is not None and OPEN_MODELS in refused.fix


def test_a_new_customer_is_refused_gpt41_and_told_what_it_can_train(
    emulator_restored: EmulatorHandle,
) -> None:
    emulator_restored.admin("POST", "account", {"customer": "new"})
    check = check_model(models(emulator_restored), BASE)
    assert check.ok is False
    assert check.detail == (
        f"fine-tuning {BASE} retired on 2026-10-14 for this account (ARM's model list; training goes on "
        "until 2027-04-14 only for accounts that already fine-tune the gpt-4.1 family: if this one does and "
        "ARM gives no date, set EXISTING_FINE_TUNING_FAMILIES=gpt-4.1); this account can fine-tune now: "
        f"{OPEN_MODELS}"
    )
    oss = check_model(models(emulator_restored), "gpt-oss-20b-11")
    assert oss.ok, oss.detail  # capabilities.fineTune reads false for it: the profile decides


def test_a_fine_tuned_model_follows_its_base_models_training_date(emulator_restored: EmulatorHandle) -> None:
    (tuned,) = fine_tuned_models(emulator_restored)
    assert check_model(models(emulator_restored), tuned).ok
    emulator_restored.admin(
        "POST", "models/retire", {"model": BASE, "fine_tune": "2026-11-01T00:00:00Z", "inference": None}
    )
    refused = check_model(models(emulator_restored), tuned)
    assert refused.ok is False
    assert refused.detail.startswith(f"fine-tuning {tuned} retired on 2026-11-01 for this account")


def test_a_fine_tuned_open_model_cannot_be_trained_again() -> None:
    tuned = "gpt-oss-20b-11.ft-0123-v01"
    dates = ModelDates(model=tuned, listed=True, fine_tune_capability=False)
    assert training_refusal(dates, NOW) == (
        "a model fine-tuned from gpt-oss-20b cannot be fine-tuned again; start from gpt-oss-20b-11"
    )


def test_the_capability_flag_decides_only_outside_the_table() -> None:
    assert (
        training_refusal(ModelDates(model="gpt-oss-20b-11", listed=True, fine_tune_capability=False), NOW)
        is None
    )
    unlisted = ModelDates(model="house-model-7", listed=True, fine_tune_capability=False)
    assert (
        training_refusal(unlisted, NOW)
        == "house-model-7 cannot be fine-tuned (ARM capabilities.fineTune is false)"
    )
    chat = ModelDates(model="gpt-5-mini-2025-08-07", listed=True, fine_tune_capability=False)
    assert (
        training_refusal(chat, NOW)
        == "gpt-5-mini-2025-08-07 offers no supervised fine-tuning (no fine-tuning at all)"
    )


def test_without_arm_dates_the_schedule_and_the_families_setting_decide() -> None:
    """An account list without dates (``listed`` empty here): the table's schedule stands in, and the
    gpt-4.1 family trains past its base retirement only where EXISTING_FINE_TUNING_FAMILIES says so."""
    new = AccountModels([], NOW, "app", ())
    existing = AccountModels([], NOW, "app", ("gpt-4.1",))
    assert new.dates(BASE).fine_tune == datetime(2026, 10, 14, tzinfo=UTC)
    assert new.dates(BASE).fine_tune_source == "schedule"
    assert existing.dates(BASE).fine_tune == datetime(2027, 4, 14, tzinfo=UTC)
    assert training_refusal(existing.dates(BASE), NOW) is None
    assert serving_refusal(existing.dates(BASE), NOW) == f"{BASE} was retired for inference on 2026-10-14"
    tuned = f"{BASE}.ft-abc-v01"
    assert existing.dates(tuned).inference == datetime(2027, 10, 14, tzinfo=UTC)
    assert serving_refusal(existing.dates(tuned), NOW) is None


def test_a_deployment_whose_sku_retired_is_refused_though_the_model_serves() -> None:
    """ARM dates each SKU of a model apart (``skus[].deprecationDate``): a deployment on a retired SKU
    stops serving while the model's other SKUs still do."""
    dates = ModelDates(
        model=BASE,
        listed=True,
        inference=datetime(2027, 10, 14, tzinfo=UTC),
        skus={
            "Standard": datetime(2026, 11, 1, tzinfo=UTC),
            "GlobalStandard": datetime(2027, 10, 14, tzinfo=UTC),
        },
    )
    assert serving_refusal(dates, NOW, "GlobalStandard") is None
    assert serving_refusal(dates, NOW) is None
    assert serving_refusal(dates, NOW, "Standard") == (
        f"Standard deployments of {BASE} were retired on 2026-11-01 (ARM's SKU deprecationDate)"
    )
