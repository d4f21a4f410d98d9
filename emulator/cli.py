"""Command line: parse flags into a Config, prepare TLS, bind, announce, serve.

The first two stdout lines are a contract with callers (the pytest fixture, ``make run``):
``listening on https://HOST:PORT`` then ``ca: /path/to/ca.pem``, flushed as soon as the socket listens.
"""

from __future__ import annotations

import argparse
import asyncio
import socket
import sys
import tempfile
from pathlib import Path

import uvicorn

from emulator.app import create_app
from emulator.behaviour import BehaviourLoadError, load_behaviours
from emulator.config import DEFAULT_BASE_MODELS, DEFAULT_DEPLOYMENTS, Config, Durations
from emulator.faults import FaultConfig, RouteFault
from emulator.tls import ensure_tls


def _deployment(value: str) -> tuple[str, str]:
    name, sep, model = value.partition("=")
    if not sep or not name or not model:
        raise argparse.ArgumentTypeError(f"expected NAME=MODEL, got {value!r}")
    return name, model


def _positive(value: str) -> float:
    try:
        number = float(value)
    except ValueError:
        number = 0.0
    if not number > 0:
        raise argparse.ArgumentTypeError(f"expected a number > 0, got {value!r}")
    return number


def _behaviour_module(value: str) -> str:
    try:
        load_behaviours((value,))
    except BehaviourLoadError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return value


def _route_fault(kind: str) -> object:
    def parse(value: str) -> RouteFault:
        parts = value.split(":")
        if len(parts) not in (3, 4):
            raise argparse.ArgumentTypeError(
                f"expected ROUTE:STATUS:{kind.upper()}[:RETRY_AFTER], got {value!r}"
            )
        try:
            fields: dict[str, object] = {"route": parts[0], "status": int(parts[1])}
            fields[kind] = float(parts[2]) if kind == "rate" else int(parts[2])
            if len(parts) == 4:
                fields["retry_after"] = float(parts[3])
            return RouteFault.model_validate(fields)
        except ValueError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None

    return parse


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m emulator", description="Local Azure OpenAI + ARM deployments emulator"
    )
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=0, help="0 picks a free port")
    p.add_argument("--time-scale", type=float, default=1.0, help="multiplies every emulated duration")
    p.add_argument(
        "--chat-latency", type=float, default=0.5, help="mean seconds per chat completion (not scaled)"
    )
    p.add_argument(
        "--rate-window",
        type=_positive,
        default=10.0,
        metavar="SECONDS",
        help="request rate window (Azure: 10 s)",
    )
    p.add_argument(
        "--rate-limit-scale",
        type=_positive,
        default=1.0,
        metavar="F",
        help="multiplies every deployment's RPM/TPM",
    )
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--state-dir", type=Path, default=None, help="persist state (and TLS files) here")
    p.add_argument("--api-key", default=None, help="require this api-key (default: any)")
    p.add_argument("--skill", type=float, default=0.35, help="skill of base models (0..1)")
    p.add_argument("--knowledge", type=float, default=0.2, help="chance a direct answer is right (0..1)")
    p.add_argument(
        "--behaviour",
        action="append",
        type=_behaviour_module,
        default=[],
        metavar="MODULE",
        help="load the behaviour plug-ins of this module (repeatable; see emulator/README.md)",
    )
    p.add_argument("--base-model", action="append", dest="base_models", default=None, metavar="ID")
    p.add_argument("--deployment", action="append", type=_deployment, default=None, metavar="NAME=MODEL")
    p.add_argument("--base-capacity", type=int, default=100, help="capacity of pre-provisioned deployments")
    p.add_argument("--subscription", default="00000000-0000-0000-0000-000000000000")
    p.add_argument("--resource-group", default="rg-emulator")
    p.add_argument("--account", default="aoai-emulator")
    p.add_argument("--location", default="eastus2")
    p.add_argument("--ft-deployment-quota", type=int, default=5)
    p.add_argument("--max-files", type=int, default=50)
    p.add_argument("--file-processing", type=float, default=Durations().file_processing, metavar="SECONDS")
    p.add_argument("--job-pending", type=float, default=Durations().job_pending, metavar="SECONDS")
    p.add_argument("--job-running", type=float, default=Durations().job_running, metavar="SECONDS")
    p.add_argument("--provisioning", type=float, default=Durations().provisioning, metavar="SECONDS")
    faults = p.add_argument_group("faults")
    faults.add_argument(
        "--fault-rate",
        action="append",
        type=_route_fault("rate"),
        default=[],
        metavar="ROUTE:STATUS:RATE[:RETRY_AFTER]",
    )
    faults.add_argument(
        "--fault-next",
        action="append",
        type=_route_fault("count"),
        default=[],
        metavar="ROUTE:STATUS:COUNT[:RETRY_AFTER]",
    )
    faults.add_argument("--fail-next-jobs", type=int, default=0, metavar="N")
    faults.add_argument("--fail-job", action="append", default=[], metavar="JOB_ID")
    faults.add_argument("--fail-next-deployments", type=int, default=0, metavar="N")
    faults.add_argument("--fail-deployment", action="append", default=[], metavar="NAME")
    faults.add_argument("--slow-provisioning", type=float, default=1.0, metavar="FACTOR")
    faults.add_argument("--not-found-window", type=float, default=0.0, metavar="SECONDS")
    return p


