"""Query parameters of the dashboard's pages and JSON views, validated strictly.

Each view declares the parameters it takes; anything else, and any bad value, is refused with the
parameter's name and what it accepts (the callers answer 400). ``code``, the function key Azure reads
from the query string, is always allowed and never validated here.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Annotated, Any, TypeVar, get_args

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from api.http import spelling
from shared.domain.report import RunStatus
from shared.domain.settings import RUN_ID_PATTERN, RUN_ID_RULE, Spelling
from shared.storage.run_index import Cursor, RunQuery

FUNCTION_KEY_PARAM = "code"
LINEAGE_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"
LINEAGE_RULE = "a lineage: 1 to 64 letters, digits, '_', '.' and '-', starting with a letter or digit"
LineageName = Annotated[str, Field(pattern=LINEAGE_PATTERN), Spelling(LINEAGE_RULE)]
RUN_STATUSES: tuple[str, ...] = get_args(RunStatus)
MAX_COMPARED = 8
DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 200

Params = TypeVar("Params", bound="QueryParams")


class InvalidParamsError(ValueError):
    """Bad query parameters: ``errors`` is a list of ``{field, error}``, one per parameter."""

    def __init__(self, errors: list[dict[str, str]]) -> None:
        super().__init__("; ".join(f"{item['field']}: {item['error']}" for item in errors))
        self.errors = errors


def _comma_list(value: str) -> list[str]:
    return [item.strip() for item in value.split(",") if item.strip()]


class QueryParams(BaseModel):
    """A view without parameters; subclasses add theirs."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    @classmethod
    def parse(cls: type[Params], params: Mapping[str, str]) -> Params:
        """Validates a request's query parameters (blank values count as absent)."""
        given = {k: v for k, v in params.items() if k != FUNCTION_KEY_PARAM and v.strip() != ""}
        try:
            return cls.model_validate(given)
        except ValidationError as exc:
            raise InvalidParamsError([cls._describe(error) for error in exc.errors()]) from None

    @classmethod
    def _describe(cls, error: Any) -> dict[str, str]:
        name = ".".join(str(part) for part in error["loc"]) or "(query)"
        if error["type"] == "extra_forbidden":
            allowed = ", ".join([*cls.model_fields, FUNCTION_KEY_PARAM])
            return {"field": name, "error": f"unknown parameter; this view takes {allowed}"}
        if error["type"] == "missing":
            return {"field": name, "error": "is required"}
        rule = spelling(cls, error["loc"]) if error["type"] == "string_pattern_mismatch" else None
        if rule:
            return {"field": name, "error": f"must be {rule}"}
        return {"field": name, "error": str(error["msg"]).removeprefix("Value error, ")}


class RunListParams(QueryParams):
    """``GET /api/runs``: filters, page size and a cursor from a previous page."""

    lineage: LineageName | None = None
    status: str | None = None
    limit: int = Field(DEFAULT_PAGE_SIZE, ge=1, le=MAX_PAGE_SIZE)
    before: str | None = None
    after: str | None = None

    @field_validator("status")
    @classmethod
    def _statuses(cls, value: str | None) -> str | None:
        if value is not None:
            unknown = [item for item in _comma_list(value) if item not in RUN_STATUSES]
            if unknown or not _comma_list(value):
                raise ValueError(f"must be one or more of {', '.join(RUN_STATUSES)} (comma-separated)")
        return value

    @field_validator("before", "after")
    @classmethod
    def _cursor(cls, value: str | None) -> str | None:
        if value is not None:
            Cursor.parse(value)
        return value

    @model_validator(mode="after")
    def _one_cursor(self) -> RunListParams:
        if self.before is not None and self.after is not None:
            raise ValueError("give at most one of before and after")
        return self

    def query(self) -> RunQuery:
        statuses: frozenset[Any] = frozenset(_comma_list(self.status)) if self.status else frozenset()
        return RunQuery(
            lineage=self.lineage,
            statuses=statuses,
            limit=self.limit,
            before=Cursor.parse(self.before) if self.before else None,
            after=Cursor.parse(self.after) if self.after else None,
        )


def _run_ids(value: str, name: str, *, at_least: int) -> list[str]:
    ids = _comma_list(value)
    bad = [item for item in ids if not _is_run_id(item)]
    if bad:
        raise ValueError(f"{', '.join(bad[:3])} is not {RUN_ID_RULE}; separate ids with commas")
    if len(set(ids)) != len(ids):
        raise ValueError(f"names a run twice; give each of the {name} once")
    if not at_least <= len(ids) <= MAX_COMPARED:
        raise ValueError(f"give {at_least} to {MAX_COMPARED} run ids, comma-separated")
    return ids


def _is_run_id(value: str) -> bool:
    return re.fullmatch(RUN_ID_PATTERN, value) is not None


class RunsPageParams(RunListParams):
    """The runs page: the list's parameters plus the runs picked for comparison so far."""

    compare: str | None = None

    @field_validator("compare")
    @classmethod
    def _compare(cls, value: str | None) -> str | None:
        if value is not None:
            _run_ids(value, "runs", at_least=1)
        return value

    @property
    def picked(self) -> list[str]:
        return _comma_list(self.compare) if self.compare else []


class CompareParams(QueryParams):
    runs: str

    @field_validator("runs")
    @classmethod
    def _runs(cls, value: str) -> str:
        _run_ids(value, "runs", at_least=2)
        return value

    @property
    def run_ids(self) -> list[str]:
        return _comma_list(self.runs)
