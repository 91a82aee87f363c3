"""Bad input: caps, key names and key selectors a person might type, paste or fat-finger.

The CLI answers exit 2 (usage) or 1 with one or two plain sentences, echoes no control character and
issues, changes or revokes nothing; a glob that matches every key asks twice and names the count.
The TUI, where it has the same input (the cap and name fields of the new-key form, the cap modal),
shows an inline error and sends nothing.
"""

from __future__ import annotations

import contextlib
import io
import os
import re
import subprocess
import sys
from decimal import Decimal

import pytest

from capit_tui import cli
from capit_tui.sandbox import Sandbox

BAD_CAPS = ["-1", "0", "abc", "5.001", "1e9", "NaN", "$", "", "0.00", "-0", "+5", "５", "٥", "5,00", "inf",
            "Infinity", " ", "5 5", "$-5", "100001", "100000.01", "0.001", "1_000", "0x10", "\x1b[31m5",
            "5\x00", "9" * 30, "9" * 4000]
BAD_NAMES = ["a\x1bb", "a\nb", "tab\there", "\x7fdel", "rtl\u202eevil", "zero\u200bwidth", "bell\x07", "",
             "   ", "x" * 101, "x" * 4000]


@pytest.fixture
def sb(monkeypatch):
    with Sandbox() as s:
        monkeypatch.setenv("CAPIT_OPENROUTER_BASE_URL", s.base_url)
        monkeypatch.setenv("CAPIT_OPENROUTER_MANAGEMENT_KEY", s.management_key)
        yield s


def run(*args: str, stdin: str = "") -> tuple[int, str, str]:
    """The CLI's own entry point, in process (the argument checks come before any network call)."""
    out, err = io.StringIO(), io.StringIO()
    old_stdin = sys.stdin
    sys.stdin = io.StringIO(stdin)
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = cli.main(list(args))
    finally:
        sys.stdin = old_stdin
    return code, out.getvalue(), err.getvalue()


def sentences(text: str) -> int:
    return len([s for s in re.split(r"(?<=[.!?])\s+(?=[A-Z`'\"$])", text.strip()) if s])


def plain_refusal(code: int, err: str, codes=(1, 2)) -> str:
    """One `capit-tui: ...` line of one or two sentences, short, with no control character in it."""
    assert code in codes, (code, err)
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("capit-tui: "), err
    message = lines[0][len("capit-tui: "):]
    assert 1 <= sentences(message) <= 2, message
    assert len(message) < 300, message
    assert not any(ord(c) < 32 or 0x7f <= ord(c) < 0xa0 or c in "\u202e\u200b" for c in message), repr(message)
    for word in ("Traceback", "Error:", "unexpectedly", "Exception"):
        assert word not in message, message
    return message


def sent(sb: Sandbox, *methods: str) -> list:
    return [r for r in sb.requests if r.method in methods]


# ---------------------------------------------------------------- CLI: caps


@pytest.mark.parametrize("cap", BAD_CAPS, ids=lambda c: f"{c[:12]!r}-{len(c)}")
def test_cli_bad_cap_is_a_usage_error_and_issues_nothing(sb, isolated_home, cap):
    for args in (("openrouter", cap), ("openrouter", cap, "--agent", "claude", "--yes")):
        code, out, err = run(*args)
        plain_refusal(code, err, codes=(2,))
        assert out == ""
    assert sb.requests == [] and sb.keys == {}
    assert not (isolated_home / ".claude").exists()


def test_cli_bad_cap_on_keys_cap_changes_nothing(sb):
    _, h = sb.add_key("steady", limit=Decimal(5), reset="monthly")
    for cap in BAD_CAPS:
        code, out, err = run("keys", "cap", "steady", cap, "--yes")
        message = plain_refusal(code, err, codes=(2,))
        assert "--no-cap" not in message  # not an option of `keys cap` ('none' is)
    assert sent(sb, "PATCH", "POST", "DELETE") == []
    assert sb.keys[h]["limit"] == 5


def test_cli_zero_and_none_caps(sb):
    """`0` is never "no cap"; no cap is asked for by name, and asked about."""
    _, h = sb.add_key("steady", limit=Decimal(5))
    code, _, err = run("openrouter", "0")
    assert "--no-cap" in plain_refusal(code, err, codes=(2,))
    code, _, err = run("keys", "cap", "steady", "0", "--yes")
    assert "'none'" in plain_refusal(code, err, codes=(2,))
    code, _, err = run("keys", "cap", "steady", "none")  # asks; no answer: nothing changed
    assert code == 1 and "No answer was given" in err and sb.keys[h]["limit"] == 5
    assert sent(sb, "PATCH", "POST") == []


# ---------------------------------------------------------------- CLI: names


