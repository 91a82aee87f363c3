from datetime import datetime, timezone
from decimal import Decimal

from capit_tui.core.model import CappedKey
from capit_tui.core.spend_watch import SpendWatch

T = datetime(2026, 11, 21, 12, tzinfo=timezone.utc)


def k(id_, spent, limit=Decimal(10), platform="p", disabled=False):
    return CappedKey(platform, id_, id_, limit=limit, limit_remaining=limit - Decimal(spent) if limit else None,
                     limit_reset="daily", disabled=disabled)


def test_crossings_fire_once_per_threshold():
    w = SpendWatch()
    w.apply([k("a", 7)], {}, T)
    up = w.apply([k("a", "8.5")], {}, T)
    assert [c.threshold for c in up.crossings] == [Decimal(80)]
    assert w.apply([k("a", 9)], {}, T).crossings == []
    up = w.apply([k("a", 10)], {}, T)
    assert [c.threshold for c in up.crossings] == [Decimal(100)]


def test_jump_past_both_and_uncapped_and_disabled():
    w = SpendWatch()
    w.apply([k("a", 1), k("b", 1, limit=None), k("c", 1)], {}, T)
    up = w.apply([k("a", 10), k("b", 50, limit=None), k("c", 10, disabled=True)], {}, T)
    assert [(c.key.id, c.threshold) for c in up.crossings] == [("a", Decimal(80)), ("a", Decimal(100))]


def test_failed_platform_keeps_its_rows_and_history_grows():
    w = SpendWatch()
    w.apply([k("a", 1), k("b", 2, platform="q")], {}, T)
    up = w.apply([k("a", 2)], {"q": "server error"}, T)
    assert up.removed == [] and ("q", "b") in w.keys and w.errors == {"q": "server error"}
    assert list(w.history[("p", "a")]) == [Decimal(1), Decimal(2)]
    up = w.apply([k("a", 2)], {}, T)
    assert up.removed == [("q", "b")] and ("q", "b") not in w.history
