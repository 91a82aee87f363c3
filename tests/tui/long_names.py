"""Keys with long names, two of them differing only at the end, and agents holding some of them: what
cut the Keys table off at 80 columns (issue 10, item 15)."""

from __future__ import annotations

from pathlib import Path

from capit_tui.core.ledger import Install, Ledger
from capit_tui.sandbox import Sandbox

LONG_KEYS = [  # name, cap, spent, reset
    ("capit-hermes-20261121", 3, "0.03", "never"),
    ("capit-hermes-20261118", 3, "0.12", "never"),
    ("capit-opencode-claude-code-team-backend-20261121", 1000, "123.45", "monthly"),
    ("nightly-ci-refactor-bot-for-the-payments-service-2", 25, "24.50", "weekly"),
]
HELD = [("hermes", "capit-hermes-20261121"), ("claude", "capit-opencode-claude-code-team-backend-20261121"),
        ("codex", "capit-opencode-claude-code-team-backend-20261121"),
        ("opencode", "capit-opencode-claude-code-team-backend-20261121"),
        ("openclaw", "nightly-ci-refactor-bot-for-the-payments-service-2")]


def with_long_names(sb: Sandbox, data: Path) -> Ledger:
    """Add the long-named keys to the sandbox; a ledger in `data` saying which agents hold them."""
    ledger = Ledger(data / "ledger.json")
    ids = {}
    for name, cap, spent, reset in LONG_KEYS:
        _, ids[name] = sb.add_key(name, limit=cap, reset=reset, spend=spent)
    for agent, name in HELD:
        ledger.record(Install("2026-11-21T12:00:00Z", agent, "openrouter", ids[name], name, "sk-or-v1-…abcd", [],
                              None))
    return ledger