@pytest.mark.parametrize("name", BAD_NAMES, ids=lambda n: f"{n[:12]!r}-{len(n)}")
def test_cli_bad_name_is_refused_and_issues_nothing(sb, isolated_home, name):
    for args in (("openrouter", "5", "--name", name), ("openrouter", "5", "--name", name, "--agent", "claude", "--yes")):
        code, out, err = run(*args)
        plain_refusal(code, err)
        assert out == ""
    assert sb.requests == [] and sb.keys == {}
    assert not (isolated_home / ".claude").exists()


def test_cli_bad_input_through_the_real_binary(sb):
    """The same refusals from `python -m capit_tui` (argv as the shell passes it)."""
    env = {**os.environ, "CAPIT_OPENROUTER_BASE_URL": sb.base_url,
           "CAPIT_OPENROUTER_MANAGEMENT_KEY": sb.management_key}
    for args, code in ((["openrouter", "\x1b[31m5"], 2), (["openrouter", "9" * 4000], 2),
                       (["openrouter", "5", "--name", "rtl\u202eevil\x1b[2J"], 2),  # a bad name is a usage error,
                       (["openrouter", "5", "--name", "x" * 4000], 2), (["keys", "cap", "nobody", "NaN"], 2)):  # like a cap
        p = subprocess.run([sys.executable, "-m", "capit_tui", *args], capture_output=True, text=True, env=env,
                           timeout=60)
        plain_refusal(p.returncode, p.stderr, codes=(code,))
        assert p.stdout == ""
    assert sb.requests == []


# ---------------------------------------------------------------- CLI: selectors and globs


def test_cli_selectors_that_match_nothing_or_are_malformed(sb):
    for n in ("capit-a", "capit-b", "keep"):
        sb.add_key(n)
    before = set(sb.keys)
    some_hash = next(iter(before))
    for selector, words in (("nomatch*", "No key matches"), ("[", "No key matches"), ("capit-?x", "No key matches"),
                            ("", "Name a key"), ("   ", "Name a key"), ("capit-a\x1b", "control characters"),
                            (some_hash[:5], "too short"), ("x" * 4000, "No key matches")):
        for verb in (("keys", "revoke"), ("keys", "disable"), ("keys", "enable")):
            code, out, err = run(*verb, selector, "--yes")
            assert words in plain_refusal(code, err, codes=(1,)), (selector, err)
        code, out, err = run("keys", "cap", selector, "5", "--yes")
        assert words in plain_refusal(code, err, codes=(1,))
    assert set(sb.keys) == before
    assert sent(sb, "PATCH", "POST", "DELETE") == []


def test_cli_star_asks_twice_and_names_the_count(sb):
    for n in ("capit-a", "capit-b", "keep"):
        sb.add_key(n)
    before = set(sb.keys)
    # no: one question, nothing revoked
    code, _, err = run("keys", "revoke", "*", stdin="n\n")
    assert code == 1 and "Revoke 3 keys?" in err and "Really" not in err and "Nothing was revoked" in err
    # yes, then not the count: two questions, the second wants the count typed back; nothing revoked
    code, _, err = run("keys", "revoke", "*", stdin="y\ny\n")
    assert code == 1 and "Revoke 3 keys?" in err
    assert "'*' matches every one of your 3 keys. Type 3 to revoke all 3:" in err and "Nothing was revoked" in err
    # yes, then the input ends: a clear refusal, nothing revoked
    code, _, err = run("keys", "revoke", "*", stdin="y\n")
    assert "No answer was given" in plain_refusal(code, err.splitlines()[-1], codes=(1,))
    # a glob that matches only some keys asks once
    code, _, err = run("keys", "revoke", "capit-*", stdin="n\n")
    assert code == 1 and "Revoke 2 keys?" in err and "Really" not in err
    # disable/cap of every key: asked once, with the count; closed input refuses
    for args in (("keys", "disable", "*"), ("keys", "cap", "*", "7")):
        code, _, err = run(*args)
        assert " 3 keys?" in err
        assert "No answer was given" in plain_refusal(code, err.splitlines()[-1], codes=(1,))
    assert set(sb.keys) == before
    assert sent(sb, "PATCH", "POST", "DELETE") == []
    # yes, then the count: every key revoked
    code, _, err = run("keys", "revoke", "*", stdin="y\n3\n")
    assert code == 0, err
    assert sb.keys == {}


def test_cli_star_through_the_real_binary(sb):
    for n in ("capit-a", "capit-b"):
        sb.add_key(n)
    env = {**os.environ, "CAPIT_OPENROUTER_BASE_URL": sb.base_url,
           "CAPIT_OPENROUTER_MANAGEMENT_KEY": sb.management_key}
    p = subprocess.run([sys.executable, "-m", "capit_tui", "keys", "revoke", "*"], input="y\n", capture_output=True,
                       text=True, env=env, timeout=60)
    assert "every one of your 2 keys" in p.stderr
    plain_refusal(p.returncode, p.stderr.splitlines()[-1], codes=(1,))
    assert len(sb.keys) == 2


