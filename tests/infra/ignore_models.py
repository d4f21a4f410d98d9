"""How the two deploy tools turn ``.funcignore`` into a package, rewritten here from their sources so a
test can check the allow-list without either tool (neither installs on this machine).

- Core Tools: ``src/Cli/func/Common/GitIgnoreParser.cs`` (a regex port of codemix/gitignore-parser) and
  ``FileSystemHelpers.GetLocalFiles`` in Azure/azure-functions-core-tools. Files only: each path is
  matched on its own against two alternations, ``^((p1)|(p2)...)\\b``; a negated line wins whatever
  its position; ``*`` is ``[^/]+``, ``**`` is ``.+``; ``[ ] ? . - + ( ) { } ^ $ |`` are literal.
- azd: ``createDeployableZip`` in cli/azd/pkg/project/project_utils.go (Azure/azure-dev) with
  denormal/go-gitignore: directories are tested too and pruned when ignored, the last matching line
  wins, a line without ``/`` matches the last path component, a line with one matches the whole path
  (fnmatch with FNM_PATHNAME).

Both models work on a list of file paths (POSIX, relative to the app root); directories are the
paths' prefixes. Only the pattern forms our ``.funcignore`` uses are modelled for azd: ``**``, ``?``
and ``\\`` escapes raise.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache

# GetLocalFiles skips these directories and file names anywhere in the tree (case-insensitive).
CORE_TOOLS_SKIPPED_DIRS = frozenset({".git", ".vscode"})
CORE_TOOLS_SKIPPED_FILES = frozenset(
    {".funcignore", ".gitignore", "local.settings.json", "project.lock.json"}
)
# GitIgnoreParser.PrepareRegexPattern escapes these before turning `*` into a regex.
_CORE_TOOLS_LITERALS = re.compile(r"[\-\[\]/{}()+?.\\^$|]")


def _core_tools_regex(pattern: str) -> str:
    escaped = _CORE_TOOLS_LITERALS.sub(lambda m: "\\" + m.group(0), pattern)
    return escaped.replace("**", "(.+)").replace("*", "([^\\/]+)")


def _core_tools_alternation(patterns: list[str]) -> re.Pattern[str]:
    if not patterns:
        return re.compile("$^")
    body = ")|(".join(_core_tools_regex(p) for p in sorted(patterns))
    return re.compile(f"^(({body}))\\b", re.ASCII)


def core_tools_package(files: Iterable[str], funcignore: str) -> set[str]:
    """The files ``func azure functionapp publish`` zips (before it adds ``.python_packages``)."""
    ignored: list[str] = []
    included: list[str] = []
    for raw in funcignore.split("\n"):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        negated = line.startswith("!")
        line = line.removeprefix("!").removeprefix("/")
        (included if negated else ignored).append(line)
    positive, negative = _core_tools_alternation(ignored), _core_tools_alternation(included)
    shipped = set()
    for path in files:
        *dirs, name = path.split("/")
        if (
            any(d.lower() in CORE_TOOLS_SKIPPED_DIRS for d in dirs)
            or name.lower() in CORE_TOOLS_SKIPPED_FILES
        ):
            continue
        if negative.match(path) or not positive.match(path):
            shipped.add(path)
    return shipped


@cache
def _fnmatch_regex(pattern: str, *, pathname: bool) -> re.Pattern[str]:
    """fnmatch(3) for ``*`` and ``[...]`` (the wildcards our lines use; see ``parse_go_gitignore``);
    with FNM_PATHNAME neither matches ``/``. No FNM_PERIOD: ``*`` matches a leading dot."""
    star, guard = ("[^/]*", "(?!/)") if pathname else (".*", "")
    parts: list[str] = []
    i = 0
    while i < len(pattern):
        end = pattern.find("]", i + 2) if pattern[i] == "[" else -1
        if pattern[i] == "*":
            parts.append(star)
        elif end != -1:
            body = pattern[i + 1 : end]
            negate = body[:1] in ("!", "^")
            parts.append(guard + "[" + ("^" + body[1:] if negate else body) + "]")
            i = end
        else:
            parts.append(re.escape(pattern[i]))
        i += 1
    return re.compile("".join(parts) + r"\Z", re.DOTALL)


@dataclass(frozen=True)
class GoGitIgnoreLine:
    """One line as denormal/go-gitignore compiles it (pattern.go: ``name`` or ``path``)."""

    negated: bool
    anchored: bool
    directory: bool
    glob: str

    def matches(self, path: str, is_dir: bool) -> bool:
        if self.directory and not is_dir:
            return False
        if "/" in self.glob:
            return bool(_fnmatch_regex(self.glob, pathname=True).match(path))
        target = path if self.anchored else path.rsplit("/", 1)[-1]
        return bool(_fnmatch_regex(self.glob, pathname=False).match(target))


def parse_go_gitignore(text: str) -> list[GoGitIgnoreLine]:
    lines = []
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        negated = line.startswith("!")
        line = line.removeprefix("!")
        anchored = line.startswith("/")
        directory = line.endswith("/")
        glob = line.removeprefix("/").removesuffix("/")
        if "**" in glob or "?" in glob or "\\" in glob:
            raise NotImplementedError(f"'**', '?' and '\\' are not modelled: {raw!r}")
        lines.append(GoGitIgnoreLine(negated, anchored, directory, glob))
    return lines


def azd_package(files: Iterable[str], funcignore: str, ignore_file: str = ".funcignore") -> set[str]:
    """The files ``azd package``/``azd deploy`` zips for a Function App service."""
    lines = parse_go_gitignore(funcignore)

    @cache
    def excluded(path: str, is_dir: bool) -> bool:
        name = path.rsplit("/", 1)[-1]
        if is_dir and name == ".azure":
            return True
        if not is_dir and name in (ignore_file, "local.settings.json"):
            return True
        for line in reversed(lines):
            if line.matches(path, is_dir):
                return not line.negated
        return False

    shipped = set()
    for path in files:
        parts = path.split("/")
        ancestors = ("/".join(parts[:depth]) for depth in range(1, len(parts)))
        if not any(excluded(d, True) for d in ancestors) and not excluded(path, False):
            shipped.add(path)
    return shipped
