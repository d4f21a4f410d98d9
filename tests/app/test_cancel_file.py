"""A cancel that arrives while Azure processes the run's training file deletes that file: the file is
the run's from the moment it is uploaded, not from the moment a job uses it."""

from __future__ import annotations

from devhost import DevHost
from emulator.launch import EmulatorHandle
from tests.app.support import post, report_of, start, wait_until


def test_cancel_while_the_training_file_is_processed_deletes_it(
    patient_host: DevHost, emulator_reset: EmulatorHandle
) -> None:
    emulator_reset.set_faults(processing_slowdown=1000)  # the file stays pending for 30 s
    start(patient_host, "cancel-file", iterations=1, data_filter_ratio=1.0)
    wait_until(
        patient_host, "cancel-file", lambda custom: "waiting until processed" in str(custom.get("message"))
    )
    status, body = post(patient_host, "/api/runs/cancel-file/cancel")
    assert status == 202, body

    report = report_of(patient_host, "cancel-file")

    assert report["status"] == "cancelled"
    (only,) = report["iterations"]
    assert only["status"] == "cancelled"
    assert report["leaked"] == []
    state = emulator_reset.state()
    assert state["jobs"] == []
    uploaded = [item for item in state["deleted_files"] if item["filename"].startswith("cancel-file")]
    assert [item["id"] for item in uploaded] == [only["file_id"]]
    assert [item["id"] for item in state["files"] if item["filename"].startswith("cancel-file")] == []
