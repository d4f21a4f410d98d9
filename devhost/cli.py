"""``python -m devhost serve``: serve a Function App locally, like ``func start`` without Core Tools.

Like ``func start``, it first reads ``local.settings.json`` from the current directory: its ``Values``
become environment variables unless the variable is already set, and ``Host.LocalHttpPort`` is the
port when ``--port`` is not given (``local_settings.py`` says how closely this follows Core Tools).

On SIGTERM or SIGINT the server stops accepting work, in-flight activities are cancelled or abandoned
(their results are not committed, so they run again on the next start), and the process exits within
``STOP_DEADLINE_SECONDS`` even if an activity or a client function hangs on a dependency that went away.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import signal
import sys
import threading
from pathlib import Path
from typing import Any

from . import local_settings
from .host import DevHost

DEFAULT_PORT = 7071
#: The process is gone this many seconds after SIGTERM/SIGINT at the latest (well within a 10 s budget).
STOP_DEADLINE_SECONDS = 8.0


def load_app(spec: str) -> Any:
    """``module:attribute`` (default attribute ``app``), imported with the current directory on sys.path."""
    module_name, _, attribute = spec.partition(":")
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    return getattr(importlib.import_module(module_name), attribute or "app")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m devhost", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="serve the app's HTTP routes and the Durable API")
    serve.add_argument("--port", type=int, default=None, help="default: Host.LocalHttpPort, else 7071")
    serve.add_argument(
        "--settings-file",
        default=local_settings.FILE_NAME,
        help="read like func start reads local.settings.json (default: that file here; '' reads none)",
    )
    serve.add_argument("--app", default="function_app:app", help="module:attribute of the DFApp")
    serve.add_argument("--clock", choices=["real", "virtual"], default="real")
    serve.add_argument("--store-dir", default=None, help="keep instances on disk here (resumable)")
    serve.add_argument("--max-workers", type=int, default=8)
    serve.add_argument(
        "--virtual-idle-seconds", type=float, default=0.0, help="virtual clock: idle time before skipping"
    )
    args = parser.parse_args(argv)
    try:
        applied = (
            local_settings.apply(Path(args.settings_file), os.environ)
            if args.settings_file
            else local_settings.Applied()
        )
    except local_settings.LocalSettingsError as exc:
        print(f"devhost: {exc}", file=sys.stderr)
        return 2
    for warning in applied.warnings:
        print(f"devhost: {warning}", file=sys.stderr)

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    host = DevHost(
        load_app(args.app),
        clock=args.clock,
        store_dir=args.store_dir,
        max_workers=args.max_workers,
        port=args.port if args.port is not None else applied.port or DEFAULT_PORT,
        virtual_idle_seconds=args.virtual_idle_seconds,
    )
    host.start()
    print(f"listening on http://127.0.0.1:{host.port}", flush=True)
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    stop.wait()
    exit_after_close(host)
    return 0  # not reached


def exit_after_close(host: DevHost) -> None:
    """Close the host in order, then end the process without waiting for abandoned threads.

    ``host.close()`` stops the server, stops committing (every store write is atomic, so whatever is on
    disk is consistent) and cancels or abandons in-flight activities. A ``def`` function blocked forever
    cannot be interrupted, and non-daemon threads of the app's own libraries would keep the interpreter
    alive, so the process ends with ``os._exit`` once the host is closed; a watchdog does the same if
    closing itself gets stuck (an orchestrator episode that never returns).
    """
    watchdog = threading.Timer(STOP_DEADLINE_SECONDS, lambda: _end(1))
    watchdog.daemon = True
    watchdog.start()
    host.close()
    _end(0)


def _end(code: int) -> None:
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)
