"""Diffs mask every secret, not only capit-tui's own keys (issue 9, item 11).

The corpus in tests/data/secrets/ holds real-looking, generated, FAKE neighbour secrets in each format an
agent keeps (a .env file, Claude's settings.json with `env`, Codex's config.toml, Hermes' config.yaml);
secrets.txt lists them. None may appear in any diff: an install preview, a restore (the backup preview the
Backups and Agents screens show is the same diff), or a whole file shown new or removed. The lines still show
which field changed, and the diff's own structure is never masked.
"""

from __future__ import annotations

import asyncio
import shutil
from decimal import Decimal
from pathlib import Path

import pytest

from capit_tui import agents as agents_mod
from capit_tui.core.backups import BackupStore
from capit_tui.core.changes import FileChange
from capit_tui.core.install import execute, preview
from capit_tui.core.keys import Configured
from capit_tui.core.restore import restore_preview
from capit_tui.core.secrets_mask import is_dotenv, mask_diff, mask_line, mask_value, secret_key
from capit_tui.core.settings import PlatformConfig
from capit_tui.sandbox import Sandbox

CORPUS = Path(__file__).resolve().parent.parent / "data" / "secrets"
SECRETS = [line for line in (CORPUS / "secrets.txt").read_text().splitlines() if line and not line.startswith("#")]
# The prefixes a masked token keeps on purpose: they say what kind of token it was, not the token.
KEPT_PREFIXES = ("github_pat_", "sk-ant-api03-", "sk-or-v1-", "sk-proj-", "ghp_", "gho_", "xoxb-", "AKIA", "AIza",
                 "eyJ")
# corpus file -> where it goes in the isolated HOME
PLACES = {
    "claude-settings.json": ".claude/settings.json",
    "codex-config.toml": ".codex/config.toml",
    "hermes-config.yaml": ".hermes/config.yaml",
    "neighbours.env": ".hermes/.env",
}
AIDER_ENV = ".aider/oauth-keys.env"  # the .env corpus again, for Aider


def assert_no_secret(text: str, extra: list[str] = ()) -> None:
    """No secret of the corpus (or `extra`) in `text`, whole or as 10 characters of its secret part."""
    for secret in [*SECRETS, *extra]:
        assert secret not in text, f"a whole secret leaked: {secret[:8]}…"
        body = secret
        for prefix in KEPT_PREFIXES:
            if body.startswith(prefix):
                body = body[len(prefix):]
                break
        for i in range(len(body) - 9):
            piece = body[i:i + 10]
            assert piece not in text, f"10 characters of {secret[:8]}… leaked: {piece!r}"


def place_corpus(home: Path) -> None:
    for name, where in {**PLACES, "neighbours.env@aider": AIDER_ENV}.items():
        target = home / where
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(CORPUS / name.split("@")[0], target)


@pytest.fixture
def sandbox():
    with Sandbox() as sb:
        yield sb


@pytest.fixture
def platform(sandbox):
    return Configured(PlatformConfig("openrouter", "openrouter", sandbox.base_url), "env", sandbox.management_key)


def corpus_agents():
    return [agents_mod.get(n) for n in ("claude", "codex", "hermes", "aider")]


# ---------------------------------------------------------------- the corpus itself


def test_every_listed_secret_is_in_the_corpus_and_is_fake():
    text = "".join((CORPUS / name).read_text() for name in PLACES)
    assert len(SECRETS) >= 30
    for secret in SECRETS:
        assert secret in text, f"secrets.txt lists {secret[:8]}…, which no corpus file holds"
    assert all("FAKE" in s or s.startswith(("sk-or-v1-", "fc-")) or len(s) == 64 for s in SECRETS)


# ---------------------------------------------------------------- whole files, new or removed


@pytest.mark.parametrize("name", sorted(PLACES))
@pytest.mark.parametrize("direction", ["new", "removed"])
def test_a_whole_corpus_file_shows_no_secret(name, direction):
    data = (CORPUS / name).read_bytes()
    path = Path("/home/u") / PLACES[name]
    before, after = (None, data) if direction == "new" else (data, None)
    diff = FileChange("x", path, path, before, after, None).diff()
    assert_no_secret(diff)
    lines = diff.splitlines()
    assert len(lines) == 3 + len(data.decode().splitlines())  # every line is there: only values change
    sign = "+" if direction == "new" else "-"
    assert all(line.startswith(sign) for line in lines[3:])


