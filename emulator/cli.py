"""Command line: parse flags into a Config, prepare TLS, bind, announce, serve.

The first two stdout lines are a contract with callers (the pytest fixture, ``make run``):
``listening on https://HOST:PORT`` then ``ca: /path/to/ca.pem``, flushed as soon as the socket listens.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import shutil
import signal
import socket
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from types import FrameType
from typing import Any

import uvicorn
from pydantic import ValidationError

from emulator.app import create_app
from emulator.behaviour import BehaviourLoadError, load_behaviours
from emulator.catalog import parse_time
from emulator.config import DEFAULT_DEPLOYMENTS, Config, Durations, Limits, Retirement
from emulator.faults import FaultConfig, RouteFault
from emulator.profiles import DEFAULT_BASE_MODELS, DEFAULT_EXISTING_FAMILIES, FAMILIES
from emulator.ratelimit import BackgroundLoad, LimitLowering
from emulator.tls import ensure_tls

# Rules whose sources disagree, or that the app is not ready for: the flag picks the variant (defaults:
# Config; emulator/README.md says which source each follows).
RULE_VARIANTS: tuple[tuple[str, tuple[str, ...] | tuple[int, ...], str], ...] = (
    (
        "--lifecycle",
        ("table", "none"),
        "retirement dates of the table (emulator/profiles.py), or none unless set",
    ),
    ("--open-model-format", ("provider", "OpenAI-OSS"), "the model.format open models' deployments accept"),
    (
        "--retired-chat-status",
        (404, 410),
        "chat on a retired model's deployment: 404 (observed) or 410 (SDK docs)",
    ),
    (
        "--account-kind",
        ("AIServices", "OpenAI"),
        "the account's ARM kind: a Foundry resource (open models train) or an Azure OpenAI one (they do not)",
    ),
    (
        "--deployment-names",
        ("strict", "lenient"),
        "strict: 2-64 letters, digits, '-', '_'; lenient: any name",
    ),
)


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


def _retirement(value: str) -> Retirement:
    model, sep, dates = value.partition("=")
    parts = dates.split(",")
    if not sep or not model or len(parts) > 2 or not parts[0]:
        raise argparse.ArgumentTypeError(f"expected MODEL=FINETUNE_DATE[,INFERENCE_DATE], got {value!r}")
    try:
        times = [parse_time(part) for part in parts]
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"{value!r}: {exc}") from None
    return Retirement(model=model, fine_tune=times[0], inference=times[1] if len(times) == 2 else None)


def _customer(value: str) -> tuple[str, ...]:
    """``existing`` (the gpt-4.1 family), ``existing=FAMILY[,FAMILY...]`` or ``new``: the model families
    the account already fine-tunes."""
    mode, sep, families = value.partition("=")
    if mode == "new" and not sep:
        return ()
    if mode != "existing":
        raise argparse.ArgumentTypeError(f"expected existing[=FAMILY,...] or new, got {value!r}")
    if not sep:
        return DEFAULT_EXISTING_FAMILIES
    chosen = tuple(f.strip() for f in families.split(",") if f.strip())
    unknown = [f for f in chosen if f not in FAMILIES]
    if not chosen or unknown:
        raise argparse.ArgumentTypeError(
            f"{value!r}: families are {', '.join(sorted(FAMILIES))} (comma-separated), got {families!r}"
        )
    return chosen


def _route_fault(kind: str) -> Callable[[str], RouteFault]:
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


LOWER_LIMITS = "DEPLOYMENT:FACTOR:SECONDS[:AFTER]"
BACKGROUND_LOAD = "DEPLOYMENT:SHARE[:SECONDS[:AFTER]]"


def _colon_model(kind: type[LimitLowering] | type[BackgroundLoad], usage: str) -> Callable[[str], Any]:
    """A parser of ``usage`` (colon-separated fields) into ``kind``, naming the field at fault."""
    fields = tuple(part.strip("[]").lower() for part in usage.split(":"))

    def parse(value: str) -> Any:
        parts = value.split(":")
        if not 2 <= len(parts) <= len(fields) or not all(parts):
            raise argparse.ArgumentTypeError(f"expected {usage}, got {value!r}")
        try:
            return kind.model_validate(dict(zip(fields, parts, strict=False)), strict=False)
        except ValidationError as exc:
            first = exc.errors()[0]
            raise argparse.ArgumentTypeError(f"{value!r}: {first['loc'][0]}: {first['msg']}") from None

    return parse


def _rate_pressure_flags(p: argparse.ArgumentParser) -> None:
    """Rate-limit pressure (emulator/ratelimit.py), times counted from start-up (and from a reset)."""
    group = p.add_argument_group("rate-limit pressure (times in real seconds from start-up)")
    group.add_argument(
        "--lower-limits",
        action="append",
        type=_colon_model(LimitLowering, LOWER_LIMITS),
        default=[],
        metavar=LOWER_LIMITS,
        help="Azure lowers DEPLOYMENT's limits to FACTOR of them for SECONDS, AFTER seconds in (repeatable)",
    )
    group.add_argument(
        "--background-load",
        action="append",
        type=_colon_model(BackgroundLoad, BACKGROUND_LOAD),
        default=[],
        metavar=BACKGROUND_LOAD,
        help="another consumer sends SHARE of DEPLOYMENT's limits (repeatable)",
    )


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
    p.add_argument("--location", default=Config().location)
    lifecycle = p.add_argument_group("models and account rules (sources: emulator/README.md)")
    for flag, choices, text in RULE_VARIANTS:
        default = getattr(Config(), flag.removeprefix("--").replace("-", "_"))
        lifecycle.add_argument(flag, type=type(choices[0]), choices=choices, default=default, help=text)
    lifecycle.add_argument(
        "--customer",
        type=_customer,
        default=DEFAULT_EXISTING_FAMILIES,
        metavar="existing[=FAMILY,...]|new",
        help="the model families this account already fine-tunes (default: existing = gpt-4.1)",
    )
    lifecycle.add_argument(
        "--serialize-deployment-writes",
        action=argparse.BooleanOptionalAction,
        default=False,
        help="one deployment create/update/delete at a time per account (409 RequestConflict), as Azure "
        "does; emulator.launch (the app's launcher) turns it on unless told --no-serialize-deployment-writes",
    )
    lifecycle.add_argument(
        "--open-model-not-ready",
        type=float,
        default=Durations().not_ready,
        metavar="SECONDS",
        help="an open model's fine-tuned deployment answers DeploymentNotReady this long after Succeeded",
    )
    limits = p.add_argument_group("per-resource limits (defaults: quotas-limits.md, 2026-02-17)")
    limits.add_argument("--ft-deployment-quota", type=int, default=Limits().ft_deployments, metavar="N")
    limits.add_argument("--max-files", type=int, default=Limits().files, metavar="N")
    limits.add_argument("--max-file-bytes", type=int, default=Limits().file_bytes, metavar="BYTES")
    limits.add_argument("--max-file-size", type=int, default=Limits().file_size, metavar="BYTES")
    limits.add_argument("--max-jobs", type=int, default=Limits().jobs, metavar="N")
    limits.add_argument("--max-running-jobs", type=int, default=Limits().running_standard, metavar="N")
    limits.add_argument(
        "--max-running-developer-jobs", type=int, default=Limits().running_developer, metavar="N"
    )
    limits.add_argument("--max-queued-jobs", type=int, default=Limits().queued, metavar="N")
    p.add_argument(
        "--developer-lifetime", type=float, default=Durations().developer_lifetime, metavar="SECONDS"
    )
    p.add_argument("--idle-lifetime", type=float, default=Durations().idle_lifetime, metavar="SECONDS")
    p.add_argument(
        "--retire-model",
        action="append",
        type=_retirement,
        default=[],
        metavar="MODEL=FINETUNE_DATE[,INFERENCE_DATE]",
        help="ISO 8601 dates (UTC unless an offset is given)",
    )
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
    _rate_pressure_flags(p)
    return p


def config_from_args(argv: list[str] | None = None) -> Config:
    parser = build_parser()
    a = parser.parse_args(argv)
    try:
        return _config(a)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        parser.error(problems)


def _config(a: argparse.Namespace) -> Config:
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
        limits=Limits(
            ft_deployments=a.ft_deployment_quota,
            files=a.max_files,
            file_bytes=a.max_file_bytes,
            file_size=a.max_file_size,
            jobs=a.max_jobs,
            running_standard=a.max_running_jobs,
            running_developer=a.max_running_developer_jobs,
            queued=a.max_queued_jobs,
        ),
        durations=Durations(
            file_processing=a.file_processing,
            job_pending=a.job_pending,
            job_running=a.job_running,
            provisioning=a.provisioning,
            developer_lifetime=a.developer_lifetime,
            idle_lifetime=a.idle_lifetime,
            not_ready=a.open_model_not_ready,
        ),
        retirements=tuple(a.retire_model),
        lifecycle=a.lifecycle,
        existing_families=a.customer,
        serialize_deployment_writes=a.serialize_deployment_writes,
        open_model_format=a.open_model_format,
        retired_chat_status=a.retired_chat_status,
        deployment_names=a.deployment_names,
        account_kind=a.account_kind,
        faults=FaultConfig(
            routes=[*a.fault_rate, *a.fault_next],
            fail_next_jobs=a.fail_next_jobs,
            fail_jobs=a.fail_job,
            fail_next_deployments=a.fail_next_deployments,
            fail_deployments=a.fail_deployment,
            provisioning_slowdown=a.slow_provisioning,
            not_found_window=a.not_found_window,
        ),
        lowerings=tuple(a.lower_limits),
        background_loads=tuple(a.background_load),
    )


class _Terminated(Exception):
    """SIGTERM, turned into an exception so ``finally`` blocks (the scratch dir cleanup) run."""


def _on_sigterm(signum: int, frame: FrameType | None) -> None:
    raise _Terminated


def main(argv: list[str] | None = None) -> int:
    # uvicorn catches SIGTERM for a graceful shutdown and then re-raises it with the handler it found; with
    # the default handler that kills the process before any cleanup, so install one that unwinds instead.
    signal.signal(signal.SIGTERM, _on_sigterm)
    config = config_from_args(argv)
    # Without --state-dir the CA lives only as long as this process, in a scratch dir removed on exit.
    scratch = None if config.state_dir is not None else Path(tempfile.mkdtemp(prefix="aoai-emulator-"))
    tls_dir = scratch if scratch is not None else Path(str(config.state_dir)) / "tls"
    try:
        return _serve(config, tls_dir)
    except (KeyboardInterrupt, _Terminated):
        return 0
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)  # a second SIGTERM must not interrupt the cleanup
        if scratch is not None:
            shutil.rmtree(scratch, ignore_errors=True)
        sys.stdout.flush()


def _log_to_stderr() -> None:
    """The emulator's own log (its 409 RequestConflict refusals, its bugs) on stderr, one line each."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(name)s %(levelname)s %(message)s"))
    log = logging.getLogger("emulator")
    log.addHandler(handler)
    log.setLevel(logging.INFO)
    log.propagate = False


def _serve(config: Config, tls_dir: Path) -> int:
    _log_to_stderr()
    tls = ensure_tls(config.host, tls_dir)
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
    # uvicorn hands the graceful-shutdown timeout to asyncio.wait_for, which takes any float, though its
    # annotation says int: a third of a second, passed untyped.
    shutdown: dict[str, Any] = {"timeout_graceful_shutdown": 0.3}
    server = uvicorn.Server(
        uvicorn.Config(
            app,
            ssl_certfile=str(tls.cert),
            ssl_keyfile=str(tls.key),
            log_level="warning",
            lifespan="off",
            date_header=False,  # the app's EmulatedDate middleware sends the emulated clock
            **shutdown,
        )
    )
    asyncio.run(server.serve(sockets=[sock]))
    return 0
