"""Platforms that mint capped keys. `make_platform` builds the adapter for a configured platform."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # keep `import capit_tui.platforms` cheap: the transport loads with an adapter
    from capit_tui.core.settings import PlatformConfig
    from capit_tui.platforms.base import Platform


def adapter_class(kind: str) -> "type[Platform]":
    """The adapter for a kind of platform, without opening it (what it can do is a class attribute)."""
    if kind == "openrouter":
        from capit_tui.platforms.openrouter import OpenRouterPlatform

        return OpenRouterPlatform
    if kind == "oneapi":
        from capit_tui.platforms.oneapi import OneApiPlatform

        return OneApiPlatform
    if kind == "litellm":
        from capit_tui.platforms.litellm import LiteLLMPlatform

        return LiteLLMPlatform
    raise ValueError(f"unknown platform kind {kind!r}")


def make_platform(cfg: "PlatformConfig", management_key: str, **kwargs: Any) -> "Platform":
    """The adapter for `cfg`. A plain http:// base URL to another machine is refused unless cfg.allow_http
    (core/http_policy.py): the adapter is built but sends nothing, and each request raises PlainHttpRefused."""
    cls = adapter_class(cfg.kind)
    kwargs.setdefault("allow_http", cfg.allow_http)
    if cfg.kind == "oneapi":
        kwargs = {"quota_per_usd": cfg.quota_per_usd or 500_000, "user_id": cfg.user_id, **kwargs}
    p = cls(cfg.name, cfg.base_url, management_key, **kwargs)
    if cfg.manage_url:
        p.manage_url = cfg.manage_url
    return p
