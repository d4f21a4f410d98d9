"""The run's progress contract (shared/contracts/progress.py): ``StageDetail`` (the model the custom status
is built from) and ``StageFields`` (the keyword arguments ``Orchestration.show`` accepts) declare the same
fields twice, because mypy cannot derive a TypedDict from a pydantic model; this test keeps them in step."""

from __future__ import annotations

from typing import get_type_hints

from shared.contracts.progress import StageDetail, StageFields


def test_stage_fields_and_stage_detail_declare_the_same_fields() -> None:
    """They agree when both name the same fields and each ``StageDetail`` field is the ``StageFields``
    type plus None, defaulting to None: None there means "no stage has set it yet". ``StageFields``
    leaves None out where a stage always knows the value it shows (``tasks=None`` would be a bug mypy
    catches at the ``show`` call) and keeps it where a stage may show "no value" (a reward not measured)."""
    keywords = get_type_hints(StageFields)
    fields = StageDetail.model_fields
    assert set(fields) == set(keywords)
    assert {name: field.annotation for name, field in fields.items()} == {
        name: hint | None for name, hint in keywords.items()
    }
    assert {name: field.default for name, field in fields.items()} == dict.fromkeys(keywords)
    assert StageFields.__required_keys__ == frozenset()
