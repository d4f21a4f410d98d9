"""An Azure OpenAI resource (``kind: OpenAI``) cannot fine-tune the open models, which train on Foundry
resources (``kind: AIServices``) only (issue 18; supported-models page, docs/models.md). End to end: the
app, served by devhost as ``make serve`` serves it, against an emulator started with ``--account-kind
OpenAI``. A run of ``{"base_model": "gpt-oss-20b"}`` is refused by its preflight (the ``offer`` check,
which reads ``accounts.get``) before a run id is taken, and so before any rollout, file, job or
deployment, with a message that names the account's kind and the fix; GET /api/preflight says the same.

The app gets its own process because its clients are built once per process from its settings
(shared/azure/clients.py), and the session's app talks to the session's emulator."""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from emulator.launch import EmulatorHandle
from scripts.azurite import REPO_ROOT, Azurite, free_port
from scripts.local_env import app_environment
from tests.devhost.support import serve
from tests.driver import TEST_RUN_DEFAULTS

pytestmark = pytest.mark.timeout(180)
REFUSAL = "gpt-oss-20b is fine-tuned on Foundry resources (kind AIServices) only, not on kind OpenAI"
FIX = (
    "point the app at a Foundry resource (kind AIServices; infra/: openModels), or train a model this "
    "account can fine-tune"
)


@pytest.fixture
def openai_account(emulator_factory: Callable[..., EmulatorHandle]) -> EmulatorHandle:
    """An emulated Azure OpenAI resource, otherwise the launcher's world (the lifecycle table, gpt-5.1
    serving the rollouts)."""
    return emulator_factory("--account-kind", "OpenAI")


@pytest.fixture
def served_app(tmp_path: Path, azurite: Azurite, openai_account: EmulatorHandle) -> Iterator[str]:
    """The Function App served by ``python -m devhost serve`` against ``openai_account``; its base URL."""
    settings = app_environment(azurite, openai_account, TEST_RUN_DEFAULTS)
    environ = {**os.environ, **settings, "PYTHONPATH": str(REPO_ROOT)}
    port = free_port()
    # --settings-file '': the settings above, not a local.settings.json that may lie in the repository.
    server = serve(port, "--settings-file", "", app="function_app:app", env=environ)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.terminate()
        server.wait(30)


def _nothing_spent(emulator: EmulatorHandle) -> None:
    state = emulator.state()
    assert (state["files"], state["deleted_files"], state["jobs"]) == ([], [], [])
    assert {item["name"] for item in state["deployments"]} == {"gpt-5.1", "gpt-4.1-mini"}


@pytest.mark.rule("M19")
def test_an_open_model_run_on_an_azure_openai_account_ends_in_preflight(
    served_app: str, openai_account: EmulatorHandle
) -> None:
    with httpx.Client(base_url=served_app, timeout=60) as app:
        started = app.post("/api/runs", json={"run_id": "oss-on-openai", "base_model": "gpt-oss-20b"})
        assert started.status_code == 400, started.text
        body: dict[str, Any] = started.json()
        assert [check["name"] for check in body["checks"]] == ["offer"]
        (error,) = body["errors"]
        assert error["field"] == "base_model"
        assert error["error"] == (
            f"account {openai_account.account} (OpenAI, northcentralus): {REFUSAL}; fix: {FIX}"
        )
        assert app.get("/api/runs/oss-on-openai").status_code == 404

        preflight = app.get("/api/preflight", params={"base_model": "gpt-oss-20b"})
        assert preflight.status_code == 200, preflight.text
        answer = preflight.json()
        assert answer["ok"] is False
        (offer,) = [check for check in answer["checks"] if check["name"] == "offer"]
        assert (offer["ok"], offer["fix"]) == (False, FIX)
        assert offer["detail"].endswith(REFUSAL)
        failed = [check["name"] for check in answer["checks"] if not check["ok"]]
        assert failed == ["offer"], json.dumps(answer["checks"])
    _nothing_spent(openai_account)
