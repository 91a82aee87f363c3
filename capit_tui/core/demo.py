"""`--demo`: everything on the built-in sandbox, with config, data and agent files under a throwaway
demo folder. Nothing of the user's is read or written: no keyring, no real HOME, no real platforms."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from capit_tui.core.settings import PlatformConfig, Settings, save

DEMO_PLATFORM = "sandbox"


@contextmanager
def demo_environment(seed_keys: int = 40, traffic: bool = True) -> Iterator[Path]:
    from capit_tui.sandbox import Sandbox

    root = Path(tempfile.mkdtemp(prefix="capit-demo-"))
    saved = dict(os.environ)
    sandbox = Sandbox(seed_keys=seed_keys, traffic=traffic).start()
    try:
        for name in list(os.environ):
            if name.startswith("CAPIT_") and (name.endswith("_MANAGEMENT_KEY") or name.endswith("_BASE_URL")):
                del os.environ[name]
        os.environ["CAPIT_CONFIG_DIR"] = str(root / "config")
        os.environ["CAPIT_DATA_DIR"] = str(root / "data")
        os.environ["CAPIT_AGENT_HOME"] = str(root / "home")
        os.environ["CAPIT_NO_KEYRING"] = "1"
        os.environ["CAPIT_DEMO"] = "1"
        os.environ["CAPIT_SANDBOX_MANAGEMENT_KEY"] = sandbox.management_key
        (root / "home").mkdir(parents=True)
        cfg = PlatformConfig(DEMO_PLATFORM, "openrouter", sandbox.base_url, sandbox=True)
        save(Settings(platforms={DEMO_PLATFORM: cfg}), Path(os.environ["CAPIT_CONFIG_DIR"]) / "settings.toml")
        seed_agent_files(root / "home")
        yield root
    finally:
        sandbox.stop()
        os.environ.clear()
        os.environ.update(saved)
        shutil.rmtree(root, ignore_errors=True)


SAMPLE_FILES = {
    ".claude/settings.json": """{
  "permissions": {
    "allow": ["Bash(npm run test:*)", "Read(~/.zshrc)"]
  },
  "model": "sonnet",
  "env": {
    "BASH_DEFAULT_TIMEOUT_MS": "120000"
  }
}
""",
    ".codex/config.toml": """# Codex settings (demo sample)
model = "gpt-5.1-codex"
approval_policy = "on-request"

[profiles.fast]
model = "gpt-5.1-codex-mini"

[mcp_servers.docs]
command = "npx"
args = ["-y", "docs-mcp"]
""",
    ".config/opencode/opencode.json": """{
  "$schema": "https://opencode.ai/config.json",
  // demo sample: a theme and one MCP server
  "theme": "tokyonight",
  "mcp": {
    "fs": {"type": "local", "command": ["npx", "-y", "fs-mcp"]}
  }
}
""",
    ".hermes/.env": """# Hermes secrets (demo sample)
export TELEGRAM_BOT_TOKEN=demo-not-a-real-token
""",
    ".hermes/config.yaml": """model:
  provider: auto   # picks OpenRouter when its key is present
  default: anthropic/claude-sonnet-4.5
terminal:
  backend: local
""",
}


def seed_agent_files(home: Path) -> None:
    """Sample configs for a few agents, so the demo's diffs show a real file being edited."""
    for rel, text in SAMPLE_FILES.items():
        path = home / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
