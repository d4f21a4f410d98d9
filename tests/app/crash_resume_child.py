"""Child process for the crash/resume test: runs (or resumes) one fine-tuning run from an on-disk
devhost store. App settings come from the environment, as the Functions host provides them.

``python -m tests.app.crash_resume_child STORE_DIR RUN_ID`` prints the final runtime status as JSON.
"""

from __future__ import annotations

import json
import sys

import function_app
from devhost import DevHost
from tests.driver import Runs


def main() -> None:
    store_dir, run_id = sys.argv[1], sys.argv[2]
    with DevHost(function_app.app, clock="virtual", store_dir=store_dir, max_workers=4) as host:
        runs = Runs(host)
        if runs.status(run_id) is None:
            # Every rewarded example kept: both iterations have enough to train on (two jobs).
            runs.start(run_id, iterations=2, data_filter_ratio=1.0)
        status = runs.ended(run_id)
        assert status.runtime_status is not None
        print(json.dumps({"runtime_status": status.runtime_status.value}), flush=True)


if __name__ == "__main__":
    main()
