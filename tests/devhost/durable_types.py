"""The types the test Function Apps (apps.py, patterns.py, entity_apps.py) annotate their functions with."""

from __future__ import annotations

from collections.abc import Generator
from typing import Any, TypeVar

from azure.durable_functions.models.Task import TaskBase

T = TypeVar("T")

Step = Generator[TaskBase, Any, T]
"""An orchestrator, or a part of one run with ``yield from``: it yields Durable tasks and returns ``T``. The
SDK sends back each task's result undecoded (any JSON value, or the task itself for ``task_any``), hence
``Any`` for what a ``yield`` evaluates to."""

Payload = dict[str, Any]
"""An activity's or orchestrator's input: a JSON object the SDK decodes without a schema. These apps read
the keys each test sends; a key a test forgets is a ``KeyError`` the test sees as a failed activity."""
