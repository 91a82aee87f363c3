"""capit-tui's command line: `main()` parses, dispatches to one module per verb group (issue, keys,
platforms, agents, backups, watch, panic, team) and maps failures to exit statuses. Headless verbs never import Textual.

Exit status: 0 success, 1 a failure the message explains (any CapitError), 2 a usage error
(UsageError), 3 `watch --once` found a key at or past a threshold, 130 interrupted.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING, Any

from capit_tui import __version__
from capit_tui.errors import CapitError, Refused, UsageError

if TYPE_CHECKING:
    import argparse


def run() -> None:
    """The `capit-tui` command (and `python -m capit_tui`): `main()`, then out of the process without
    tearing the interpreter down object by object (~60 ms of a 1 000-key `keys list`, bench/RESULTS.md §0).
    Every file a command writes is closed, synced or committed before `main` returns; stdout and stderr
    are flushed here. While another non-daemon thread still works (a worker of the app finishing a write),
    the usual exit waits for it instead."""
    import threading

    code = main()
    try:
        sys.stdout.flush()
    except (BrokenPipeError, ValueError):  # `capit-tui keys list | head`: the reader has gone
        code = code or 1
        with contextlib.suppress(OSError, ValueError):  # nothing is left to flush there, now or at exit
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    with contextlib.suppress(OSError, ValueError):
        sys.stderr.flush()
    if any(t.is_alive() and not t.daemon for t in threading.enumerate() if t is not threading.main_thread()):
        raise SystemExit(code)
    os._exit(code)


def main(argv: Sequence[str] | None = None) -> int:
    from capit_tui.cli.output import err, info, interrupt_story

    args = list(sys.argv[1:] if argv is None else argv)
    if "--version" in args[:1] or args[:1] == ["-V"]:
        print(f"capit-tui {__version__}")
        return 0
    demo = "--demo" in args
    if demo:
        args.remove("--demo")
    try:
        if demo:
            from capit_tui.core.demo import demo_environment

            with demo_environment(team=not args):  # the app's demo shows a sample team (5)
                return _dispatch(args, demo=True)
        return _dispatch(args)
    except UsageError as exc:
        err(str(exc))
        return 2
    except Refused as exc:
        info(str(exc))
        return 1
    except CapitError as exc:
        err(str(exc))
        return 1
    except EOFError as exc:  # a prompt met a closed stdin; the prompt may say what replaces it (else --yes)
        err("No answer was given (standard input is closed); nothing was changed. "
            + (str(exc) or "Pass --yes to confirm without a prompt."))
        return 1
    except KeyboardInterrupt as exc:
        err(interrupt_story(exc))
        return 130
    except BrokenPipeError:
        return 1
    except Exception as exc:  # the last line of defence: one sentence, never a traceback
        from capit_tui.core.redact import redact

        err(f"capit-tui failed unexpectedly: {redact(f'{type(exc).__name__}: {exc}')}. "
            "Please report this; set CAPIT_DEBUG=1 to see details.")
        if os.environ.get("CAPIT_DEBUG"):
            raise
        return 1


def _only_lists(args: list[str]) -> bool:
    """`keys list`: it only reads, so its start skips the housekeeping (prune_leftovers, ~20 ms; the next
    other start does it), and it may hold 100 000 keys, so it runs without the cycle collector."""
    return args[:2] == ["keys", "list"]


@contextlib.contextmanager
def _no_cycle_collection() -> Iterator[None]:
    """The cyclic garbage collector paused for a short command, then back as it was. Its collections
    walk every live container again and again (the modules being imported, then each key and row of a
    listing), ~30 ms of a `keys list` at 1 000 keys and ~120 ms at 10 000; keys hold no cycles, and
    what little cyclic garbage a command leaves goes with its process."""
    import gc

    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()


def _dispatch(args: list[str], demo: bool = False) -> int:
    if _only_lists(args):
        with _no_cycle_collection():
            return _dispatch_now(args, demo)
    return _dispatch_now(args, demo)


def _dispatch_now(args: list[str], demo: bool) -> int:
    from capit_tui.cli.parser import main_parser

    if not _only_lists(args):
        from capit_tui.core.leftovers import prune_leftovers

        prune_leftovers()  # a crash's stale temp files and half backups (inside the demo's folders under --demo)
    team = _team_option(args)
    if not args:
        from capit_tui.tui.app import run_app

        return run_app(demo=demo, team=team)  # the app repairs an interrupted run itself, at start-up
    if args[0] in ("-h", "--help"):
        print(main_parser().format_help())
        print("Issue a key:  capit-tui PLATFORM CAP [--reset daily|weekly|monthly|never] [--name N] [--json]")
        return 0
    if args[0] == "help" or "-h" in args or "--help" in args:
        return _run(args)  # help text only: nothing to repair first
    with _signals_interrupt() as lost:
        _repair()
        code = _run(args)
    if lost:  # a Ctrl-C that Python could only report as "ignored" (it hit a finaliser): the work is done
        exc = KeyboardInterrupt()
        exc.add_note("the command had already done its work (see above).")
        raise exc
    return code


def _team_option(args: list[str]) -> Any:
    """`capit-tui --team FILE` (or --team=FILE): the app with that team file on its Team screen (5). The file is
    read first, so a mistake in it is said here, with its line, before the app opens. Taken out of `args`."""
    if not args or not args[0].startswith("--team"):
        return None
    if args[0] == "--team" and len(args) == 2:
        given = args[1]
    elif args[0].startswith("--team=") and len(args) == 1:
        given = args[0].partition("=")[2]
    else:
        raise UsageError("--team takes one team file and opens the app: capit-tui --team team.toml")
    from pathlib import Path

    from capit_tui.core import team_file

    team_file.load(Path(given))
    args.clear()
    return Path(given)


def _repair() -> None:
    """Before a command: finish or undo whatever an interrupted run left (core.recovery), and say so."""
    from capit_tui.cli.output import info
    from capit_tui.core import lock
    from capit_tui.core.journal import needs_recovery

    lock.set_waiting_reporter(info)
    if not needs_recovery():
        return
    from capit_tui.cli.common import run_async
    from capit_tui.core.recovery import recover

    for sentence in run_async(recover):
        info(sentence)


@contextlib.contextmanager
def _signals_interrupt() -> Iterator[list[bool]]:
    """For the length of a command, SIGTERM does what Ctrl-C does: it goes to the SIGINT handler in
    force, which is Python's (KeyboardInterrupt) in sync code and asyncio.run()'s (cancel the command's
    task, so its clean-up runs at the next await, then KeyboardInterrupt) in async code. So an install
    being killed politely undoes itself like one interrupted by Ctrl-C.

    A KeyboardInterrupt raised inside a finaliser or weakref callback cannot propagate: Python prints
    it as "Exception ignored" and goes on. Such a one is noted (the yielded list becomes [True]) instead
    of printed, so the command can say it finished despite the interruption."""
    import signal
    import threading

    lost: list[bool] = []
    if threading.current_thread() is not threading.main_thread():
        yield lost
        return

    def like_ctrl_c(signum: int, frame: Any) -> None:
        handler = signal.getsignal(signal.SIGINT)
        if callable(handler):
            handler(signal.SIGINT, frame)
        else:  # SIGINT ignored (nohup): SIGTERM still stops the command, cleanly
            raise KeyboardInterrupt

    hook = sys.unraisablehook

    def unraisable(unraisable: Any) -> None:
        if isinstance(unraisable.exc_value, KeyboardInterrupt):
            lost[:] = [True]
        else:
            hook(unraisable)

    old = signal.signal(signal.SIGTERM, like_ctrl_c)
    sys.unraisablehook = unraisable
    try:
        yield lost
    finally:
        signal.signal(signal.SIGTERM, old)
        sys.unraisablehook = hook


def _run(args: list[str]) -> int:
    from capit_tui.cli.common import demo_stand_in
    from capit_tui.cli.parser import VERBS, issue_parser, main_parser, parse_intermixed

    first = args[0]
    if first == "sandbox" and len(args) > 1 and args[1] not in ("serve", "-h", "--help"):
        first = ""  # `capit-tui sandbox 5.00`: issue on the sandbox platform (the demo's)
    if first in VERBS:
        if first == "help":
            print(main_parser().format_help())
            return 0
        verb = main_parser().parse_args(args)
        demo_stand_in(verb, "name" if verb.verb == "platforms" else "platform")
        return _handler(verb.verb, verb.action)(verb)
    if first.startswith("-"):  # options before the platform: an issue, or a mistake main_parser names
        ns: argparse.Namespace | None = None
        try:
            ns = parse_intermixed(issue_parser(), args)
        except UsageError:
            pass
        if ns is None or ns.platform in VERBS:
            main_parser().parse_args(args)  # reports the unknown option
            raise UsageError(f"unknown option {first}")
    else:
        ns = parse_intermixed(issue_parser(), args)  # options may come before the cap
    from capit_tui.cli.issue import cmd_issue

    demo_stand_in(ns, "platform")
    return cmd_issue(ns)


def _rotate(ns: argparse.Namespace) -> int:
    from capit_tui.cli.rotate import cmd_rotate

    return cmd_rotate(ns)


def _handler(verb: str, action: str) -> Callable[[argparse.Namespace], int]:
    """The function for a verb: each group's module is imported only when its verb runs."""
    if verb == "keys":
        from capit_tui.cli import keys

        return {"list": keys.cmd_list, "revoke": keys.cmd_revoke, "disable": keys.cmd_disable,
                "enable": keys.cmd_enable, "cap": keys.cmd_cap, "rotate": _rotate}[action]
    if verb in ("platforms", "sandbox"):
        from capit_tui.cli import platforms

        return {"list": platforms.cmd_list, "add": platforms.cmd_add, "remove": platforms.cmd_remove,
                "test": platforms.cmd_test, "serve": platforms.cmd_sandbox_serve}[action]
    if verb == "report":
        from capit_tui.cli.report import cmd_report

        return cmd_report
    if verb == "agents":
        from capit_tui.cli.agents import cmd_agents

        return cmd_agents
    if verb == "panic":
        from capit_tui.cli.panic import cmd_panic

        return cmd_panic
    if verb == "team":
        from capit_tui.cli import team

        return {"plan": team.cmd_plan, "apply": team.cmd_apply, "status": team.cmd_status}[action]
    if verb == "watch":
        from capit_tui.cli.watch import cmd_watch

        return cmd_watch
    from capit_tui.cli import backups

    return {"list": backups.cmd_list, "restore": backups.cmd_restore}[action]
