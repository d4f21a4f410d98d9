"""The command line contract, start-up time, CLI fault flags, and restart with --state-dir."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import openai
import pytest
from azure.mgmt.cognitiveservices.models import Deployment, DeploymentModel, DeploymentProperties, Sku

from emulator.launch import ROOT, EmulatorHandle
from tests.emulator.support import (
    properties,
    start_before_retirements,
    success_file,
    upload,
    wait_job,
    wait_processed,
)

pytestmark = pytest.mark.timeout(60)


@pytest.mark.rule("CL1")
def test_first_lines_name_the_url_and_the_ca(tmp_path: Path) -> None:
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "emulator",
            "--host",
            "127.0.0.1",
            "--port",
            "0",
            "--state-dir",
            str(tmp_path),
        ],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        first, second = process.stdout.readline().rstrip("\n"), process.stdout.readline().rstrip("\n")
    finally:
        process.terminate()
        process.wait(timeout=30)
    assert first.startswith("listening on https://127.0.0.1:") and int(first.rsplit(":", 1)[1]) > 0
    assert second == f"ca: {tmp_path / 'tls' / 'ca.pem'}" and (tmp_path / "tls" / "ca.pem").exists()


def test_custom_deployments_and_fault_flags(emulator_factory: Callable[..., EmulatorHandle]) -> None:
    handle: EmulatorHandle = emulator_factory(
        "--deployment",
        "agent=gpt-4o-mini-2024-07-18",
        "--fault-next",
        "files:503:1",
        "--account",
        "acct-x",
        "--lifecycle",
        "none",  # gpt-4o-mini stopped serving on 2026-10-01; this test is about the flags
    )
    assert handle.account == "acct-x"
    assert [d["name"] for d in handle.state()["deployments"]] == ["agent"]
    client = handle.openai_v1(max_retries=0)
    with pytest.raises(openai.InternalServerError):
        client.files.list()
    assert client.files.list().data == []
    reply = client.chat.completions.create(model="agent", messages=[{"role": "user", "content": "hi"}])
    assert reply.model == "gpt-4o-mini-2024-07-18"


@pytest.mark.rule("LC1")
@pytest.mark.timeout(60)
def test_restart_with_state_dir_keeps_everything(tmp_path: Path) -> None:
    first = start_before_retirements(state_dir=tmp_path)
    try:
        client = first.openai_v1()
        file_id = upload(client, success_file()).id
        wait_processed(client, file_id)
        job = wait_job(
            client,
            client.fine_tuning.jobs.create(
                model="gpt-4.1-mini-2025-04-14",
                training_file=file_id,
                extra_body={"trainingType": "Standard"},
            ).id,
        )
        body = Deployment(
            sku=Sku(name="Standard", capacity=5),
            properties=DeploymentProperties(
                model=DeploymentModel(format="OpenAI", name=job.fine_tuned_model, version="1")
            ),
        )
        first.mgmt().deployments.begin_create_or_update(
            first.resource_group, first.account, "kept", body
        ).result()
        first.set_faults(fail_next_jobs=2)
        ca_before = Path(first.ca_path).read_bytes()
    finally:
        first.stop()

    second = start_before_retirements(state_dir=tmp_path)
    try:
        assert Path(second.ca_path).read_bytes() == ca_before
        client = second.openai_v1()
        assert client.files.retrieve(file_id).status == "processed"
        assert client.files.content(file_id).read() == success_file()
        assert client.fine_tuning.jobs.retrieve(job.id).fine_tuned_model == job.fine_tuned_model
        kept = second.mgmt().deployments.get(second.resource_group, second.account, "kept")
        assert properties(kept).provisioning_state == "Succeeded"
        assert client.chat.completions.create(
            model="kept", messages=[{"role": "user", "content": "hi"}]
        ).choices
        assert second.state()["faults"]["fail_next_jobs"] == 2
    finally:
        second.stop()
