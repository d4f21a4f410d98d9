"""A year of runs fits a resource: jobs whose models the lineage no longer needs are deleted (with their
models), and whatever cannot be deleted is reported under ``leaked`` with the reason, never silently left
behind and never the end of the run."""

from __future__ import annotations

from emulator.launch import EmulatorHandle
from tests.app.support import lineage
from tests.driver import Runs


def test_jobs_of_models_the_lineage_no_longer_needs_are_deleted(
    runs: Runs, emulator_reset: EmulatorHandle
) -> None:
    """Three candidates, none promoted (each waits for an approval that never comes), one deployment
    kept: versions 1 and 2 are neither champion nor latest nor deployed, so their jobs (and models) go;
    version 3's stays. Every rewarded example is kept, so each batch gives Azure enough to train on."""
    runs.start(
        "forget",
        iterations=3,
        promotion="approval",
        approval_timeout_seconds=1,
        max_deployments=1,
        data_filter_ratio=1.0,
    )
    report = runs.finish("forget")
    assert report.status == "succeeded", report.iterations
    jobs = [item.job_id for item in report.iterations]
    record = lineage("forget")
    assert [item.job_deleted_at is not None for item in record.versions] == [True, True, False]
    state = emulator_reset.state()
    assert [job["id"] for job in state["jobs"]] == [jobs[2]]
    models = {model["id"] for model in state["models"]}
    assert report.iterations[2].fine_tuned_model in models
    assert not {item.fine_tuned_model for item in report.iterations[:2]} & models
    assert report.leaked == []


def test_files_azure_will_not_delete_are_reported_as_leaked(
    runs: Runs, emulator_reset: EmulatorHandle
) -> None:
    """Every file the run made (the training file and the job's results file, purpose
    fine-tune-results) is named under ``leaked`` when Azure will not delete it, and the job's outputs
    copied to Blob before that are still recorded on the iteration."""
    emulator_reset.set_faults(routes=[{"route": "files", "method": "DELETE", "status": 503, "rate": 1.0}])
    report = runs.finish(runs.start("leaky", iterations=1, data_filter_ratio=1.0))
    assert report.status == "succeeded", report.iterations
    (only,) = report.iterations
    state = emulator_reset.state()
    (job,) = [job for job in state["jobs"] if job["id"] == only.job_id]
    made = {only.file_id, *job["result_files"]}
    assert len(made) == 2, made
    results = {item["id"] for item in state["files"] if item["purpose"] == "fine-tune-results"}
    assert set(job["result_files"]) <= results, "the results file is Azure's, purpose fine-tune-results"
    leaked = {item.name for item in report.leaked if item.kind == "file"}
    assert leaked == made
    assert all("503" in item.reason for item in report.leaked), report.leaked
    live = {item["id"] for item in state["files"]}
    assert made <= live, "the files the report calls leaked are indeed still there"
    assert only.results_blobs == ["datasets/leaky/01/results.csv"]
    assert only.events_blob == "datasets/leaky/01/events.jsonl"
