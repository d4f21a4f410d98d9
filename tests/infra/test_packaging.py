"""The deploy package is an allow-list (``.funcignore``) and ``.gitignore`` covers what the tools create.

The package is computed the way each deploy tool computes it (see ``ignore_models``), from this
checkout's files plus planted hazards, so the checks cannot pass just because a tree happens to be
clean."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from functools import cache
from pathlib import Path

import pytest

from tests.infra.ignore_models import azd_package, core_tools_package

ROOT = Path(__file__).resolve().parents[2]
FUNCIGNORE = (ROOT / ".funcignore").read_text()
PACKAGERS = {"core-tools": core_tools_package, "azd": azd_package}

APP_FILES = frozenset({"function_app.py", "host.json", "requirements.txt"})
APP_DIRS = frozenset({"api", "orchestrators", "activities", "shared"})
# No path component of a shipped file may be one of these.
FORBIDDEN_DIRS = frozenset(
    {
        "tests", "emulator", "devhost", "bench", "scripts", "infra", "docs", ".ci", ".git", ".azure",
        ".emulator", ".venv", ".venv-checkov", ".azurite", "out", "node_modules", "__pycache__",
        ".pytest_cache", ".ruff_cache", ".mypy_cache", ".hypothesis", ".python_packages",
    }
)  # fmt: skip
SECRET_LIKE = re.compile(r"\.(pem|key|pfx|p12|crt)$|^local\.settings\.json$|^\.env(\..*)?$")
# Files a developer machine really has (make, the emulator, editors) that must never ship.
HAZARDS = frozenset(
    {
        ".emulator/ca.pem",
        ".emulator/server-key.pem",
        ".venv/lib/python3.11/site-packages/azure/core/__init__.py",
        ".venv-checkov/bin/checkov",
        ".azurite/__blobstorage__/0a1b",
        "out/runs/r1/report.json",
        "out/screenshots/dashboard.png",
        "node_modules/azurite/package.json",
        "api/__pycache__/__init__.cpython-311.pyc",
        "shared/__pycache__/settings.cpython-311.pyc",
        "shared/agents/__pycache__/registry.cpython-311.pyc",
        "shared/data/__pycache__/x.cpython-311.pyc",
        "api/dev.key",
        "api/notes.md",
        "shared/data/signing.pem",
        "orchestrators/.env",
        "local.settings.json",
        ".env",
        "tests/infra/test_packaging.py",
        "emulator/app.py",
        "devhost/host.py",
        "scripts/local_run.py",
        "infra/main.bicep",
        "docs/deploy.md",
        ".pytest_cache/v/cache/nodeids",
        ".python_packages/lib/site-packages/x.py",
    }
)


@cache
def tracked_files() -> frozenset[str]:
    listing = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True, text=True)
    return frozenset(path for path in listing.stdout.split("\0") if path)


@cache
def disk_files() -> frozenset[str]:
    """Every file under the checkout as the tools walk it (symlinked directories followed)."""
    found: set[str] = set()
    for directory, subdirs, files in os.walk(ROOT, followlinks=True):
        if ".git" in subdirs:
            subdirs.remove(".git")
        prefix = os.path.relpath(directory, ROOT).replace(os.sep, "/")
        found.update(name if prefix == "." else f"{prefix}/{name}" for name in files)
    return frozenset(found)


def expected_package() -> set[str]:
    return {f for f in tracked_files() if f in APP_FILES or f.split("/", 1)[0] in APP_DIRS}


def forbidden(path: str) -> bool:
    *dirs, name = path.split("/")
    return bool(FORBIDDEN_DIRS.intersection(dirs)) or bool(SECRET_LIKE.search(name))


@pytest.mark.parametrize("tool", sorted(PACKAGERS))
def test_package_is_exactly_the_app(tool: str) -> None:
    shipped = PACKAGERS[tool](tracked_files() | HAZARDS, FUNCIGNORE)
    assert {path.split("/", 1)[0] for path in shipped} == APP_FILES | APP_DIRS
    missing = sorted(expected_package() - shipped)
    assert not missing, (
        f"{tool} leaves out files the app needs: {missing}; add `!/<dir>/*.<ext>` (and `!/<di[r]>/` for"
        " a new directory) to .funcignore"
    )
    extra = sorted(shipped - expected_package())
    assert not extra, f"{tool} ships files that are not part of the app: {extra}"


@pytest.mark.parametrize("tool", sorted(PACKAGERS))
def test_nothing_forbidden_ships_from_this_checkout(tool: str) -> None:
    shipped = PACKAGERS[tool](disk_files() | HAZARDS, FUNCIGNORE)
    offenders = sorted(path for path in shipped if forbidden(path))
    assert not offenders, f"{tool} would ship {offenders}"
    assert {path.split("/", 1)[0] for path in shipped} <= APP_FILES | APP_DIRS
    assert "shared/data/capitals.csv" in shipped, "task data the agent reads at runtime must ship"


def test_azd_model_reads_funcignore_like_git(tmp_path: Path) -> None:
    """go-gitignore follows git for the line forms we use, so git itself is a second opinion on the
    azd model (git prunes ignored directories the same way)."""
    tree = {path for path in tracked_files() | HAZARDS if not path.startswith(".git")}
    for path in tree:
        (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / path).touch()
    (tmp_path / ".funcignore").write_text(FUNCIGNORE)
    subprocess.run(["git", "init", "-q"], cwd=tmp_path, check=True)
    listing = subprocess.run(
        ["git", "-c", "core.excludesFile=", "ls-files", "--others", "--exclude-from=.funcignore", "-z"],
        cwd=tmp_path,
        capture_output=True,
        check=True,
        text=True,
    )
    by_git = {path for path in listing.stdout.split("\0") if path}
    assert by_git == azd_package(tree, FUNCIGNORE)


def test_funcignore_names_the_virtualenv() -> None:
    # PythonHelpers.EnsureVirtualEnvironmentIgnored appends "\n.venv" unless the file already has it,
    # which would leave a dirty tree after every `func azure functionapp publish`.
    assert "\n.venv\n" in FUNCIGNORE


# --- .gitignore -------------------------------------------------------------------------------------

# Directories `make`, the tools and the test suite create. Those in SYMLINKABLE are symlinks in our
# worktrees, which git sees as files: a `dir/` pattern would not match them.
GENERATED_DIRS = (
    ".venv", ".venv-checkov", "node_modules", ".azurite", ".emulator", "out", "out/screenshots",
    ".pytest_cache", ".ruff_cache", ".mypy_cache", ".hypothesis", ".python_packages", ".azure",
    "api/__pycache__", "shared/agents/__pycache__",
)  # fmt: skip
SYMLINKABLE = (".venv", ".venv-checkov", "node_modules")
GENERATED_FILES = ("local.settings.json", "shared/x.pyc", "durable_finetune.egg-info/PKG-INFO")
# What `make clean` keeps: the developer's own settings (azd's environments, the local app settings).
KEPT_BY_CLEAN = (".azure", "local.settings.json")


def makefile_clean_targets() -> list[str]:
    """What `make clean` removes, with `$(VAR)` replaced by the Makefile's `VAR := value`."""
    makefile = (ROOT / "Makefile").read_text()
    variables = dict(re.findall(r"^(\w+) :?= (\S+)$", makefile, re.MULTILINE))
    clean = re.search(r"^clean:\n\trm -rf (.+)$", makefile, re.MULTILINE)
    assert clean, "Makefile has no `clean: rm -rf ...` recipe to compare with"
    return [re.sub(r"\$\((\w+)\)", lambda m: variables[m.group(1)], t) for t in clean.group(1).split()]


