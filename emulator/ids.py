"""Identifiers in Azure's shapes (``file-``, ``ftjob-``, ``ftevent-``, ``ftchkpt-`` + 32 hex)."""

from __future__ import annotations

import uuid


def new_hex() -> str:
    return uuid.uuid4().hex


def new_id(prefix: str) -> str:
    return f"{prefix}-{new_hex()}"
