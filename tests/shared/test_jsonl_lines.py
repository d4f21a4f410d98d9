"""JSONL is split at ``\\n`` only. JSON allows U+0085, U+2028 and U+2029 raw inside strings, and files
the app did not write (a user's dataset, Azure's job events) may hold them: each reader must still see
one line per document, as Azure does, where ``str.splitlines()`` would see two broken ones."""

from __future__ import annotations

import json

import pytest

from api.dashboard.metrics import parse_events
from shared.domain.cost import dataset_tokens
from shared.domain.finetune_format import jsonl_problems
from shared.telemetry.spans import jsonl_line, jsonl_lines

SEPARATORS = ["\x85", "\u2028", "\u2029"]


def _example(separator: str) -> str:
    messages = [
        {"role": "user", "content": f"first{separator}second"},
        {"role": "assistant", "content": "answer"},
    ]
    return json.dumps({"messages": messages}, ensure_ascii=False)


@pytest.mark.parametrize("separator", SEPARATORS, ids=["NEL", "LS", "PS"])
def test_a_raw_separator_inside_a_string_keeps_the_line_whole(separator: str) -> None:
    text = f"{_example(separator)}\n{_example(separator)}\r\n"
    assert separator in text
    assert jsonl_lines(text) == [_example(separator), _example(separator), ""]
    assert jsonl_problems(text * 5) == []
    assert dataset_tokens(text) == 2 * dataset_tokens(jsonl_line(_example(separator)))


@pytest.mark.parametrize("separator", SEPARATORS, ids=["NEL", "LS", "PS"])
def test_azure_events_with_a_raw_separator_are_read(separator: str) -> None:
    event = {"type": "metrics", "message": f"step 1{separator}", "data": {"step": 1, "train_loss": 0.5}}
    metrics = parse_events(json.dumps(event, ensure_ascii=False) + "\n", "events")
    assert metrics.unreadable == 0
    assert metrics.series("train_loss") == [(1, 0.5)]
