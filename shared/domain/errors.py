"""How a failure is recorded: the error a report, an iteration or an activity's answer carries, what a
run could not clean up (a leak), and the one cap on an error's message.

These are part of the report's contract (docs/report.md: ``error`` is ``{code, message, ...}``,
``warnings[]`` ``{code, message}``, ``leaked[]`` ``{kind, name, reason}``), so they live with it, below
the contracts that carry them between orchestrators and activities.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    SerializerFunctionWrapHandler,
    model_serializer,
)

MESSAGE_LIMIT = 2000
"""Characters of an error's message that are kept: Azure's messages can quote a whole request, and every
error is copied into the orchestration's history and the report."""


def capped(message: str) -> str:
    return message[:MESSAGE_LIMIT]


class CheckRecord(BaseModel):
    """A preflight check as an error lists it: what was checked, what was found, what to change."""

    model_config = ConfigDict(extra="forbid")

    name: str
    ok: bool
    detail: str
    fix: str | None = None


class ErrorInfo(BaseModel):
    """A failure: Azure's own code and message where Azure gave one, else the app's. Only the fields its
    source gave are recorded (Azure's job errors carry ``param``, null or not; an HTTP failure its
    ``status``; a failed preflight its ``checks``), so the report keeps the shape each source has always
    had; the message is capped at ``MESSAGE_LIMIT`` here, for every error."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    code: str
    message: Annotated[str, AfterValidator(capped)]
    status: int | None = Field(None, description="the HTTP status Azure answered with")
    param: str | None = Field(None, description="the request parameter Azure's error names")
    checks: list[CheckRecord] | None = Field(None, description="the preflight checks that failed")

    @model_serializer(mode="wrap")
    def _given_fields(self, handler: SerializerFunctionWrapHandler) -> dict[str, object]:
        dumped: dict[str, object] = handler(self)
        return {key: value for key, value in dumped.items() if key in self.model_fields_set}


class Leak(BaseModel):
    """An Azure resource the app created and could not delete, and why: listed so it bills no one
    unnoticed."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: Literal["deployment", "file", "job"]
    name: str
    reason: str
