"""Fixtures for the dashboard tests: runs made through devhost + emulator, and a headless browser.

``made_runs`` starts three small runs through ``POST /api/runs`` once for the package (two that
succeed with different settings, one whose fine-tuning job fails) and waits for them; the pages are
then read by Chromium from devhost's real HTTP server, as a person would.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any
from urllib.parse import urlsplit

import pytest
from azure.storage.blob import BlobServiceClient

from devhost import DevHost
from emulator.launch import EmulatorHandle
from scripts import browser as chromium
from scripts.azurite import Azurite
from shared.domain.report import RunReport
from shared.storage.artifacts import ArtifactStore
from tests.driver import Runs


@dataclass
class MadeRuns:
    runs: Runs
    reports: dict[str, RunReport] = field(default_factory=dict)

    @property
    def host(self) -> DevHost:
        return self.runs.host

    def url(self, path: str) -> str:
        return f"{self.host.origin}{path}"


TWO = "dash-two-iterations"
ONE = "dash-one-iteration"
FAILED = "dash-job-fails"


@pytest.fixture(scope="package")
def made_runs(function_app: ModuleType, emulator: EmulatorHandle) -> Iterator[MadeRuns]:
    emulator.reset()
    with DevHost(function_app.app, clock="virtual", max_workers=8) as host:
        runs = Runs(host)
        made = MadeRuns(runs)
        emulator.set_faults(fail_next_jobs=1)
        # Every run trains on nearly every rewarded example, so each iteration has Azure's 10 to train on.
        # Each run's lineage is its deployment prefix's, as when a run names no lineage.
        made.reports[FAILED] = runs.finish(
            runs.start(
                FAILED,
                deployment_prefix="dash-fail",
                lineage="dash-fail",
                iterations=1,
                data_filter_ratio=1.0,
            )
        )
        emulator.clear_faults()
        one = runs.start(
            ONE, deployment_prefix="dash-one", lineage="dash-one", iterations=1, data_filter_ratio=0.9
        )
        two = runs.start(
            TWO, deployment_prefix="dash-two", lineage="dash-two", iterations=2, data_filter_ratio=1.0
        )
        made.reports[ONE], made.reports[TWO] = runs.finish(one), runs.finish(two)
        yield made


@pytest.fixture
def store(azurite: Azurite) -> ArtifactStore:
    """An artefacts store on a container of its own (tests of the index and loaders, without the app)."""
    service = BlobServiceClient.from_connection_string(azurite.connection_string)
    return ArtifactStore(service.get_container_client(f"dashboard-test-{secrets.token_hex(4)}"))


@pytest.fixture(scope="package")
def browser() -> Iterator[Any]:
    """Package-scoped on purpose: Playwright's sync API runs an event loop on the main thread while it
    is open, which would break asyncio.run() in the test packages after this one. A browser that is
    missing or does not start skips the tests with the reason, or fails them under BROWSER_REQUIRED=1
    (CI: .ci/run)."""
    with ExitStack() as stack:
        try:
            launched = stack.enter_context(chromium.chromium())
        except chromium.BrowserUnavailable as exc:
            if chromium.required():
                pytest.fail(f"no headless browser and {chromium.REQUIRED}=1: {exc}", pytrace=False)
            pytest.skip(f"no headless browser: {exc}")
        yield launched


@dataclass
class Tab:
    """A browser page plus every URL it requested, to check that nothing left the app's host."""

    page: Any
    requested: list[str]

    def open(self, url: str) -> Any:
        response = self.page.goto(url)
        assert response is not None
        return response

    def outside_requests(self, origin: str) -> list[str]:
        host = urlsplit(origin).netloc
        return [url for url in self.requested if urlsplit(url).netloc != host and not url.startswith("data:")]


def _tab(browser: Any, width: int, height: int) -> Iterator[Tab]:
    context = browser.new_context(viewport={"width": width, "height": height})
    page = context.new_page()
    requested: list[str] = []
    page.on("request", lambda request: requested.append(request.url))
    try:
        yield Tab(page, requested)
    finally:
        context.close()


@pytest.fixture
def tab(browser: Any) -> Iterator[Tab]:
    yield from _tab(browser, 1280, 900)


@pytest.fixture
def phone(browser: Any) -> Iterator[Tab]:
    yield from _tab(browser, 375, 740)
