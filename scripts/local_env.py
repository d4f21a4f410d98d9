"""Local services for `make run` / `make serve`: Azurite and the emulator, and the app settings that
point the app at them.

These are exactly the settings a Function App would get in Azure, with the endpoints swapped for the
local emulators, so the app's code takes no local-only path.
"""

from __future__ import annotations

import json
import os
import shlex
import signal
import socket
from collections.abc import Iterator, Mapping, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import FrameType

from emulator.behaviour import load_behaviours
from emulator.behaviours.base import tool_names
from emulator.launch import EmulatorHandle, start_emulator
from scripts.azurite import DEFAULT_PORTS, REPO_ROOT, Azurite, PortTaken, run_azurite
from shared.agents import get_agent, registered_agents

# The bundled example agent (docs/agents.md) is registered locally, as an operator would register it
# on Azure, so `make run ARGS="--set agent=inventory ..."` works; modules the user exported come after.
EXAMPLE_AGENT_MODULE = "shared.agents.inventory"

# The emulator of `make run` and `make serve`: half-second chats, a fixed seed, and the base deployment
# at 1,000 units (gpt-4.1-mini GlobalStandard: 1,000 RPM, 1M TPM, a common quota), so a stage of 24
# rollouts runs at once; at the emulator's default of 100 units it waits on the rate limit for 20 s.
LOCAL_EMULATOR_FLAGS = ("--chat-latency", "0.5", "--seed", "7", "--base-capacity", "1000")
# ... and its state beside Azurite's `.azurite/`, as Azure keeps a lineage's models as long as Blob keeps
# its record: a second `make run` continues the lineage from the first one's champion.
LOCAL_EMULATOR_STATE = REPO_ROOT / ".emulator"

# Extra emulator flags for `make run` / `make serve`, split as a shell splits them and given after the
# ones above (a flag given twice takes the later value; --behaviour adds): EMULATOR_ARGS="--customer new"
# or EMULATOR_ARGS="--behaviour my_agents_offline.shop" (docs/agents.md).
EMULATOR_ARGS = "EMULATOR_ARGS"

# Timings for a local run with a real clock: the emulator's durations are seconds, so poll often.
LOCAL_RUN_DEFAULTS = {
    "file_poll_seconds": 1,
    "job_poll_initial_seconds": 1,
    "job_poll_max_seconds": 4,
    "deployment_poll_seconds": 1,
    "retry_first_interval_seconds": 1,
}


def app_environment(
    azurite: Azurite, emulator: EmulatorHandle, run_defaults: Mapping[str, object]
) -> dict[str, str]:
    return {
        "AZURE_OPENAI_ENDPOINT": emulator.url,
        "AZURE_AUTH_MODE": "emulator",
        "AZURE_SUBSCRIPTION_ID": emulator.subscription,
        "AZURE_RESOURCE_GROUP": emulator.resource_group,
        "AZURE_OPENAI_ACCOUNT": emulator.account,
        "ARM_ENDPOINT": emulator.url,
        "TLS_CA_BUNDLE": emulator.ca_path,
        "ARTIFACTS_STORAGE_CONNECTION_STRING": azurite.connection_string,
        "RUN_DEFAULTS": json.dumps(run_defaults),
        "AGENT_MODULES": agent_modules(os.environ.get("AGENT_MODULES")),
    }


def agent_modules(exported: str | None) -> str:
    """The example agent's module, then those of ``exported`` (an AGENT_MODULES value), each once."""
    names = [EXAMPLE_AGENT_MODULE, *(name.strip() for name in (exported or "").split(","))]
    return ",".join(dict.fromkeys(name for name in names if name))


class LocalSetupError(RuntimeError):
    """The local services cannot start as asked; the message names the setting and the fix."""


def emulator_flags(time_scale: str, extra: str | None) -> tuple[str, ...]:
    """The emulator's flags for `make run` / `make serve`: the time scale, LOCAL_EMULATOR_FLAGS, then
    ``extra`` (an EMULATOR_ARGS value)."""
    try:
        given = shlex.split(extra or "")
    except ValueError as exc:
        raise LocalSetupError(f"{EMULATOR_ARGS}={extra!r} cannot be read as flags: {exc}") from None
    return ("--time-scale", time_scale, *LOCAL_EMULATOR_FLAGS, *given)


