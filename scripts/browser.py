"""Headless Chromium for the dashboard's browser tests and screenshots: Debian's ``chromium`` driven by
Playwright's Python client (``playwright`` from PyPI), never a browser build that Playwright downloads.

``make test`` installs the Debian package when it is missing and it can (root with apt-get; see the
Makefile's ``browser`` target); where it cannot, ``missing()`` says why and the browser tests skip.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager

from playwright.sync_api import Browser, sync_playwright

CHROMIUM = os.environ.get("CHROMIUM_BIN", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def missing() -> str | None:
    """Why the browser cannot be launched here, or None when it can."""
    if not os.access(CHROMIUM, os.X_OK):
        return (
            f"{CHROMIUM} is not installed; `make browser` installs Debian's chromium (needs root and "
            "apt-get), or set CHROMIUM_BIN"
        )
    return None


@contextmanager
def chromium() -> Iterator[Browser]:
    """A launched headless Chromium."""
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()
