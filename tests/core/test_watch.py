import dataclasses
from datetime import datetime, timezone
from decimal import Decimal

from capit_tui.core.model import CappedKey
from capit_tui.core.spend_watch import SpendWatch, Update, same

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


def test_failed_platform_keeps_its_rows_and_a_later_listing_removes_them():
    w = SpendWatch()
    w.apply([k("a", 1), k("b", 2, platform="q")], {}, T)
    up = w.apply([k("a", 2)], {"q": "server error"}, T)
    assert up.removed == [] and ("q", "b") in w.keys and w.errors == {"q": "server error"}
    assert up.changed == [("p", "a")] and w.keys[("p", "a")].spent == Decimal(2)
    up = w.apply([k("a", 2)], {}, T)
    assert up.removed == [("q", "b")] and ("q", "b") not in w.keys and up.changed == []


def test_a_refresh_reports_exactly_the_keys_added_changed_and_removed():
    w = SpendWatch()
    keys = [k(f"k{i}", i % 7) for i in range(50)]
    w.apply(keys, {}, T)
    assert w.apply(keys, {}, T) == Update([], [], [], [])  # the same objects again
    copies = [dataclasses.replace(x) for x in keys]
    assert w.apply(copies, {}, T) == Update([], [], [], [])  # equal keys, new objects
    renamed = dataclasses.replace(copies[3], name="renamed")
    disabled = dataclasses.replace(copies[9], disabled=True)
    extra = dataclasses.replace(copies[0], extra={"anything": 1})  # `extra` is not compared: not a change
    fresh = k("new", 1)
    listing = [extra] + copies[1:3] + [renamed] + copies[4:9] + [disabled] + copies[10:20] + copies[21:] + [fresh]
    up = w.apply(listing, {}, T)
    assert up.added == [("p", "new")] and up.removed == [("p", "k20")]
    assert up.changed == [("p", "k3"), ("p", "k9")] and up.crossings == []
    assert list(w.keys) == [(x.platform, x.id) for x in listing]


def test_same_is_equality_over_every_compared_field():
    a = k("a", 1)
    assert same(a, a) and same(a, dataclasses.replace(a))
    for f in dataclasses.fields(CappedKey):
        if not f.compare:
            continue
        other = "x" if isinstance(getattr(a, f.name), str) or getattr(a, f.name) is None else None
        if f.name in ("created_at", "updated_at", "expires_at", "last_used_at"):
            other = T
        elif isinstance(getattr(a, f.name), bool):
            other = not getattr(a, f.name)
        elif isinstance(getattr(a, f.name), Decimal):
            other = getattr(a, f.name) + 1
        b = dataclasses.replace(a, **{f.name: other})
        assert (b == a) is False and same(a, b) is False, f.name


def test_the_first_listing_adds_every_key_in_its_order_and_crosses_nothing():
    """The first listing takes a short way (nothing to compare with): every key added, in the listing's
    order, none changed or removed, and no toast for a key already past 80% or its cap."""
    w = SpendWatch()
    keys = [k("b", 9), k("a", 11), k("c", 1, limit=None)]
    up = w.apply(keys, {}, T)
    assert up.added == [("p", "b"), ("p", "a"), ("p", "c")]
    assert (up.changed, up.removed, up.crossings) == ([], [], [])
    assert list(w.keys.values()) == keys
    again = w.apply([k("b", 9), k("a", 11)], {}, T)  # the second compares: c removed, nothing else
    assert (again.added, again.changed, again.removed) == ([], [], [("p", "c")])
