"""The run's artefacts in Blob storage: reading and writing them (JSON, JSONL, optimistic updates).

Where each one lives is ``shared/domain/layout.py``.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Any, TypeVar

from azure.core import MatchConditions
from azure.core.exceptions import (
    HttpResponseError,
    ResourceExistsError,
    ResourceModifiedError,
    ResourceNotFoundError,
    ResourceNotModifiedError,
)
from azure.storage.blob import ContainerClient, ContentSettings
from pydantic import BaseModel

Model = TypeVar("Model", bound=BaseModel)

# Optimistic concurrency: attempts at a read-modify-write before giving up. Writers of one blob are few
# (an orchestration's activities and a handful of HTTP-started ones), so conflicts are rare and short.
UPDATE_ATTEMPTS = 8

JSON = ContentSettings(content_type="application/json")
CONTENT_TYPES = {".json": "application/json", ".jsonl": "application/x-ndjson", ".csv": "text/csv"}


class ConcurrentUpdateError(RuntimeError):
    """A blob kept changing under a read-modify-write; raised for the caller's retry."""


@dataclass(frozen=True)
class Versioned:
    """A blob's text and the ETag it had when read; ``text`` is None when it had not changed since the
    ETag the reader already held (so the reader keeps what it parsed before)."""

    text: str | None
    etag: str


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

    def read_head(self, path: str, max_bytes: int) -> str | None:
        """The first whole lines within ``max_bytes`` of a text blob (a preview of a large JSONL file)."""
        try:
            data = self._container.download_blob(path, offset=0, length=max_bytes).readall()
        except ResourceNotFoundError:
            return None
        except HttpResponseError as exc:
            if exc.status_code != 416:  # an empty blob has no byte 0 to start a range at
                raise
            return ""
        if len(data) == max_bytes and b"\n" in data:
            data = data[: data.rindex(b"\n") + 1]
        return data.decode("utf-8", errors="replace")

    def read_versioned(self, path: str, *, unless_etag: str | None = None) -> Versioned | None:
        """The blob's text and ETag, or None when it is absent. A blob still at ``unless_etag`` is not
        downloaded again (a conditional GET answered 304) and comes back with ``text=None``."""
        condition: dict[str, Any] = (
            {"etag": unless_etag, "match_condition": MatchConditions.IfModified} if unless_etag else {}
        )
        try:
            downloader = self._container.download_blob(path, **condition)
        except ResourceNotFoundError:
            return None
        except (ResourceNotModifiedError, ResourceModifiedError) as exc:
            # Azure answers 304 with x-ms-error-code ConditionNotMet, which the SDK maps to "modified".
            if exc.status_code != 304 or unless_etag is None:
                raise
            return Versioned(text=None, etag=unless_etag)
        return Versioned(text=downloader.readall().decode("utf-8"), etag=str(downloader.properties.etag))

    def write_versioned(self, path: str, text: str, *, etag: str | None) -> bool:
        """Writes ``text`` only if the blob is still at ``etag`` (None: only if there is no blob yet);
        False when another writer changed it first, so the caller reads again and retries."""
        self._ensure_container()
        condition: dict[str, Any] = (
            {"overwrite": True, "etag": etag, "match_condition": MatchConditions.IfNotModified}
            if etag
            else {"overwrite": False}
        )
        try:
            self._container.upload_blob(path, text.encode("utf-8"), content_settings=JSON, **condition)
        except (ResourceModifiedError, ResourceExistsError):
            return False
        return True

    def delete(self, path: str) -> None:
        """Deletes a blob; one already gone counts as deleted."""
        try:
            self._container.delete_blob(path)
        except ResourceNotFoundError:
            return

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
        for _ in range(UPDATE_ATTEMPTS):
            current = self.read_versioned(path)
            value = (
                None if current is None or current.text is None else model.model_validate_json(current.text)
            )
            updated = change(value)
            etag = current.etag if current is not None else None
            if self.write_versioned(path, updated.model_dump_json(indent=2), etag=etag):
                return updated
        raise ConcurrentUpdateError(f"{path} changed under {UPDATE_ATTEMPTS} attempts to update it")
