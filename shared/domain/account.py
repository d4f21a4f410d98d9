"""One Azure OpenAI account, shared by every run and lineage: its deployment writes one at a time, in the
order they asked, and its fine-tuned deployment slots handed out in the same order.

Azure's resource provider takes one deployment write (create, update, delete) at a time per account; a
second one meanwhile answers 409 ``RequestConflict`` (../shared/docs/azure-facts.md). An account also
holds at most ``MAX_FINE_TUNED_DEPLOYMENTS`` fine-tuned deployments, whichever lineage made them. So
every deployment write of the app is granted by one Durable entity per account (orchestrators/account.py),
whose rules are these pure functions over its state (docs/accounts.md says why an entity):

- **One holder.** A write asks with a ticket; it is granted when no write holds the account and no
  earlier write (by ``since``, when it first asked) can go first. The holder keeps the account from its
  PUT or DELETE until ARM reports the operation finished, then releases it.
- **Grants expire.** A grant lasts ``lease_seconds`` from when it was granted (the holder renews it
  when it asks again), so an orchestration that was terminated while holding the account blocks it
  for at most that long; ``abandon`` (reconcile_run) frees what a terminated run held at once.
- **Waiters keep their place by asking again** every ``poll_seconds`` (an entity cannot wake an
  orchestration); one not seen for three polls and ten seconds more is dropped from the line.
- **Slots.** A write that needs a fine-tuned deployment slot and finds every slot taken (its holder
  releases with ``no_slot``) makes the account *full*: writes that need a slot are passed over, keeping
  their place, until a deletion frees one (a release with ``freed``) or ``recheck_seconds`` have passed
  (Azure removes deployments by itself too: a DeveloperTier one after 24 h); other writes (deletions,
  which free slots) go on. Then the earliest slot write goes first: slots are handed out in the order
  the writes asked, whichever lineage they come from.

Time is the callers' (their orchestrations' ``current_utc_datetime``), never read here, and only moves
forward. The entity validates a request before it changes anything (an entity operation that raises
keeps the changes made before the raise, devhost/README.md "Entities").
"""

from __future__ import annotations

from datetime import datetime, timedelta

from pydantic import BaseModel, ConfigDict, Field

MAX_LEASE_SECONDS = 31 * 24 * 3600.0
STALE_POLLS = 3
STALE_MARGIN_SECONDS = 10.0


class GateModel(BaseModel):
    model_config = ConfigDict(extra="forbid")


class WriteRequest(GateModel):
    """``acquire``: a write asks for (or, asked again, keeps its place for or renews) the account."""

    ticket: str = Field(min_length=1, max_length=128, description="one write, unique per orchestration")
    owner: str = Field(min_length=1, max_length=256, description="the orchestration's instance id")
    purpose: str = Field(min_length=1, max_length=200, description="what it writes, e.g. 'delete x_v01'")
    since: datetime = Field(description="when this write first asked: its place in line")
    now: datetime
    needs_slot: bool = Field(False, description="creates a fine-tuned deployment: needs a free slot")
    lease_seconds: float = Field(gt=0, le=MAX_LEASE_SECONDS, allow_inf_nan=False)
    poll_seconds: float = Field(gt=0, le=MAX_LEASE_SECONDS, allow_inf_nan=False)


class ReleaseRequest(GateModel):
    """``release``: the holder is done (or a waiter gives up its place)."""

    ticket: str = Field(min_length=1, max_length=128)
    now: datetime
    freed: bool = Field(False, description="a fine-tuned deployment was deleted: a slot may be free")
    no_slot: bool = Field(False, description="the holder found every slot taken: slot writes wait")
    recheck_seconds: float = Field(60.0, gt=0, le=MAX_LEASE_SECONDS, allow_inf_nan=False)


class AbandonRequest(GateModel):
    """``abandon``: an orchestration that ended without releasing (terminated) gives up everything."""

    owner: str = Field(min_length=1, max_length=256)
    now: datetime


class Waiter(GateModel):
    ticket: str
    owner: str
    purpose: str
    since: datetime
    needs_slot: bool
    seen_at: datetime
    poll_seconds: float

    def stale(self, now: datetime) -> bool:
        patience = STALE_POLLS * self.poll_seconds + STALE_MARGIN_SECONDS
        return now >= self.seen_at + timedelta(seconds=patience)


class Holder(GateModel):
    ticket: str
    owner: str
    purpose: str
    since: datetime
    needs_slot: bool
    granted_at: datetime
    expires_at: datetime


class AccountGate(GateModel):
    """The entity's state: who holds the account, who waits (in order), whether slots are full, and
    counters for the curious (``GET`` of the entity)."""

    holder: Holder | None = None
    queue: list[Waiter] = Field(default_factory=list, description="oldest ``since`` first")
    full_until: datetime | None = Field(None, description="slot writes wait until then, or a deletion")
    clock: datetime | None = Field(None, description="the latest time a request brought")
    grants: int = 0
    expired: int = Field(0, description="grants that ran out before their holder released them")
    dropped: int = Field(0, description="waiters that stopped asking, and grants abandoned")


class Turn(GateModel):
    """The answer to ``acquire``: granted, or how many writes are ahead and what holds the account."""

    granted: bool
    position: int = Field(0, description="0 when granted; else the writes ahead of this one, plus one")
    holder: str | None = Field(None, description="what holds the account now")
    full: bool = Field(False, description="writes that need a slot wait for one to be freed")


