"""The account gate's rules (shared/domain/account.py), the state machine the account's Durable entity
runs: one write at a time in the order the writes first asked, grants that expire, waiters that stop
asking dropped, slot writes passed over while the account's slots are full, and what a terminated run
held given up."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

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

T0 = datetime(2026, 12, 6, tzinfo=UTC)
LEASE, POLL = 600.0, 5.0


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def ask(
    gate: AccountGate, ticket: str, now: float, *, since: float | None = None, slot: bool = False
) -> tuple[AccountGate, Turn]:
    request = WriteRequest(
        ticket=ticket,
        owner=f"run-{ticket}",
        purpose=f"write {ticket}",
        since=at(now if since is None else since),
        now=at(now),
        needs_slot=slot,
        lease_seconds=LEASE,
        poll_seconds=POLL,
    )
    return acquire(gate, request)


def done(
    gate: AccountGate, ticket: str, now: float, *, freed: bool = False, no_slot: bool = False
) -> AccountGate:
    request = ReleaseRequest(ticket=ticket, now=at(now), freed=freed, no_slot=no_slot, recheck_seconds=50)
    return release(gate, request)


def test_one_write_at_a_time_and_the_next_in_line_after_it() -> None:
    gate, first = ask(AccountGate(), "a", 0)
    gate, second = ask(gate, "b", 1)
    assert first == Turn(granted=True)
    assert second == Turn(granted=False, position=2, holder="write a")
    gate, again = ask(gate, "b", 6)
    assert not again.granted, "the account is still held"
    gate = done(gate, "a", 7)
    gate, turn = ask(gate, "b", 11)
    assert turn.granted
    assert gate.holder is not None and gate.holder.ticket == "b"
    assert gate.grants == 2


def test_writes_are_granted_in_the_order_they_first_asked_whoever_asks_first_afterwards() -> None:
    gate, _ = ask(AccountGate(), "holder", 0)
    for ticket, since in (("c", 3), ("a", 1), ("b", 2)):
        gate, turn = ask(gate, ticket, since)
        assert not turn.granted
    assert [waiter.ticket for waiter in gate.queue] == ["a", "b", "c"]
    gate = done(gate, "holder", 4)
    order = []
    for now in (5, 6, 7):
        for ticket in ("c", "b", "a"):  # the latest asks first each time
            if ticket in order:
                continue
            gate, turn = ask(gate, ticket, now, since={"a": 1, "b": 2, "c": 3}[ticket])
            if turn.granted:
                order.append(ticket)
                gate = done(gate, ticket, now)
    assert order == ["a", "b", "c"]


def test_a_grant_whose_holder_never_releases_it_expires() -> None:
    gate, _ = ask(AccountGate(), "terminated", 0)
    gate, turn = ask(gate, "b", 1)
    for now in range(6, int(LEASE), 5):
        gate, turn = ask(gate, "b", now, since=1)
        assert not turn.granted, now
    gate, turn = ask(gate, "b", LEASE, since=1)
    assert turn.granted
    assert gate.expired == 1


def test_the_holder_renews_its_grant_by_asking_again() -> None:
    gate, _ = ask(AccountGate(), "a", 0)
    gate, renewed = ask(gate, "a", LEASE - 1)
    assert renewed.granted
    gate, turn = ask(gate, "b", LEASE + 1)
    assert not turn.granted, "the renewed grant lasts a lease from its renewal"
    assert gate.holder is not None and gate.holder.expires_at == at(2 * LEASE - 1)


def test_a_waiter_that_stops_asking_loses_its_place() -> None:
    gate, _ = ask(AccountGate(), "holder", 0)
    gate, _ = ask(gate, "gone", 1)
    gate, turn = ask(gate, "b", 2)
    assert turn.position == 3
    gate = done(gate, "holder", 3)
    gate, turn = ask(gate, "b", 3 + 3 * POLL, since=2)
    assert not turn.granted, "three polls and ten seconds have not passed since 'gone' last asked"
    gate, turn = ask(gate, "b", 1 + 3 * POLL + 10, since=2)
    assert turn.granted
    assert gate.dropped == 1


def test_writes_that_need_a_slot_wait_while_the_account_is_full_and_deletions_go_on() -> None:
    gate, turn = ask(AccountGate(), "create-a", 0, slot=True)
    assert turn.granted
    gate = done(gate, "create-a", 1, no_slot=True)  # ARM counted every slot taken
    gate, turn = ask(gate, "create-a", 2, since=0, slot=True)
    assert turn == Turn(granted=False, position=1, full=True)
    gate, later = ask(gate, "create-b", 3, slot=True)
    assert not later.granted and later.full
    gate, delete = ask(gate, "delete-x", 4)
    assert delete.granted, "a deletion (which frees a slot) is not held up by the slot writes"
    gate = done(gate, "delete-x", 5, freed=True)
    gate, turn = ask(gate, "create-b", 6, since=3, slot=True)
    assert not turn.granted, "the slot freed goes to the write that asked first"
    gate, turn = ask(gate, "create-a", 6, since=0, slot=True)
    assert turn.granted


def test_a_full_account_is_looked_at_again_after_a_while() -> None:
    """Azure removes deployments by itself too (a DeveloperTier one after 24 h): without a deletion
    by the app, the first slot write is let through to count again after ``recheck_seconds``."""
    gate, _ = ask(AccountGate(), "create", 0, slot=True)
    gate = done(gate, "create", 1, no_slot=True)
    gate, turn = ask(gate, "create", 50, since=0, slot=True)
    assert not turn.granted
    gate, turn = ask(gate, "create", 51, since=0, slot=True)
    assert turn.granted


def test_abandon_gives_up_what_a_terminated_run_held_and_waited_for() -> None:
    gate, _ = ask(AccountGate(), "a", 0)
    gate, _ = ask(gate, "b", 1)
    gate, _ = ask(gate, "c", 2)
    gate = abandon(gate, AbandonRequest(owner="run-a", now=at(3)))
    gate = abandon(gate, AbandonRequest(owner="run-b", now=at(3)))
    assert gate.holder is None
    assert [waiter.ticket for waiter in gate.queue] == ["c"]
    gate, turn = ask(gate, "c", 4, since=2)
    assert turn.granted


def test_time_never_goes_back_and_a_stray_release_changes_nothing() -> None:
    gate, _ = ask(AccountGate(), "a", 100)
    gate, turn = ask(gate, "b", 50)  # a caller whose clock is behind
    assert gate.clock == at(100)
    assert not turn.granted
    assert done(gate, "nobody", 101).holder == gate.holder
    gate = done(gate, "b", 102)
    assert gate.queue == [], "a waiter that gives up leaves the line"
