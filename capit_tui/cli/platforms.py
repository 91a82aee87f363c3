"""`capit-tui platforms list|add|remove|test` and `capit-tui sandbox serve`: the core checks and stores
management keys (platform_setup); this module asks for them and words the answers."""

from __future__ import annotations

import argparse
import asyncio
import errno
import json
from typing import Any

from capit_tui.cli.common import load_settings
from capit_tui.cli.output import confirm_or_stop, info, out, read_secret
from capit_tui.core import platform_setup as setup
from capit_tui.core.text import text_table
from capit_tui.errors import CapitError, UsageError


def cmd_list(ns: argparse.Namespace) -> int:
    rows, records = [], []
    for st in setup.statuses(load_settings()):
        cfg = st.config
        records.append({"name": st.name, "kind": cfg.kind, "base_url": cfg.base_url, "configured": st.configured,
                        "key_source": st.source})
        rows.append([st.name, cfg.kind, cfg.base_url, "yes" if st.configured else "no", st.source or "-"])
    if ns.json:
        out(json.dumps(records, indent=2))
    else:
        out(text_table(rows, ["NAME", "KIND", "BASE URL", "CONFIGURED", "KEY FROM"]))
    return 0


def cmd_add(ns: argparse.Namespace) -> int:
    s = load_settings()
    from capit_tui.core.demo import DEMO_PLATFORM, in_demo

    if in_demo() and ns.name.lower() == DEMO_PLATFORM:
        info(f"The demo's {DEMO_PLATFORM} platform has its management key already; nothing to add. "
             "Try `capit-tui --demo keys list`.")
        return 0
    if ns.name.lower() not in s.known_platforms() and not (ns.kind and ns.base_url):
        from capit_tui.core.settings import PRESETS

        raise UsageError(f"'{ns.name}' is not a preset ({', '.join(sorted(PRESETS))}): give --kind and --base-url")
    try:
        cfg = setup.resolve(s, ns.name, kind=ns.kind, base_url=ns.base_url, quota_per_usd=ns.quota_per_usd,
                            user_id=ns.user_id, allow_http=ns.allow_http)
    except setup.SetupError as exc:
        raise UsageError(str(exc).rstrip(".")) from None
    info(f"Paste a management key for {cfg.name} (create one at {setup.manage_hint(cfg)}). It is not echoed.")
    try:
        key = setup.clean_key(read_secret("Management key: "))
    except EOFError:  # Ctrl-D at the prompt, or nothing piped in: --yes would not help here
        from capit_tui.core.vault import env_var

        raise CapitError(f"No management key was given (standard input is closed), so nothing was stored. "
                         f"Type or pipe it in, or set {env_var(cfg.name)} instead of storing it.") from None
    info(f"Checking the key with {cfg.base_url} ...")
    asyncio.run(setup.check_key(cfg, key))
    added = setup.store(s, cfg, key, allow_file=ns.store_in_file)
    info(f"The key works. {added.sentence()} Try `capit-tui keys list`.")
    return 0


def cmd_remove(ns: argparse.Namespace) -> int:
    s = load_settings()
    name = ns.name.lower()
    if name not in s.known_platforms():
        raise CapitError(f"Unknown platform '{name}'.")
    confirm_or_stop(f"Forget the management key for {name}? Keys already issued keep working.", ns.yes,
                    "Nothing was removed.")
    info(setup.remove(s, name).sentence())
    return 0


def cmd_test(ns: argparse.Namespace) -> int:
    from capit_tui.core.keys import configured_platforms

    (c,) = configured_platforms(load_settings(), ns.name)

    async def test() -> Any:
        async with c.open() as p:
            return await setup.probe(p)

    out(setup.probe_sentence(c.name, c.source, asyncio.run(test())))
    return 0


def cmd_sandbox_serve(ns: argparse.Namespace) -> int:
    from capit_tui.sandbox import serve

    if not 0 <= ns.port <= 65535:
        raise UsageError("--port must be between 0 and 65535")
    if ns.seed_keys < 0 or ns.latency_ms < 0:
        raise UsageError("--seed-keys and --latency-ms cannot be negative")
    try:
        serve(port=ns.port, seed_keys=ns.seed_keys, latency_ms=ns.latency_ms, traffic=ns.traffic)
    except OSError as exc:
        if exc.errno in (errno.EADDRINUSE, errno.EACCES):
            why = "is in use" if exc.errno == errno.EADDRINUSE else "needs privileges this user does not have"
            raise CapitError(f"Port {ns.port} on 127.0.0.1 {why}: pick another with --port, "
                             "or --port 0 for any free one.") from None
        raise
    return 0
