"""How the command line talks: messages on stderr, data on stdout, yes/no questions, hidden input, and
the short descriptions of keys shown before a change. Wording only; the rules live in the core."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Callable, Iterator, Sequence

from capit_tui.core.model import CappedKey
from capit_tui.core.money import format_usd
from capit_tui.core.text import display_name
from capit_tui.errors import Refused


def err(msg: str) -> None:
    """A failure or a warning, prefixed with the program's name."""
    print(f"capit-tui: {msg}", file=sys.stderr)


def warn(msg: str) -> None:
    """A warning from the core (core.http_policy.warnings): a risk the user accepted, said every run."""
    err(f"warning: {msg}")


def info(msg: str) -> None:
    """What is happening or was done (stderr, so stdout stays data)."""
    print(msg, file=sys.stderr)


def out(text: str) -> None:
    """Data: a table, JSON, a diff or a key shown once."""
    print(text, end="" if text.endswith("\n") else "\n")


def confirm(question: str, yes: bool) -> bool:
    """Ask on stderr; True only for y/yes. A closed stdin raises EOFError (the caller says so)."""
    if yes:
        return True
    print(f"{question} [y/N] ", end="", file=sys.stderr, flush=True)
    line = sys.stdin.readline()
    if line == "":
        print(file=sys.stderr)  # end the unanswered prompt's line: the refusal gets its own
        raise EOFError
    return line.strip().lower() in ("y", "yes")


def ask(question: str, closed: str = "") -> str:
    """Ask on stderr for one line typed back (stripped). A closed stdin raises EOFError(`closed`): what
    to pass instead of answering."""
    print(f"{question} ", end="", file=sys.stderr, flush=True)
    line = sys.stdin.readline()
    if line == "":
        print(file=sys.stderr)
        raise EOFError(closed)
    return line.strip()


def confirm_or_stop(question: str, yes: bool, nothing: str) -> None:
    """Ask; on no, say `nothing` (what was not done) and end the command with status 1."""
    if not confirm(question, yes):
        raise Refused(nothing)


def read_secret(prompt: str) -> str:
    """A secret typed without echo on a terminal, or one line of piped input."""
    if sys.stdin.isatty():
        import getpass

        return getpass.getpass(prompt, stream=sys.stderr).strip()
    line = sys.stdin.readline()
    if line == "":
        raise EOFError
    return line.strip()


def describe_keys(keys: Sequence[CappedKey], most: int = 20) -> str:
    """One indented line per key (name, platform, id, cap, spend), at most `most` of them."""
    lines = [f"  {display_name(k.name, 40)}  ({k.platform}, {k.id[:12]}, cap {format_usd(k.limit)}, "
             f"spent {format_usd(k.spent)})" for k in keys[:most]]
    if len(keys) > most:
        lines.append(f"  ... and {len(keys) - most} more")
    return "\n".join(lines)


@contextlib.contextmanager
def interrupted_says(what: Callable[[], str]) -> Iterator[None]:
    """An interruption (Ctrl-C, SIGTERM) in the block carries `what()` was done about it: `main()` says
    "Interrupted; " and that, instead of a generic sentence."""
    try:
        yield
    except KeyboardInterrupt as exc:
        exc.add_note(what())
        raise


def interrupt_story(exc: BaseException) -> str:
    """The sentence for an interruption: what the command did about it, or that nothing more was done."""
    notes = [n for n in getattr(exc, "__notes__", []) if n]
    if not notes:
        return "Interrupted; nothing more was done."
    return f"Interrupted. {notes[-1]}" if notes[-1][:1].isupper() else f"Interrupted; {notes[-1]}"
