"""``local.settings.json`` read as Azure Functions Core Tools reads it for ``func start``.

Core Tools (``StartHostAction.UpdateEnvironmentVariables`` in Azure/azure-functions-core-tools,
src/Azure.Functions.Cli/Actions/HostActions/StartHostAction.cs, read at commit 00ddf5ff) puts each
entry of ``Values`` into the process environment, one by one:

- an entry with an empty name is skipped with a warning;
- an entry whose variable is already set to something non-empty is skipped with a warning ("Skipping
  'X' from local settings as it's already defined in current environment variables."): what the shell
  exported wins over the file (a variable set to the empty string does not count as set);
- a non-empty value is set; an empty one is set to the empty string;
- a ``null`` value is skipped with a warning.

``Host.LocalHttpPort`` is the port ``func start`` listens on when ``--port`` is not given. An
``"IsEncrypted": true`` file holds values Core Tools decrypts with a key of the machine that encrypted
them (``func settings decrypt``); devhost cannot, so it refuses the file and says so. Where Core Tools
would turn a JSON number or boolean into text (``true`` becomes ``True``, .NET's spelling), devhost
refuses the entry by name instead: the app settings are strings, and a value that changes as it is read
is better written as the string meant.
"""

from __future__ import annotations

import json
from collections.abc import MutableMapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

FILE_NAME = "local.settings.json"


class LocalSettingsError(ValueError):
    """The file cannot be used; the message names the file, the entry and the fix."""


@dataclass(frozen=True)
class Applied:
    """What loading the file did: the variables it set, what it skipped and why, its port."""

    set: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    port: int | None = None


def read(path: Path) -> dict[str, Any]:
    """The file as a JSON object; raises LocalSettingsError naming what is wrong with it."""
    try:
        value = json.loads(path.read_text(encoding="utf-8-sig"))
    except OSError as exc:
        raise LocalSettingsError(f"{path} cannot be read: {exc.strerror or exc}") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise LocalSettingsError(f"{path} is not JSON: {exc}") from None
    if not isinstance(value, dict):
        raise LocalSettingsError(f"{path} must hold a JSON object with a Values object")
    if value.get("IsEncrypted") is True:
        raise LocalSettingsError(
            f"{path} is encrypted (IsEncrypted: true), which only Core Tools on the machine that "
            "encrypted it can read: run `func settings decrypt` there, or write the values in clear and "
            "set IsEncrypted to false"
        )
    return value


def apply(path: Path, environ: MutableMapping[str, str]) -> Applied:
    """Puts the file's ``Values`` into ``environ`` as Core Tools does (see the module docstring); a
    missing file changes nothing. Raises LocalSettingsError for a file or entry that cannot be used,
    before it sets anything."""
    if not path.is_file():
        return Applied()
    document = read(path)
    values = document.get("Values", {})
    if not isinstance(values, dict):
        raise LocalSettingsError(f"{path}: Values must be a JSON object of setting names and strings")
    wrong = [name for name, value in values.items() if value is not None and not isinstance(value, str)]
    if wrong:
        raise LocalSettingsError(
            f"{path}: Values {', '.join(wrong)} must be strings (app settings are text): quote them, "
            'e.g. "FEEDBACK_MAX_ITEMS": "1000"'
        )
    applied = Applied(port=_port(path, document))
    for name, value in values.items():
        if not name:
            applied.warnings.append("Skipping local setting with empty key.")
        elif environ.get(name):
            applied.warnings.append(
                f"Skipping '{name}' from local settings as it's already defined in current environment "
                "variables."
            )
        elif value is None:
            applied.warnings.append(f"Skipping '{name}' because value is null")
        else:
            environ[name] = value
            applied.set.append(name)
    return applied


def _port(path: Path, document: dict[str, Any]) -> int | None:
    host = document.get("Host") or {}
    port = host.get("LocalHttpPort") if isinstance(host, dict) else None
    if port is None:
        return None
    if isinstance(port, bool) or not isinstance(port, int) or not 0 < port < 65536:
        raise LocalSettingsError(f"{path}: Host.LocalHttpPort must be a port number (1-65535), not {port!r}")
    return port
