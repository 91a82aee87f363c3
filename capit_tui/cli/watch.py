"""`capit-tui watch`: poll every configured platform, say each event on one line (or one JSON object a
line with --json) and run the user's actions (--exec, --webhook). The rule (events, thresholds, windows,
the state file) is core.watch; this module words the events and carries out the actions. Every poll
also records a spend sample per key in the local history (core.history), as `keys list` does.

With --pool (or settings.toml's [[pool]] tables) each poll also checks the pooled budgets and, with
--enforce, stops and releases their keys (cli/watch_pool.py over core.pool).

Exit status: with --once, 0 when no key (and no pool) is at or past a threshold, 3 when one is, 1 when a
platform could not be listed (and no key it did list is at a threshold); the loop runs until Ctrl-C or SIGTERM
(130). A failing --exec or webhook is reported on stderr and watching goes on.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import subprocess
import sys
from collections.abc import Sequence
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from typing import Any
from urllib.parse import urlsplit

from capit_tui.cli import watch_pool
from capit_tui.cli.common import load_settings, run_async
from capit_tui.cli.output import err, info, interrupted_says
from capit_tui.core import keys as core
from capit_tui.core import pool as core_pool
from capit_tui.core import watch
from capit_tui.core.history import record_quietly
from capit_tui.core.money import format_usd
from capit_tui.core.text import clean_text, display_name, joined, plural, timestamp
from capit_tui.errors import CapitError, UsageError

WEBHOOK_ENV = "CAPIT_WATCH_WEBHOOK"  # the webhook URL without putting it on the command line (ps, unit files)
SHORTEST, LONGEST = 5, 86_400


def cmd_watch(ns: argparse.Namespace) -> int:
    try:
        at = watch.parse_at(ns.at) if ns.at is not None else watch.DEFAULT_AT
        url = ns.webhook if ns.webhook is not None else os.environ.get(WEBHOOK_ENV, "").strip() or None
        webhook = watch.check_webhook(url) if url is not None else None
        if ns.exec is not None:
            watch.exec_argv(ns.exec)
    except ValueError as bad:
        raise UsageError(str(bad).rstrip(".")) from None
    if not SHORTEST <= ns.interval <= LONGEST:
        raise UsageError(f"--interval is in seconds, from {SHORTEST} to {LONGEST}")
    settings = load_settings()
    pools = watch_pool.pools_asked(ns, settings)
    pool_at = at if ns.at is not None else core_pool.DEFAULT_AT
    platforms = core.configured_platforms(settings)
    if not platforms:
        from capit_tui.cli.keys import NO_PLATFORM

        raise CapitError(NO_PLATFORM)
    state = watch.WatchState.load()
    for note in state.notes:
        err(note)
    secrets = [c._key for c in platforms]  # kept out of every --exec environment
    if not ns.once and not ns.json:
        info(f"Watching {plural(len(platforms), 'platform')} ({joined([c.name for c in platforms])}) every "
             f"{ns.interval} s for {joined([f'{t}%' for t in at])} of each cap; Ctrl-C stops.")
    if pools and (not ns.once and not ns.json or any(p.enforce for p in pools)):
        info(watch_pool.start_line(pools, ns.interval, pool_at))
    with interrupted_says(lambda: "Stopped watching; what was said is remembered."):
        return run_async(lambda: _watch(ns, platforms, state, at, webhook, secrets, pools, pool_at))


async def _watch(ns: argparse.Namespace, platforms: list[core.Configured], state: watch.WatchState,
                 at: tuple[Decimal, ...], webhook: str | None, secrets: list[str],
                 pools: Sequence[core_pool.Pool] = (), pool_at: tuple[Decimal, ...] = core_pool.DEFAULT_AT) -> int:
    from capit_tui.platforms.transport import HttpTransport

    client = HttpTransport() if webhook else None
    said_unrecorded: str | None = None
    said_empty: set[str] = set()  # the pools said to pool no key (said once, again after they pooled some)
    try:
        while True:
            listing = await core.list_all_keys(platforms)
            now = datetime.now(timezone.utc)
            unrecorded = await asyncio.to_thread(record_quietly, listing.keys, now)  # the spend history
            if unrecorded is not None and unrecorded != said_unrecorded:
                err(unrecorded)  # once per cause, not every poll
            said_unrecorded = unrecorded
            poll = state.poll(listing.keys, listing.reasons(), listing.asked, now, at)
            checks: list[core_pool.PoolCheck] = []
            if pools and not poll.failed:  # a platform that did not answer leaves every pool's sum unknown
                checks = await watch_pool.pool_round(pools, platforms, state, listing.keys, now, pool_at)
                watch_pool.say_empty(checks, said_empty)
            _save(state)
            for event in [*poll.events, *(e for c in checks for e in c.events)]:
                await _say(ns, event, client, webhook, secrets)
            if any(c.enforce or c.release for c in checks):
                for event in await watch_pool.act(checks, platforms, state, now):
                    await _say(ns, event, client, webhook, secrets)
                _save(state)
            if ns.once:
                return _once_status(poll, at, [c for c in checks if c.alerting])
            await asyncio.sleep(ns.interval)
    finally:
        if client is not None:
            client.close()


def _save(state: watch.WatchState) -> None:
    try:
        state.save()
    except (OSError, CapitError) as exc:
        err(f"Could not save what watch has said ({clean_text(exc, 200)}); after a restart an event may "
            "be said again.")


async def _say(ns: argparse.Namespace, event: watch.Event, client: Any, webhook: str | None,
               secrets: list[str]) -> None:
    text = describe(event)
    if ns.json:
        line = json.dumps({**event.to_json(), "message": text})
    else:
        line = f"{event.at:%Y-%m-%dT%H:%M:%SZ}  {event.kind}  {text}"
    print(line, flush=True)
    if ns.exec is not None:
        await run_hook(ns.exec, event, text, secrets)
    if client is not None and webhook is not None:
        await post_webhook(client, webhook, event, text)


def _once_status(poll: watch.Poll, at: tuple[Decimal, ...], pools: Sequence[core_pool.PoolCheck] = ()) -> int:
    if pools:
        shown = [f"{c.spend.pool.period} ({c.spend.percent}% of {format_usd(c.spend.pool.amount)})" for c in pools]
        info(f"{plural(len(pools), 'pooled budget')} at or past a threshold: {joined(shown)}.")
    if poll.alerting:
        shown = [f"'{display_name(k.name, 40)}' on {k.platform} ({k.percent}%)" for k in poll.alerting[:10]]
        more = f" and {len(poll.alerting) - 10} more" if len(poll.alerting) > 10 else ""
        info(f"{plural(len(poll.alerting), 'key')} at or past {min(at)}% of the cap: {joined(shown)}{more}.")
    if poll.alerting or pools:
        return 3
    if poll.failed:
        err(f"Could not check {joined(poll.failed)}, so it is not known whether a key there is at a threshold.")
        return 1
    return 0


# ---------------------------------------------------------------- wording


def describe(event: watch.Event) -> str:
    """One sentence for an event, the same on the terminal, in CAPIT_MESSAGE and in the webhook's text."""
    k = event.key
    if event.pool is not None:
        return watch_pool.describe(event)
    if k is None:
        if event.kind == "platform-failed":
            return f"Could not check {event.platform}: {event.reason}"
        return f"{event.platform} answers again."
    name = f"'{display_name(k.name, 60)}' on {k.platform}"
    budget = k.budget.describe()
    if event.kind == "threshold":
        return f"{name} passed {event.threshold}% of its {budget}: {format_usd(k.spent)} spent ({k.percent}%)."
    if event.kind == "capped":
        until = "its window resets" if k.limit_reset else "its cap is raised"
        return f"{name} reached its {budget} ({format_usd(k.spent)} spent); the platform refuses it until {until}."
    if event.kind == "reset":
        return f"{name} started a new {k.limit_reset or 'spending'} window: {format_usd(k.spent)} of " \
               f"{format_usd(k.limit)} spent."
    left = (k.expires_at - event.at) if k.expires_at else timedelta(0)
    return f"{name} expires {timestamp(k.expires_at or event.at)} UTC, in {_span(left)}; rotate or reissue it."


