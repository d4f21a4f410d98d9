"""Issue 20: one Azure OpenAI account shared by many lineages. Deployment writes take turns at the
account's gate (a Durable entity) with the emulator refusing concurrent writes as Azure does; 409s from
a writer outside the app are waited out; fine-tuned deployment slots are shared, waited for in turn,
and given back as soon as nothing needs them (docs/accounts.md)."""

from __future__ import annotations

import re
import threading
import time
from typing import Any

import azure.durable_functions as df
import pytest

from emulator.launch import EmulatorHandle
from shared.domain.account import AccountUse
from shared.domain.report import RunReport
from tests.app.test_loop import BASE_DEPLOYMENTS
from tests.driver import Custom, Runs
from tests.emulator.support import arm_call, arm_deployment, deploy, fine_tuned_models

QUICK = {
    # The emulator runs at a hundredth of real time: a poll of half a second finds most things done.
    # Every validation task (one sample each in tests): with 4, a champion that solved one of them leaves
    # no candidate a chance, and the run stops NothingToImprove before it deploys anything.
    "data_filter_ratio": 1.0,
    "deployment_poll_seconds": 0.5,
    "file_poll_seconds": 0.5,
    "job_poll_initial_seconds": 0.5,
    "job_poll_max_seconds": 2,
}
# Training hard on the rewarded examples makes candidates that beat the base model (tests/app/
# test_lineages.py), so lineages end with fine-tuned champions that keep their slots.
WINNING = {"n_epochs": 3, "learning_rate_multiplier": 2.0, "seed": 7}
QUOTA = 10
APP_REFUSED = re.compile(r"409 RequestConflict: (PUT|DELETE|PATCH) acct-")
"""An emulator log line of a write of the app (its deployments are acct-N_vNN) refused with 409."""


class PortalUser(threading.Thread):
    """Someone writing to the account by hand while the lineages run: creates a base-model deployment,
    waits until ARM has done it, deletes it, waits again, pauses, again. ARM refuses the app's writes
    that come meanwhile (409 RequestConflict), and this writer's when the app's are in progress."""

    NAME = "portal-user"

    def __init__(self, emulator: EmulatorHandle) -> None:
        super().__init__(daemon=True)
        self.emulator = emulator
        self.done = threading.Event()
        self.writes = 0

    def write(self, method: str, body: Any = None) -> None:
        while not self.done.is_set():
            if arm_call(self.emulator, method, f"deployments/{self.NAME}", body).status_code != 409:
                self.writes += 1
                return
            time.sleep(0.05)

    def settled(self) -> bool:
        answer = arm_call(self.emulator, "GET", f"deployments/{self.NAME}")
        state = answer.json()["properties"]["provisioningState"] if answer.status_code == 200 else None
        return state in {None, "Succeeded", "Failed"}

    def run(self) -> None:
        # A current model: gpt-4.1-mini's base deployments are refused (400) since its 2026-10-14
        # retirement, and a refused PUT starts no write that could hold the app's up.
        body = arm_deployment("gpt-5.1", capacity=1, version="2025-11-13")
        while not self.done.is_set():
            for method in ("PUT", "DELETE"):
                self.write(method, body if method == "PUT" else None)
                while not (self.settled() or self.done.is_set()):
                    time.sleep(0.02)
            self.done.wait(0.25)


def all_succeeded(report: RunReport) -> AccountUse:
    """Checks the run succeeded in every iteration and left nothing behind; returns its account use."""
    assert report.status == "succeeded", [(i.status, i.error) for i in report.iterations]
    assert [item.status for item in report.iterations] == ["succeeded"] * len(report.iterations)
    assert report.leaked == [], report.leaked
    assert report.account is not None
    return report.account


