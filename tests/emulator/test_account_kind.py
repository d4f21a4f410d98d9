"""The account's ARM kind (``--account-kind``, issue 18): a Foundry resource (``AIServices``, the default)
trains the open models; an Azure OpenAI resource (``OpenAI``) answers ``accounts.get`` with that kind and
refuses an open model's fine-tuning job, as the supported-models page says ("only supported on Foundry
resources"), while the OpenAI models train there as before."""

from __future__ import annotations

from collections.abc import Callable

import openai
import pytest

from emulator.cli import config_from_args
from tests.emulator.support import BASE, azure_status, create_job, error_body
from tests.fixtures.emulator import EmulatorHandle

pytestmark = pytest.mark.timeout(90)
NOT_SUPPORTED = "The specified base model does not support fine-tuning."


def _kind(handle: EmulatorHandle) -> str:
    found = handle.mgmt().accounts.get(handle.resource_group, handle.account)
    return str(found.kind)


@pytest.mark.rule("M19")
def test_an_azure_openai_account_refuses_open_model_jobs(
    emulator_factory: Callable[..., EmulatorHandle],
) -> None:
    handle = emulator_factory("--account-kind", "OpenAI")
    assert _kind(handle) == "OpenAI"
    assert handle.state()["config"]["account_kind"] == "OpenAI"
    for model, name in (("gpt-oss-20b-11", "gpt-oss-20b"), ("Ministral-3B", "Ministral-3B")):
        with pytest.raises(openai.BadRequestError) as refused:
            create_job(handle, model, "globalStandard")
        body = error_body(refused.value)
        assert (body["message"], body["param"]) == (
            f"{NOT_SUPPORTED} ({name} is fine-tuned on Foundry resources (kind AIServices) only; this "
            "account is kind OpenAI)",
            "model",
        )
    assert azure_status(create_job(handle, BASE, "developerTier")) == "pending", "OpenAI models still train"
    assert [job["model"] for job in handle.state()["jobs"]] == [BASE]


@pytest.mark.rule("M19")
def test_a_foundry_resource_is_the_default_and_trains_open_models(emulator_reset: EmulatorHandle) -> None:
    assert _kind(emulator_reset) == "AIServices"
    assert azure_status(create_job(emulator_reset, "gpt-oss-20b-11", "globalStandard")) == "pending"


def test_another_kind_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as stopped:
        config_from_args(["--account-kind", "Foundry"])
    assert stopped.value.code == 2
    assert "argument --account-kind: invalid choice: 'Foundry'" in capsys.readouterr().err