def _span(d: timedelta) -> str:
    hours = int(d.total_seconds() // 3600)
    return plural(hours // 24, "day") if hours >= 48 else plural(max(hours, 0), "hour") if hours >= 1 else \
        "less than an hour"


# ---------------------------------------------------------------- actions


async def run_hook(command: str, event: watch.Event, text: str, secrets: list[str],
                   timeout: float = watch.EXEC_TIMEOUT) -> int | None:
    """Run --exec for one event (see core.watch.exec_argv for the shell question), its output on our stderr
    so stdout stays events, killed with its process group after `timeout` s. Returns its exit status, or
    None when it could not start or was killed; a failure is said on stderr, never raised."""
    argv = watch.exec_argv(command)
    env = watch.hook_environment(os.environ, event, secrets)
    env["CAPIT_MESSAGE"] = text
    try:
        out: Any = sys.stderr.fileno()
    except (OSError, ValueError, AttributeError):
        out = subprocess.DEVNULL
    try:
        proc = await asyncio.create_subprocess_exec(*argv, env=env, stdin=subprocess.DEVNULL, stdout=out,
                                                    start_new_session=True)
    except OSError as exc:
        err(f"--exec could not run {clean_text(argv[0], 80)} for the {event.kind} event: "
            f"{clean_text(exc.strerror or exc, 200)}.")
        return None
    try:
        async with asyncio.timeout(timeout):
            code = await proc.wait()
    except TimeoutError:
        _kill(proc.pid)
        await proc.wait()
        err(f"--exec took longer than {timeout:g} s for the {event.kind} event and was stopped.")
        return None
    except asyncio.CancelledError:  # Ctrl-C: the hook is in its own session, so stop it ourselves
        _kill(proc.pid)
        raise
    if code != 0:
        err(f"--exec exited with status {code} for the {event.kind} event; watching goes on.")
    return code


def _kill(pid: int) -> None:
    try:
        os.killpg(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


async def post_webhook(client: Any, url: str, event: watch.Event, text: str) -> bool:
    """POST the event (a Slack-compatible `text` and the event as JSON) within WEBHOOK_TIMEOUT s, through the
    program's one transport (no redirects followed; the reply's body is not read). A failure is said on stderr
    naming the host only: the rest of a webhook URL is often its secret."""
    import time

    from capit_tui.platforms.transport import Request, TimedOut, Timeout, TransportError
    from capit_tui.platforms.workers import fetch

    host = urlsplit(url).hostname or "the webhook"
    seconds = watch.WEBHOOK_TIMEOUT
    request = Request.build("POST", url, "", json=watch.webhook_body(event, f"capit-tui: {text}"),
                            headers={"User-Agent": "capit-tui"}, timeout=Timeout(connect=seconds, read=seconds),
                            deadline=time.monotonic() + seconds, limit=0)
    try:
        status = (await fetch(client, request)).status_code
    except TimedOut:
        err(f"The webhook at {host} did not answer within {seconds:.0f} s ({event.kind} event).")
        return False
    except TransportError as exc:
        err(f"The webhook at {host} could not be reached ({exc.reason}) for the {event.kind} event.")
        return False
    if not 200 <= status < 300:
        err(f"The webhook at {host} answered {status} to the {event.kind} event.")
        return False
    return True
