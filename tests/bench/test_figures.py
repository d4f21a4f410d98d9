"""The README's benchmark tables are what ``scripts/figures.py`` writes, never hand edits: each marked
block is exactly the one rendered from the results kept in ``bench/figures/`` (not a fresh run: the
numbers are whatever the last ``make figures`` measured), and a rewrite touches only the marked blocks.
"""

from __future__ import annotations

import pytest

from bench.table import collapse_repeats
from scripts.figures import BENCHMARKS, README, Benchmark, block, framed, load_kept, read_blocks, rewrite

NAMES = [benchmark.name for benchmark in BENCHMARKS]


@pytest.mark.parametrize("benchmark", BENCHMARKS, ids=NAMES)
def test_the_readme_block_is_the_one_the_kept_results_render(benchmark: Benchmark) -> None:
    written = read_blocks(README.read_text(), [benchmark.name])[benchmark.name]
    assert written == framed(block(benchmark, load_kept(benchmark.name)))


def test_a_rewrite_changes_only_the_marked_blocks_and_is_stable() -> None:
    text = "\n".join(
        [
            "# Title",
            "<!-- figures:a -->",
            "old a",
            "<!-- /figures:a -->",
            "between",
            "<!-- figures:b -->",
            "<!-- /figures:b -->",
            "end",
            "",
        ]
    )
    once = rewrite(text, {"a": ["| x |", "| --- |", "| 1 |"], "b": ["line"]})
    assert once.split("\n") == [
        "# Title",
        "<!-- figures:a -->",
        "",
        "| x |",
        "| --- |",
        "| 1 |",
        "",
        "<!-- /figures:a -->",
        "between",
        "<!-- figures:b -->",
        "",
        "line",
        "",
        "<!-- /figures:b -->",
        "end",
        "",
    ]
    assert rewrite(once, {"a": ["| x |", "| --- |", "| 1 |"], "b": ["line"]}) == once
    assert rewrite(once, {}) == once


@pytest.mark.parametrize(
    "text",
    [
        "no markers at all",
        "<!-- /figures:a -->\n<!-- figures:a -->",
        "<!-- figures:a -->\n<!-- /figures:a -->\n<!-- figures:a -->\n<!-- /figures:a -->",
    ],
    ids=["missing", "reversed", "twice"],
)
def test_a_block_whose_markers_are_not_one_pair_is_refused(text: str) -> None:
    with pytest.raises(ValueError, match="exactly one <!-- figures:a --> line"):
        rewrite(text, {"a": ["x"]})


def test_rows_alike_but_for_the_first_cell_share_one_row_with_the_range() -> None:
    rows = [["1", "a"], ["2", "b"], ["3", "b"], ["4", "b"], ["5", "a"], ["6", "b"]]
    assert collapse_repeats(rows) == [["1", "a"], ["2-4", "b"], ["5", "a"], ["6", "b"]]
    assert rows[1] == ["2", "b"], "the rows given are not changed"
