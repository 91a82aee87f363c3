"""Keep secrets out of everything a person or a log can see."""

from __future__ import annotations

import re

# Shapes of secrets we know: OpenRouter (sk-or-v1-<64 hex>), one-api/new-api (sk-<48 alnum>),
# Anthropic/OpenAI style keys, and bearer tokens in a header echoed back by a server.
_SECRET_RE = re.compile(
    r"(sk-or-v1-[0-9a-fA-F]{8,}|sk-ant-[A-Za-z0-9_\-]{8,}|sk-(?:proj-)?[A-Za-z0-9_\-]{16,})"
)
_BEARER_RE = re.compile(r"(?i)(bearer\s+)([A-Za-z0-9._\-]{12,})")


def mask(secret: str | None) -> str:
    """sk-or-v1-0123...cdef -> 'sk-or-v1-…cdef'. Keeps the recognisable prefix and four characters."""
    if not secret:
        return ""
    s = str(secret)
    for prefix in ("sk-or-v1-", "sk-ant-api03-", "sk-ant-", "sk-proj-", "sk-"):
        if s.startswith(prefix) and len(s) > len(prefix) + 8:
            return f"{prefix}…{s[-4:]}"
    if len(s) <= 8:
        return "…"
    return f"…{s[-4:]}"


def placeholder_like(prefix: str = "sk-or-v1-", length: int = 73) -> str:
    """A stand-in secret of the real shape, for previews made before the key exists."""
    return prefix + "0" * (length - len(prefix))


def redact(text: str, *secrets: str | None) -> str:
    """Replace every known secret, and anything shaped like one, with its masked form."""
    out = str(text)
    for s in secrets:
        if s and len(s) >= 8:
            out = out.replace(s, mask(s))
    out = _SECRET_RE.sub(lambda m: mask(m.group(1)), out)
    out = _BEARER_RE.sub(lambda m: m.group(1) + mask(m.group(2)), out)
    return out