def _now(gate: AccountGate, now: datetime) -> datetime:
    return now if gate.clock is None or now > gate.clock else gate.clock


def _tidy(gate: AccountGate, now: datetime) -> AccountGate:
    """Ends the grant that ran out, drops waiters that stopped asking and the ``full`` that lapsed."""
    holder, expired = gate.holder, gate.expired
    if holder is not None and now >= holder.expires_at:
        holder, expired = None, expired + 1
    queue = [waiter for waiter in gate.queue if not waiter.stale(now)]
    full_until = gate.full_until if gate.full_until is not None and now < gate.full_until else None
    return gate.model_copy(
        update={
            "holder": holder,
            "expired": expired,
            "queue": queue,
            "dropped": gate.dropped + len(gate.queue) - len(queue),
            "full_until": full_until,
            "clock": now,
        }
    )


def _eligible(gate: AccountGate, waiter: Waiter) -> bool:
    return not (waiter.needs_slot and gate.full_until is not None)


def acquire(gate: AccountGate, request: WriteRequest) -> tuple[AccountGate, Turn]:
    """Grants the account to the write, renews its grant, or keeps its place in line."""
    now = _now(gate, request.now)
    gate = _tidy(gate, now)
    lease = timedelta(seconds=request.lease_seconds)
    holder = gate.holder
    if holder is not None and holder.ticket == request.ticket:
        renewed = holder.model_copy(update={"expires_at": now + lease})
        return gate.model_copy(update={"holder": renewed}), Turn(granted=True)
    waiter = Waiter(
        ticket=request.ticket,
        owner=request.owner,
        purpose=request.purpose,
        since=request.since,
        needs_slot=request.needs_slot,
        seen_at=now,
        poll_seconds=request.poll_seconds,
    )
    queue = sorted(
        [*(item for item in gate.queue if item.ticket != request.ticket), waiter],
        key=lambda item: (item.since, item.ticket),
    )
    gate = gate.model_copy(update={"queue": queue})
    first = next((item for item in queue if _eligible(gate, item)), None)
    if holder is None and first is not None and first.ticket == request.ticket:
        granted = Holder(
            ticket=waiter.ticket,
            owner=waiter.owner,
            purpose=waiter.purpose,
            since=waiter.since,
            needs_slot=waiter.needs_slot,
            granted_at=now,
            expires_at=now + lease,
        )
        rest = [item for item in queue if item.ticket != request.ticket]
        return gate.model_copy(update={"holder": granted, "queue": rest, "grants": gate.grants + 1}), Turn(
            granted=True
        )
    place = (waiter.since, waiter.ticket)
    ahead = [item for item in queue if (item.since, item.ticket) < place]
    return gate, Turn(
        granted=False,
        position=len(ahead) + (1 if holder is not None else 0) + 1,
        holder=holder.purpose if holder is not None else None,
        full=gate.full_until is not None,
    )


def release(gate: AccountGate, request: ReleaseRequest) -> AccountGate:
    """Ends the holder's grant (a deletion may free a slot; a slot write that found none makes the
    account full), or takes a waiter out of the line. A release of what is not held (expired, already
    released, replayed) changes nothing but the line."""
    now = _now(gate, request.now)
    gate = _tidy(gate, now)
    queue = [item for item in gate.queue if item.ticket != request.ticket]
    holder, full_until = gate.holder, gate.full_until
    if holder is not None and holder.ticket == request.ticket:
        holder = None
        if request.freed:
            full_until = None
        if request.no_slot:
            full_until = now + timedelta(seconds=request.recheck_seconds)
    return gate.model_copy(update={"holder": holder, "queue": queue, "full_until": full_until})


def abandon(gate: AccountGate, request: AbandonRequest) -> AccountGate:
    """Drops the grant and the places in line of an orchestration that will never release them."""
    now = _now(gate, request.now)
    gate = _tidy(gate, now)
    holder = gate.holder
    mine = holder is not None and holder.owner == request.owner
    queue = [item for item in gate.queue if item.owner != request.owner]
    dropped = gate.dropped + len(gate.queue) - len(queue) + (1 if mine else 0)
    return gate.model_copy(update={"holder": None if mine else holder, "queue": queue, "dropped": dropped})


class SlotWait(GateModel):
    """A write waiting for a fine-tuned deployment slot, while it waits."""

    deployment: str
    since: datetime
    deadline: datetime


class AccountUse(GateModel):
    """What sharing the account cost a run, in its report: how many deployment writes it made through
    the account's gate, how long they waited for their turn (time the run spent doing nothing else: the
    cost of serializing writes in its wall time), the 409 RequestConflict answers it waited out
    (writers outside the app), and its waits for a fine-tuned deployment slot."""

    writes: int = 0
    queued: int = Field(0, description="writes that had to wait for another write to finish first")
    write_wait_seconds: float = 0.0
    longest_write_wait_seconds: float = 0.0
    conflicts: int = Field(0, description="409 RequestConflict answers waited out")
    conflict_wait_seconds: float = 0.0
    slot_waits: int = Field(0, description="times a write found every fine-tuned deployment slot taken")
    slot_wait_seconds: float = 0.0
    waiting_for_slot: SlotWait | None = Field(None, description="set while a write waits for a slot")

    def waited(self, seconds: float, queued: bool) -> None:
        self.writes += 1
        self.queued += 1 if queued else 0
        self.write_wait_seconds = round(self.write_wait_seconds + seconds, 3)
        self.longest_write_wait_seconds = max(self.longest_write_wait_seconds, round(seconds, 3))
