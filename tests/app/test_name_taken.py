"""A deployment name the lineage reserved can be taken by someone else before the candidate is deployed
(a person in the portal, another tool on the account). The run must not deploy over it, and must not
fail the iteration either: it takes the lineage's next free version and deploys there."""

from __future__ import annotations

from azure.mgmt.cognitiveservices.models import Deployment, DeploymentModel, DeploymentProperties, Sku

from emulator.launch import EmulatorHandle
from shared.domain.lineage import Lineage, ModelVersion, reserve_version
from tests.app.support import lineage
from tests.driver import Runs

PREFIX = "taken-agent"


def _entry(iteration: int) -> ModelVersion:
    return ModelVersion(
        version=0, run_id="run", iteration=iteration, parent_model="base", created_at="2026-12-07T00:00:00Z"
    )


def test_a_version_whose_name_was_taken_moves_to_the_next_free_one() -> None:
    """The second reservation of the same (run, iteration) keeps its version while the name is free, and
    moves when the name is taken; the number it leaves is not handed out again."""
    empty = Lineage(name="l", deployment_prefix=PREFIX, created_at="2026-12-07T00:00:00Z")
    first = reserve_version(empty, _entry(1), taken=set())
    assert [item.version for item in first.versions] == [1]
    assert reserve_version(first, _entry(1), taken=set()) == first

    moved = reserve_version(first, _entry(1), taken={f"{PREFIX}_v01"})
    assert [(item.iteration, item.version) for item in moved.versions] == [(1, 2)]
    assert moved.next_version == 3
    assert reserve_version(moved, _entry(1), taken={f"{PREFIX}_v01"}) == moved

    second = reserve_version(moved, _entry(2), taken={f"{PREFIX}_v01"})
    assert [(item.iteration, item.version) for item in second.versions] == [(1, 2), (2, 3)]


def test_a_name_taken_while_the_model_trains_is_skipped(runs: Runs, emulator_reset: EmulatorHandle) -> None:
    """The run reserves ``_v01`` before training; someone creates ``_v01`` (serving a base model) while
    the job runs; the candidate is deployed as ``_v02``, the iteration succeeds, and the other owner's
    deployment is left as it was."""
    runs.start("taken", iterations=1, deployment_prefix=PREFIX, data_filter_ratio=1.0)
    runs.wait_until("taken", lambda custom: custom.get("stage") == "fine-tune")
    runs.wait_until("taken", lambda _: bool(lineage("taken").versions))
    mgmt = emulator_reset.mgmt()
    body = Deployment(
        sku=Sku(name="GlobalStandard", capacity=10),
        properties=DeploymentProperties(
            model=DeploymentModel(format="OpenAI", name="gpt-5.1", version="2025-11-13")
        ),
    )
    group, account = emulator_reset.resource_group, emulator_reset.account
    mgmt.deployments.begin_create_or_update(group, account, f"{PREFIX}_v01", body).result()

    report = runs.finish("taken")

    assert report.status == "succeeded", report
    (only,) = report.iterations
    assert only.status == "succeeded", only
    assert only.deployment == f"{PREFIX}_v02"
    assert [(item.version, item.deployment) for item in lineage("taken").versions] == [(2, f"{PREFIX}_v02")]
    other = mgmt.deployments.get(group, account, f"{PREFIX}_v01")
    assert other.properties is not None
    assert other.properties.model is not None
    assert other.properties.model.name == "gpt-5.1"
    mgmt.deployments.begin_delete(group, account, f"{PREFIX}_v01").result()
