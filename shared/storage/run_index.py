"""The runs index: one small summary per run in Blob, so that listing thousands of runs (the dashboard,
``GET /api/runs``) never reads their reports.

Layout: ``index/runs/{YYYY-MM}.json``, one shard per UTC month in which runs started, each
``{"schema_version": 1, "runs": [RunSummary, ...]}`` sorted newest first. Why this shape:

- Listing newest first with filters reads the shards from the newest month back until a page is full:
  one List Blobs call for the shard names, then one GET per shard touched, typically one or two.
- A process keeps the shards it parsed and revalidates them with a conditional GET (``If-None-Match``,
  304 when unchanged), so a warm request downloads and parses nothing that did not change.
- A run's summary changes a few times per iteration; the report activity rewrites the run's entry in
  its month's shard. Runs that run at the same time write the same shard, so every write is
  conditional on the ETag that was read (``If-Match``; ``If-None-Match: *`` for a new shard) and a
  writer that lost the race reads again and retries. Rewriting an unchanged entry writes nothing, so a
  replayed update costs one read.
- A shard grows by ~0.4 KB per run: 1,000 runs in a month make a 400 KB shard, read once per change.
- The list of shards changes once a month, so a process lists them at most every ``MONTHS_TTL_SECONDS``;
  a warm request then costs one conditional GET per shard it reads (a new month's first run shows up in
  other processes' lists within that time).

Pages are addressed by cursors (a run's start time and id), not offsets, so a run started while
someone pages through does not shift the pages they have not seen yet.
"""

from __future__ import annotations

import random
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache

from pydantic import BaseModel, ConfigDict, Field

from shared.domain.layout import RUN_INDEX_PREFIX, run_index_path
from shared.domain.report import RunReport, RunStatus
from shared.domain.report_view import ReportView
from shared.storage.artifacts import ArtifactStore

INDEX_SCHEMA_VERSION = 1
MAX_WRITE_ATTEMPTS = 20
MONTHS_TTL_SECONDS = 15.0
CURSOR_PATTERN = r"^(\d{8}T\d{6}\.\d{6}Z)~([a-z0-9][a-z0-9-]{2,62})$"
_CURSOR_TIME = "%Y%m%dT%H%M%S.%fZ"


class IndexConflictError(RuntimeError):
    """Other writers kept changing the shard; the report activity fails and Durable retries it."""


def _utc(timestamp: str) -> datetime:
    moment = datetime.fromisoformat(timestamp)
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _view(report: RunReport | ReportView) -> ReportView:
    return report if isinstance(report, ReportView) else ReportView.of(report)


class RunSummary(BaseModel):
    """What the runs list shows of one run; built from its report only."""

    model_config = ConfigDict(extra="ignore")

    run_id: str
    instance_id: str
    lineage: str | None = None
    agent: str | None = None
    status: str
    started_at: str
    finished_at: str | None = None
    iterations_planned: int | None = None
    iterations_done: int = 0
    iterations_failed: int = 0
    baseline_val_reward: float | None = None
    best_val_reward: float | None = None
    champion_deployment: str | None = None
    champion_model: str | None = None
    cost_usd: float | None = None

    @classmethod
    def of(cls, view: ReportView) -> RunSummary:
        report = view.report
        planned = report.settings.get("iterations")
        champion_deployment, champion_model = view.champion
        agent = report.settings.get("agent")
        return cls(
            run_id=report.run_id,
            instance_id=report.instance_id,
            lineage=view.lineage,
            agent=agent if isinstance(agent, str) else None,
            status=report.status,
            started_at=report.started_at,
            finished_at=report.finished_at,
            iterations_planned=planned if isinstance(planned, int) else None,
            iterations_done=view.iterations_done,
            iterations_failed=sum(1 for item in report.iterations if item.status in ("failed", "skipped")),
            baseline_val_reward=report.baseline.val_reward if report.baseline else None,
            best_val_reward=report.promoted_val_reward,
            champion_deployment=champion_deployment,
            champion_model=champion_model,
            cost_usd=view.cost_usd,
        )

    @property
    def started(self) -> datetime:
        return _utc(self.started_at)

    @property
    def month(self) -> str:
        return f"{self.started:%Y-%m}"

    @property
    def cursor(self) -> Cursor:
        return Cursor(self.started, self.run_id)


