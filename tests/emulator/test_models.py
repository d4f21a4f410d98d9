"""The account's model list (ARM, ``accounts.list_models``) and model retirement: after a model's
fine-tune retirement jobs on it are refused; after its inference retirement deploying it is refused and
chat calls to its deployments fail (issue 10)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import openai
import pytest
from azure.core.exceptions import HttpResponseError
from azure.mgmt.cognitiveservices.models import AccountModel
from openai import OpenAI
from openai.types.fine_tuning import FineTuningJob

from tests.emulator.support import (
    BASE,
    arm_error,
    azure_status,
    by_name,
    deploy,
    fine_tuned_models,
    success_file,
    upload,
    wait_processed,
)
from tests.fixtures.emulator import EmulatorHandle

pytestmark = pytest.mark.timeout(60)
NANO = "gpt-4.1-nano-2025-04-14"


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat()


def _models(handle: EmulatorHandle) -> dict[str, AccountModel]:
    return by_name(handle.mgmt().accounts.list_models(handle.resource_group, handle.account))


def _job(client: OpenAI, file_id: str, model: str = BASE) -> FineTuningJob:
    return client.fine_tuning.jobs.create(
        model=model, training_file=file_id, extra_body={"trainingType": "Standard"}
    )


@pytest.mark.rule("AR5", "AR8")
def test_list_models_shows_base_and_fine_tuned_models(emulator_reset: EmulatorHandle) -> None:
    (tuned,) = fine_tuned_models(emulator_reset)
    models = _models(emulator_reset)
    base = models["gpt-4.1-mini"]
    # The emulator tests' world (--lifecycle none): no date, nothing retiring (test_lifecycle.py has the
    # table's dates).
    assert (base.format, base.version, base.lifecycle_status) == (
        "OpenAI",
        "2025-04-14",
        "GenerallyAvailable",
    )
    assert base.capabilities == {"chatCompletion": "true", "fineTune": "true"}
    assert base.skus is not None
    assert {sku.name for sku in base.skus} >= {"GlobalStandard", "Standard"}
    assert base.deprecation is None
    assert {"gpt-4.1", "gpt-4.1-nano", "gpt-4o-mini", "gpt-4o"} <= set(models)
    ft = models[tuned]
    assert ft.version == "1"
    assert ft.base_model is not None
    assert (ft.base_model.name, ft.base_model.version) == ("gpt-4.1-mini", "2025-04-14")
    assert ft.skus is not None
    assert "DeveloperTier" in {sku.name for sku in ft.skus}


@pytest.mark.rule("LC8", "Q15")
def test_retire_model_flag(emulator_factory: Callable[..., EmulatorHandle]) -> None:
    handle = emulator_factory("--retire-model", f"{NANO}=2026-01-01,2099-01-01T12:00:00Z")
    nano = _models(handle)["gpt-4.1-nano"]
    assert nano.deprecation is not None
    assert nano.deprecation.fine_tune == "2026-01-01T00:00:00Z"
    assert nano.deprecation.inference == "2099-01-01T12:00:00Z"
    client = handle.openai_v1(max_retries=0)
    file_id = upload(client, success_file()).id
    wait_processed(client, file_id)
    with pytest.raises(openai.BadRequestError, match="does not support fine-tuning"):
        _job(client, file_id, NANO)
    assert azure_status(_job(client, file_id)) == "pending"  # other models are unaffected
    assert deploy(handle, "nano", "gpt-4.1-nano", sku="GlobalStandard", version="2025-04-14").name == "nano"


@pytest.mark.rule("LC8", "AD6", "Q15", "Q16", "Q17", "V5")
def test_retirement_through_the_admin_api(emulator_reset: EmulatorHandle) -> None:
    client = emulator_reset.openai_v1(max_retries=0)
    (tuned,) = fine_tuned_models(emulator_reset)
    deploy(emulator_reset, "ft-before", tuned, sku="Standard")
    file_id = client.fine_tuning.jobs.list().data[0].training_file
    now = emulator_reset.state()["now"]
    retired = emulator_reset.admin(
        "POST", "models/retire", {"model": BASE, "fine_tune": _iso(now + 100), "inference": _iso(now + 200)}
    )
    assert retired["retirement"]["fine_tune"] == pytest.approx(now + 100, abs=1)
    assert azure_status(_job(client, file_id, tuned)) == "pending"  # before the date
    emulator_reset.advance_clock(150)
    for model in (BASE, tuned):  # a fine-tuned model follows its base model
        with pytest.raises(openai.BadRequestError, match="does not support fine-tuning"):
            _job(client, file_id, model)
    assert deploy(emulator_reset, "ft-between", tuned, sku="Standard").name == "ft-between"
    emulator_reset.advance_clock(100)

    with pytest.raises(HttpResponseError) as refused:
        deploy(emulator_reset, "ft-after", tuned, sku="Standard")
    assert arm_error(refused.value).code == "ServiceModelDeprecated"
    since = datetime.fromtimestamp(now + 200, UTC).strftime("%m/%d/%Y %H:%M:%S")
    assert arm_error(refused.value).message == (
        f"The model 'Format:OpenAI,Name:{tuned},Version:1' has been deprecated since {since}."
    )
    for deployment in ("ft-before", "gpt-4.1-mini"):
        with pytest.raises(openai.NotFoundError) as gone:
            client.chat.completions.create(model=deployment, messages=[{"role": "user", "content": "hi"}])
        assert gone.value.body == {
            "code": "404",
            "message": "Resource not found",
            "param": None,
            "type": "invalid_request_error",
        }
    assert _models(emulator_reset)["gpt-4.1-mini"].lifecycle_status == "Deprecated"


@pytest.mark.rule("AD6")
@pytest.mark.parametrize(
    ("body", "status"),
    [
        ({"model": "gpt-99", "fine_tune": "2026-01-01"}, 404),
        ({"model": BASE, "fine_tune": "soon"}, 400),
        ({"model": BASE}, 400),
        ({"model": BASE, "fine_tune": 5}, 400),
    ],
)
def test_retire_refuses_bad_requests(
    emulator_reset: EmulatorHandle, body: dict[str, Any], status: int
) -> None:
    with emulator_reset.http_client() as http:
        response = http.post(emulator_reset.url + "/_emulator/models/retire", json=body)
    assert response.status_code == status and response.json()["error"]["message"]