def test_the_fields_stay_readable():
    shown = {name: FileChange("x", Path("/h") / where, Path("/h") / where, None, (CORPUS / name).read_bytes(),
                              None).diff() for name, where in PLACES.items()}
    claude, codex, hermes, env = (shown[n] for n in ("claude-settings.json", "codex-config.toml",
                                                     "hermes-config.yaml", "neighbours.env"))
    assert '"GITHUB_PERSONAL_ACCESS_TOKEN": "github_pat_…' in claude
    assert '"GITHUB_TOKEN": "ghp_…' in claude and '"AWS_ACCESS_KEY_ID": "AKIA…' in claude
    assert '"ANTHROPIC_AUTH_TOKEN": "…' in claude and '"Authorization": "…' in claude
    assert '"postgresql://app:…@db.example.internal:5432/app"' in claude
    # what is not a secret is shown as it is
    assert '"ANTHROPIC_BASE_URL": "https://llm-proxy.example.internal/anthropic"' in claude
    assert '"model": "sonnet"' in claude and '"BASH_DEFAULT_TIMEOUT_MS": "120000"' in claude
    assert '"includeCoAuthoredBy": false' in claude and '"cleanupPeriodDays": 30' in claude

    assert 'experimental_bearer_token = "…' in codex and 'GH_TOKEN = "gho_…' in codex
    assert 'env = { GITHUB_PERSONAL_ACCESS_TOKEN = "ghp_…' in codex
    assert 'GITHUB_API_URL = "https://api.github.com" }' in codex
    assert 'model = "gpt-5"' in codex and 'base_url = "https://llm.corp.example/v1"' in codex
    assert '# OPENAI_API_KEY = "sk-proj-…' in codex  # commented out, still a secret

    assert '  api_key: "…' in hermes and '  bot_token: "…' in hermes and "  token: …" in hermes
    assert "  password: …" in hermes and "signature: …" in hermes
    assert "  default: anthropic/claude-sonnet-4.5" in hermes and "  max_tokens: 8192" in hermes
    assert "  allowed_users: [12345678]" in hermes and "  enabled: true" in hermes

    assert "+OPENROUTER_API_KEY=sk-or-v1-…" in env and "+GITHUB_TOKEN=ghp_…" in env
    assert "+PLAIN_VALUE=…" in env and "+SESSION_SIGNING=…" in env and "+DB_PASSWORD='…" in env
    assert "+OPENROUTER_BASE_URL=https://openrouter.ai/api/v1" in env and "+DEBUG=false" in env


# ---------------------------------------------------------------- one line of any format


@pytest.mark.parametrize("line,expected", [
    ('  "GITHUB_TOKEN": "ghp_' + "a1B2" * 9 + '",', '  "GITHUB_TOKEN": "ghp_…a1B2",'),
    ('    "ANTHROPIC_AUTH_TOKEN": "proxy-0123456789abcdefXYZ"', '    "ANTHROPIC_AUTH_TOKEN": "…fXYZ"'),
    ('token = "abcdefghijklmnop1234"', 'token = "…1234"'),
    ('auth = { token = "abcdefghijklmnop1234", type = "bearer" }',
     'auth = { token = "…1234", type = "bearer" }'),
    ("API_KEY=Zq9cLm3vXw7tPb2n", "API_KEY=…Pb2n"),
    ("export DB_PASSWORD='correct horse battery staple'", "export DB_PASSWORD='…aple'"),
    ("  api_key: plain-secret-value-123", "  api_key: …-123"),
    ("  - OPENROUTER_API_KEY=sk-or-v1-" + "1" * 64, "  - OPENROUTER_API_KEY=sk-or-v1-…1111"),
    ('{"key": "abc", "other": "x", "password": "hunter2hunter2"}', '{"key": "…", "other": "x", "password": "…"}'),
    ("# GITHUB_TOKEN=short", "# GITHUB_TOKEN=…"),
    ("Authorization: Bearer abcdef1234567890abcdef", "Authorization: …cdef"),
    ("telegram 123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw1 here", "telegram …saw1 here"),
    ("AKIAIOSFODNN7EXAMPLE", "AKIA…MPLE"),
    ("key: AIzaSyA1234567890abcdefghijklmnopqrstu", "key: AIza…rstu"),
    ("s: xoxp-123456789012-abcdefABCDEF", "s: xoxp-…CDEF"),
    ("x eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0In0.c2lnbmF0dXJlLXNpZ24 y", "x eyJ…pZ24 y"),
    ("blob: Q29kZUZvclRlc3RpbmdPbmx5SGVsbG9Xb3JsZDEyMzQ1Ng==", "blob: …Ng=="),
    ("db = postgres://user:s3cretpw@db.example.com/x", "db = postgres://user:…@db.example.com/x"),
    ('  "args": ["-y", "server", "--api-key", "plainsecretvalue99"],',
     '  "args": ["-y", "server", "--api-key", "…ue99"],'),
    ('args = ["--token=abcd1234efgh5678", "--port", "8080"]', 'args = ["--token=…5678", "--port", "8080"]'),
    ("SECRET_KEY_BASE: abcdefabcdef0123", "SECRET_KEY_BASE: …0123"),
])
def test_secret_values_on_a_line_are_masked(line, expected):
    assert mask_line(line) == expected