class IndexShard(BaseModel):
    schema_version: int = INDEX_SCHEMA_VERSION
    runs: list[RunSummary] = Field(default_factory=list)

    def upsert(self, summary: RunSummary) -> None:
        """Replaces the run's entry (or adds it) and keeps the shard newest first."""
        others = [item for item in self.runs if item.run_id != summary.run_id]
        self.runs = sorted([*others, summary], key=lambda item: item.cursor.key, reverse=True)


@dataclass(frozen=True)
class Cursor:
    """A position in the newest-first order: a run's start time, then its id (ties broken by id)."""

    started: datetime
    run_id: str

    @property
    def key(self) -> tuple[datetime, str]:
        return (self.started, self.run_id)

    @property
    def month(self) -> str:
        return f"{self.started:%Y-%m}"

    def __str__(self) -> str:
        return f"{self.started:{_CURSOR_TIME}}~{self.run_id}"

    @classmethod
    def parse(cls, text: str) -> Cursor:
        """Reads ``20250601T120000.000000Z~run-id``; raises ValueError naming the expected form."""
        match = re.fullmatch(CURSOR_PATTERN, text)
        if match is None:
            raise ValueError("must be a cursor from a previous page, like 20250601T120000.000000Z~run-id")
        started = datetime.strptime(match.group(1), _CURSOR_TIME).replace(tzinfo=UTC)
        return cls(started, match.group(2))


@dataclass(frozen=True)
class RunQuery:
    """Which runs to list: filters (None or empty: all), page size, and at most one cursor."""

    lineage: str | None = None
    statuses: frozenset[RunStatus] = frozenset()
    limit: int = 50
    before: Cursor | None = None
    after: Cursor | None = None

    def matches(self, summary: RunSummary) -> bool:
        if self.lineage is not None and summary.lineage != self.lineage:
            return False
        return not self.statuses or summary.status in self.statuses


@dataclass(frozen=True)
class RunPage:
    """One page, newest first, with the cursors of the pages around it (None: there is none)."""

    runs: list[RunSummary]
    newer: Cursor | None
    older: Cursor | None


