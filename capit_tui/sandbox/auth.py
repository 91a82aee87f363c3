"""Who is calling: the credential a request carries (`Authorization: Bearer` or `x-api-key`) and what it
stands for — the management key, a live inference key, or nobody — with the refusals OpenRouter
answers for each API (management, inference, the sandbox's own admin API)."""

from __future__ import annotations

import hmac
from typing import TYPE_CHECKING

from capit_tui.sandbox.state import SandboxKey, sha256_hex
from capit_tui.sandbox.wire import (
    MSG_MANAGEMENT_INFERENCE,
    MSG_MISSING_AUTH,
    MSG_NOT_MANAGEMENT,
    MSG_USER_NOT_FOUND,
    Resp,
    error,
)

if TYPE_CHECKING:
    from capit_tui.sandbox.server import Sandbox


def credential(headers: dict[str, str]) -> str | None:
    auth = headers.get("authorization", "").strip()
    if auth:
        scheme, _, value = auth.partition(" ")
        if scheme.lower() == "bearer" and value.strip():
            return value.strip()
    api_key = headers.get("x-api-key", "").strip()
    return api_key or None


def is_management(sb: Sandbox, token: str | None) -> bool:
    if not token:
        return False
    return hmac.compare_digest(token.encode(), sb.management_key.encode())


def known_hash(sb: Sandbox, token: str | None) -> str | None:
    """The hash of the key a credential carries, if the sandbox knows it (for the request log)."""
    if not token:
        return None
    h = sha256_hex(token)
    if h == sb.management_key_hash or h in sb.store.keys:
        return h
    return None


def authenticate(sb: Sandbox, token: str | None, *, management: bool) -> Resp | SandboxKey | None:
    """None for the management key, the SandboxKey for an inference key, or an error response."""
    if not token:
        return error(401, MSG_MISSING_AUTH)
    if is_management(sb, token):
        return None
    key = sb.store.keys.get(sha256_hex(token))
    if key is None or key.disabled or key.expired(sb.store.now()):
        return error(401, MSG_USER_NOT_FOUND)
    if management:
        return error(403, MSG_NOT_MANAGEMENT)
    return key


def refuse_unless_management(sb: Sandbox, token: str | None) -> Resp | None:
    """None for the management key, else the error a management endpoint answers (401 or 403)."""
    who = authenticate(sb, token, management=True)
    return who if isinstance(who, Resp) else None


def inference_key(sb: Sandbox, token: str | None, anthropic: bool) -> Resp | SandboxKey:
    """The live inference key a call is charged to, or the error (a management key gets 403)."""
    if not token:
        return error(401, MSG_MISSING_AUTH, anthropic=anthropic)
    if is_management(sb, token):
        return error(403, MSG_MANAGEMENT_INFERENCE, anthropic=anthropic)
    key = sb.store.keys.get(sha256_hex(token))
    # An expired key (its expires_at passed) is refused like an unknown or disabled one: 401 with
    # OpenRouter's error envelope. OpenRouter does not document its answer for an expired key (open
    # question 7 in shared/reference/openrouter-api.md; its status list gives 401 for a bad, missing or
    # disabled key), so this is the 401 the brief asks for where the real behaviour is unknown.
    if key is None or key.disabled or key.expired(sb.store.now()):
        return error(401, MSG_USER_NOT_FOUND, anthropic=anthropic)
    return key