def ignored_by_gitignore(tmp_path: Path, paths: list[str]) -> set[str]:
    """``git check-ignore`` in a fresh repository holding only our .gitignore (no info/exclude, no
    global excludes), so nothing else can make a path look ignored."""
    shutil.copy(ROOT / ".gitignore", tmp_path / ".gitignore")
    subprocess.run(["git", "init", "-q"], cwd=tmp_path, check=True)
    result = subprocess.run(
        ["git", "-c", "core.excludesFile=", "check-ignore", "--stdin", "-z"],
        cwd=tmp_path,
        input="\0".join(paths),
        capture_output=True,
        text=True,
    )
    assert result.returncode in (0, 1), result.stderr
    return {path for path in result.stdout.split("\0") if path}


def test_gitignore_covers_what_make_and_the_tools_create(tmp_path: Path) -> None:
    for name in SYMLINKABLE:
        (tmp_path / name).symlink_to("/nonexistent")
    for directory in GENERATED_DIRS:
        if directory not in SYMLINKABLE:
            (tmp_path / directory).mkdir(parents=True, exist_ok=True)
            (tmp_path / directory / "file").touch()
    dirs = sorted(set(GENERATED_DIRS) | set(makefile_clean_targets()))
    probes = [d if d in SYMLINKABLE else f"{d}/file" for d in dirs] + list(GENERATED_FILES)
    for probe in GENERATED_FILES:
        (tmp_path / probe).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / probe).touch()
    not_ignored = sorted(set(probes) - ignored_by_gitignore(tmp_path, probes))
    assert not not_ignored, f".gitignore misses {not_ignored}"


def test_gitignore_keeps_the_sources(tmp_path: Path) -> None:
    sources = sorted(tracked_files())
    wrongly_ignored = sorted(ignored_by_gitignore(tmp_path, sources))
    assert not wrongly_ignored, f".gitignore would hide tracked files: {wrongly_ignored}"


def test_make_clean_removes_what_make_and_the_tools_create(tmp_path: Path) -> None:
    """`make clean` in a scratch tree holding our Makefile, everything generated and some sources: the
    generated directories go (a symlinked one as a link: the shared copy it points to stays), the
    sources and the developer's settings stay."""
    tree, shared = tmp_path / "tree", tmp_path / "shared"
    tree.mkdir()
    shutil.copy(ROOT / "Makefile", tree / "Makefile")
    for name in SYMLINKABLE:
        (shared / name).mkdir(parents=True)
        (shared / name / "kept").touch()
        (tree / name).symlink_to(shared / name)
    generated = [d for d in GENERATED_DIRS if d not in SYMLINKABLE and d not in KEPT_BY_CLEAN]
    generated += ["tests/app/__pycache__", "durable_finetune.egg-info"]
    for directory in generated:
        (tree / directory).mkdir(parents=True, exist_ok=True)
        (tree / directory / "file").touch()
    sources = ["api/runs.py", "shared/agents/registry.py", "tests/app/test_loop.py", ".azure/dev/.env"]
    for path in [*sources, "local.settings.json"]:
        (tree / path).parent.mkdir(parents=True, exist_ok=True)
        (tree / path).touch()
    result = subprocess.run(["make", "clean"], cwd=tree, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    left = [path for path in [*generated, *SYMLINKABLE] if os.path.lexists(tree / path)]
    assert left == [], f"make clean leaves {left}"
    assert [path for path in [*sources, "local.settings.json"] if not (tree / path).is_file()] == []
    assert all((shared / name / "kept").exists() for name in SYMLINKABLE), "make clean followed a symlink"
