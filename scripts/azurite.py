"""Starts the Azurite storage emulator (the npm package pinned in package.json) for local runs and tests.

Azurite listens on fixed ports by default; tests and local runs pick free ports instead so that a
`make run` and a `make test` on one machine never collide, and build the connection string for those
ports with Azurite's development account.
"""

from __future__ import annotations

import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO

REPO_ROOT = Path(__file__).resolve().parent.parent
AZURITE_BIN = REPO_ROOT / "node_modules" / ".bin" / "azurite"
# Azurite's one built-in account and its key: public, the same on every machine, and accepted by
# nothing but Azurite ("HTTP connection strings" in
# https://learn.microsoft.com/azure/storage/common/storage-use-azurite#http-connection-strings).
# Azurite's own defaults (blob, queue, table), which `UseDevelopmentStorage=true` assumes.
DEFAULT_PORTS = (10000, 10001, 10002)
DEV_ACCOUNT = "devstoreaccount1"
DEV_ACCOUNT_KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="


@dataclass(frozen=True)
class Azurite:
    blob_port: int
    queue_port: int
    table_port: int
    location: Path

    @property
    def connection_string(self) -> str:
        host = "http://127.0.0.1"
        return (
            f"DefaultEndpointsProtocol=http;AccountName={DEV_ACCOUNT};AccountKey={DEV_ACCOUNT_KEY};"
            f"BlobEndpoint={host}:{self.blob_port}/{DEV_ACCOUNT};"
            f"QueueEndpoint={host}:{self.queue_port}/{DEV_ACCOUNT};"
            f"TableEndpoint={host}:{self.table_port}/{DEV_ACCOUNT};"
        )


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


PORT_ATTEMPTS = 3
"""Starts with fresh free ports before giving up: a port found free can be taken by another process
(another test worker's Azurite or emulator) before Azurite binds it."""


class PortTaken(RuntimeError):
    """Azurite could not bind one of its ports (``EADDRINUSE``)."""


def _wait_listening(port: int, process: subprocess.Popen[bytes], errors: IO[bytes], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            errors.seek(0)
            said = errors.read()[-2000:].decode(errors="replace").strip()
            message = f"Azurite exited with code {process.returncode} before listening: {said}"
            raise PortTaken(message) if "EADDRINUSE" in said else RuntimeError(message)
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.1)
    raise TimeoutError(f"Azurite did not listen on port {port} within {timeout} s")


@contextmanager
def run_azurite(location: Path, *, default_ports: bool = False, timeout: float = 30) -> Iterator[Azurite]:
    """Runs Azurite with its data under ``location`` until the block exits.

    ``default_ports`` uses ``DEFAULT_PORTS`` (10000-10002) so that ``UseDevelopmentStorage=true`` (what
    Core Tools and Storage Explorer assume) reaches it; a taken default port is an error, a taken free
    port is retried with new ones (``PORT_ATTEMPTS``).
    """
    if not AZURITE_BIN.exists():
        raise RuntimeError(f"{AZURITE_BIN} is missing: run `make setup` (npm ci installs Azurite)")
    location.mkdir(parents=True, exist_ok=True)
    for attempt in range(1, PORT_ATTEMPTS + 1):
        ports = DEFAULT_PORTS if default_ports else (free_port(), free_port(), free_port())
        # stderr goes to a file, not a pipe: nobody reads it while Azurite runs, and a full pipe, or one
        # whose reader died, blocks or breaks Azurite; the file is read only to explain an early exit.
        with tempfile.TemporaryFile() as errors:
            process = subprocess.Popen(
                [
                    str(AZURITE_BIN),
                    "--silent",
                    "--skipApiVersionCheck",
                    # Azurite reports usage to Microsoft by default ("Disable Telemetry Collection" in its
                    # README). Offline, its stop event waits on a connection that never comes, so SIGTERM
                    # took 10 s and then a kill, which loses what it had not yet saved.
                    "--disableTelemetry",
                    "--location",
                    str(location),
                    "--blobPort",
                    str(ports[0]),
                    "--queuePort",
                    str(ports[1]),
                    "--tablePort",
                    str(ports[2]),
                ],
                stdout=subprocess.DEVNULL,
                stderr=errors,
            )
            try:
                try:
                    for port in ports:
                        _wait_listening(port, process, errors, timeout)
                except PortTaken:
                    if default_ports or attempt == PORT_ATTEMPTS:
                        raise
                    continue
                yield Azurite(*ports, location=location)
                return
            finally:
                process.terminate()  # Azurite saves its metadata and exits; a kill would lose the unsaved
                try:
                    process.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()
