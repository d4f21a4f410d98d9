"""The runs index against Azurite: newest first across month shards, filters, cursors, concurrent
writers on one shard (ETag-conditional writes), and readers that see other writers' changes."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from shared.domain.layout import run_index_path
from shared.domain.report import Baseline, IterationReport, RunReport, RunStatus
from shared.domain.report_view import ReportView
from shared.storage.artifacts import ArtifactStore
from shared.storage.run_index import MONTHS_TTL_SECONDS, Cursor, IndexShard, RunIndex, RunQuery

pytestmark = pytest.mark.timeout(120)


def report(run_id: str, started_at: str, status: RunStatus = "succeeded", **extra: Any) -> ReportView:
    body = RunReport(
        run_id=run_id,
        instance_id=run_id,
        status=status,
        settings={"iterations": 2, "agent": "capital_lookup"},
        started_at=started_at,
        baseline=Baseline(deployment="base", model="m", val_reward=0.25),
        iterations=[IterationReport(iteration=1, status="succeeded", val_reward=0.5, promoted=True)],
        promoted_deployment="dep_v01",
        promoted_val_reward=0.5,
    ).model_dump(mode="json")
    return ReportView.parse(json.dumps(body | extra))


def ids(runs: list[Any]) -> list[str]:
    return [item.run_id for item in runs]


def test_lists_newest_first_across_months_with_filters_and_cursors(store: ArtifactStore) -> None:
    index = RunIndex(store)
    index.record(report("run-jan-a", "2025-01-05T10:00:00+00:00", lineage="capitals"))
    index.record(report("run-jan-b", "2025-01-20T10:00:00+00:00", status="failed"))
    index.record(report("run-mar-a", "2025-03-01T00:00:00+00:00", lineage="capitals"))
    index.record(report("run-feb-a", "2025-02-10T08:30:00.123456+00:00", status="running"))
    assert store.list_paths("index/runs/") == [run_index_path(m) for m in ("2025-01", "2025-02", "2025-03")]

    everything = index.page(RunQuery())
    assert ids(everything.runs) == ["run-mar-a", "run-feb-a", "run-jan-b", "run-jan-a"]
    assert everything.newer is None and everything.older is None
    assert ids(index.page(RunQuery(lineage="capitals")).runs) == ["run-mar-a", "run-jan-a"]
    assert ids(index.page(RunQuery(statuses=frozenset({"failed", "running"}))).runs) == [
        "run-feb-a",
        "run-jan-b",
    ]

    first = index.page(RunQuery(limit=3))
    assert ids(first.runs) == ["run-mar-a", "run-feb-a", "run-jan-b"]
    assert first.older is not None and first.newer is None
    second = index.page(RunQuery(limit=3, before=Cursor.parse(str(first.older))))
    assert ids(second.runs) == ["run-jan-a"]
    assert second.older is None and second.newer is not None
    again = index.page(RunQuery(limit=3, after=second.newer))
    assert ids(again.runs) == ids(first.runs)


def test_the_summary_reads_the_report_and_fields_it_does_not_have_yet(store: ArtifactStore) -> None:
    index = RunIndex(store)
    index.record(report("run-plain", "2025-04-01T00:00:00+00:00"))
    index.record(report("run-extra", "2025-04-02T00:00:00+00:00", lineage="caps", cost={"total_usd": 12.5}))
    plain, extra = index.page(RunQuery()).runs[::-1]
    assert (plain.lineage, plain.cost_usd, extra.lineage, extra.cost_usd) == (None, None, "caps", 12.5)
    assert (plain.baseline_val_reward, plain.best_val_reward, plain.champion_deployment) == (
        0.25,
        0.5,
        "dep_v01",
    )
    assert (plain.iterations_done, plain.iterations_planned, plain.agent) == (1, 2, "capital_lookup")


def test_recording_the_same_summary_again_writes_nothing(store: ArtifactStore) -> None:
    index = RunIndex(store)
    index.record(report("run-same", "2025-05-01T00:00:00+00:00", status="running"))
    path = run_index_path("2025-05")
    before = store.read_versioned(path)
    index.record(report("run-same", "2025-05-01T00:00:00+00:00", status="running"))
    assert store.read_versioned(path) == before
    index.record(report("run-same", "2025-05-01T00:00:00+00:00", status="succeeded"))
    after = store.read_versioned(path)
    assert after is not None and before is not None and after.etag != before.etag
    assert [item.status for item in IndexShard.model_validate_json(after.text or "").runs] == ["succeeded"]


def test_concurrent_writers_of_one_shard_lose_nothing(store: ArtifactStore) -> None:
    """Eight writers record 10 runs each into the same month at once: each write is conditional on
    the ETag it read, so a writer that lost the race reads again; all 80 runs end up in the shard."""

    def write(writer: int) -> None:
        index = RunIndex(store)
        for k in range(10):
            index.record(report(f"run-w{writer}-{k}", f"2025-06-{1 + k:02d}T{writer:02d}:00:00+00:00"))

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(write, range(8)))
    runs = RunIndex(store).page(RunQuery(limit=200)).runs
    assert sorted(ids(runs)) == sorted(f"run-w{w}-{k}" for w in range(8) for k in range(10))
    assert [item.started for item in runs] == sorted((item.started for item in runs), reverse=True)


def test_a_stale_etag_loses_the_write(store: ArtifactStore) -> None:
    store.write_text("index/runs/2025-07.json", IndexShard().model_dump_json())
    seen = store.read_versioned("index/runs/2025-07.json")
    assert seen is not None
    assert store.write_versioned("index/runs/2025-07.json", '{"runs": []}', etag=seen.etag) is True
    assert store.write_versioned("index/runs/2025-07.json", '{"runs": [1]}', etag=seen.etag) is False
    assert store.write_versioned("index/runs/2025-07.json", "{}", etag=None) is False


def test_a_reader_sees_what_another_process_wrote(store: ArtifactStore) -> None:
    reader, writer = RunIndex(store), RunIndex(store)
    writer.record(report("run-one", "2025-08-01T00:00:00+00:00", status="running"))
    assert [item.status for item in reader.page(RunQuery()).runs] == ["running"]
    writer.record(report("run-one", "2025-08-01T00:00:00+00:00", status="succeeded"))
    writer.record(report("run-two", "2025-08-02T00:00:00+00:00"))
    assert [(item.run_id, item.status) for item in reader.page(RunQuery()).runs] == [
        ("run-two", "succeeded"),
        ("run-one", "succeeded"),
    ]


def test_record_many_fills_an_index_with_one_write_per_shard(store: ArtifactStore) -> None:
    reports = [
        report(f"run-bulk-{k:03d}", f"2025-{1 + k % 3:02d}-01T00:{k // 60:02d}:{k % 60:02d}+00:00")
        for k in range(150)
    ]
    RunIndex(store).record_many(reports)
    assert len(store.list_paths("index/runs/")) == 3
    assert len(RunIndex(store).page(RunQuery(limit=200)).runs) == 150


def test_a_new_months_shard_is_listed_by_other_processes_within_the_ttl(store: ArtifactStore) -> None:
    now = [0.0]
    reader, writer = RunIndex(store, clock=lambda: now[0]), RunIndex(store)
    writer.record(report("run-sep", "2025-09-01T00:00:00+00:00"))
    assert ids(reader.page(RunQuery()).runs) == ["run-sep"]
    writer.record(report("run-oct", "2025-10-01T00:00:00+00:00"))
    assert ids(reader.page(RunQuery()).runs) == ["run-sep"], "the shard list is reused within the TTL"
    now[0] += MONTHS_TTL_SECONDS
    assert ids(reader.page(RunQuery()).runs) == ["run-oct", "run-sep"]
