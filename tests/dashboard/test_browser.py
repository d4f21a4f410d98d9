"""The browser every page test uses: Chromium starts headless and renders what it is given. Alone, this
is also what tests/bench/test_gates.py runs to show that CI fails, and a local run skips, when the
browser cannot start."""

from __future__ import annotations

from tests.dashboard.conftest import Tab


def test_the_browser_starts_and_renders_a_page(tab: Tab) -> None:
    tab.page.set_content("<main><h1 id=title>runs</h1></main>")
    assert tab.page.text_content("#title") == "runs"
