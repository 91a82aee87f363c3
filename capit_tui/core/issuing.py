"""Issuing one key safely, the pieces every flow that creates a key shares (install, rotate, a key shown
once): the create as a task of its own, so an interruption does not cut it off mid-request; the answer of
a create already sent, waited for a bounded time; and `issue_shown`, a key handed over on screen under the
lock and the journal, revoked when nobody saw it.
"""

from __future__ import annotations

import asyncio
from datetime import datetime
from decimal import Decimal
from typing import Any, Callable

from capit_tui.core import lock
from capit_tui.core.journal import Journal, KeyNote, iso
from capit_tui.core.keys import Configured
from capit_tui.core.model import IssuedKey
from capit_tui.core.recovery import Report, Undone, is_interruption, revoke_keys, unsure_words
from capit_tui.core.redact import mask


async def issue_shown(c: Configured, name: str, limit: Decimal | None, reset: str | None,
                      show: Callable[[IssuedKey], None], *, report: Report | None = None,
                      expires_at: datetime | None = None, **open_kwargs: Any) -> IssuedKey:
    """Issue a key that is handed over on screen (no agent): under the lock, journaled from before its
    create until `show` has returned. If the create fails or `show` does not return (an interruption,
    a closed stdout), the key is revoked, so no key is left that nobody saw. `report.said` words that."""
    from capit_tui.platforms.base import CreateUncertain, PlatformError

    journal = Journal()
    async with lock.held_async(f"issuing the key {name} on {c.name}"):
        entry = journal.new("issue", c.name, keys=[KeyNote(name, None, iso())])
        note = entry.keys[0]
        p = c.open(**open_kwargs)
        creating = None
        try:
            journal.save(entry)
            creating = shielded(create(p, name, limit, reset, expires_at))
            issued = await asyncio.shield(creating)
            note.id, note.masked = issued.key.id, mask(issued.secret)
            journal.save(entry)
            show(issued)
        except BaseException as exc:
            if isinstance(exc, PlatformError) and not isinstance(exc, CreateUncertain) and note.id is None:
                journal.finish(entry)  # refused: no key was made
                await p.aclose()
                raise
            if note.id is None and creating is not None and is_interruption(exc):
                late = await answer_of(creating)
                if late is not None:
                    note.id, note.masked = late.key.id, mask(late.secret)
            out = Undone()
            await revoke_keys(p, [note], set(), out)
            await p.aclose()
            if out.complete:
                journal.finish(entry)
            if report is not None and is_interruption(exc):
                report.said = (f"the key {name} was revoked; no usable key was left behind." if out.revoked else
                               f"{unsure_words([name], c.name)}." if out.unsure else
                               f"the key {name} could not be revoked yet ({out.why}); capit-tui will revoke it "
                               "at its next start." if out.failed else "no key was made.")
            reraise_interruption(exc)
            raise
        await p.aclose()
        entry.shown = True
        journal.finish(entry)
        if report is not None:
            report.completed = True
    return issued


def create(p: Any, name: str, limit: Decimal | None, reset: str | None, expires_at: datetime | None) -> Any:
    """The platform's create, with an expiry only when there is one."""
    if expires_at is None:
        return p.create_key(name, limit, reset)
    return p.create_key(name, limit, reset, expires_at=expires_at)


CREATE_GRACE = 10.0  # seconds an interrupted run waits for the answer to a create already sent


def shielded(create: Any) -> asyncio.Future[IssuedKey]:
    """A create as a task of its own: an interruption of the caller does not cut it off mid-request."""
    task = asyncio.ensure_future(create)
    task.add_done_callback(lambda t: t.cancelled() or t.exception())  # never "exception never retrieved"
    return task


async def answer_of(creating: asyncio.Future[IssuedKey]) -> IssuedKey | None:
    """The key a create in flight made, if its answer comes within CREATE_GRACE (None otherwise)."""
    from capit_tui.platforms.base import PlatformError, request_deadline

    try:
        return await asyncio.wait_for(asyncio.shield(creating), min(CREATE_GRACE, request_deadline()))
    except (TimeoutError, PlatformError):
        return None


def reraise_interruption(exc: BaseException) -> None:
    """An interruption that reached us wrapped in a task group's exception group (a Ctrl-C while httpx
    was connecting) leaves as a plain cancellation: it only happens while asyncio.run() is already
    cancelling its tasks on the way out, and a group would be logged there as an unhandled error."""
    if isinstance(exc, BaseExceptionGroup) and is_interruption(exc):
        raise asyncio.CancelledError from None
