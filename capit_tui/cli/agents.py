"""`capit-tui agents`: every agent capit-tui knows, whether it is here, and the key its files hold."""

from __future__ import annotations

import argparse
import json

from capit_tui.cli.output import info, out
from capit_tui.core.agent_status import agent_statuses
from capit_tui.core.text import text_table


def cmd_agents(ns: argparse.Namespace) -> int:
    statuses = agent_statuses()
    if ns.json:
        out(json.dumps([st.to_json() for st in statuses], indent=2))
        return 0
    rows = []
    for st in statuses:
        found = {"binary": "yes"}.get(st.found, st.found)
        key = (st.key.masked + (f" = {st.capit.key_name}" if st.capit else "")) if st.key else (
            "unknown" if st.key_unknown else "-")
        rows.append([st.name, st.agent.title, found, st.agent.support, key])
    out(text_table(rows, ["AGENT", "PROGRAM", "FOUND", "INSTALL", "KEY IN USE"]))
    for st in statuses:
        for w in st.warnings:
            info(f"{st.name}: {w}")
    return 0
