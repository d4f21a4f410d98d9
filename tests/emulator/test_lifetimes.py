"""Deployment lifetimes on the emulated clock (issue 9): DeveloperTier deployments end a fixed time after
creation, other fine-tuned deployments after an idle time without chat calls, base-model deployments
never; the admin clock lets a test live through weeks in milliseconds.

Every emulator here runs at --time-scale 0.01, so 24 h is 864 emulated seconds and 15 days 12,960."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import openai
import pytest
from azure.core.exceptions import ResourceNotFoundError
from openai.types.chat import ChatCompletionMessageParam

from tests.emulator.support import (
    BASE,
    deploy,
    deployment_body,
    deployment_state,
    fine_tuned_model,
    fine_tuned_models,
    properties,
    start_before_retirements,
    success_file,
    upload,
)
from tests.fixtures.emulator import EmulatorHandle

pytestmark = pytest.mark.timeout(60)
DAY = 864.0  # one day of Azure time at --time-scale 0.01
HELLO: list[ChatCompletionMessageParam] = [{"role": "user", "content": "capital of france?"}]


def _chat(handle: EmulatorHandle, deployment: str) -> Any:
    return handle.openai_v1(max_retries=0).chat.completions.create(model=deployment, messages=HELLO)


def _gone(handle: EmulatorHandle, name: str) -> None:
    assert deployment_state(handle, name) is None
    with pytest.raises(ResourceNotFoundError):
        handle.mgmt().deployments.get(handle.resource_group, handle.account, name)
    with pytest.raises(openai.NotFoundError):
        _chat(handle, name)


@pytest.mark.rule("LC7", "Q9", "D6", "AD1")
def test_developer_deployment_ends_24_hours_after_creation(emulator_reset: EmulatorHandle) -> None:
    (model,) = fine_tuned_models(emulator_reset)
    deploy(emulator_reset, "dev", model, sku="DeveloperTier")
    state = deployment_state(emulator_reset, "dev")
    assert state is not None
    created = emulator_reset.mgmt().deployments.get(
        emulator_reset.resource_group, emulator_reset.account, "dev"
    )
    assert created.system_data is not None
    assert created.system_data.created_at is not None
    assert state["expires_at"] == pytest.approx(created.system_data.created_at.timestamp() + DAY, abs=1)
    emulator_reset.advance_clock(DAY - 30)
    assert _chat(emulator_reset, "dev").choices  # use does not extend a DeveloperTier deployment
    emulator_reset.advance_clock(31)
    _gone(emulator_reset, "dev")
    assert model in [m["id"] for m in emulator_reset.state()["models"]]  # the model stays, can be redeployed
    assert properties(deploy(emulator_reset, "dev", model)).provisioning_state == "Succeeded"


@pytest.mark.rule("LC7", "Q10")
def test_standard_deployment_ends_after_15_idle_days(emulator_reset: EmulatorHandle) -> None:
    (model,) = fine_tuned_models(emulator_reset)
    deploy(emulator_reset, "std", model, sku="Standard")
    first = deployment_state(emulator_reset, "std")
    assert first is not None and first["expires_at"] is not None
    emulator_reset.advance_clock(14 * DAY)
    assert _chat(emulator_reset, "std").choices
    after_use = deployment_state(emulator_reset, "std")
    assert after_use is not None and after_use["expires_at"] == pytest.approx(
        first["expires_at"] + 14 * DAY, abs=2
    )
    emulator_reset.advance_clock(14 * DAY)
    assert _chat(emulator_reset, "std").choices  # 14 idle days: still there
    emulator_reset.advance_clock(15 * DAY + 10)
    _gone(emulator_reset, "std")


@pytest.mark.rule("LC7", "Q11")
def test_base_model_deployments_are_never_removed(emulator_reset: EmulatorHandle) -> None:
    deploy(emulator_reset, "base-std", "gpt-4.1-mini", sku="Standard", version="2025-04-14")
    emulator_reset.advance_clock(3 * 365 * DAY)
    for name in ("gpt-4.1-mini", "base-std"):
        state = deployment_state(emulator_reset, name)
        assert state is not None and state["state"] == "Succeeded" and state["expires_at"] is None
        assert _chat(emulator_reset, name).choices


@pytest.mark.rule("LC7")
def test_lifetime_flags(emulator_factory: Callable[..., EmulatorHandle]) -> None:
    handle = emulator_factory("--developer-lifetime", "1000", "--idle-lifetime", "2000")  # 10 s and 20 s
    dev_model, std_model = fine_tuned_models(handle, 2)
    deploy(handle, "dev", dev_model)
    deploy(handle, "std", std_model, sku="GlobalStandard")
    for name, lifetime in (("dev", 10), ("std", 20)):
        state = deployment_state(handle, name)
        assert state is not None
        created = datetime.fromisoformat(state["systemData"]["createdAt"]).timestamp()
        assert state["expires_at"] - created == pytest.approx(lifetime, abs=0.01)
    handle.advance_clock(11)
    assert deployment_state(handle, "dev") is None and deployment_state(handle, "std") is not None
    handle.advance_clock(10)
    assert deployment_state(handle, "std") is None


@pytest.mark.rule("LC1", "AD4")
def test_weeks_pass_in_milliseconds(emulator_factory: Callable[..., EmulatorHandle]) -> None:
    """With real durations (time scale 1) a test still lives through a month in a few calls: files,
    jobs and deployments all move on the admin clock."""
    handle = emulator_factory("--time-scale", "1", "--job-running", "7200", "--provisioning", "600")
    client = handle.openai_v1()
    started = time.monotonic()
    file_id = upload(client, success_file()).id
    handle.advance_clock(60)
    assert client.files.retrieve(file_id).status == "processed"
    job = client.fine_tuning.jobs.create(
        model=BASE, training_file=file_id, extra_body={"trainingType": "Standard"}
    )
    handle.advance_clock(3 * 3600)
    done = client.fine_tuning.jobs.retrieve(job.id)
    assert done.status == "succeeded"
    assert done.finished_at is not None
    assert done.finished_at - done.created_at >= 7200
    mgmt = handle.mgmt()
    poller = mgmt.deployments.begin_create_or_update(
        handle.resource_group, handle.account, "ft", deployment_body(fine_tuned_model(done))
    )
    handle.advance_clock(601)
    assert properties(poller.result()).provisioning_state == "Succeeded"
    assert _chat(handle, "ft").choices
    handle.advance_clock(86400 + 1)
    assert deployment_state(handle, "ft") is None
    assert time.monotonic() - started < 20


@pytest.mark.rule("LC1", "LC7")
def test_lifetimes_and_retirements_survive_a_restart(tmp_path: Path) -> None:
    first = start_before_retirements(state_dir=tmp_path)
    try:
        (model,) = fine_tuned_models(first)
        deploy(first, "std", model, sku="Standard")
        first.advance_clock(5 * DAY)
        _chat(first, "std")
        before = deployment_state(first, "std")
        first.admin("POST", "models/retire", {"model": BASE, "fine_tune": "2030-01-01", "inference": None})
    finally:
        first.stop()
    second = start_before_retirements(state_dir=tmp_path)
    try:
        after = deployment_state(second, "std")
        assert before is not None and after is not None
        assert after["expires_at"] == pytest.approx(before["expires_at"], abs=DAY * 15 / 100)
        base = next(m for m in second.state()["models"] if m["id"] == BASE)
        assert base["retirement"] == {"model": BASE, "fine_tune": 1893456000.0, "inference": None}
    finally:
        second.stop()
