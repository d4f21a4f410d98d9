"""Instance and entity state and where it is kept: in memory, or one JSON file per record on disk.

The on-disk store writes a whole instance (or entity) atomically (temporary file, fsync, rename) after every
step, so a process killed at any moment restarts from the last completed step: what was committed is never
redone, what was in flight is dispatched again (the same at-least-once contract Azure gives). A process
killed between writing the temporary file and the rename leaves that file behind; the next start
removes it (one host per store directory, so no writer can still own it). Entities live in the
``entities/`` subdirectory, one file per entity (its scheduler id ``@name@key``).
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
class EntityRequest:
    """One operation request for an entity: the extension's ``RequestMessage``.

    ``input`` is ``RequestMessage.Input``: the operation input serialized once more by the extension, which
    the SDK's ``DurableEntityContext.get_input()`` decodes twice (None when the request carried none).
    """

    id: str
    operation: str
    signal: bool
    input: str | None
    parent: str | None = None  # the calling orchestration instance; None for a client's signal
    parent_execution: str | None = None


@dataclass
class Outgoing:
    """A request an orchestration committed (its ``EventSent`` is in history) that the entity has not
    accepted yet: delivered right after the commit, again after a crash in between."""

    target: str  # the entity's scheduler id, ``@name@key``
    request: EntityRequest

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Outgoing:
        return cls(target=data["target"], request=EntityRequest(**data["request"]))


@dataclass
class EntityResponse:
    """The result of a call that the entity committed and the caller has not received yet."""

    instance_id: str
    execution_id: str | None
    request_id: str  # the name of the ``EventRaised`` the caller waits for
    message: str  # the extension's ``ResponseMessage`` JSON: the event's ``Input``


@dataclass
class EntityRecord:
    """One entity: the extension's ``SchedulerState`` (exists, state, queue) plus the responses of its last
    batch that have not reached their callers yet."""

    entity_id: str  # the scheduler id, ``@name@key``
    exists: bool = False
    state: str | None = None  # the SDK's ``entityState``: the JSON text of the state
    queue: list[EntityRequest] = field(default_factory=list)
    outbox: list[EntityResponse] = field(default_factory=list)
    batches: int = 0  # batches run (entity function invocations), for tests and benchmarks
    operations: int = 0  # operations run

    @property
    def is_empty(self) -> bool:
        """``SchedulerState.IsEmpty`` (and nothing left to deliver): the record can be removed."""
        return not self.exists and not self.queue and not self.outbox

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> EntityRecord:
        return cls(
            entity_id=data["entity_id"],
            exists=bool(data.get("exists")),
            state=data.get("state"),
            queue=[EntityRequest(**item) for item in data.get("queue") or []],
            outbox=[EntityResponse(**item) for item in data.get("outbox") or []],
            batches=int(data.get("batches") or 0),
            operations=int(data.get("operations") or 0),
        )


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
    outbox: list[Outgoing] = field(default_factory=list)  # entity requests not yet accepted

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
        values["outbox"] = [Outgoing.from_dict(item) for item in values.get("outbox") or []]
        return cls(**values)


def _snapshot(data: dict[str, Any]) -> dict[str, Any]:
    """A deep copy through JSON, as a file store would write and read it back."""
    copy: dict[str, Any] = json.loads(json.dumps(data))
    return copy


class MemoryStore:
    """Keeps instances and entities in dicts; nothing survives the process."""

    def __init__(self) -> None:
        self._items: dict[str, dict[str, Any]] = {}
        self._entities: dict[str, dict[str, Any]] = {}
        self._lock = threading.Lock()

    def save(self, instance: Instance) -> None:
        data = _snapshot(instance.to_dict())  # a snapshot, never shared with the engine
        with self._lock:
            self._items[instance.instance_id] = data

    def delete(self, instance_id: str) -> None:
        with self._lock:
            self._items.pop(instance_id, None)

    def load_all(self) -> list[Instance]:
        with self._lock:
            return [Instance.from_dict(_snapshot(d)) for d in self._items.values()]

    def save_entity(self, record: EntityRecord) -> None:
        data = _snapshot(record.to_dict())
        with self._lock:
            self._entities[record.entity_id] = data

    def delete_entity(self, entity_id: str) -> None:
        with self._lock:
            self._entities.pop(entity_id, None)

    def load_entities(self) -> list[EntityRecord]:
        with self._lock:
            return [EntityRecord.from_dict(_snapshot(d)) for d in self._entities.values()]


TEMP_PREFIX = ".tmp-"


def _file_name(record_id: str) -> str:
    return quote(record_id, safe="") + ".json"


class FileStore:
    """One ``<quoted instance id>.json`` per instance under ``directory`` and one ``<quoted entity id>.json``
    per entity under ``directory/entities``, each replaced atomically."""

    def __init__(self, directory: str | os.PathLike[str]) -> None:
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self.entity_directory = self.directory / "entities"  # made when the first entity is saved

    def save(self, instance: Instance) -> None:
        _write_atomically(self.directory / _file_name(instance.instance_id), instance.to_dict())

    def delete(self, instance_id: str) -> None:
        (self.directory / _file_name(instance_id)).unlink(missing_ok=True)

    def load_all(self) -> list[Instance]:
        """Every instance on disk; removes temporary files a killed writer left behind."""
        return [Instance.from_dict(data) for data in _load(self.directory, "instance_id")]

    def save_entity(self, record: EntityRecord) -> None:
        self.entity_directory.mkdir(exist_ok=True)
        _write_atomically(self.entity_directory / _file_name(record.entity_id), record.to_dict())

    def delete_entity(self, entity_id: str) -> None:
        (self.entity_directory / _file_name(entity_id)).unlink(missing_ok=True)

    def load_entities(self) -> list[EntityRecord]:
        """Every entity on disk; removes temporary files a killed writer left behind."""
        return [EntityRecord.from_dict(data) for data in _load(self.entity_directory, "entity_id")]


def _write_atomically(path: Path, data: dict[str, Any]) -> None:
    """Temporary file in the same directory, fsync, rename over ``path``."""
    text = json.dumps(data, indent=1)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=TEMP_PREFIX, suffix=".json")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _load(directory: Path, id_field: str) -> list[dict[str, Any]]:
    """The records in ``directory`` whose ``id_field`` matches their file name; removes temporary files."""
    if not directory.is_dir():
        return []
    for leftover in directory.glob(f"{TEMP_PREFIX}*.json"):
        leftover.unlink(missing_ok=True)
    found = []
    for path in sorted(directory.glob("*.json")):
        data = json.loads(path.read_text(encoding="utf-8"))
        if isinstance(data, dict) and data.get(id_field) == unquote(path.stem):
            found.append(data)
    return found


def make_store(store_dir: str | os.PathLike[str] | None) -> MemoryStore | FileStore:
    return FileStore(store_dir) if store_dir else MemoryStore()
