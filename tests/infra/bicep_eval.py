"""Evaluate the parts of a pycep-parsed Bicep file that depend on its parameters, so tests can check
what a parameter switch deploys (which resources exist, which settings the app gets) without the
Bicep CLI.

pycep gives identifiers and string literals the same form (a Python ``str``): a string naming a
parameter, variable, resource or module of the file is read as a reference, anything else as a
literal; ``ambiguous_literals`` lists the quoted strings that could be misread that way. Functions that
need Azure (``subscription()``, ``guid()``, ...) and resource/module properties evaluate to
``Opaque`` placeholders that print as the expression they stand for.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pycep import BicepParser

INTERPOLATION = re.compile(r"\$\{([^}]+)\}")
# Stand-ins for a module's required parameters that a test does not care about, by declared type.
PLACEHOLDERS: dict[str, Any] = {"string": "<value>", "int": 1, "bool": False, "object": {}, "array": []}


@dataclass(frozen=True)
class Opaque:
    """A value only Azure knows at deployment time."""

    expression: str

    def __str__(self) -> str:
        return f"<{self.expression}>"


class BicepFile:
    def __init__(self, path: Path, params: dict[str, Any] | None = None) -> None:
        self.path = path
        # Walked by section and name read at run time, which pycep's TypedDict cannot index: a JSON tree.
        self.tree: dict[str, Any] = dict(BicepParser().parse(file_path=path))
        self.params = params or {}
        unknown = set(self.params) - set(self.tree.get("parameters", {}))
        if unknown:
            raise KeyError(f"{path.name} has no parameters {sorted(unknown)}")

    # ------------------------------------------------------------------ names
    def identifiers(self) -> set[str]:
        return {
            name
            for section in ("parameters", "variables", "resources", "modules")
            for name in self.tree.get(section, {})
        }

    def ambiguous_literals(self) -> list[str]:
        """Source lines holding a quoted string equal to an identifier, other than a module's
        deployment name (``name: 'storage'``), which the evaluator would misread as a reference."""
        lines = self.path.read_text().splitlines()
        return [
            line.strip()
            for line in lines
            for name in self.identifiers()
            if f"'{name}'" in line and line.strip() != f"name: '{name}'"
        ]

    def lookup(self, name: str) -> Any:
        tree = self.tree
        if name in tree.get("parameters", {}):
            if name in self.params:
                return self.params[name]
            declared = tree["parameters"][name]
            if declared.get("default") is None:  # pycep: None when the parameter declares no default
                raise KeyError(f"parameter {name!r} of {self.path.name} has no default: pass it")
            return self.eval(declared["default"])
        if name in tree.get("variables", {}):
            return self.eval(tree["variables"][name]["value"])
        return Opaque(name)

    # ------------------------------------------------------------------ structure
    def deployed(self, section: str, name: str) -> bool:
        """Whether a resource or module is deployed (its ``if (...)`` holds, or it has none)."""
        config = self.tree[section][name]["config"]
        return "condition" not in config or bool(self.eval(config["condition"]))

    def body(self, section: str, name: str) -> dict[str, Any]:
        """A resource's or module's body (``name``, ``params``, ``properties``, ...), evaluated."""
        config = self.tree[section][name]["config"]
        config = config.get("config", config) if "condition" in config else config
        return {key: self.eval(value) for key, value in config.items()}

    # ------------------------------------------------------------------ expressions
    def eval(self, node: Any) -> Any:
        if isinstance(node, str):
            if node in self.identifiers():
                return self.lookup(node)
            return INTERPOLATION.sub(lambda m: str(self.eval(m.group(1).strip())), node)
        if isinstance(node, list):
            return [self.eval(item) for item in node]
        if isinstance(node, dict) and isinstance(node.get("operator"), dict):
            return self._operator(node["operator"]["type"], node["operator"]["operands"])
        if isinstance(node, dict) and isinstance(node.get("function"), dict):
            return self._function(node["function"]["type"], node["function"].get("parameters") or {})
        if isinstance(node, dict):
            return {self._key(key): self.eval(value) for key, value in node.items()}
        return node

    def _key(self, key: str) -> str:
        """Object keys: bare (``name``) as written, quoted (``'${id}'``) with interpolation."""
        if key.startswith("'") and key.endswith("'"):
            return INTERPOLATION.sub(lambda m: str(self.eval(m.group(1).strip())), key[1:-1])
        return key

    def _operator(self, kind: str, operands: dict[str, Any]) -> Any:
        if kind == "not":
            return not self.eval(operands["bool_value"])
        if kind == "conditional":
            chosen = "true_value" if self.eval(operands["condition"]) else "false_value"
            return self.eval(operands[chosen])
        if kind == "property_accessor":
            return self._access(self.eval(operands["operand_1"]), operands["operand_2"])
        left, right = self.eval(operands["operand_1"]), self.eval(operands["operand_2"])
        if kind == "equals":
            return left == right
        raise NotImplementedError(f"operator {kind}")

    def _access(self, base: Any, chain: Any) -> Any:
        while True:
            name, rest = (chain, None) if isinstance(chain, str) else self._split(chain)
            if isinstance(base, dict):
                base = base[name]
            else:
                base = Opaque(f"{base.expression if isinstance(base, Opaque) else base}.{name}")
            if rest is None:
                return base
            chain = rest

    @staticmethod
    def _split(chain: dict[str, Any]) -> tuple[str, Any]:
        operands = chain["operator"]["operands"]
        return operands["operand_1"], operands["operand_2"]

    def _function(self, kind: str, parameters: dict[str, Any]) -> Any:
        args = [self.eval(value) for value in parameters.values() if value is not None]
        if kind == "empty":
            return not args[0]
        if kind == "concat":
            return (
                [item for arg in args for item in arg]
                if isinstance(args[0], list)
                else "".join(map(str, args))
            )
        if kind == "union":
            return {key: value for arg in args for key, value in arg.items()}
        if kind == "load_json_content":
            return self._load_json(parameters["file_path"], parameters.get("json_path"))
        return Opaque(f"{kind}({', '.join(map(str, args))})")

    def _load_json(self, file_path: str, json_path: str | None) -> Any:
        value = json.loads((self.path.parent / file_path).read_text())
        for key in (json_path or "$").removeprefix("$").split(".")[1:]:
            value = value[key]
        return value


def module_file(path: Path, **params: Any) -> BicepFile:
    """A module evaluated with ``params`` and placeholders for its other required parameters."""
    declared = BicepFile(path).tree.get("parameters", {})
    required = {name: PLACEHOLDERS[d["type"]] for name, d in declared.items() if d.get("default") is None}
    return BicepFile(path, {**required, **params})
