"""A keyring backend for tests: a JSON file named by $CAPIT_TEST_KEYRING_FILE.

Selected with PYTHON_KEYRING_BACKEND=fake_keyring.FileKeyring (tests/support/ is on PYTHONPATH), so the
tests, and the capit-tui subprocesses they start, never touch the developer's real keyring.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from keyring.backend import KeyringBackend
from keyring.errors import PasswordDeleteError


class FileKeyring(KeyringBackend):
    priority = 1  # type: ignore[assignment]

    def _path(self) -> Path:
        return Path(os.environ["CAPIT_TEST_KEYRING_FILE"])

    def _load(self) -> dict[str, dict[str, str]]:
        p = self._path()
        if not p.exists():
            return {}
        return json.loads(p.read_text() or "{}")

    def _save(self, data: dict[str, dict[str, str]]) -> None:
        p = self._path()
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(json.dumps(data))
        p.chmod(0o600)

    def get_password(self, service: str, username: str) -> str | None:
        return self._load().get(service, {}).get(username)

    def set_password(self, service: str, username: str, password: str) -> None:
        data = self._load()
        data.setdefault(service, {})[username] = password
        self._save(data)

    def delete_password(self, service: str, username: str) -> None:
        data = self._load()
        if username not in data.get(service, {}):
            raise PasswordDeleteError("not found")
        del data[service][username]
        self._save(data)