@pytest.mark.parametrize("line", [
    '    "ANTHROPIC_BASE_URL": "https://openrouter.ai/api",',
    '    "ANTHROPIC_API_KEY": "",',
    'model = "anthropic/claude-sonnet-4-5-20250929"',
    'env_key = "OPENROUTER_API_KEY"',
    "  max_tokens: 4096",
    '  "requires_openai_auth": true,',
    "api_key = ${OPENROUTER_API_KEY}",
    '"apiKey": "{env:OPENROUTER_API_KEY}"',
    "path: /home/user/.config/SomeApp2024/VeryLongDirectoryName",
    "model: Qwen/Qwen2.5-Coder-32B-Instruct-AWQ",
    "id: 550e8400-e29b-41d4-a716-446655440000",
    '  "allow": ["Bash(npm run test:*)", "WebFetch(domain:docs.anthropic.com)"]',
    "# Every secret here is FAKE: random characters in the shape of a real token.",
    'author = "Jane Doe"',
    '"args": ["--auth-type", "basic", "--api-key-file", "/run/secrets/key", "--no-auth", "--port", "80"]',
])
def test_what_is_not_a_secret_is_left_alone(line):
    assert mask_line(line) == line


def test_dotenv_masks_every_value_but_base_urls_models_and_switches():
    assert mask_line("ANYTHING=some-value-at-all-1234", dotenv=True) == "ANYTHING=…1234"
    assert mask_line("PIN=123456", dotenv=True) == "PIN=…"
    assert mask_line("OPENROUTER_BASE_URL=https://openrouter.ai/api/v1", dotenv=True).endswith("/api/v1")
    assert mask_line("AIDER_MODEL=openrouter/anthropic/claude-sonnet-4.5", dotenv=True).endswith("sonnet-4.5")
    assert mask_line("AIDER_AUTO_COMMITS=false", dotenv=True) == "AIDER_AUTO_COMMITS=false"
    assert mask_line("EMPTY=", dotenv=True) == "EMPTY="
    # a base URL that carries a password is not plain
    assert "s3cret" not in mask_line("OPENAI_API_BASE=https://u:s3cretpass@gw.example/v1", dotenv=True)
    assert is_dotenv("/h/.env") and is_dotenv("/h/.aider/oauth-keys.env") and is_dotenv("/p/.env.local")
    assert not is_dotenv("/h/.codex/config.toml")


def test_masked_forms():
    assert mask_value("sk-or-v1-" + "ab" * 32) == "sk-or-v1-…abab"
    assert mask_value("ghp_" + "x" * 36) == "ghp_…xxxx"
    assert mask_value("short") == "…" and mask_value("fifteen-chars-x") == "…"
    assert mask_value("a-long-unshaped-secret-value") == "…alue"
    assert secret_key("apiKey") and secret_key("GITHUB_PERSONAL_ACCESS_TOKEN") and secret_key("client_secret")
    assert secret_key("Authorization") and secret_key("env.BRAVE_API_KEY")
    assert not secret_key("ANTHROPIC_BASE_URL") and not secret_key("env_key") and not secret_key("max_tokens")
    assert not secret_key("model") and not secret_key("keybindings")


