"""AGENT_MODULES: agents registered by naming their module in an app setting, and every way a module can
be unusable, each reported at start-up with the module's name and the fix."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from shared.agents import AgentModuleError, get_agent, load_agent_modules, registered_agents
from shared.domain.settings import AppSettings, ConfigError, get_settings

REQUIRED = {
    "AZURE_OPENAI_ENDPOINT": "https://example.openai.azure.com",
    "AZURE_SUBSCRIPTION_ID": "sub",
    "AZURE_RESOURCE_GROUP": "rg",
    "AZURE_OPENAI_ACCOUNT": "acct",
    "ARTIFACTS_BLOB_ENDPOINT": "https://example.blob.core.windows.net",
}
SPEC_HEADER = """
from pathlib import Path
from shared.agents import AgentSpec

async def rollout(llm, deployment, task, recorder):
    return 1.0

"""


@pytest.fixture
def modules(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A directory on sys.path where a test writes the agent modules it names."""
    monkeypatch.syspath_prepend(str(tmp_path))
    (tmp_path / "tasks.csv").write_text("prompt,answer\nq1,a1\nq2,a2\nq3,a3\n")
    return tmp_path


def _agent_module(directory: Path, module: str, agent: str, tasks: str = "tasks.csv") -> None:
    datasets = f"{{'main': Path({str(directory / tasks)!r})}}"
    (directory / f"{module}.py").write_text(
        SPEC_HEADER
        + f"AGENTS = [AgentSpec({agent!r}, rollout, datasets={datasets}, default_dataset='main')]\n"
    )


def test_the_example_agent_registers_through_the_setting() -> None:
    assert load_agent_modules(" shared.agents.inventory , ") == ["inventory"]
    assert load_agent_modules("shared.agents.inventory") == ["inventory"], "loading twice is harmless"
    assert {"capital_lookup", "inventory"} <= set(registered_agents())
    assert get_agent("inventory").task(None, "val", 0).answer.isdigit()
    assert load_agent_modules(None) == [] and load_agent_modules("") == []


def test_a_users_module_registers_its_agents(modules: Path) -> None:
    _agent_module(modules, "shop_agents_ok", "shop_ok")
    assert load_agent_modules("shop_agents_ok") == ["shop_ok"]
    assert get_agent("shop_ok").load_splits(None).val[0].answer.startswith("a")


@pytest.mark.parametrize(
    ("source", "message"),
    [
        (None, r"module {module} failed to import: ModuleNotFoundError: No module named '{module}'"),
        (
            "raise RuntimeError('no database')\n",
            r"module {module} failed to import: RuntimeError: no database",
        ),
        ("X = 1\n", r"module {module} registers no agent: define AGENTS = \[AgentSpec\(\.\.\.\)\] in it"),
        ("AGENTS = []\n", r"module {module} registers no agent"),
        ("AGENTS = ['shop']\n", r"module {module}: AGENTS must be a list of AgentSpec"),
    ],
)
def test_unusable_modules_are_named(modules: Path, source: str | None, message: str) -> None:
    module = f"agents_{uuid.uuid4().hex[:12]}"  # a fresh name: Python caches modules it imported
    if source is not None:
        (modules / f"{module}.py").write_text(source)
    with pytest.raises(AgentModuleError, match=message.format(module=module)):
        load_agent_modules(module)


def test_bad_names_clashes_and_task_files_are_named(modules: Path) -> None:
    with pytest.raises(AgentModuleError, match=r"'my-agents' is not a Python module name"):
        load_agent_modules("my-agents")
    _agent_module(modules, "agents_clash", "capital_lookup")
    with pytest.raises(
        AgentModuleError, match=r"module agents_clash: agent name 'capital_lookup' is already taken"
    ):
        load_agent_modules("agents_clash")
    assert get_agent("capital_lookup").default_dataset == "capitals"
    (modules / "broken.csv").write_text("prompt,answer\nq1,a1\nq2,\n")
    _agent_module(modules, "agents_broken_tasks", "broken_tasks", tasks="broken.csv")
    with pytest.raises(AgentModuleError, match=r"module agents_broken_tasks: .*broken.csv:3"):
        load_agent_modules("agents_broken_tasks")
    assert "broken_tasks" not in registered_agents()


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[pytest.MonkeyPatch]:
    for name in list(os.environ):
        if name.upper() in {field.upper() for field in AppSettings.model_fields}:
            monkeypatch.delenv(name)
    for name, value in REQUIRED.items():
        monkeypatch.setenv(name, value)
    get_settings.cache_clear()
    yield monkeypatch
    get_settings.cache_clear()


def test_start_up_fails_naming_the_setting_and_the_module(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("AGENT_MODULES", "shared.agents.inventory,not_an_agent_module")
    with pytest.raises(ConfigError, match=r"AGENT_MODULES: .*module not_an_agent_module failed to import"):
        get_settings()


def test_start_up_registers_the_named_agents(clean_env: pytest.MonkeyPatch, modules: Path) -> None:
    _agent_module(modules, "agents_from_settings", "from_settings")
    clean_env.setenv("AGENT_MODULES", "agents_from_settings")
    assert "from_settings" not in registered_agents()
    assert get_settings().agent_modules == "agents_from_settings"
    assert "from_settings" in registered_agents()
