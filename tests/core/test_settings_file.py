"""settings.toml is the user's file: adding and removing a platform touches only its table, a wrong value is
refused with its line before anything is written, and [keymap] entries are checked one by one."""

from __future__ import annotations

import stat

import pytest

from capit_tui.core import platform_setup, settings, vault
from capit_tui.core.settings import PlatformConfig, SettingsError

MGMT = "sk-or-v1-" + "7" * 64

USER_FILE = """\
# capit-tui settings, kept in my dotfiles
[defaults]
reset = "weekly"        # weekly budgets for everything
refresh_interval = 45
theme = "dark"          # not a capit-tui key (yet): it must survive

[platforms.homegw]
kind = "oneapi"
base_url = "https://gw.home.example"   # the box under the stairs
quota_per_usd = 250000
owner = "me"            # unknown key inside a known table

# the keys I like
[keymap]
"keys.revoke" = "ctrl+d"

[my.own.table]
answer = 42
"""


def write(body: str, *, crlf: bool = False) -> settings.Path:
    p = settings.settings_path()
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_bytes((body.replace("\n", "\r\n") if crlf else body).encode())
    return p


@pytest.mark.parametrize("crlf", [False, True], ids=["lf", "crlf"])
def test_add_then_remove_keeps_every_other_byte(crlf):
    p = write(USER_FILE, crlf=crlf)
    original = p.read_bytes()
    s = settings.load()
    cfg = platform_setup.resolve(s, "mygw", kind="oneapi", base_url="https://mygw.example/", quota_per_usd=1000)
    platform_setup.store(s, cfg, MGMT)
    nl = "\r\n" if crlf else "\n"
    added = (nl + "[platforms.mygw]" + nl + 'kind = "oneapi"' + nl + 'base_url = "https://mygw.example"' + nl
             + "quota_per_usd = 1000" + nl).encode()
    assert p.read_bytes() == original + added
    assert stat.S_IMODE(p.stat().st_mode) == 0o600
    back = settings.load()
    assert back.platforms["mygw"].quota_per_usd == 1000 and back.platforms["homegw"].base_url.endswith("example")
    assert back.default_reset == "weekly" and back.refresh_interval == 45

    removed = platform_setup.remove(settings.load(), "mygw")
    assert "settings.toml" in removed.removed_from
    assert p.read_bytes() == original


def test_removing_a_table_in_the_middle_keeps_the_comment_of_the_next_one():
    p = write(USER_FILE)
    platform_setup.remove(settings.load(), "homegw")
    start = USER_FILE.index("[platforms.homegw]")
    end = USER_FILE.index("# the keys I like")
    assert p.read_text() == USER_FILE[:start] + USER_FILE[end:]
    assert "homegw" not in settings.load().platforms


def test_changing_a_platform_changes_its_line_only():
    p = write(USER_FILE)
    s = settings.load()
    cfg = platform_setup.resolve(s, "homegw", base_url="https://gw2.home.example", user_id="7")
    platform_setup.store(s, cfg, MGMT)
    expected = USER_FILE.replace('"https://gw.home.example"   # the box', '"https://gw2.home.example"   # the box')
    expected = expected.replace('owner = "me"            # unknown key inside a known table\n',
                                'owner = "me"            # unknown key inside a known table\nuser_id = "7"\n')
    assert p.read_text() == expected


def test_a_new_file_is_written_private_and_reads_back():
    s = settings.load()
    cfg = platform_setup.resolve(s, "mygw", kind="openrouter", base_url="https://or.example/api/v1")
    platform_setup.store(s, cfg, MGMT)
    p = settings.settings_path()
    assert p.read_text() == '[platforms.mygw]\nkind = "openrouter"\nbase_url = "https://or.example/api/v1"\n'
    assert stat.S_IMODE(p.stat().st_mode) == 0o600


def test_a_symlinked_settings_file_is_written_through(tmp_path):
    real = tmp_path / "dotfiles" / "capit.toml"
    real.parent.mkdir()
    real.write_text(USER_FILE)
    link = settings.settings_path()
    link.parent.mkdir(parents=True)
    link.symlink_to(real)
    platform_setup.remove(settings.load(), "homegw")
    assert link.is_symlink() and "homegw" not in real.read_text() and "# the keys I like" in real.read_text()