def unplugged_agents(behaviour_modules: Sequence[str]) -> list[str]:
    """A warning for each registered agent that no loaded behaviour plug-in answers (a plug-in answers
    a request that offers all of its tools: emulator/behaviour.py): the emulator would answer it as the
    capital-city agent, and it would score about 0 and learn nothing."""
    plugins = load_behaviours(tuple(behaviour_modules))
    warnings = []
    for name in registered_agents():
        offered = tool_names(get_agent(name).tools)
        if not any(plugin.tools <= offered for plugin in plugins):
            warnings.append(
                f"warning: agent {name} has no emulator behaviour plug-in, so the emulator answers it as "
                "the capital-city agent and it scores about 0. Write one (docs/agents.md, section 5) and "
                f'load it: {EMULATOR_ARGS}="--behaviour your_package.your_module"'
            )
    return warnings


@dataclass(frozen=True)
class LocalServices:
    """What ``local_services`` started, and the app settings that point at it."""

    env: dict[str, str]
    azurite: Azurite
    emulator: EmulatorHandle


@contextmanager
def local_services(
    *emulator_args: str,
    azurite_dir: Path | None = None,
    emulator_state: Path | None = None,
    run_defaults: dict[str, object] | None = None,
    extra_env: dict[str, str] | None = None,
    default_ports: bool = True,
) -> Iterator[LocalServices]:
    """Starts Azurite and the emulator, exports the app settings into os.environ, stops both after.
    The emulator keeps its state in ``emulator_state`` if given, else in memory. Azurite takes its
    default ports when ``default_ports`` and they are free (a benchmark, which no one browses and
    which may run beside a test suite, passes False), else free ones."""
    with ExitStack() as stack:
        location = azurite_dir or REPO_ROOT / ".azurite"
        defaults = default_ports and _default_ports_free()
        try:
            azurite = stack.enter_context(run_azurite(location, default_ports=defaults))
        except PortTaken:  # another Azurite took the default ports after they were found free
            azurite = stack.enter_context(run_azurite(location))
        try:
            emulator = start_emulator(*emulator_args, state_dir=emulator_state)
        except RuntimeError as exc:
            raise LocalSetupError(
                f"the emulator did not start with the flags {' '.join(emulator_args)} "
                f"(check {EMULATOR_ARGS}; python -m emulator --help lists them): {exc}"
            ) from None
        stack.callback(emulator.stop)
        env = {**app_environment(azurite, emulator, run_defaults or LOCAL_RUN_DEFAULTS), **(extra_env or {})}
        os.environ.update(env)
        yield LocalServices(env, azurite, emulator)


@contextmanager
def make_services(time_scale: str, state: Path | None) -> Iterator[LocalServices]:
    """The services of `make run` / `make serve`: the emulator at ``time_scale`` with EMULATOR_ARGS,
    its state and Azurite's in ``state`` (None: .emulator/ and .azurite/ of the repository)."""
    flags = emulator_flags(time_scale, os.environ.get(EMULATOR_ARGS))
    with local_services(
        *flags,
        azurite_dir=state / "azurite" if state else None,
        emulator_state=state / "emulator" if state else LOCAL_EMULATOR_STATE,
    ) as services:
        yield services


def warn_unplugged(services: LocalServices) -> None:
    """Prints a warning for each registered agent no behaviour plug-in of the emulator answers."""
    for warning in unplugged_agents(services.emulator.state()["config"]["behaviours"]):
        print(warning)


def stop_on_sigterm() -> None:
    """Makes SIGTERM end the process like Ctrl-C, so ``local_services`` stops Azurite and the emulator
    instead of leaving them running (SIGTERM's default ends Python without any clean-up)."""

    def interrupt(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, interrupt)


def _default_ports_free() -> bool:
    """Default ports let Storage Explorer and `UseDevelopmentStorage=true` see the run's blobs."""
    for port in DEFAULT_PORTS:
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return False
    return True
