"""A cancel that arrives while Azure processes the run's training file deletes that file: the file is
the run's from the moment it is uploaded, not from the moment a job uses it."""

from __future__ import annotations

from emulator.launch import EmulatorHandle
from tests.driver import Runs


def test_cancel_while_the_training_file_is_processed_deletes_it(
    patient_runs: Runs, emulator_reset: EmulatorHandle
) -> None:
    emulator_reset.set_faults(processing_slowdown=1000)  # the file stays pending for 30 s
    patient_runs.start("cancel-file", iterations=1, data_filter_ratio=1.0)
    patient_runs.wait_until(
        "cancel-file", lambda custom: "waiting until processed" in str(custom.get("message"))
    )
    patient_runs.cancel("cancel-file")

    report = patient_runs.finish("cancel-file")

    assert report.status == "cancelled"
    (only,) = report.iterations
    assert only.status == "cancelled"
    assert report.leaked == []
    state = emulator_reset.state()
    assert state["jobs"] == []
    uploaded = [item for item in state["deleted_files"] if item["filename"].startswith("cancel-file")]
    assert [item["id"] for item in uploaded] == [only.file_id]
    assert [item["id"] for item in state["files"] if item["filename"].startswith("cancel-file")] == []
