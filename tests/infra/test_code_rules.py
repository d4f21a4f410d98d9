"""Rules about the code itself that no linter states: `make test` runs the linters and the type checker,
every suppression says why, nothing leans on an Azure SDK's private modules, and the docs' `curl`
examples send what the API accepts (issue 8)."""

from __future__ import annotations

import ast
import re
import subprocess
import tomllib
from functools import cache
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
# A suppression names its rules and then says why, after " - "; without a reason it tells a reader nothing.
NOQA = re.compile(r"#\s*noqa\b(?P<rest>.*)$")
NOQA_WITH_REASON = re.compile(r"^: [A-Z]+[0-9]+(, [A-Z]+[0-9]+)* - \S")


@cache
def tracked(pattern: str) -> tuple[str, ...]:
    listing = subprocess.run(
        ["git", "ls-files", "-z", pattern], cwd=ROOT, capture_output=True, check=True, text=True
    )
    return tuple(path for path in listing.stdout.split("\0") if path)


def python_files() -> tuple[str, ...]:
    return tracked("*.py")


def type_checked(path: str) -> bool:
    return any(path == name or path.startswith(f"{name}/") for name in PYPROJECT["tool"]["mypy"]["files"])


def test_make_test_runs_ruff_and_mypy() -> None:
    """Finding: no type checker ran, so `type: ignore`s and `noqa`s for rules not enabled proved nothing."""
    result = subprocess.run(["make", "-n", "test"], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    commands = [line.strip() for line in result.stdout.splitlines()]
    for command in (".venv/bin/ruff check .", ".venv/bin/ruff format --check .", ".venv/bin/mypy"):
        assert command in commands, f"`make test` does not run {command}"
    assert commands.index(".venv/bin/mypy") < next(i for i, c in enumerate(commands) if "pytest" in c)


def test_the_linters_check_what_the_suppressions_name() -> None:
    selected = set(PYPROJECT["tool"]["ruff"]["lint"]["select"])
    assert {"RUF", "BLE", "PLC0415"} <= selected, "RUF (with RUF100, unused noqa), BLE and PLC0415"
    mypy = PYPROJECT["tool"]["mypy"]
    assert mypy["strict"] is True
    every = {path.split("/")[0] for path in python_files()}
    assert {"function_app.py", "api", "orchestrators", "activities", "shared", "tests"} <= every
    assert every - set(mypy["files"]) == set(), "every folder with Python in it is type-checked"


def test_every_noqa_says_why() -> None:
    bare = [
        f"{path}:{number}: {line.strip()}"
        for path in python_files()
        for number, line in enumerate((ROOT / path).read_text().splitlines(), 1)
        if (match := NOQA.search(line)) and not NOQA_WITH_REASON.match(match["rest"])
    ]
    assert bare == [], "name the rule, then ' - ' and the reason it is right here"


def test_type_ignores_only_where_mypy_checks_them() -> None:
    """mypy runs over [tool.mypy] files only (strict, so it reports an ignore it does not need);
    elsewhere a `type: ignore` is checked by nothing."""
    unchecked = [
        f"{path}:{number}"
        for path in python_files()
        if not type_checked(path)
        for number, line in enumerate((ROOT / path).read_text().splitlines(), 1)
        if re.search(r"#\s*type:\s*ignore", line)
    ]
    assert unchecked == [], "give the code real types instead"


def test_no_private_azure_sdk_module_is_imported() -> None:
    """Finding: scripts/azurite.py imported a private storage-SDK constant, which any release may move."""
    private = []
    for path in python_files():
        for node in ast.walk(ast.parse((ROOT / path).read_text(), path)):
            if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module, *(f"{node.module}.{alias.name}" for alias in node.names)]
            elif isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            else:
                continue
            private += [
                f"{path}:{node.lineno}: {name}"
                for name in names
                if name.startswith("azure.") and any(part.startswith("_") for part in name.split("."))
            ]
    assert private == []


def test_curl_examples_with_a_body_send_a_json_content_type() -> None:
    """The API answers 415 to a body that is not ``application/json``, and ``curl -d`` sends
    ``application/x-www-form-urlencoded`` unless told otherwise."""
    commands = [
        (path, command)
        for path in tracked("*.md")
        for command in re.findall(r"curl (?:[^\\\n]|\\[\s\S])*", (ROOT / path).read_text())
    ]
    with_body = [(path, command) for path, command in commands if re.search(r" (-d|--data\S*) ", command)]
    assert len(with_body) >= 4, "the README, devhost's README, deploy.md and agents.md start runs with curl"
    untyped = [
        f"{path}: {command}"
        for path, command in with_body
        if "content-type: application/json" not in command.lower()
    ]
    assert untyped == [], "add -H 'content-type: application/json'"
