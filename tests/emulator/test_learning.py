"""The behaviour model learns from data, end to end through the SDKs: the same evaluation scores higher
on a model fine-tuned on successful traces than on the base model, and lower on one trained on failures."""

from __future__ import annotations

import pytest
from azure.mgmt.cognitiveservices.models import Deployment, DeploymentModel, DeploymentProperties, Sku

from tests.emulator.support import evaluate, failure_file, success_file, upload, wait_job, wait_processed
from tests.fixtures.emulator import EmulatorHandle

pytestmark = pytest.mark.timeout(60)


def _train_and_deploy(handle: EmulatorHandle, data: bytes, name: str) -> None:
    client = handle.openai_v1()
    file_id = upload(client, data).id
    wait_processed(client, file_id)
    job = client.fine_tuning.jobs.create(
        model="gpt-4.1-mini-2025-04-14",
        training_file=file_id,
        suffix=name,
        method={"type": "supervised", "supervised": {"hyperparameters": {"n_epochs": 1}}},
        extra_body={"trainingType": "developerTier"},
    )
    model = wait_job(client, job.id).fine_tuned_model
    body = Deployment(
        sku=Sku(name="DeveloperTier", capacity=250),
        properties=DeploymentProperties(model=DeploymentModel(format="OpenAI", name=model, version="1")),
    )
    handle.mgmt().deployments.begin_create_or_update(
        handle.resource_group, handle.account, name, body
    ).result()


@pytest.mark.rule("B4", "B5")
def test_training_data_moves_the_score(emulator_reset: EmulatorHandle) -> None:
    _train_and_deploy(emulator_reset, success_file(), "good")
    _train_and_deploy(emulator_reset, failure_file(), "bad")
    client = emulator_reset.azure_openai()
    base, good, bad = (evaluate(client, d) for d in ("gpt-4.1-mini", "good", "bad"))
    assert good > base + 0.15
    assert bad < base - 0.05