class RunIndex:
    """Reads and writes the index shards of one artefacts container; keeps parsed shards by ETag."""

    def __init__(self, store: ArtifactStore, clock: Callable[[], float] = time.monotonic) -> None:
        self._store = store
        self._clock = clock
        self._parsed: dict[str, tuple[str, list[RunSummary]]] = {}
        self._months_listed: tuple[float, list[str]] | None = None

    def record(self, report: RunReport | ReportView) -> None:
        """Writes the run's current summary into its shard (nothing when it is already there)."""
        summary = RunSummary.of(_view(report))
        path = run_index_path(summary.month)
        self._months_listed = None  # this process sees a shard it creates at once
        for attempt in range(MAX_WRITE_ATTEMPTS):
            current = self._store.read_versioned(path)
            shard = IndexShard.model_validate_json(current.text or "{}") if current else IndexShard()
            if summary in shard.runs:
                return
            shard.upsert(summary)
            if self._store.write_versioned(
                path, shard.model_dump_json(), etag=current.etag if current else None
            ):
                return
            _back_off(attempt)  # another run wrote first: read again
        raise IndexConflictError(f"{path} kept changing under {MAX_WRITE_ATTEMPTS} attempts to record it")

    def record_many(self, reports: list[RunReport] | list[ReportView]) -> None:
        """Adds many runs at once, one conditional write per shard (filling or rebuilding an index)."""
        by_month: dict[str, list[RunSummary]] = {}
        for report in reports:
            summary = RunSummary.of(_view(report))
            by_month.setdefault(summary.month, []).append(summary)
        for month, summaries in by_month.items():
            self._merge(run_index_path(month), summaries)
        self._months_listed = None

    def _merge(self, path: str, summaries: list[RunSummary]) -> None:
        for attempt in range(MAX_WRITE_ATTEMPTS):
            current = self._store.read_versioned(path)
            shard = IndexShard.model_validate_json(current.text or "{}") if current else IndexShard()
            merged = {item.run_id: item for item in [*shard.runs, *summaries]}
            shard.runs = sorted(merged.values(), key=lambda item: item.cursor.key, reverse=True)
            if self._store.write_versioned(
                path, shard.model_dump_json(), etag=current.etag if current else None
            ):
                return
            _back_off(attempt)
        raise IndexConflictError(f"{path} kept changing under {MAX_WRITE_ATTEMPTS} attempts to merge into it")

    def page(self, query: RunQuery) -> RunPage:
        """The runs matching ``query``, newest first, around its cursor."""
        months = self._months()
        if query.after is not None:
            return self._page_after(query, query.after, [m for m in months if m >= query.after.month])
        if query.before is not None:
            months = [m for m in months if m <= query.before.month]
        found: list[RunSummary] = []
        for month in months:
            for summary in self._shard(month):
                if query.before is not None and summary.cursor.key >= query.before.key:
                    continue
                if query.matches(summary):
                    found.append(summary)
            if len(found) > query.limit:
                break
        runs = found[: query.limit]
        older = runs[-1].cursor if len(found) > query.limit else None
        newer = runs[0].cursor if query.before is not None and runs else None
        return RunPage(runs, newer=newer, older=older)

    def _page_after(self, query: RunQuery, after: Cursor, months: list[str]) -> RunPage:
        """The ``limit`` runs just newer than ``after`` (reads every shard from its month on)."""
        found = [
            summary
            for month in months
            for summary in self._shard(month)
            if summary.cursor.key > after.key and query.matches(summary)
        ]
        runs = found[-query.limit :]
        newer = runs[0].cursor if len(found) > query.limit else None
        return RunPage(runs, newer=newer, older=runs[-1].cursor if runs else None)

    def _months(self) -> list[str]:
        """The months that have a shard, newest first (listed again after ``MONTHS_TTL_SECONDS``)."""
        now = self._clock()
        if self._months_listed is not None and now - self._months_listed[0] < MONTHS_TTL_SECONDS:
            return self._months_listed[1]
        names = self._store.list_paths(RUN_INDEX_PREFIX)
        found = [name[len(RUN_INDEX_PREFIX) : -len(".json")] for name in names if name.endswith(".json")]
        months = sorted((m for m in found if re.fullmatch(r"\d{4}-\d{2}", m)), reverse=True)
        self._months_listed = (now, months)
        return months

    def _shard(self, month: str) -> list[RunSummary]:
        """The shard's runs, newest first: parsed again only when its ETag changed."""
        path = run_index_path(month)
        cached = self._parsed.get(path)
        current = self._store.read_versioned(path, unless_etag=cached[0] if cached else None)
        if current is None:
            self._parsed.pop(path, None)
            return []
        if current.text is None and cached is not None:
            return cached[1]
        runs = IndexShard.model_validate_json(current.text or "{}").runs
        self._parsed[path] = (current.etag, runs)
        return runs


@lru_cache(maxsize=2)
def run_index(store: ArtifactStore) -> RunIndex:
    """The runs index over ``store`` (one per store and process, so parsed shards are reused across
    requests): activities pass ``artifact_store()``, HTTP handlers ``request_artifact_store()``."""
    return RunIndex(store)


def _back_off(attempt: int) -> None:
    """Waits before reading a shard again after losing a write to another writer: full jitter on an
    exponential ceiling (capped at 1 s), so that writers who keep colliding spread out instead of
    retrying in step; linear ceilings ran out of attempts with eight writers on a loaded machine."""
    time.sleep(random.uniform(0, min(1.0, 0.01 * 2**attempt)))
