import dataclasses
import inspect
from datetime import datetime, timezone
from decimal import Decimal

import pytest

from capit_tui.core.model import CappedKey, IssuedKey, parse_reset, parse_time
from capit_tui.core.redact import mask, placeholder_like, redact

SECRET = "sk-or-v1-" + "ab12" * 16


def key(**kw):
    base = dict(platform="openrouter", id="f" * 64, name="k")
    base.update(kw)
    return CappedKey(**base)


def test_spent_prefers_limit_minus_remaining():
    k = key(limit=Decimal(10), limit_remaining=Decimal("2.5"), limit_reset="daily", usage_daily=Decimal(1))
    assert k.spent == Decimal("7.5")
    assert k.percent == Decimal("75.0")
    assert k.status == "active"


def test_spent_falls_back_to_the_reset_window():
    assert key(limit=Decimal(10), limit_reset="weekly", usage_weekly=Decimal(3), usage=Decimal(9)).spent == 3
    assert key(limit=Decimal(10), limit_reset=None, usage=Decimal(9), usage_monthly=Decimal(1)).spent == 9


def test_status():
    assert key(limit=Decimal(1), limit_remaining=Decimal(0)).status == "capped"
    assert key(disabled=True).status == "disabled"
    assert key(limit=None, usage=Decimal(100)).percent is None


def test_to_json_has_the_documented_fields():
    j = key(limit=Decimal("5.00"), limit_remaining=Decimal("4.5"), limit_reset="monthly",
            created_at=datetime(2026, 11, 1, tzinfo=timezone.utc)).to_json()
    for field in ("platform", "id", "name", "disabled", "limit", "limit_reset", "limit_remaining", "usage",
                  "usage_daily", "usage_weekly", "usage_monthly", "created_at"):
        assert field in j
    assert j["limit"] == 5 and j["limit_remaining"] == 4.5 and j["created_at"] == "2026-11-01T00:00:00Z"


def test_issued_key_never_shows_its_secret():
    ik = IssuedKey(secret=SECRET, key=key())
    assert SECRET not in repr(ik) and SECRET not in str(ik)
    assert "sk-or-v1-…ab12" in repr(ik)


@pytest.mark.parametrize("text,value", [("daily", "daily"), ("Weekly", "weekly"), ("never", None), (None, None)])
def test_parse_reset(text, value):
    assert parse_reset(text) == value


def test_parse_reset_refuses_unknown():
    with pytest.raises(ValueError, match="daily, weekly, monthly or never"):
        parse_reset("hourly")


def test_parse_time_both_styles():
    assert parse_time("2025-08-24T10:30:00Z") == datetime(2025, 8, 24, 10, 30, tzinfo=timezone.utc)
    assert parse_time("2025-02-19T20:52:27.363244+00:00").microsecond == 363244
    assert parse_time(0) is None and parse_time("garbage") is None
    assert parse_time(1700000000).year == 2023


def test_mask_and_redact():
    assert mask(SECRET) == "sk-or-v1-…ab12"
    assert mask("short") == "…"
    text = f"Authorization: Bearer {SECRET} and sk-{'x' * 48} and token abcdefghijklmnop"
    out = redact(text, "abcdefghijklmnop")
    assert SECRET not in out and "x" * 48 not in out and "abcdefghijklmnop" not in out
    assert len(placeholder_like()) == len(SECRET)


def test_capped_key_init_takes_its_fields_in_order_with_their_defaults():
    """CappedKey's __init__ is written by hand (faster than the frozen dataclass's): it must stay the one the
    dataclass would make, field for field."""
    params = list(inspect.signature(CappedKey.__init__).parameters.values())[1:]
    fields = dataclasses.fields(CappedKey)
    assert [p.name for p in params] == [f.name for f in fields]
    for p, f in zip(params, fields, strict=True):
        if f.default is not dataclasses.MISSING:
            assert p.default == f.default and type(p.default) is type(f.default), f.name
        elif f.default_factory is not dataclasses.MISSING:
            assert p.default is not inspect.Parameter.empty, f.name
        else:
            assert p.default is inspect.Parameter.empty, f.name
    a, b = CappedKey("openrouter", "id1", "a"), CappedKey("openrouter", "id2", "b")
    assert a.extra == {} and a.extra is not b.extra  # a new dict each, as default_factory=dict gave
    shared = {"x": 1}
    assert CappedKey("openrouter", "id3", "c", extra=shared).extra is shared
    assert dataclasses.replace(a, name="renamed \x1b[31m").name == "renamed ?[31m"  # cleaned on replace too


def test_capped_key_cleans_every_platform_string_it_is_built_with():
    k = CappedKey("open\x1brouter", "id\n1", "na\u202eme", label="l\x07", limit_reset="mon\tthly",
                  workspace_id="ws\x9b", allowed_models=("gpt\x1b", "ok"))
    assert (k.platform, k.id, k.name, k.label, k.limit_reset, k.workspace_id) == (
        "open?router", "id 1", "na?me", "l?", "mon thly", "ws?")
    assert k.allowed_models == ("gpt?", "ok")
    with pytest.raises(dataclasses.FrozenInstanceError):
        k.name = "changed"  # type: ignore[misc]
    assert k == CappedKey("open?router", "id 1", "na?me", label="l?", limit_reset="mon thly", workspace_id="ws?",
                          allowed_models=("gpt?", "ok"))