def config_from_args(argv: list[str] | None = None) -> Config:
    a = build_parser().parse_args(argv)
    return Config(
        host=a.host,
        port=a.port,
        time_scale=a.time_scale,
        chat_latency=a.chat_latency,
        rate_window=a.rate_window,
        rate_limit_scale=a.rate_limit_scale,
        seed=a.seed,
        state_dir=a.state_dir,
        api_key=a.api_key,
        skill=a.skill,
        knowledge=a.knowledge,
        behaviours=tuple(a.behaviour),
        base_models=tuple(a.base_models) if a.base_models else DEFAULT_BASE_MODELS,
        deployments=tuple(a.deployment) if a.deployment else DEFAULT_DEPLOYMENTS,
        base_capacity=a.base_capacity,
        subscription=a.subscription,
        resource_group=a.resource_group,
        account=a.account,
        location=a.location,
        ft_deployment_quota=a.ft_deployment_quota,
        max_files=a.max_files,
        durations=Durations(
            file_processing=a.file_processing,
            job_pending=a.job_pending,
            job_running=a.job_running,
            provisioning=a.provisioning,
        ),
        faults=FaultConfig(
            routes=[*a.fault_rate, *a.fault_next],
            fail_next_jobs=a.fail_next_jobs,
            fail_jobs=a.fail_job,
            fail_next_deployments=a.fail_next_deployments,
            fail_deployments=a.fail_deployment,
            provisioning_slowdown=a.slow_provisioning,
            not_found_window=a.not_found_window,
        ),
    )


def main(argv: list[str] | None = None) -> int:
    config = config_from_args(argv)
    # Without --state-dir the CA lives only as long as this process.
    scratch = None if config.state_dir else tempfile.TemporaryDirectory(prefix="aoai-emulator-")
    tls = ensure_tls(config.host, config.state_dir / "tls" if config.state_dir else Path(scratch.name))
    app = create_app(config)
    family = socket.AF_INET6 if ":" in config.host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((config.host, config.port))
    sock.listen(512)
    sock.set_inheritable(True)
    port = sock.getsockname()[1]
    shown = f"[{config.host}]" if ":" in config.host else config.host
    print(f"listening on https://{shown}:{port}", flush=True)
    print(f"ca: {tls.ca}", flush=True)
    server = uvicorn.Server(
        uvicorn.Config(
            app,
            ssl_certfile=str(tls.cert),
            ssl_keyfile=str(tls.key),
            log_level="warning",
            lifespan="off",
            timeout_graceful_shutdown=0.3,
        )
    )
    try:
        asyncio.run(server.serve(sockets=[sock]))
    except KeyboardInterrupt:
        pass
    finally:
        if scratch is not None:
            scratch.cleanup()
    sys.stdout.flush()
    return 0
