"""`make serve`: the app's HTTP API on http://127.0.0.1:7071, as under `func start`, without Core Tools.

Starts Azurite and the emulator (extra emulator flags from the EMULATOR_ARGS environment variable),
then devhost's server with the app and the settings that point at them, and prints the dashboard's URL
once the server listens. Ctrl-C (or SIGTERM) stops all three within seconds. The settings are this
script's own (printed at the start) plus what the environment exports; `local.settings.json` is for
`func start` and `python -m devhost serve`, which read it.
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from scripts.azurite import REPO_ROOT
from scripts.local_env import LocalSetupError, make_services, stop_on_sigterm, warn_unplugged
from shared.domain.settings import get_settings

SECRET_SETTINGS = {"ARTIFACTS_STORAGE_CONNECTION_STRING"}
START_SECONDS = 60
STOP_SECONDS = 10  # devhost serve ends itself within 8 s of SIGTERM (devhost/cli.py)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", default="7071")
    parser.add_argument("--time-scale", default="1.0")
    parser.add_argument(
        "--state-dir",
        type=Path,
        help="keep Azurite's data and the emulator's state in DIR/azurite and DIR/emulator (default: "
        ".azurite/ and .emulator/ of the repository, which make run shares)",
    )
    args = parser.parse_args(argv)
    stop_on_sigterm()
    try:
        return serve(args.port, args.time_scale, args.state_dir)
    except LocalSetupError as exc:
        print(f"could not start the local services: {exc}", file=sys.stderr)
        return 2


def serve(port: str, time_scale: str, state: Path | None) -> int:
    with make_services(time_scale, state) as services:
        for name, value in sorted(services.env.items()):
            if name not in SECRET_SETTINGS:
                print(f"{name}={value}")
        get_settings.cache_clear()
        get_settings()  # registers AGENT_MODULES' agents, and stops here on a bad setting
        warn_unplugged(services)
        command = [
            sys.executable,
            "-m",
            "devhost",
            "serve",
            "--port",
            port,
            "--app",
            "function_app:app",
            "--settings-file",
            "",
        ]
        server = subprocess.Popen(command, cwd=REPO_ROOT, env=os.environ.copy())
        try:
            if not listening(int(port), server):
                print(f"the server did not listen on port {port} (its log is above)", file=sys.stderr)
                stop(server)
                return server.returncode or 1
            origin = f"http://127.0.0.1:{port}"
            print(f"dashboard: {origin}/api/dashboard  (API: {origin}/api/runs; Ctrl-C stops)", flush=True)
            return server.wait()
        except KeyboardInterrupt:
            return stop(server)


def listening(port: int, server: subprocess.Popen[bytes]) -> bool:
    """Waits until the server accepts connections; False if it exited first or never did."""
    deadline = time.monotonic() + START_SECONDS
    while time.monotonic() < deadline and server.poll() is None:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return True
        except OSError:
            time.sleep(0.1)
    return False


def stop(server: subprocess.Popen[bytes]) -> int:
    """Asks the server to stop (it may have got Ctrl-C from the terminal already) and waits for it."""
    if server.poll() is None:
        server.send_signal(signal.SIGTERM)
    try:
        server.wait(STOP_SECONDS)
    except subprocess.TimeoutExpired:
        server.kill()
        server.wait()
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:  # Ctrl-C while starting: what had started is already stopped
        sys.exit(130)
