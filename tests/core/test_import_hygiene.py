"""The house rules that imports can break: headless commands and the core never load Textual, and no
module imports itself through others (a cycle). After Harlequin's tests/unit_tests/test_import_hygiene.py."""

from __future__ import annotations

import os
import subprocess
import sys

import grimp

from capit_tui.sandbox import Sandbox

CORE = ["capit_tui.errors", "capit_tui.core.keys", "capit_tui.core.install", "capit_tui.core.restore",
        "capit_tui.core.agent_status", "capit_tui.core.platform_setup", "capit_tui.core.spend_watch",
        "capit_tui.core.demo", "capit_tui.platforms.openrouter", "capit_tui.platforms.oneapi", "capit_tui.agents",
        "capit_tui.edits", "capit_tui.sandbox"]


def _loaded_after(code: str, env: dict[str, str] | None = None) -> list[str]:
    probe = code + ("\nimport sys; print(' '.join(sorted(m for m in sys.modules "
                    "if m.split('.')[0] in ('textual', 'rich'))))")
    proc = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60,
                          env={**os.environ, **(env or {})})
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.split()


def test_the_core_never_loads_textual():
    assert not [m for m in _loaded_after("\n".join(f"import {m}" for m in CORE)) if m.startswith("textual")]


def test_keys_list_runs_without_textual():
    with Sandbox(seed_keys=3) as sb:
        code = ("from capit_tui.cli import main\n"
                "assert main(['keys', 'list', '--json']) == 0")
        loaded = _loaded_after(code, {"CAPIT_OPENROUTER_MANAGEMENT_KEY": sb.management_key,
                                      "CAPIT_OPENROUTER_BASE_URL": sb.base_url})
    assert not [m for m in loaded if m.startswith("textual")]


def _cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = 0
    for root in sorted(edges):
        if root in index:
            continue
        work = [(root, iter(sorted(edges[root])))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            v, children = work[-1]
            for w in children:
                if w not in index:
                    index[w] = low[w] = counter
                    counter += 1
                    stack.append(w)
                    on_stack.add(w)
                    work.append((w, iter(sorted(edges.get(w, ())))))
                    break
                if w in on_stack:
                    low[v] = min(low[v], index[w])
            else:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[v])
                if low[v] == index[v]:
                    comp = []
                    while True:
                        w = stack.pop()
                        on_stack.discard(w)
                        comp.append(w)
                        if w == v:
                            break
                    if len(comp) > 1:
                        found.append(sorted(comp))
    return found


def test_no_module_import_cycles():
    graph = grimp.build_graph("capit_tui", exclude_type_checking_imports=True)  # names for mypy only
    edges = {m: {x for x in graph.find_modules_directly_imported_by(m) if x.startswith("capit_tui")}
             for m in graph.modules}
    assert _cycles(edges) == []


def test_the_cycle_finder_finds_cycles():
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert _cycles({"a": {"b"}, "b": set()}) == []
