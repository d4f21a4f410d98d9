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
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote

from .history import Event

TERMINAL = frozenset({"Completed", "Failed", "Terminated", "Canceled"})


@dataclass
class ReplayStats:
    """Replay cost of one instance, over all its executions (``continue_as_new`` generations)."""

    generations: int = 1
    episodes: int = 0
    events_replayed: int = 0  # history events handed to the SDK, summed over episodes
    events_previous_generations: int = 0  # history length of each finished generation, summed
    replay_seconds: float = 0.0
    replay_seconds_max: float = 0.0
    replay_seconds_last: float = 0.0

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ReplayStats:
        names = {f.name for f in fields(cls)}
        return cls(**{key: value for key, value in data.items() if key in names})


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
    parent: dict[str, Any] | None = None  # {instance_id, execution_id, task_id} for sub-orchestrations
    stats: ReplayStats = field(default_factory=lambda: ReplayStats())

    @property
    def is_terminal(self) -> bool:
        return self.runtime_status in TERMINAL

    def record_episode(self, events_replayed: int, seconds: float) -> None:
        self.stats.episodes += 1
        self.stats.events_replayed += events_replayed
        self.stats.replay_seconds += seconds
        self.stats.replay_seconds_max = max(self.stats.replay_seconds_max, seconds)
        self.stats.replay_seconds_last = seconds

    def start_generation(self, final_history_length: int) -> None:
        """``continue_as_new``: the execution that ends had ``final_history_length`` events."""
        self.stats.generations += 1
        self.stats.events_previous_generations += final_history_length

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Instance:
        """Tolerates files written by older devhost versions (unknown keys are ignored)."""
        names = {f.name for f in fields(cls)}
        values = {key: value for key, value in data.items() if key in names}
        values["stats"] = ReplayStats.from_dict(values.get("stats") or {})
        return cls(**values)


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
