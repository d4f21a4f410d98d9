"""The account gate: one Durable entity per Azure OpenAI account that grants its deployment writes one at
a time, in the order they asked, to every run, upkeep and reconciliation of every lineage; and how an
orchestration waits for its turn.

Azure answers a second concurrent deployment write on an account with 409 ``RequestConflict``; the app's
writes take turns here instead, each held from its PUT or DELETE until ARM reports it finished, and a
write that needs a fine-tuned deployment slot waits for one in the same line (the rules:
shared/domain/account.py; why an entity: docs/accounts.md). An entity cannot wake an orchestration, so a
waiting write asks again on a durable timer; its custom status says what it waits for.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import azure.durable_functions as df

from orchestrators.errors import StageFailed
from orchestrators.orchestration import Orchestration, Stage, Step
from shared.contracts.progress import AwaitingAccount
from shared.domain.account import (
    AbandonRequest,
    AccountGate,
    ReleaseRequest,
    Turn,
    WriteRequest,
    abandon,
    acquire,
    release,
)
from shared.domain.errors import ErrorInfo
from shared.domain.settings import RunSettings, get_settings

bp = df.Blueprint()

ACCOUNT_ENTITY = "account_gate"
GATE_POLL_MAX_SECONDS = 10.0
"""A waiting write asks again at least this often (its run's ``deployment_poll_seconds`` if shorter):
the account may stand idle that long between one write and the next."""
SLOT_RECHECK_POLLS = 10
"""Without a deletion by the app, writes that need a slot look at ARM again after this many polls:
Azure removes deployments by itself too."""


@bp.entity_trigger(context_name="context", entity_name=ACCOUNT_ENTITY)
def account_gate(context: df.DurableEntityContext) -> None:
    """``acquire`` (answers a ``Turn``), ``release``, ``abandon`` and ``get`` (answers the state); each
    request is validated before the state changes."""
    gate = AccountGate.model_validate(context.get_state(dict))
    operation = context.operation_name
    if operation == "acquire":
        gate, turn = acquire(gate, WriteRequest.model_validate(context.get_input()))
        context.set_result(turn.model_dump(mode="json"))
    elif operation == "release":
        gate = release(gate, ReleaseRequest.model_validate(context.get_input()))
    elif operation == "abandon":
        gate = abandon(gate, AbandonRequest.model_validate(context.get_input()))
    elif operation == "get":
        context.set_result(gate.model_dump(mode="json"))
        return
    else:
        raise ValueError(f"the account gate has no operation {operation!r}")
    context.set_state(gate.model_dump(mode="json"))


def gate_id() -> df.EntityId:
    """The gate of the account the app's settings name (ARM names are case-insensitive)."""
    return df.EntityId(ACCOUNT_ENTITY, get_settings().account_key)


@dataclass(frozen=True)
class Grant:
    """A write's ticket and when it first asked; ``waited``: seconds until it was granted, and whether
    it had to wait for another write (``queued``)."""

    ticket: str
    since: datetime
    waited: float
    queued: bool


def poll_seconds(settings: RunSettings) -> float:
    return min(settings.deployment_poll_seconds, GATE_POLL_MAX_SECONDS)


def lease_seconds(settings: RunSettings) -> float:
    """How long a grant lasts unless renewed: the write's own wait for ARM (its deadline) and a few
    polls; a terminated holder blocks the account no longer than that (or until reconciled)."""
    return settings.deployment_deadline_seconds + 3 * settings.deployment_poll_seconds


def hold(
    orch: Orchestration,
    purpose: str,
    *,
    needs_slot: bool = False,
    ticket: str | None = None,
    since: datetime | None = None,
) -> Step[Grant]:
    """Waits until the account's gate grants this write (asked again with the same ``ticket`` and
    ``since``: keeps its place, or renews a grant it holds); raises StageFailed (AccountBusy, or
    NoDeploymentSlot while the account's slots are full) once the write has waited
    ``account_wait_seconds`` since it first asked, RunCancelled when the run is cancelled meanwhile
    (its place given up); shows the wait in custom status."""
    context, settings = orch.context, orch.state.settings
    ticket = ticket or context.new_uuid()
    since = since or context.current_utc_datetime
    deadline = since + timedelta(seconds=settings.account_wait_seconds)
    poll = poll_seconds(settings)
    waited = False
    while True:
        request = WriteRequest(
            ticket=ticket,
            owner=context.instance_id,
            purpose=purpose,
            since=since,
            now=context.current_utc_datetime,
            needs_slot=needs_slot,
            lease_seconds=lease_seconds(settings),
            poll_seconds=poll,
        )
        try:
            turn = yield from ask(orch, request)
            if turn.granted:
                break
            now = context.current_utc_datetime
            if now >= deadline:
                raise StageFailed("failed", unavailable(purpose, turn, settings))
            waited = True
            show_wait(orch, purpose, turn, since, deadline)
            yield from orch.wait(context.create_timer(min(now + timedelta(seconds=poll), deadline)))
        except Exception:
            let_go(orch, ticket)
            raise
    if waited:
        orch.stop_awaiting()
    return Grant(ticket, since, (context.current_utc_datetime - since).total_seconds(), waited)


def ask(orch: Orchestration, request: WriteRequest) -> Step[Turn]:
    """One ``acquire`` of the gate, racing the run's cancellation like every wait of a run."""
    call = orch.context.call_entity(gate_id(), "acquire", request.model_dump(mode="json"))
    answer = yield from orch.wait(call)
    return Turn.model_validate(answer)


def unavailable(purpose: str, turn: Turn, settings: RunSettings) -> ErrorInfo:
    waited = f"{settings.account_wait_seconds:.0f} s (account_wait_seconds)"
    if turn.full:
        message = (
            f"{purpose}: no fine-tuned deployment slot of the account was freed in {waited}; delete "
            "deployments no lineage needs, or raise MAX_FINE_TUNED_DEPLOYMENTS if your quota is higher"
        )
        return ErrorInfo(code="NoDeploymentSlot", message=message)
    message = f"{purpose}: the account was busy with other deployment writes ({turn.holder}) for {waited}"
    return ErrorInfo(code="AccountBusy", message=message)


def show_wait(orch: Orchestration, purpose: str, turn: Turn, since: datetime, deadline: datetime) -> None:
    stage = orch.stage or Stage.DEPLOY
    what = "a fine-tuned deployment slot" if turn.full else f"its turn ({turn.position - 1} writes ahead)"
    orch.show(
        stage,
        f"{purpose}: waiting for {what} on the account",
        awaiting=AwaitingAccount(
            account=purpose,
            position=turn.position,
            holder=turn.holder,
            slots_full=turn.full,
            since=since.isoformat(),
            deadline=deadline.isoformat(),
        ),
    )


def let_go(orch: Orchestration, ticket: str, *, freed: bool = False, no_slot: bool = False) -> None:
    """Releases the grant (or the place in line) of ``ticket``: a signal, so it never waits and can be
    sent on the way out of a failure or a cancellation."""
    request = ReleaseRequest(
        ticket=ticket,
        now=orch.context.current_utc_datetime,
        freed=freed,
        no_slot=no_slot,
        recheck_seconds=SLOT_RECHECK_POLLS * poll_seconds(orch.state.settings),
    )
    orch.context.signal_entity(gate_id(), "release", request.model_dump(mode="json"))


def give_up(context: df.DurableOrchestrationContext, owner: str) -> None:
    """Drops whatever ``owner`` (a terminated run's instance id) holds or waits for at the gate."""
    request = AbandonRequest(owner=owner, now=context.current_utc_datetime)
    context.signal_entity(gate_id(), "abandon", request.model_dump(mode="json"))
