"""The run's artefacts in Blob storage: where each one lives, and reading/writing them.

Every path is built here so that traces, datasets, intents and reports of one run sit under one
predictable layout that other tools (and people browsing Azurite) can rely on.
"""

from __future__ import annotations

import json
from typing import Any, TypeVar

from azure.core.exceptions import ResourceExistsError, ResourceNotFoundError
from azure.storage.blob import ContainerClient, ContentSettings
from pydantic import BaseModel

Model = TypeVar("Model", bound=BaseModel)

JSONL = ContentSettings(content_type="application/x-ndjson")
JSON = ContentSettings(content_type="application/json")


def trace_path(run_id: str, iteration: int, split: str, rollout_id: str) -> str:
    return f"traces/{run_id}/{iteration:02d}/{split}/{rollout_id}.jsonl"


def traces_prefix(run_id: str, iteration: int, split: str) -> str:
    return f"traces/{run_id}/{iteration:02d}/{split}/"


def dataset_path(run_id: str, iteration: int) -> str:
    return f"datasets/{run_id}/{iteration:02d}/train.jsonl"


def dataset_stats_path(run_id: str, iteration: int) -> str:
    return f"datasets/{run_id}/{iteration:02d}/stats.json"


def report_path(run_id: str) -> str:
    return f"runs/{run_id}/report.json"


def intent_path(run_id: str, name: str) -> str:
    return f"runs/{run_id}/intents/{name}.json"


class ArtifactStore:
    """A thin, synchronous view of the artefacts container. Async callers wrap calls in a thread."""

    def __init__(self, container: ContainerClient) -> None:
        self._container = container
        self._ensured = False

    def _ensure_container(self) -> None:
        if self._ensured:
            return
        try:
            self._container.create_container()
        except ResourceExistsError:
            pass
        self._ensured = True

    def write_text(self, path: str, text: str, *, jsonl: bool = False) -> None:
        self._ensure_container()
        self._container.upload_blob(
            path, text.encode("utf-8"), overwrite=True, content_settings=JSONL if jsonl else JSON
        )

    def read_text(self, path: str) -> str | None:
        try:
            return self._container.download_blob(path).readall().decode("utf-8")
        except ResourceNotFoundError:
            return None

    def list_paths(self, prefix: str) -> list[str]:
        try:
            return sorted(blob.name for blob in self._container.list_blobs(name_starts_with=prefix))
        except ResourceNotFoundError:
            return []

    def write_json(self, path: str, value: BaseModel | dict[str, Any]) -> None:
        text = (
            value.model_dump_json(indent=2) if isinstance(value, BaseModel) else json.dumps(value, indent=2)
        )
        self.write_text(path, text)

    def read_model(self, path: str, model: type[Model]) -> Model | None:
        text = self.read_text(path)
        return None if text is None else model.model_validate_json(text)