@pytest.mark.parametrize("old,new,line,fragment", [
    ("refresh_interval = 45", 'refresh_interval = "soon"', 4, "'soon'"),
    ("refresh_interval = 45", "refresh_interval = -3", 4, "-3"),
    ('reset = "weekly"        # weekly', 'reset = "hourly"        # weekly', 3, "'hourly'"),
    ("quota_per_usd = 250000", "quota_per_usd = 0", 10, "quota_per_usd"),
    ('kind = "oneapi"', 'kind = "twoapi"', 8, "kind"),
])
def test_a_wrong_value_is_refused_with_its_line_and_nothing_is_written(old, new, line, fragment):
    p = write(USER_FILE.replace(old, new))
    before = p.read_bytes()
    with pytest.raises(SettingsError) as err:
        settings.load()
    assert f"{p}, line {line}:" in str(err.value) and fragment in str(err.value)
    cfg = PlatformConfig("mygw", "oneapi", "https://mygw.example", quota_per_usd=1000)
    with pytest.raises(SettingsError, match=f"line {line}:"):
        settings.put_platform(cfg)
    with pytest.raises(SettingsError, match=f"line {line}:"):
        settings.drop_platform("homegw")
    with pytest.raises(SettingsError) as err:  # what the TUI's forms call, and the sentence they show
        platform_setup.store_with_consent(settings.Settings(path=p), cfg, MGMT, needs_consent=False, consented=False)
    assert f"line {line}:" in platform_setup.error_sentence(err.value)
    assert p.read_bytes() == before
    assert vault.lookup("mygw") is None  # the key was not kept for a platform that could not be saved


def test_a_wrong_value_inside_a_multiline_string_is_not_mistaken_for_a_key():
    body = 'note = """\n[defaults]\nrefresh_interval = 1\n"""\n\n[defaults]\nrefresh_interval = 1\n'
    p = write(body)
    with pytest.raises(SettingsError, match=f"{p}, line 7:"):
        settings.load()


def test_save_writes_only_what_differs():
    p = write(USER_FILE)
    s = settings.load()
    s.refresh_interval = 20
    settings.save(s)
    assert p.read_text() == USER_FILE.replace("refresh_interval = 45", "refresh_interval = 20")


def test_keymap_entries_are_checked_one_by_one():
    p = write(USER_FILE.replace('"keys.revoke" = "ctrl+d"\n',
                                '"keys.revoke" = "ctrl+d, delete"\n'
                                '"app.quit" = ""\n'
                                '"keys.nope" = "z"\n'
                                '"app.help" = "ctrl+bogus+h"\n'
                                '"app.refresh" = 5\n'
                                '"keys.filter" = "f"\n')).read_text()
    s = settings.load()
    known = {"keys.revoke", "app.quit", "app.help", "app.refresh", "keys.filter"}
    good, problems = settings.check_keymap(s, known, is_key=lambda k: k != "f")
    assert good == {"keys.revoke": "ctrl+d,delete"}
    path = settings.settings_path()
    lines = {n + 1: line for n, line in enumerate(p.splitlines())}
    assert len(problems) == 5
    for problem, binding in zip(problems, ["app.quit", "keys.nope", "app.help", "app.refresh", "keys.filter"],
                                strict=True):
        line = next(n for n, text in lines.items() if text.startswith(f'"{binding}"'))
        assert problem.startswith(f"{path}, line {line}:") and binding in problem and "ignored" in problem
    assert "no key binding has the id 'keys.nope'" in problems[1]
    assert "'ctrl+bogus+h' is not a key name" in problems[2]


def test_a_keymap_that_is_not_a_table_is_named_not_fatal():
    write('keymap = "vim"\n')
    s = settings.load()
    good, problems = settings.check_keymap(s, {"app.quit"})
    assert good == {} and len(problems) == 1 and "line 1" in problems[0] and "must be a table" in problems[0]


def test_pool_tables_are_read_and_a_wrong_one_is_refused_with_its_line():
    from decimal import Decimal

    from capit_tui.core.pool import Pool

    write(USER_FILE + '\n[[pool]]\nperiod = "daily"\namount = "20"\nmatch = "capit-*"\nenforce = true\n\n'
          '[[pool]]\nperiod = "monthly"\namount = 300\n')
    assert settings.load().pools == [Pool("daily", Decimal("20.00"), "capit-*", True),
                                     Pool("monthly", Decimal("300.00"), "*", False)]
    for table, line, fragment in (
            ('period = "hourly"\namount = "5"', 21, "pool.period must be daily, weekly or monthly"),
            ('period = "daily"\namount = "-5"', 22, "the daily pool: the amount '-5' is negative"),
            ('period = "daily"\namount = "5"\nenforce = "yes"', 23, "pool.enforce must be true or false"),
            ('period = "daily"\namount = true', 22, "pool.amount must be an amount in dollars")):
        write(USER_FILE + f"\n[[pool]]\n{table}\n")
        with pytest.raises(SettingsError, match=f", line {line}: ") as e:
            settings.load()
        assert fragment in str(e.value)
    write(USER_FILE + '\n[[pool]]\nperiod = "daily"\namount = 5\n[[pool]]\nperiod = "daily"\namount = 6\n')
    with pytest.raises(SettingsError, match="two daily pools"):
        settings.load()
