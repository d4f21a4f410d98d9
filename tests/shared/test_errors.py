"""How a failure is recorded: the report's ``error``, ``warnings[]`` and ``leaked[]`` keep the shapes
docs/report.md documents, and every message is capped in one place."""

from __future__ import annotations

import json

import pytest
from pydantic import ValidationError

from shared.domain.errors import MESSAGE_LIMIT, CheckRecord, ErrorInfo, Leak
from shared.domain.report import IterationReport


def test_every_message_is_capped_at_the_limit() -> None:
    long = "x" * (MESSAGE_LIMIT + 500)
    assert ErrorInfo(code="Any", message=long).message == "x" * MESSAGE_LIMIT
    assert ErrorInfo.model_validate({"code": "Any", "message": long}).message == "x" * MESSAGE_LIMIT
    assert ErrorInfo(code="Any", message="short").message == "short"


def test_an_error_records_exactly_the_fields_its_source_gave() -> None:
    """``{code, message}`` for the app's own errors, Azure's ``status`` when it answered, its job
    error's ``param`` even when null, a preflight's ``checks`` with each check's ``fix``."""
    assert ErrorInfo(code="NothingToLearn", message="m").model_dump(mode="json") == {
        "code": "NothingToLearn",
        "message": "m",
    }
    assert ErrorInfo(code="BadRequest", message="m", status=400).model_dump(mode="json") == {
        "code": "BadRequest",
        "message": "m",
        "status": 400,
    }
    job = ErrorInfo(code="invalid_training_file", message="m", param=None)
    assert json.loads(job.model_dump_json()) == {
        "code": "invalid_training_file",
        "message": "m",
        "param": None,
    }
    preflight = ErrorInfo(
        code="PreflightFailed", message="m", checks=[CheckRecord(name="arm", ok=False, detail="d")]
    )
    assert preflight.model_dump(mode="json") == {
        "code": "PreflightFailed",
        "message": "m",
        "checks": [{"name": "arm", "ok": False, "detail": "d", "fix": None}],
    }


def test_a_report_reads_back_and_writes_the_same_json() -> None:
    text = json.dumps(
        {
            "iteration": 1,
            "status": "failed",
            "error": {"code": "invalid_training_file", "message": "m", "param": None},
        }
    )
    entry = IterationReport.model_validate_json(text)
    assert entry.error == ErrorInfo(code="invalid_training_file", message="m", param=None)
    assert json.loads(entry.model_dump_json())["error"] == {
        "code": "invalid_training_file",
        "message": "m",
        "param": None,
    }


def test_errors_and_leaks_refuse_what_the_contract_does_not_have() -> None:
    with pytest.raises(ValidationError, match="details"):
        ErrorInfo.model_validate({"code": "c", "message": "m", "details": "x"})
    with pytest.raises(ValidationError, match="kind"):
        Leak.model_validate({"kind": "bucket", "name": "n", "reason": "r"})
    assert Leak(kind="file", name="file-1", reason="r").model_dump() == {
        "kind": "file",
        "name": "file-1",
        "reason": "r",
    }
