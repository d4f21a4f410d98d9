"""Headless Chromium for the dashboard's browser tests and screenshots: Debian's ``chromium`` driven by
Playwright's Python client (``playwright`` from PyPI), never a browser build that Playwright downloads.

``make test`` installs the Debian package when it is missing and it can (root with apt-get; see the
Makefile's ``browser`` target), then starts it once (``python -m scripts.browser``). Where it cannot be
started, ``BrowserUnavailable`` says why, and the browser tests skip with that reason, unless
``BROWSER_REQUIRED=1`` (``.ci/run`` sets it): then the start-up check and the tests fail instead, so CI
is never green with the browser tests skipped.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager

from playwright.sync_api import Browser, sync_playwright
from playwright.sync_api import Error as PlaywrightError

CHROMIUM = os.environ.get("CHROMIUM_BIN", "/usr/bin/chromium")
REQUIRED = "BROWSER_REQUIRED"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def required() -> bool:
    """Whether a browser that cannot start is a failure here (CI) rather than a reason to skip."""
    return os.environ.get(REQUIRED) == "1"


class BrowserUnavailable(RuntimeError):
    """Chromium is not installed here or did not start; the message says which and why."""


def missing() -> str | None:
    """Why the browser cannot be launched here (without trying), or None when it may be."""
    if not os.access(CHROMIUM, os.X_OK):
        return (
            f"{CHROMIUM} is not installed; `make browser` installs Debian's chromium (needs root and "
            "apt-get), or set CHROMIUM_BIN"
        )
    return None


@contextmanager
def chromium() -> Iterator[Browser]:
    """A launched headless Chromium; BrowserUnavailable if it is missing or does not start."""
    reason = missing()
    if reason is not None:
        raise BrowserUnavailable(reason)
    with sync_playwright() as playwright:
        try:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        except PlaywrightError as exc:
            raise BrowserUnavailable(f"{CHROMIUM} did not start: {str(exc).splitlines()[0]}") from exc
        try:
            yield browser
        finally:
            browser.close()


def unavailable() -> str | None:
    """Why Chromium cannot be started and made to render a page here, or None once it has."""
    try:
        with chromium() as browser:
            page = browser.new_page()
            page.set_content("<p id=ok>ok</p>")
            if page.text_content("#ok") != "ok":
                return f"{CHROMIUM} started but did not render a page"
    except BrowserUnavailable as exc:
        return str(exc)
    return None


def main() -> int:
    """``make browser``'s check: starts Chromium once. Exit 1 when it cannot and ``BROWSER_REQUIRED=1``."""
    reason = unavailable()
    if reason is None:
        print(f"chromium: {CHROMIUM} starts headless")
        return 0
    if required():
        print(f"chromium: {reason}; {REQUIRED}=1, so this fails", file=sys.stderr)
        return 1
    print(f"chromium: {reason}; the browser tests will be skipped")
    return 0


if __name__ == "__main__":
    sys.exit(main())