def test_the_diff_structure_is_never_masked():
    names = "/home/u/GITHUB_TOKEN=Q29kZUZvclRlc3RpbmdPbmx5SGVsbG9Xb3JsZDEy/.env"
    diff = (f"--- {names} (now)\n+++ {names} (after)\n@@ -1,2 +1,2 @@\n"
            " KEEP=abcdefghijklmnopqrstuvwxyz\n-TOKEN=old-secret-value-0000\n+TOKEN=new-secret-value-1111\n"
            "\\ No newline at end of file\n")
    masked = mask_diff(diff)
    head, body = masked.split("@@ -1,2 +1,2 @@\n")
    assert head == f"--- {names} (now)\n+++ {names} (after)\n"
    assert body == " KEEP=…wxyz\n-TOKEN=…0000\n+TOKEN=…1111\n\\ No newline at end of file\n"


def test_a_changed_secret_still_shows_as_changed():
    """Lines are compared before masking: two keys with the same last four characters still differ."""
    old = b'{"env": {"API_TOKEN": "aaaaaaaaaaaaaaaaaaaa1234"}}\n'
    new = b'{"env": {"API_TOKEN": "bbbbbbbbbbbbbbbbbbbb1234"}}\n'
    diff = FileChange("x", Path("/h/s.json"), Path("/h/s.json"), old, new, 0o600).diff()
    assert '-{"env": {"API_TOKEN": "…1234"}}' in diff and '+{"env": {"API_TOKEN": "…1234"}}' in diff


# ---------------------------------------------------------------- install and restore, against the sandbox


def test_install_preview_shows_no_neighbour_secret(platform, isolated_home):
    place_corpus(isolated_home)
    pv = preview(platform, corpus_agents(), model="anthropic/claude-sonnet-4.5")
    assert not pv.unsupported
    diff = pv.diff()
    assert_no_secret(diff)
    for where in [*PLACES.values(), AIDER_ENV]:
        assert f"+++ {isolated_home / where} (after)" in diff, where
    # which field changed is still plain
    assert '-    "ANTHROPIC_AUTH_TOKEN": "…' in diff
    assert '+    "ANTHROPIC_AUTH_TOKEN": "sk-or-v1-…0000"' in diff
    assert 'experimental_bearer_token = "sk-or-v1-…0000"' in diff
    assert "-  provider: custom" in diff and "+  provider: openrouter" in diff
    assert "-OPENROUTER_API_KEY=sk-or-v1-…4c54" in diff and "+OPENROUTER_API_KEY=sk-or-v1-…0000" in diff
    assert diff.count("\n@@ -") >= 5


def test_restore_diff_shows_no_secret_and_masks_the_previous_proxy_token(platform, isolated_home):
    place_corpus(isolated_home)
    pv = preview(platform, corpus_agents())
    result = asyncio.run(execute(pv, Decimal("1.00"), "monthly"))
    issued = [r.issued.secret for r in result.installed]
    assert len(issued) == 4 and result.backup is not None

    rp = restore_preview(BackupStore(), result.backup)
    diff = rp.diff()
    assert rp.changes == 5
    assert_no_secret(diff, issued)
    assert '+    "ANTHROPIC_AUTH_TOKEN": "…lihj"' in diff  # the proxy token the install diff masked too
    assert '-    "ANTHROPIC_AUTH_TOKEN": "sk-or-v1-…' in diff
    assert "+OPENROUTER_API_KEY=sk-or-v1-…4c54" in diff
    # one agent's restore is the same diff, cut to its files
    only = restore_preview(BackupStore(), result.backup, agent="hermes").diff()
    assert_no_secret(only, issued)
    assert ".hermes/config.yaml (now)" in only and ".claude" not in only


def test_the_cli_dry_run_prints_no_secret(sandbox, isolated_home):
    import os
    import subprocess
    import sys

    place_corpus(isolated_home)
    env = {**os.environ, "CAPIT_OPENROUTER_BASE_URL": sandbox.base_url,
           "CAPIT_OPENROUTER_MANAGEMENT_KEY": sandbox.management_key}
    p = subprocess.run([sys.executable, "-m", "capit_tui", "openrouter", "5", "--agent", "claude,codex,hermes,aider",
                        "--dry-run"], capture_output=True, text=True, env=env, timeout=60)
    assert p.returncode == 0, p.stderr
    assert "ANTHROPIC_AUTH_TOKEN" in p.stdout
    assert_no_secret(p.stdout + p.stderr, [sandbox.management_key])
