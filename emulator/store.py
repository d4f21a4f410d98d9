"""The emulator's state and its persistence.

One ``Store`` per process holds every record. All handlers run on one event loop and never await while
mutating, so no locks are needed. With ``--state-dir`` the state is written atomically (temp file +
rename) after every mutation and file contents live beside it, so a restarted emulator continues where
the last one stopped; because lifecycles are computed from timestamps, time spent down counts as well.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from pathlib import Path

from emulator.config import Config
from emulator.faults import Faults
from emulator.records import DeploymentRecord, ModelRecord, StateData


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
                self.data = StateData.model_validate_json(self._state_path.read_text())
                self.faults.config = self.data.faults
                return
        self.reset()

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
            self.data.deployments[name] = DeploymentRecord(
                name=name,
                model_name=_name_of(model),
                model_version=_version_of(model),
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
        tmp.write_text(json.dumps(self.data.model_dump(mode="json")))
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


def _name_of(model: str) -> str:
    """ARM's model name for a base model id: no date (gpt-4.1-mini-2025-04-14 -> gpt-4.1-mini)."""
    version = _version_of(model)
    return model[: -len(version) - 1] if version != "1" else model


def _version_of(model: str) -> str:
    """ARM's model version for a base model id: its date (gpt-4.1-mini-2025-04-14 -> 2025-04-14)."""
    parts = model.split("-")
    if len(parts) >= 4 and all(p.isdigit() for p in parts[-3:]):
        return "-".join(parts[-3:])
    return "1"
