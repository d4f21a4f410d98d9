"""The run's artefacts in Blob storage: where each one lives, and reading/writing them.

Every path is built here so that traces, datasets, intents and reports of one run sit under one
predictable layout that other tools (and people browsing Azurite) can rely on.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import PurePosixPath
from typing import Any, TypeVar

from azure.core import MatchConditions
from azure.core.exceptions import ResourceExistsError, ResourceModifiedError, ResourceNotFoundError
from azure.storage.blob import ContainerClient, ContentSettings
from pydantic import BaseModel

Model = TypeVar("Model", bound=BaseModel)

# Optimistic concurrency: attempts at a read-modify-write before giving up. Writers of one blob are few
# (an orchestration's activities and a handful of HTTP-started ones), so conflicts are rare and short.
UPDATE_ATTEMPTS = 8

JSON = ContentSettings(content_type="application/json")
CONTENT_TYPES = {".json": "application/json", ".jsonl": "application/x-ndjson", ".csv": "text/csv"}


def trace_path(run_id: str, iteration: int, split: str, rollout_id: str) -> str:
    return f"traces/{run_id}/{iteration:02d}/{split}/{rollout_id}.jsonl"


def traces_prefix(run_id: str, iteration: int, split: str) -> str:
    return f"traces/{run_id}/{iteration:02d}/{split}/"


def dataset_path(run_id: str, iteration: int) -> str:
    return f"datasets/{run_id}/{iteration:02d}/train.jsonl"


def dataset_stats_path(run_id: str, iteration: int) -> str:
    return f"datasets/{run_id}/{iteration:02d}/stats.json"


def training_results_path(run_id: str, iteration: int, index: int = 0) -> str:
    """The job's results file (per-step loss and token accuracy), copied from Azure before deletion;
    Azure writes one per job (``index`` numbers any further ones)."""
    suffix = f"-{index}" if index else ""
    return f"datasets/{run_id}/{iteration:02d}/results{suffix}.csv"


def training_events_path(run_id: str, iteration: int) -> str:
    return f"datasets/{run_id}/{iteration:02d}/events.jsonl"


def report_path(run_id: str) -> str:
    return f"runs/{run_id}/report.json"


def intent_path(run_id: str, name: str) -> str:
    return f"runs/{run_id}/intents/{name}.json"


def cancel_request_path(run_id: str) -> str:
    return f"runs/{run_id}/cancel.json"


def lineage_path(lineage: str) -> str:
    return f"lineages/{lineage}/lineage.json"


class ConcurrentUpdateError(RuntimeError):
    """A blob kept changing under a read-modify-write; raised for the caller's retry."""


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

    def write_text(self, path: str, text: str) -> None:
        """Writes (or replaces) a UTF-8 blob; its content type follows the path's extension."""
        self._ensure_container()
        content_type = CONTENT_TYPES.get(PurePosixPath(path).suffix, "text/plain; charset=utf-8")
        self._container.upload_blob(
            path,
            text.encode("utf-8"),
            overwrite=True,
            content_settings=ContentSettings(content_type=content_type),
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

    def update_model(self, path: str, model: type[Model], change: Callable[[Model | None], Model]) -> Model:
        """Read-modify-write with ETags: ``change`` gets the current value (None if absent) and returns
        the new one, which is written only if nobody wrote in between; otherwise it runs again on the
        newer value. ``change`` must be a pure function of its argument."""
        self._ensure_container()
        for _ in range(UPDATE_ATTEMPTS):
            blob = self._container.get_blob_client(path)
            try:
                download = blob.download_blob()
                current: Model | None = model.model_validate_json(download.readall())
                etag: str | None = download.properties.etag
            except ResourceNotFoundError:
                current, etag = None, None
            updated = change(current)
            data = updated.model_dump_json(indent=2).encode("utf-8")
            try:
                if etag is None:
                    blob.upload_blob(data, overwrite=False, content_settings=JSON)
                else:
                    blob.upload_blob(
                        data,
                        overwrite=True,
                        content_settings=JSON,
                        etag=etag,
                        match_condition=MatchConditions.IfNotModified,
                    )
            except (ResourceExistsError, ResourceModifiedError):
                continue
            return updated
        raise ConcurrentUpdateError(f"{path} changed under {UPDATE_ATTEMPTS} attempts to update it")
