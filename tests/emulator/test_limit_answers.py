"""Answers of the per-resource limits and lifetimes that emulator/README.md states ("Per-resource limits
and lifetimes", "Limits and errors enforced") and the other tests do not reach: one upload over
``--max-file-size`` (but within the body limit, which tests/emulator/test_hardening.py covers), more
than 50 tags on a deployment, and a refused chat on a retired model's deployment, which is no use that
keeps the deployment alive."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

import openai
import pytest

from tests.emulator.support import (
    BASE,
    arm_call,
    arm_deployment,
    deploy,
    deployment_state,
    error_body,
    fine_tuned_models,
)
from tests.fixtures.emulator import EmulatorHandle

pytestmark = pytest.mark.timeout(60)


@pytest.mark.rule("Q8")
def test_an_upload_over_the_file_size_limit_is_a_413(emulator_factory: Callable[..., EmulatorHandle]) -> None:
    handle = emulator_factory("--max-file-size", "1000")
    client = handle.openai_v1(max_retries=0)
    with handle.http_client() as http:
        answer = http.post(
            handle.url + "/openai/v1/files",
            headers={"api-key": "k"},
            files={"purpose": (None, "fine-tune"), "file": ("t.jsonl", b"x" * 5000)},
        )
    assert answer.status_code == 413
    assert answer.json()["error"] == {
        "code": "413",
        "message": "The file is 5000 bytes; the maximum file size is 1000 bytes.",
        "param": None,
        "type": "invalid_request_error",
    }
    assert list(client.files.list()) == []


@pytest.mark.rule("Q23")
def test_more_than_50_tags_are_refused(emulator_reset: EmulatorHandle) -> None:
    handle = emulator_reset
    body = arm_deployment("gpt-4.1-mini", version="2025-04-14")
    body["tags"] = {f"t{n}": "v" for n in range(51)}
    refused = arm_call(handle, "PUT", "deployments/tagged", body)
    assert refused.status_code == 400
    assert refused.json()["error"]["code"] == "InvalidTagCount"
    assert refused.json()["error"]["message"] == "The resource has 51 tags; at most 50 are allowed."
    body["tags"] = {f"t{n}": "v" for n in range(50)}
    created = arm_call(handle, "PUT", "deployments/tagged", body)
    assert created.status_code == 201, created.text
    assert len(created.json()["tags"]) == 50


@pytest.mark.rule("V5", "Q10")
def test_chat_refused_for_retirement_is_no_use(emulator_reset: EmulatorHandle) -> None:
    (model,) = fine_tuned_models(emulator_reset)
    deploy(emulator_reset, "std", model, sku="Standard")
    before = deployment_state(emulator_reset, "std")
    assert before is not None and before["expires_at"] is not None
    emulator_reset.advance_clock((before["expires_at"] - emulator_reset.state()["now"]) / 3)  # a third idle
    retired = datetime.fromtimestamp(emulator_reset.state()["now"] - 60, UTC).isoformat()
    emulator_reset.admin("POST", "models/retire", {"model": BASE, "fine_tune": retired, "inference": retired})
    client = emulator_reset.openai_v1(max_retries=0)
    with pytest.raises(openai.NotFoundError) as refused:
        client.chat.completions.create(model="std", messages=[{"role": "user", "content": "hi"}])
    assert error_body(refused.value)["message"] == "Resource not found"
    after = deployment_state(emulator_reset, "std")
    assert after is not None
    assert after["expires_at"] == before["expires_at"], "the idle clock did not move"
