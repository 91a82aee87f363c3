"""Where capit-tui keeps its own files: the config dir (settings, consented credentials) and the data
dir (ledger, backups, journal, lock). CAPIT_CONFIG_DIR and CAPIT_DATA_DIR move them (the demo, tests).

A module of its own so that the lock, which every writer takes, can find its file without importing
settings (which takes the lock to save)."""

from __future__ import annotations

import os
from pathlib import Path

APP = "capit-tui"


def config_dir() -> Path:
    override = os.environ.get("CAPIT_CONFIG_DIR")
    if override:
        return Path(override)
    from platformdirs import user_config_path

    return user_config_path(APP, appauthor=False)


def data_dir() -> Path:
    override = os.environ.get("CAPIT_DATA_DIR")
    if override:
        return Path(override)
    from platformdirs import user_data_path

    return user_data_path(APP, appauthor=False)
