"""Data flows one way: HTTP/timer -> orchestrators -> (activity specs) ; activities -> shared, and inside
shared from the packages listed last to the ones listed first (``shared/__init__.py``). Orchestrators
call activities by their specs (shared/contracts/specs.py), so neither imports the other. Read from the
source with ``ast``, so an import inside a function counts as much as one at the top."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

from shared.contracts import specs

ROOT = Path(__file__).resolve().parents[2]
PRODUCTION = ("function_app.py", "api", "orchestrators", "activities", "shared")
SHARED_ORDER = ("telemetry", "agents", "domain", "contracts", "storage", "azure")
"""Each package of shared may import only itself and the ones before it."""
NEVER_IN_PRODUCTION = ("emulator", "devhost", "bench", "scripts", "tests")


def modules() -> Iterator[tuple[str, Path]]:
    for entry in PRODUCTION:
        path = ROOT / entry
        files = [path] if path.is_file() else sorted(path.rglob("*.py"))
        for file in files:
            yield ".".join(file.relative_to(ROOT).with_suffix("").parts), file


def imports(file: Path) -> Iterator[str]:
    for node in ast.walk(ast.parse(file.read_text(), str(file))):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            yield node.module


def violations() -> list[str]:
    found = []
    for name, file in modules():
        top = name.split(".")[0]
        for target in imports(file):
            root = target.split(".")[0]
            if root in NEVER_IN_PRODUCTION:
                found.append(f"{name} imports {target}: production code never imports {root}/")
            if top == "shared" and root in {"api", "orchestrators", "activities", "function_app"}:
                found.append(f"{name} imports {target}: shared/ is below every app layer")
            if top == "activities" and root in {"api", "orchestrators", "function_app"}:
                found.append(f"{name} imports {target}: activities are below orchestrators and api")
            if top == "orchestrators" and root in {"api", "function_app"}:
                found.append(f"{name} imports {target}: orchestrators are below api")
            if top == "orchestrators" and root == "activities":
                found.append(f"{name} imports {target}: orchestrators call activities by their specs")
            if top == "shared" and root == "shared" and len(name.split(".")) > 2:
                source, imported = name.split(".")[1], target.split(".")[1]
                if SHARED_ORDER.index(imported) > SHARED_ORDER.index(source):
                    found.append(f"{name} imports {target}: shared.{source} is below shared.{imported}")
    return found


def test_no_import_runs_upward() -> None:
    assert violations() == []


def test_every_shared_module_is_in_a_package_of_the_order() -> None:
    """A module left at the top of shared/ (or a new package) would escape the order."""
    loose = [name for name, _ in modules() if name.startswith("shared.") and name.count(".") == 1]
    packages = {path.name for path in (ROOT / "shared").iterdir() if (path / "__init__.py").exists()}
    assert loose == ["shared.__init__"]
    assert packages == set(SHARED_ORDER)


def test_orchestrators_name_no_activity_function() -> None:
    """Orchestrators know an activity by its spec, never by its function (not even one of the same name
    defined elsewhere): no identifier in orchestrators/ is an activity's registered name."""
    activities = {spec.name for spec in vars(specs).values() if isinstance(spec, specs.ActivitySpec)}
    named = [
        f"{name}: {identifier}"
        for name, file in modules()
        if name.startswith("orchestrators.")
        for identifier in identifiers(file)
        if identifier in activities
    ]
    assert len(activities) == 31
    assert named == []


def identifiers(file: Path) -> Iterator[str]:
    for node in ast.walk(ast.parse(file.read_text(), str(file))):
        if isinstance(node, ast.Name):
            yield node.id
        elif isinstance(node, ast.Attribute):
            yield node.attr
        elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            yield node.name
        elif isinstance(node, ast.alias):
            yield node.asname or node.name.split(".")[-1]


def test_the_check_sees_an_upward_import(tmp_path: Path) -> None:
    """The walker finds imports inside functions too, so the check above can fail."""
    file = tmp_path / "m.py"
    file.write_text("def f() -> None:\n    from shared.azure import clients\n")
    assert list(imports(file)) == ["shared.azure"]
