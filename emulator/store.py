"""The emulator's state and its persistence.

One ``Store`` per process holds every record. All handlers run on one event loop and never await while
mutating, so no locks are needed. With ``--state-dir`` the state is written atomically (temp file +
rename) after every mutation and file contents live beside it, so a restarted emulator continues where
the last one stopped; because lifecycles are computed from timestamps, time spent down counts as well.

A state file that does not validate (hand-edited, written by a buggy older version, truncated) never
stops the emulator: the records that validate are kept, the rest are dropped with a warning on stderr,
and the original file is kept beside it as ``state.json.bad-<unix time>`` so nothing is lost silently.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sys
import time
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from emulator.catalog import deployment_format
from emulator.config import Config
from emulator.faults import Faults
from emulator.profiles import profile_of
from emulator.records import DeploymentRecord, ModelRecord, StateData

RECORD_MAPS = ("files", "jobs", "models", "deployments", "operations")


class Store:
    def __init__(self, config: Config) -> None:
        self.config = config
        self._dir = config.state_dir
        self._contents: dict[str, bytes] = {}
        self.data = StateData()
        self.faults = Faults(config.faults.model_copy(deep=True), config.seed)
        if self._dir is not None:
            (self._dir / "files").mkdir(parents=True, exist_ok=True)
            if self._state_path.exists():
                self.data = self._load()
                self.faults.config = self.data.faults
                return
        self.reset()

    def _load(self) -> StateData:
        """The saved state, salvaged record by record when it does not validate as a whole."""
        raw_text = self._state_path.read_bytes()
        try:
            data = StateData.model_validate_json(raw_text)
        except ValidationError:
            data, dropped = _salvage(raw_text)
            backup = self._state_path.with_name(f"state.json.bad-{int(time.time())}")
            shutil.copyfile(self._state_path, backup)
            print(
                f"emulator: {self._state_path} did not validate; dropped {', '.join(dropped) or 'nothing'}; "
                f"the original is kept as {backup}",
                file=sys.stderr,
                flush=True,
            )
        return self._reconciled(data)

    def _reconciled(self, data: StateData) -> StateData:
        """The loaded state made consistent with the disk and the flags: files whose bytes are gone are
        treated as deleted, deployments of unknown models are dropped (both reported on stderr), and base
        models added by new ``--base-model`` flags become available."""
        assert self._dir is not None
        for record in data.files.values():
            if not record.deleted and not (self._dir / "files" / record.id).exists():
                record.deleted = True
                print(
                    f"emulator: content of {record.id} is missing; it is treated as deleted", file=sys.stderr
                )
        for name in [n for n, d in data.deployments.items() if d.model_id not in data.models]:
            del data.deployments[name]
            print(f"emulator: deployment {name} names an unknown model; dropped", file=sys.stderr)
        now = time.time() + data.clock_offset
        for base in self.config.base_models:
            data.models.setdefault(
                base, ModelRecord(id=base, root=base, skill=self.config.skill, created_at=now)
            )
        return data

    @property
    def _state_path(self) -> Path:
        assert self._dir is not None
        return self._dir / "state.json"

    def next_hex(self) -> str:
        """32 hex digits derived from the seed and a counter, so file and job ids (and with them the
        fine-tuned model names the behaviour model hashes) repeat exactly from a fresh start."""
        self.data.ids_issued += 1
        return hashlib.sha256(f"{self.config.seed}:id:{self.data.ids_issued}".encode()).hexdigest()[:32]

    def now(self) -> float:
        """Emulated now: wall clock plus any offset added through the admin API."""
        return time.time() + self.data.clock_offset

    def reset(self) -> None:
        """Back to start-up state: no files, jobs or fine-tuned models; the configured base deployments;
        the CLI's faults."""
        for path in self._dir.glob("files/*") if self._dir is not None else []:
            path.unlink()
        self._contents.clear()
        self.data = StateData(faults=self.config.faults.model_copy(deep=True))
        self.faults.config = self.data.faults
        now = self.now()
        for base in self.config.base_models:
            self.data.models[base] = ModelRecord(id=base, root=base, skill=self.config.skill, created_at=now)
        for name, model in self.config.deployments:
            if model not in self.data.models:
                self.data.models[model] = ModelRecord(
                    id=model, root=model, skill=self.config.skill, created_at=now
                )
            profile = profile_of(model)
            self.data.deployments[name] = DeploymentRecord(
                name=name,
                model_format=deployment_format(self, profile),
                model_name=profile.arm_name,
                model_version=profile.arm_version,
                model_id=model,
                sku_name="GlobalStandard",
                capacity=self.config.base_capacity,
                preprovisioned=True,
                created_at=now,
                state_since=now,
                ready_at=now,
            )
        self.save()

    def save(self) -> None:
        if self._dir is None:
            return
        self.data.faults = self.faults.config
        tmp = self._state_path.with_suffix(".tmp")
        tmp.write_text(json.dumps(self.data.model_dump(mode="json"), allow_nan=False))
        os.replace(tmp, self._state_path)

    def put_content(self, file_id: str, data: bytes) -> None:
        if self._dir is None:
            self._contents[file_id] = data
        else:
            (self._dir / "files" / file_id).write_bytes(data)

    def get_content(self, file_id: str) -> bytes:
        if self._dir is None:
            return self._contents[file_id]
        return (self._dir / "files" / file_id).read_bytes()

    def drop_content(self, file_id: str) -> None:
        if self._dir is None:
            self._contents.pop(file_id, None)
        else:
            (self._dir / "files" / file_id).unlink(missing_ok=True)


def _salvage(raw_text: bytes) -> tuple[StateData, list[str]]:
    """Every field and record of a saved state that validates on its own; the names of the others."""
    try:
        raw = json.loads(raw_text)
    except (ValueError, RecursionError):
        return StateData(), ["the whole file (not JSON)"]
    if not isinstance(raw, dict):
        return StateData(), ["the whole file (not an object)"]
    clean: dict[str, Any] = {}
    dropped: list[str] = []
    for name in StateData.model_fields:
        if name not in raw:
            continue
        value = raw[name]
        if name in RECORD_MAPS and isinstance(value, dict):
            clean[name] = {key: item for key, item in value.items() if _valid({name: {key: item}})}
            dropped += [f"{name}[{key}]" for key in value if key not in clean[name]]
        elif _valid({name: value}):
            clean[name] = value
        else:
            dropped.append(name)
    return StateData.model_validate(clean), dropped


def _valid(fragment: dict[str, Any]) -> bool:
    try:
        StateData.model_validate(fragment)
    except ValidationError:
        return False
    return True
