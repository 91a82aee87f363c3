"""`capit-tui backups list|restore`: the backups taken before every write, and putting one back through
the core's single restore path (masked diff first; the ledger follows the files)."""

from __future__ import annotations

import argparse
import json

from capit_tui.cli.output import confirm_or_stop, info, out
from capit_tui.core.agent_status import agent_statuses, backup_key_label, installed_secrets
from capit_tui.core.backups import Backup, BackupStore
from capit_tui.core.restore import restore_apply, restore_preview
from capit_tui.core.text import plural, text_table
from capit_tui.errors import CapitError, UsageError


def cmd_list(ns: argparse.Namespace) -> int:
    backups = BackupStore().list()
    if ns.json:
        out(json.dumps([b.to_json() for b in backups], indent=2))
        return 0
    if not backups:
        info("No backups yet: capit-tui makes one before every change to an agent's files.")
        return 0
    rows = [[b.id, b.created_at.strftime("%Y-%m-%d %H:%M"), _reason(b), ",".join(b.agents) or "-",
             str(len(b.files)), "- (its keys were revoked)" if b.rolled_back else backup_key_label(b)]
            for b in backups]
    out(text_table(rows, ["ID", "WHEN (UTC)", "REASON", "AGENTS", "FILES", "REPLACED BY"], right={4}))
    return 0


def _reason(b: Backup) -> str:
    reason = str(b.meta.get("reason", "-"))
    return f"{reason}, rolled back" if b.rolled_back else reason


def cmd_restore(ns: argparse.Namespace) -> int:
    store = BackupStore()
    if ns.id and ns.latest:
        raise UsageError("give a backup ID or --latest, not both")
    if ns.id:
        b = store.get(ns.id)
    elif ns.latest:
        found = store.latest(ns.agent)
        if found is None:
            raise CapitError("There is no backup" + (f" of {ns.agent}'s files." if ns.agent else " yet."))
        b = found
    else:
        raise UsageError("give a backup ID (see `capit-tui backups list`) or --latest")
    rp = restore_preview(store, b, ns.agent, installed_secrets(agent_statuses()))
    if not rp.changes:
        info(f"The files already match backup {b.id}; nothing to restore.")
        return 0
    out(rp.diff())
    confirm_or_stop(f"Restore {plural(rp.changes, 'file')} from backup {b.id}?", ns.yes, "Nothing was restored.")
    undo = restore_apply(store, rp)
    for c in rp.plan.changes:
        info(f"restored {c.path}" if c.after is not None else f"removed {c.path} (it did not exist before)")
    info(f"The files as they were just now are in backup {undo.id}.")
    if rp.held:
        from capit_tui.cli.issue import offer_to_revoke
        from capit_tui.core.replaced import orphaned

        offer_to_revoke(orphaned(rp.held), "the key the restore removed", yes=ns.yes, keep=ns.keep_replaced)
    return 0
