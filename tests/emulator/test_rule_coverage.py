"""Every rule of emulator/README.md has a test, and every test that claims a rule names one that exists.

The README gives each rule a stable id: the first cell of a row in a table whose first column is ``id``
(``| M19 | account kind | ...``), or a bold id opening a paragraph or a bullet (``**LC1** Nothing runs
...``, ``- **D4** Checkpoints ...``). A test proves a rule by carrying ``@pytest.mark.rule("M19")``
(registered in pyproject.toml, where ``--strict-markers`` refuses a misspelt marker name). The markers
are read from the test sources with ``ast``, so a rule counts as tested only where a test function says
so in its own decorators: a rule nobody marks fails here by name, and so does a marker naming a rule
the README no longer has."""

from __future__ import annotations

import ast
import re
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "emulator" / "README.md"
TESTS = ROOT / "tests"
RULE_ID = r"[A-Z]{1,2}\d{1,3}"
ROW = re.compile(rf"^\|\s*({RULE_ID})\s*\|")
OPENING = re.compile(rf"^(?:- )?\*\*({RULE_ID})\*\*\s")


@dataclass(frozen=True)
class Claim:
    """One rule id named by a ``rule`` marker, and where."""

    rule: str
    where: str


def readme_rules(text: str) -> list[str]:
    """The rule ids the README declares, in order (repeats kept, so a duplicate can be named). A row of
    an ``id`` table without an id is refused: it would be a rule no test could claim."""
    found: list[str] = []
    in_id_table = False
    for number, line in enumerate(text.splitlines(), start=1):
        if line.startswith("| id |"):
            in_id_table = True
            continue
        if not line.startswith("|"):
            in_id_table = False
        row = ROW.match(line)
        opening = OPENING.match(line)
        if in_id_table and not line.startswith("|---"):
            assert row is not None, f"emulator/README.md line {number}: a rule row without an id: {line[:80]}"
        if row is not None:
            found.append(row.group(1))
        elif opening is not None:
            found.append(opening.group(1))
    return found


def _is_rule_marker(node: ast.expr) -> bool:
    """``pytest.mark.rule`` (the attribute chain, called or not)."""
    target = node.func if isinstance(node, ast.Call) else node
    return (
        isinstance(target, ast.Attribute)
        and target.attr == "rule"
        and isinstance(target.value, ast.Attribute)
        and target.value.attr == "mark"
        and isinstance(target.value.value, ast.Name)
        and target.value.value.id == "pytest"
    )


def marker_claims(path: Path, root: Path = ROOT) -> tuple[list[Claim], list[str]]:
    """The rules the test functions of ``path`` claim, and the problems: a ``rule`` marker anywhere but
    on a test function's decorators (a module's ``pytestmark``, a helper), without ids, or with ids that
    are not string literals (they could not be checked here)."""
    tree = ast.parse(path.read_text(), filename=str(path))
    name = path.relative_to(root).as_posix()
    claims: list[Claim] = []
    problems: list[str] = []
    on_tests: set[int] = set()
    for node in ast.walk(tree):
        if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) or not node.name.startswith("test_"):
            continue
        where = f"{name}::{node.name}"
        for decorator in filter(_is_rule_marker, node.decorator_list):
            on_tests.add(id(decorator))
            if not isinstance(decorator, ast.Call) or not decorator.args or decorator.keywords:
                problems.append(f"{where}: @pytest.mark.rule needs rule ids, and only them")
                continue
            for argument in decorator.args:
                if isinstance(argument, ast.Constant) and isinstance(argument.value, str):
                    claims.append(Claim(argument.value, where))
                else:
                    problems.append(f"{where}: a rule id that is not a string literal")
    # A marker expression is the call, or the bare attribute chain when it is not called.
    called = {
        id(node.func) for node in ast.walk(tree) if isinstance(node, ast.Call) and _is_rule_marker(node)
    }
    for node in ast.walk(tree):
        if isinstance(node, ast.expr) and _is_rule_marker(node) and id(node) not in called | on_tests:
            problems.append(f"{name} line {node.lineno}: a rule marker that is not on a test function")
    return claims, problems


def all_claims() -> tuple[list[Claim], list[str]]:
    claims: list[Claim] = []
    problems: list[str] = []
    for path in sorted(TESTS.rglob("*.py")):
        found, wrong = marker_claims(path)
        claims += found
        problems += wrong
    return claims, problems


def test_every_rule_has_a_test_and_every_claim_a_rule() -> None:
    declared = readme_rules(README.read_text())
    repeated = sorted(rule for rule, count in Counter(declared).items() if count > 1)
    assert repeated == [], f"rule ids declared more than once in emulator/README.md: {repeated}"
    claims, problems = all_claims()
    assert problems == []
    claimed = {claim.rule for claim in claims}
    untested = [rule for rule in declared if rule not in claimed]
    assert untested == [], (
        f"rules of emulator/README.md that no test marks with @pytest.mark.rule: {untested}"
    )
    unknown = sorted(f"{claim.rule} ({claim.where})" for claim in claims if claim.rule not in set(declared))
    assert unknown == [], f"markers naming rules emulator/README.md does not declare: {unknown}"


def test_the_readme_reader_finds_rows_openings_and_rows_without_ids() -> None:
    """The reader itself: a table row's id, a paragraph's and a bullet's bold opening; an id elsewhere
    in a line is prose, not a declaration; an ``id`` table row without one is refused."""
    text = "\n".join(
        [
            "| id | rule | source |",
            "|---|---|---|",
            "| Q1 | files | docs |",
            "",
            "**X1** Every error ...",
            "- **D4** Checkpoints ...",
            "- see **Q1** above, and | Q2 | in prose",
        ]
    )
    assert readme_rules(text) == ["Q1", "X1", "D4"]
    with pytest.raises(AssertionError, match="a rule row without an id"):
        readme_rules("| id | rule |\n|---|---|\n| files | docs |\n")


def test_the_marker_reader_takes_only_test_decorators(tmp_path: Path) -> None:
    """Claims come from test functions' own decorators; a module-wide or helper's marker, an empty one
    and a computed id are problems, not claims."""
    source = tmp_path / "tests" / "test_sample.py"
    source.parent.mkdir()
    source.write_text(
        "\n".join(
            [
                "import pytest",
                "pytestmark = pytest.mark.rule('M1')",
                "RULE = 'M2'",
                "@pytest.mark.rule('Q1', 'Q2')",
                "def test_one() -> None: ...",
                "@pytest.mark.rule(RULE)",
                "def test_two() -> None: ...",
                "@pytest.mark.rule",
                "async def test_three() -> None: ...",
                "@pytest.mark.rule('M3')",
                "def helper() -> None: ...",
            ]
        )
    )
    claims, problems = marker_claims(source, tmp_path)
    assert [(claim.rule, claim.where) for claim in claims] == [
        ("Q1", "tests/test_sample.py::test_one"),
        ("Q2", "tests/test_sample.py::test_one"),
    ]
    assert sorted(problems) == sorted(
        [
            "tests/test_sample.py line 2: a rule marker that is not on a test function",
            "tests/test_sample.py::test_two: a rule id that is not a string literal",
            "tests/test_sample.py::test_three: @pytest.mark.rule needs rule ids, and only them",
            "tests/test_sample.py line 10: a rule marker that is not on a test function",
        ]
    )
