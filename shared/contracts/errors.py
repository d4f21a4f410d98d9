"""How a failure is recorded: the error every report, iteration and activity result carries."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel


class ErrorInfo(BaseModel):
    code: str
    message: str
    status: int | None = None

    def as_dict(self) -> dict[str, Any]:
        return self.model_dump(exclude_none=True)