# ---------------------------------------------------------------- TUI


@pytest.fixture
def tsb(monkeypatch):
    from tui_support import no_blink, sandbox

    no_blink(monkeypatch)
    s = sandbox()
    yield s
    s.stop()


def widget_text(screen, selector: str) -> str:
    w = screen.query_one(selector)
    return str(w.render()) if w.display else ""


TUI_BAD_CAPS = ["-1", "0", "abc", "5.001", "1e9", "NaN", "$", "", "0.00", "+5", "５", "5,00", "inf", "100001",
                "1_000", "9" * 30, "9" * 4000]


async def test_tui_new_key_form_bad_caps_and_names_show_inline_and_issue_nothing(tsb, isolated_home):
    from textual import events
    from textual.widgets import Input
    from tui_support import make_app, settle

    from capit_tui.tui.newkey.form import NewKeyScreen

    (isolated_home / ".claude").mkdir()
    before = set(tsb.keys)
    app = make_app(tsb, isolated_home)
    async with app.run_test(size=(100, 32)) as pilot:
        await settle(pilot)
        await pilot.press("n")
        await settle(pilot)
        form = app.screen
        assert isinstance(form, NewKeyScreen)
        cap = form.query_one("#cap", Input)
        # typed, key by key
        for typed in ("5.001", "-1", "abc"):
            cap.value = ""
            await pilot.press(*typed)
            await pilot.pause()
            assert widget_text(form, "#cap-error"), typed
            await pilot.press("enter")
            await settle(pilot)
            assert app.screen is form
        # every other bad cap, set or pasted
        for value in TUI_BAD_CAPS:
            cap.value = ""
            await pilot.pause()
            if value and "\n" not in value:
                cap.post_message(events.Paste(value))
            else:
                cap.value = value
            await pilot.pause()
            await pilot.press("ctrl+s")
            await settle(pilot)
            assert app.screen is form, value
            assert widget_text(form, "#cap-error"), repr(value)
        # then a good cap with bad names
        cap.value = "5"
        await pilot.pause()
        assert not widget_text(form, "#cap-error")
        name = form.query_one("#name", Input)
        for value in ("a\x1bb", "rtl\u202eevil", "zero\u200bwidth", "bell\x07", "x" * 150, "x" * 4000):
            name.value = value
            await pilot.pause()
            error = widget_text(form, "#name-error")
            assert error, repr(value)
            assert not any(ord(c) < 32 or c in "\u202e\u200b\x7f" for c in error), repr(error)
            await pilot.press("ctrl+s")
            await settle(pilot)
            assert app.screen is form, repr(value)
        # a name pasted with control characters in it
        name.value = ""
        name.focus()
        name.post_message(events.Paste("team\x1b[31m"))
        await pilot.pause()
        assert widget_text(form, "#name-error")
        await pilot.press("ctrl+s")
        await settle(pilot)
        assert app.screen is form
        # 4000 characters pasted: the field takes at most 100, and whatever it holds is not issued
        name.value = ""
        await pilot.pause()
        name.post_message(events.Paste("y" * 4000))
        await pilot.pause()
        pasted_error = widget_text(form, "#name-error")
        assert "100" in pasted_error, pasted_error  # says how long a name may be
        await pilot.press("ctrl+s")
        await settle(pilot)
        assert app.screen is form
        shown_value = name.value
    assert set(tsb.keys) == before
    assert not [r for r in tsb.requests if r.method in ("POST", "PATCH", "DELETE")]
    assert not (isolated_home / ".claude" / "settings.json").exists()
    assert pasted_error or shown_value, "a 4000-character paste must be refused with a word, not dropped silently"


async def test_tui_cap_modal_bad_caps_show_inline_and_change_nothing(tsb, isolated_home):
    from textual.widgets import Input
    from tui_support import make_app, settle

    from capit_tui.tui.modals.cap import CapScreen

    app = make_app(tsb, isolated_home)
    async with app.run_test(size=(100, 32)) as pilot:
        await settle(pilot)
        key = app.screen.selected()
        limit = tsb.keys[key.id]["limit"]
        await pilot.press("e")
        await settle(pilot)
        modal = app.screen
        assert isinstance(modal, CapScreen)
        box = modal.query_one("#cap", Input)
        zero_message = ""
        for value in TUI_BAD_CAPS:
            box.value = value
            await pilot.pause()
            message = widget_text(modal, "#cap-error")
            assert message, repr(value)
            if value == "0":
                zero_message = message
            box.focus()
            await pilot.press("enter")
            await settle(pilot)
            assert app.screen is modal, repr(value)
        await pilot.press("escape")
        await settle(pilot)
    assert not [r for r in tsb.requests if r.method in ("PATCH", "POST", "DELETE")]
    assert tsb.keys[key.id]["limit"] == limit
    assert "--no-cap" not in zero_message, "the cap modal must not point to a CLI flag"
