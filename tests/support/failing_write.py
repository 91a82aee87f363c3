"""The real command line (`capit_tui.cli.main`) with one fault: writing the agent file named by
CAPIT_TEST_FAIL_WRITE (a file name, e.g. config.toml) fails with ENOSPC, as on a full disk. Everything
else is real: the platform, the backup, the writes of the other files and the install's undo.

    python failing_write.py ARGS...     (the arguments of `capit-tui ARGS...`)

Run as root, permissions cannot make a write fail, so tests use this to see what a failed install
leaves behind (tests/core/test_cli_newuser.py).
"""

from __future__ import annotations

import errno
import os
import sys
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import capit_tui.core.changes as changes  # noqa: E402

_real = changes.atomic_write


def _failing(path: Any, data: bytes, *args: Any, **kwargs: Any) -> None:
    if Path(path).name == os.environ["CAPIT_TEST_FAIL_WRITE"]:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path))
    _real(path, data, *args, **kwargs)


changes.atomic_write = _failing  # apply() looks the name up when it writes

if __name__ == "__main__":
    from capit_tui.cli import main

    sys.exit(main(sys.argv[1:]))
