"""Error envelopes. Azure OpenAI and ARM use different shapes, and clients parse them, so every error the
emulator returns goes through one of these two exception types and is rendered in the right envelope."""

from __future__ import annotations

import math
from typing import Any

from starlette.responses import JSONResponse


class _ServiceError(Exception):
    """Status, code, message and headers; subclasses render their service's envelope."""

    def __init__(
        self, status: int, code: str, message: str, *, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.headers = headers or {}

    def body(self) -> dict[str, Any]:
        raise NotImplementedError

    def response(self) -> JSONResponse:
        return JSONResponse(self.body(), status_code=self.status, headers=self.headers)


class ApiError(_ServiceError):
    """An Azure OpenAI data-plane error: ``{"error": {"code", "message", "param", "type"}}``."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        *,
        param: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(status, code, message, headers=headers)
        self.param = param

    def body(self) -> dict[str, Any]:
        kind = "invalid_request_error" if self.status < 500 else "server_error"
        return {"error": {"code": self.code, "message": self.message, "param": self.param, "type": kind}}


class ArmError(_ServiceError):
    """An ARM error: ``{"error": {"code", "message", "target", "details", "additionalInfo"}}``."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        *,
        target: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(status, code, message, headers=headers)
        self.target = target

    def body(self) -> dict[str, Any]:
        return {
            "error": {
                "code": self.code,
                "message": self.message,
                "target": self.target,
                "details": [],
                "additionalInfo": [],
            }
        }


def retry_headers(seconds: float) -> dict[str, str]:
    """``retry-after`` (whole seconds, at least 1 when non-zero, as HTTP requires) plus ``retry-after-ms``."""
    whole = 0 if seconds <= 0 else max(1, math.ceil(seconds))
    return {"retry-after": str(whole), "retry-after-ms": str(round(seconds * 1000))}