@pytest.mark.timeout(600)
def test_ten_lineages_share_one_account(runs: Runs, emulator_reset: EmulatorHandle) -> None:
    """Five lineages at once, each with pruning and clean-up, then five more one after another, on one
    emulated account that takes one deployment write at a time, while someone writes to it by hand:
    every run succeeds with no failed or skipped stage, never more than 10 fine-tuned deployments are
    alive, the 409s the app met are the ones the emulator logged, and each report says how long its
    writes waited for their turn."""
    assert emulator_reset.account_rules()["serialize_deployment_writes"], "Azure's rule, on by default"
    # Creates take 0.4 s instead of 0.08 s, the portal user's and the app's alike: ARM is busy with the
    # portal user most of the time, so the app's 20-odd writes meet it even when a loaded machine bunches
    # them up (at 0.08 s, one CI run in many met none and this test failed).
    emulator_reset.set_faults(provisioning_slowdown=5)
    emulator_reset.restart_peaks()
    portal = PortalUser(emulator_reset)
    portal.start()
    try:
        together = [f"acct-{n}" for n in range(1, 6)]
        for run_id in together:
            runs.start(run_id, deployment_prefix=run_id, iterations=2, **QUICK, **WINNING)
        reports = [runs.finish(run_id) for run_id in together]
        for run_id in [f"acct-{n}" for n in range(6, 11)]:
            runs.start(run_id, deployment_prefix=run_id, iterations=1, **QUICK, **WINNING)
            reports.append(runs.finish(run_id))
    finally:
        portal.done.set()
        portal.join(timeout=10)
        emulator_reset.clear_faults()
    uses = [all_succeeded(report) for report in reports]

    assert emulator_reset.peaks()["fine_tuned_deployments"] <= QUOTA
    assert all(use.writes >= len(report.iterations) for use, report in zip(uses, reports, strict=True))
    assert all(use.waiting_for_slot is None for use in uses)
    # What the app met from the portal user is what the emulator refused it, one log line each.
    waited_out = sum(use.conflicts for use in uses)
    assert portal.writes > 10, "the portal user kept writing throughout"
    assert waited_out >= 1, "the app met the portal user's writes and waited them out"
    ours = [line for line in emulator_reset.log_lines() if APP_REFUSED.search(line)]
    assert len(ours) == waited_out, ours
    waits = [use.write_wait_seconds for use in uses[:5]]
    queued = sum(use.queued for use in uses[:5])
    print(
        f"\nwrites {sum(use.writes for use in uses)}; in the five at once {queued} waited for another, "
        f"{sum(waits):.1f} s in all (per run {', '.join(f'{w:.1f}' for w in waits)}; longest write "
        f"{max(use.longest_write_wait_seconds for use in uses):.1f} s), 409s waited out {waited_out} "
        f"({sum(use.conflict_wait_seconds for use in uses):.1f} s), slot waits "
        f"{sum(use.slot_waits for use in uses)} ({sum(use.slot_wait_seconds for use in uses):.1f} s); "
        f"peak {emulator_reset.peaks()['fine_tuned_deployments']} fine-tuned deployments"
    )
    assert queued >= 1, "five lineages at once: some writes waited for another's"
    # Between runs a lineage keeps only its champion's deployment.
    alive = {d["name"] for d in emulator_reset.state()["deployments"] if d["state"] is not None}
    champions = {report.champion.deployment for report in reports if report.champion is not None}
    assert all(report.champion is not None for report in reports), "every lineage ends with a champion"
    assert alive - {*BASE_DEPLOYMENTS, PortalUser.NAME} == champions - BASE_DEPLOYMENTS


def slot_wait(custom: Custom) -> Custom:
    """What a run's custom status says it waits for, if that is a fine-tuned deployment slot."""
    awaiting = custom.get("awaiting")
    return awaiting if isinstance(awaiting, dict) and awaiting.get("slots_full") else {}


@pytest.mark.timeout(300)
def test_runs_wait_for_a_free_slot_in_the_order_they_asked(
    patient_runs: Runs, emulator_reset: EmulatorHandle
) -> None:
    """Nine fine-tuned deployments made outside the app and one another lineage holds fill the account.
    Preflight lets runs start (one slot is not held for good); their creates find no slot and wait,
    shown in custom status and report; once the tenth is deleted by hand, the run that asked first gets
    it, and its candidate, which loses, gives it back at once for the next."""
    (model,) = fine_tuned_models(emulator_reset)
    for n in range(QUOTA - 1):
        deploy(emulator_reset, f"other-team-{n}", model)
    tagged = arm_deployment(model, sku="DeveloperTier", capacity=1) | {"tags": {"durable-finetune-run": "x"}}
    assert arm_call(emulator_reset, "PUT", "deployments/another-lineage_v01", tagged).status_code == 201
    # A candidate as good as the base model (it barely learns) against a margin of 0.2: a bound that
    # low a candidate scoring 1 everywhere would clear, so the run trains and deploys, but this one
    # cannot (a margin of 1, which nothing can clear, now stops the run before it trains).
    losing = {**QUICK, "iterations": 1, "learning_rate_multiplier": 0.01, "promotion_margin": 0.2}
    runs = patient_runs
    runs.start("slot-first", deployment_prefix="slot-first", **losing)
    runs.wait_until("slot-first", lambda custom: bool(slot_wait(custom)))
    runs.start("slot-second", deployment_prefix="slot-second", **losing)
    runs.wait_until("slot-second", lambda custom: bool(slot_wait(custom)))
    first = slot_wait(runs.custom("slot-first"))
    assert first["account"] == "create slot-first_v01"
    assert slot_wait(runs.custom("slot-second"))["since"] > first["since"]
    waiting = runs.status("slot-first")
    assert waiting is not None
    assert waiting.runtime_status == df.OrchestrationRuntimeStatus.Running

    while arm_call(emulator_reset, "DELETE", "deployments/another-lineage_v01").status_code == 409:
        time.sleep(0.05)
    # The slot goes to the run that asked first; the second creates its deployment only after.
    created: list[str] = []
    deadline = time.monotonic() + 120
    while len(created) < 2 and time.monotonic() < deadline:
        created += [
            run_id
            for run_id in ("slot-first", "slot-second")
            if run_id not in created and runs.custom(run_id).get("deployment")
        ]
        time.sleep(0.02)
    assert created == ["slot-first", "slot-second"]
    for report in [runs.finish("slot-first"), runs.finish("slot-second")]:
        use = all_succeeded(report)
        assert use.slot_waits == 1
        assert use.slot_wait_seconds > 0
        assert report.iterations[0].promotion == "not_better"
        assert report.iterations[0].deployment in report.deployments_deleted, "gave it back"
    assert emulator_reset.peaks()["fine_tuned_deployments"] <= QUOTA
