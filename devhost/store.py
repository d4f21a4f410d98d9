"""Instance state and where it is kept: in memory, or one JSON file per instance on disk.

The on-disk store writes a whole instance atomically (temporary file, fsync, rename) after every step,
so a process killed at any moment restarts from the last completed step: what was committed is never
redone, what was in flight is dispatched again (the same at-least-once contract Azure gives). A process
killed between writing the temporary file and the rename leaves that file behind; the next start
removes it (one host per store directory, so no writer can still own it).
"""

from __future__ import annotations

import json
import os
import tempfile
import threading
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote

from .history import Event

TERMINAL = frozenset({"Completed", "Failed", "Terminated", "Canceled"})


@dataclass
class Instance:
    """Everything devhost knows about one orchestration instance (its current execution)."""

    instance_id: str
    name: str
    input: str | None  # JSON text, as the SDK's context expects
    created_time: str
    last_updated_time: str
    execution_id: str
    runtime_status: str = "Pending"
    output: Any = None  # JSON value (the failure message for Failed)
    custom_status: Any = None
    history: list[Event] = field(default_factory=list)
    inbox: list[Event] = field(default_factory=list)  # events not yet seen by an episode
    action_signatures: list[list[Any]] = field(default_factory=list)  # for the non-determinism check
    cancelled_timers: list[int] = field(default_factory=list)
    parent: dict[str, Any] | None = None  # {instance_id, execution_id, task_id} for sub-orchestrations
    episodes: int = 0

    @property
    def is_terminal(self) -> bool:
        return self.runtime_status in TERMINAL

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Instance:
        return cls(**data)


class MemoryStore:
    """Keeps instances in a dict; nothing survives the process."""

    def __init__(self) -> None:
        self._items: dict[str, dict[str, Any]] = {}
        self._lock = threading.Lock()

    def save(self, instance: Instance) -> None:
        data = json.loads(json.dumps(instance.to_dict()))  # a snapshot, never shared with the engine
        with self._lock:
            self._items[instance.instance_id] = data

    def delete(self, instance_id: str) -> None:
        with self._lock:
            self._items.pop(instance_id, None)

    def load_all(self) -> list[Instance]:
        with self._lock:
            return [Instance.from_dict(json.loads(json.dumps(d))) for d in self._items.values()]


TEMP_PREFIX = ".tmp-"


class FileStore:
    """One ``<quoted instance id>.json`` per instance under ``directory``, replaced atomically."""

    def __init__(self, directory: str | os.PathLike[str]) -> None:
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)

    def _path(self, instance_id: str) -> Path:
        return self.directory / (quote(instance_id, safe="") + ".json")

    def save(self, instance: Instance) -> None:
        text = json.dumps(instance.to_dict(), indent=1)
        fd, tmp = tempfile.mkstemp(dir=self.directory, prefix=TEMP_PREFIX, suffix=".json")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                handle.write(text)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, self._path(instance.instance_id))
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def delete(self, instance_id: str) -> None:
        self._path(instance_id).unlink(missing_ok=True)

    def load_all(self) -> list[Instance]:
        """Every instance on disk; removes temporary files a killed writer left behind."""
        for leftover in self.directory.glob(f"{TEMP_PREFIX}*.json"):
            leftover.unlink(missing_ok=True)
        found = []
        for path in sorted(self.directory.glob("*.json")):
            data = json.loads(path.read_text(encoding="utf-8"))
            if data.get("instance_id") != unquote(path.stem):
                continue
            found.append(Instance.from_dict(data))
        return found


def make_store(store_dir: str | os.PathLike[str] | None) -> MemoryStore | FileStore:
    return FileStore(store_dir) if store_dir else MemoryStore()
