"""Platforms that mint capped keys. `make_platform` builds the adapter for a configured platform."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # keep `import capit_tui.platforms` cheap: httpx loads with an adapter
    from capit_tui.platforms.base import Platform
    from capit_tui.core.settings import PlatformConfig


def make_platform(cfg: "PlatformConfig", management_key: str, **kwargs: Any) -> "Platform":
    if cfg.kind == "openrouter":
        from capit_tui.platforms.openrouter import OpenRouterPlatform

        p: Platform = OpenRouterPlatform(cfg.name, cfg.base_url, management_key, **kwargs)
    elif cfg.kind == "oneapi":
        from capit_tui.platforms.oneapi import OneApiPlatform

        p = OneApiPlatform(cfg.name, cfg.base_url, management_key,
                           quota_per_usd=cfg.quota_per_usd or 500_000, user_id=cfg.user_id, **kwargs)
    else:
        raise ValueError(f"unknown platform kind {cfg.kind!r}")
    if cfg.manage_url:
        p.manage_url = cfg.manage_url  # type: ignore[misc]
    return p
