"""Replays request/response pairs shaped after the official REST spec examples against the emulator.

The pairs are written here by hand from the example files' shapes (status, headers, body fields and
types), not copied: Azure/azure-rest-api-specs, specification/cognitiveservices/
- data-plane/AzureOpenAI/authoring/preview/2025-04-01-preview/examples/: upload_file, get_file, get_files,
  get_file_content, delete_file, post_finetuning_job, get_finetuning_job, get_finetuning_jobs,
  get_finetuning_job_events, get_finetuning_job_checkpoints, cancel_finetuning_job, pause_finetuning_job,
  delete_finetuning_job;
- resource-manager/Microsoft.CognitiveServices/stable/2025-06-01/examples/: ListAccountModels,
  GetDeployment, UpdateDeployment; PutDeployment, ListDeployments and DeleteDeployment from the
  2024-10-01 examples (the same shapes; the stored copy of the 2025-06-01 ones was not readable).
A shape is a type (the value must be an instance), ``Each(shape)`` (a non-empty list whose items all
conform), a dict (each key must be present and conform) or a literal (the value must be equal).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from openai.types.fine_tuning.job_create_params import Integration

from emulator.launch import AZURE_API_VERSION, EmulatorHandle
from tests.emulator.support import (
    BASE,
    fine_tuned_model,
    start_before_retirements,
    success_file,
    upload,
    wait_processed,
)

pytestmark = pytest.mark.timeout(120)
ARM_VERSION = "2025-06-01"
WANDB: list[Integration] = [
    {"type": "wandb", "wandb": {"project": "custom-wandb-project", "tags": ["project:tag", "lineage"]}}
]
TRAINING = 1000.0  # emulated seconds a job trains (--job-running 100000 at --time-scale 0.01)


@dataclass(frozen=True)
class Each:
    """Shape of a non-empty list whose every item conforms to ``shape``."""

    shape: Any


@dataclass
class World:
    """What the pairs refer to: a processed file, a succeeded job (with a validation file and W&B
    integration), its fine-tuned model and a deployment of it."""

    handle: EmulatorHandle
    ids: dict[str, str] = field(default_factory=dict)

    def fresh_job(self) -> str:
        client = self.handle.azure_openai()
        job_id: str = client.fine_tuning.jobs.create(
            model=BASE, training_file=self.ids["file"], extra_body={"trainingType": "Standard"}
        ).id
        return job_id

    def running_job(self) -> str:
        job_id = self.fresh_job()
        self.handle.advance_clock(1)
        return job_id

    def fresh_file(self) -> str:
        file_id: str = upload(self.handle.azure_openai(), success_file()).id
        return file_id

    def finished_job(self) -> str:
        job_id = self.fresh_job()
        self.handle.advance_clock(TRAINING + 10)
        return job_id


@dataclass(frozen=True)
class Pair:
    example: str
    method: str
    path: str  # {placeholders} filled from World.ids and from ``prepare``
    status: tuple[int, ...]
    shape: Any = None
    body: Any = None
    headers: tuple[str, ...] = ()
    prepare: Callable[[World], dict[str, str]] | None = None


ACCOUNT = "/subscriptions/{sub}/resourceGroups/{rg}/providers/Microsoft.CognitiveServices/accounts/{account}"
JOB_SHAPE = {
    "id": str,
    "object": "fine_tuning.job",
    "created_at": int,
    "model": str,
    "training_file": str,
    "hyperparameters": {"n_epochs": int},
    "method": {"type": "supervised"},
    "status": str,
}
FILE_SHAPE = {
    "id": str,
    "object": "file",
    "bytes": int,
    "created_at": int,
    "filename": str,
    "purpose": str,
    "status": str,
}
# The example lists fine-tunable OpenAI models only; the emulator's list also has open models (format
# "Microsoft", ...) and models that cannot be fine-tuned (fineTune "false").
MODEL_SHAPE = {
    "format": str,
    "name": str,
    "version": str,
    "maxCapacity": int,
    "capabilities": {"fineTune": str},
}
DEPLOYMENT_SHAPE = {
    "id": str,
    "name": str,
    "type": "Microsoft.CognitiveServices/accounts/deployments",
    "sku": {"name": str, "capacity": int},
    "properties": {"model": {"format": "OpenAI", "name": str, "version": str}, "provisioningState": str},
}
SUCCEEDED_DEPLOYMENT = {
    **DEPLOYMENT_SHAPE,
    "properties": {
        "model": {"format": "OpenAI", "name": str, "version": str},
        "provisioningState": "Succeeded",
    },
}
PAIRS = [
    Pair(
        "upload_file",
        "UPLOAD",
        "/openai/files",
        (201,),
        {
            "status": "pending",
            "purpose": "fine-tune",
            "filename": "puppy.jsonl",
            "id": str,
            "created_at": int,
            "object": "file",
        },
        headers=("location",),
    ),
    Pair("get_file", "GET", "/openai/files/{file}", (200,), {**FILE_SHAPE, "status": "processed"}),
    Pair("get_files", "GET", "/openai/files", (200,), {"object": "list", "data": Each(FILE_SHAPE)}),
    Pair("get_file_content", "GET", "/openai/files/{file}/content", (200,), bytes),
    Pair(
        "delete_file",
        "DELETE",
        "/openai/files/{doomed}",
        (200,),
        {"id": str, "object": "file", "deleted": True},
        prepare=lambda w: {"doomed": w.fresh_file()},
    ),
    Pair(
        "post_finetuning_job",
        "POST",
        "/openai/fine_tuning/jobs",
        (201,),
        {**JOB_SHAPE, "status": "pending", "integrations": WANDB},
        body={
            "integrations": WANDB,
            "method": {"type": "supervised"},
            "model": BASE,
            "training_file": "{file}",
            "trainingType": "Standard",
        },
        headers=("location",),
    ),
    Pair(
        "get_finetuning_job",
        "GET",
        "/openai/fine_tuning/jobs/{job}",
        (200,),
        {
            **JOB_SHAPE,
            "status": "succeeded",
            "fine_tuned_model": str,
            "result_files": Each(str),
            "finished_at": int,
            "trained_tokens": int,
            "integrations": WANDB,
        },
    ),
    Pair(
        "get_finetuning_jobs",
        "GET",
        "/openai/fine_tuning/jobs",
        (200,),
        {"object": "list", "data": Each(JOB_SHAPE), "has_more": bool},
    ),
    Pair(
        "get_finetuning_job_events",
        "GET",
        "/openai/fine_tuning/jobs/{job}/events",
        (200,),
        {
            "object": "list",
            "has_more": bool,
            "data": Each(
                {
                    "id": str,
                    "created_at": int,
                    "level": "info",
                    "message": str,
                    "type": str,
                    "object": "fine_tuning.job.event",
                }
            ),
        },
    ),
    Pair(
        "get_finetuning_job_checkpoints",
        "GET",
        "/openai/fine_tuning/jobs/{job}/checkpoints",
        (200,),
        {
            "object": "list",
            "has_more": False,
            "data": Each(
                {
                    "id": str,
                    "created_at": int,
                    "fine_tuned_model_checkpoint": str,
                    "step_number": int,
                    "metrics": {
                        "step": int,
                        "train_loss": float,
                        "train_mean_token_accuracy": float,
                        "valid_loss": float,
                        "valid_mean_token_accuracy": float,
                        "full_valid_loss": float,
                        "full_valid_mean_token_accuracy": float,
                    },
                    "fine_tuning_job_id": str,
                    "object": "fine_tuning.job.checkpoint",
                }
            ),
        },
    ),
    Pair(
        "cancel_finetuning_job",
        "POST",
        "/openai/fine_tuning/jobs/{fresh}/cancel",
        (200,),
        {**JOB_SHAPE, "status": "cancelled"},
        prepare=lambda w: {"fresh": w.fresh_job()},
    ),
    Pair(
        "pause_finetuning_job",
        "POST",
        "/openai/fine_tuning/jobs/{running}/pause",
        (200,),
        {**JOB_SHAPE, "status": "paused"},
        prepare=lambda w: {"running": w.running_job()},
    ),
    Pair(
        "delete_finetuning_job",
        "DELETE",
        "/openai/fine_tuning/jobs/{finished}",
        (204,),
        b"",
        prepare=lambda w: {"finished": w.finished_job()},
    ),
    Pair(
        "ListAccountModels",
        "GET",
        ACCOUNT + "/models",
        (200,),
        {"value": Each(MODEL_SHAPE)},
    ),
    Pair(
        "PutDeployment",
        "PUT",
        ACCOUNT + "/deployments/{name}",
        (200, 201),
        DEPLOYMENT_SHAPE,
        body={
            "sku": {"name": "Standard", "capacity": 1},
            "properties": {"model": {"format": "OpenAI", "name": "{model}", "version": "1"}},
        },
        headers=("azure-asyncoperation",),
        prepare=lambda w: {"name": "put-example"},
    ),
    Pair("GetDeployment", "GET", ACCOUNT + "/deployments/{deployment}", (200,), SUCCEEDED_DEPLOYMENT),
    Pair("ListDeployments", "GET", ACCOUNT + "/deployments", (200,), {"value": Each(DEPLOYMENT_SHAPE)}),
    Pair(
        "UpdateDeployment",
        "PATCH",
        ACCOUNT + "/deployments/{deployment}",
        (200, 202),
        None,
        body={"sku": {"name": "Standard", "capacity": 1}},
        headers=("azure-asyncoperation",),
    ),
    Pair(
        "DeleteDeployment",
        "DELETE",
        ACCOUNT + "/deployments/{doomed}",
        (200, 202, 204),
        prepare=lambda w: {"doomed": "put-example"},
    ),
]


@pytest.fixture(scope="module")
def world() -> Iterator[World]:
    handle = start_before_retirements("--job-running", str(TRAINING * 100))
    try:
        client = handle.azure_openai()
        file_id = upload(client, success_file()).id
        wait_processed(client, file_id)
        job = client.fine_tuning.jobs.create(
            model=BASE,
            training_file=file_id,
            validation_file=file_id,
            integrations=WANDB,
            extra_body={"trainingType": "Standard"},
        )
        handle.advance_clock(TRAINING + 10)
        model = fine_tuned_model(client.fine_tuning.jobs.retrieve(job.id))
        body = {
            "sku": {"name": "Standard", "capacity": 1},
            "properties": {"model": {"name": model, "version": "1"}},
        }
        ids = {
            "sub": handle.subscription,
            "rg": handle.resource_group,
            "account": handle.account,
            "file": file_id,
            "job": job.id,
            "model": model,
            "deployment": "ft-example",
        }
        _send(handle, "PUT", ACCOUNT.format(**ids) + "/deployments/ft-example", body)
        handle.advance_clock(60)
        yield World(handle, ids)
    finally:
        handle.stop()


def _send(handle: EmulatorHandle, method: str, path: str, body: Any) -> Any:
    arm = path.startswith("/subscriptions")
    query = {"api-version": ARM_VERSION if arm else AZURE_API_VERSION}
    headers = {"Authorization": "Bearer t"} if arm else {"api-key": "k"}
    with handle.http_client() as http:
        if method == "UPLOAD":
            files: dict[str, tuple[str | None, str | bytes]] = {
                "purpose": (None, "fine-tune"),
                "file": ("puppy.jsonl", success_file()),
            }
            return http.post(handle.url + path, params=query, headers=headers, files=files)
        content = None if body is None else json.dumps(body).encode()
        return http.request(method, handle.url + path, params=query, headers=headers, content=content)


def conforms(value: Any, shape: Any, where: str = "body") -> list[str]:
    """Where ``value`` departs from ``shape`` (empty when it conforms)."""
    if isinstance(shape, type):
        ok = isinstance(value, shape) and not (shape is int and isinstance(value, bool))
        return [] if ok else [f"{where}: {value!r} is not {shape.__name__}"]
    if isinstance(shape, dict):
        if not isinstance(value, dict):
            return [f"{where}: {value!r} is not an object"]
        problems = [f"{where}.{key}: missing" for key in shape if key not in value]
        for key in shape:
            if key in value:
                problems += conforms(value[key], shape[key], f"{where}.{key}")
        return problems
    if isinstance(shape, Each):
        if not isinstance(value, list) or not value:
            return [f"{where}: {value!r} is not a non-empty list"]
        return [p for n, item in enumerate(value) for p in conforms(item, shape.shape, f"{where}[{n}]")]
    return [] if value == shape else [f"{where}: {value!r} != {shape!r}"]


def _filled(value: Any, ids: dict[str, str]) -> Any:
    if isinstance(value, str):
        return value.format(**ids) if "{" in value else value
    if isinstance(value, dict):
        return {k: _filled(v, ids) for k, v in value.items()}
    if isinstance(value, list):
        return [_filled(v, ids) for v in value]
    return value


@pytest.mark.rule(
    "P1",
    "P2",
    "P3",
    "P4",
    "P5",
    "P6",
    "P7",
    "P8",
    "P9",
    "AR2",
    "AR3",
    "AR4",
    "AR5",
    "Q18",
    "Q19",
    "Q21",
    "Q22",
)
@pytest.mark.parametrize("pair", PAIRS, ids=[p.example for p in PAIRS])
def test_spec_example_replays(world: World, pair: Pair) -> None:
    ids = {**world.ids, **(pair.prepare(world) if pair.prepare else {})}
    body = _filled(pair.body, ids)
    response = _send(world.handle, pair.method, pair.path.format(**ids), body)
    assert response.status_code in pair.status, response.text
    for header in pair.headers:
        assert header in {h.lower() for h in response.headers}, f"{pair.example}: no {header} header"
    if pair.shape is bytes:
        assert response.content
    elif pair.shape == b"":
        assert response.content == b""
    elif pair.shape is not None:
        assert conforms(response.json(), pair.shape) == []
