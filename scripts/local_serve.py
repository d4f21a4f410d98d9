"""`make serve`: the app's HTTP API on http://127.0.0.1:7071, as under `func start`, without Core Tools.

Starts Azurite and the emulator, then devhost's server with the app and the settings that point at
them; Ctrl-C stops all three.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys

from scripts.azurite import REPO_ROOT
from scripts.local_env import LOCAL_EMULATOR_FLAGS, LOCAL_EMULATOR_STATE, local_services, stop_on_sigterm


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", default="7071")
    parser.add_argument("--time-scale", default="1.0")
    args = parser.parse_args(argv)
    stop_on_sigterm()
    with local_services(
        "--time-scale", args.time_scale, *LOCAL_EMULATOR_FLAGS, emulator_state=LOCAL_EMULATOR_STATE
    ) as services:
        for name, value in sorted(services.env.items()):
            if name not in {"ARTIFACTS_STORAGE_CONNECTION_STRING"}:
                print(f"{name}={value}")
        command = [sys.executable, "-m", "devhost", "serve", "--port", args.port, "--app", "function_app:app"]
        try:
            return subprocess.call(command, cwd=REPO_ROOT, env=os.environ.copy())
        except KeyboardInterrupt:
            return 0


if __name__ == "__main__":
    sys.exit(main())
