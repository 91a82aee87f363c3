"""Masking every secret in a diff, line by line, whatever the file's format.

A diff of an agent's config shows the lines around the one capit-tui changes, and those lines hold other
secrets: a GitHub token beside Claude's key, an AWS secret in a .env file, a proxy token a restore puts
back. `mask_diff` masks them in the diff's text:

- in a .env file, every value (but empty values, booleans, references to other variables, and base URLs
  or model names that do not look like a token);
- in JSON, TOML, YAML (or any other text), every value whose key looks like a secret (KEY, TOKEN, SECRET,
  PASSWORD, AUTH, CREDENTIAL, ...), but not obvious non-secrets (`*_BASE_URL`, `env_key`, `max_tokens`,
  booleans, numbers, empty strings);
- everywhere, every value shaped like a known token (sk-..., ghp_..., xoxb-..., AKIA..., JWTs, Telegram
  and Google keys, a password in a URL, long high-entropy strings).

The masked form is the token's recognisable prefix, `…` and its last four characters (`ghp_…abcd`), as
`redact.mask` does; a short value is `…` alone. The diff's own structure (`---`/`+++` file names, hunk
headers, `\\ No newline`) is never masked. Each line is masked on its own, so a fragment of any format works.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from pathlib import PurePath

from capit_tui.core.redact import mask

# ---------------------------------------------------------------- values shaped like a token

_B = r"(?<![A-Za-z0-9_\-])"  # the token starts at a word boundary (a '-' or '_' joins words too)
_E = r"(?![A-Za-z0-9_\-])"
_TOKEN_RES = [re.compile(rx) for rx in (
    _B + r"sk-or-v1-[0-9a-fA-F]{8,}" + _E,
    _B + r"sk-ant-[A-Za-z0-9_\-]{8,}" + _E,
    _B + r"sk-(?:proj-)?[A-Za-z0-9_\-]{16,}" + _E,
    _B + r"gh[pousr]_[A-Za-z0-9]{20,}" + _E,
    _B + r"github_pat_[A-Za-z0-9_]{20,}" + _E,
    _B + r"xox[abprs]-[A-Za-z0-9\-]{10,}" + _E,
    r"(?<![A-Za-z0-9])(?:AKIA|ASIA)[A-Z0-9]{16}(?![A-Za-z0-9])",
    _B + r"eyJ[A-Za-z0-9_\-]{8,}\.[A-Za-z0-9_\-]{8,}\.[A-Za-z0-9_\-]{8,}" + _E,  # a JWT
    r"(?<![A-Za-z0-9])\d{8,10}:[A-Za-z0-9_\-]{35}" + _E,  # a Telegram bot token
    _B + r"AIza[0-9A-Za-z_\-]{35}" + _E,  # Google
    _B + r"glpat-[A-Za-z0-9_\-]{20,}" + _E,  # GitLab
    _B + r"hf_[A-Za-z0-9]{30,}" + _E,  # Hugging Face
    _B + r"gsk_[A-Za-z0-9]{40,}" + _E,  # Groq
    _B + r"xai-[A-Za-z0-9]{40,}" + _E,
)]
_PREFIXES = ("ghp_", "gho_", "ghu_", "ghs_", "ghr_", "github_pat_", "xoxa-", "xoxb-", "xoxp-", "xoxr-", "xoxs-",
             "AKIA", "ASIA", "eyJ", "AIza", "glpat-", "hf_", "gsk_", "xai-")
_URL_PASSWORD_RE = re.compile(r"([A-Za-z][A-Za-z0-9+.\-]*://[^\s:/@\"']+:)([^\s@/\"']+)(@)")
_BEARER_RE = re.compile(r"(?i)\b((?:bearer|basic|token)\s+)([A-Za-z0-9._~+/=\-]{12,})")
_RUN_RE = re.compile(r"(?<![A-Za-z0-9+/=_\-])[A-Za-z0-9+/_\-]{32,}={0,2}(?![A-Za-z0-9+/=_\-])")
_WORD_RE = re.compile(r"[A-Za-z]?[a-z]+(?:[A-Z][a-z]+)*\d{0,4}|\d{1,8}[A-Za-z]?|[A-Z]{1,5}\d{0,3}|v\d+")
_HEX_RE = re.compile(r"[0-9a-fA-F]+")


def mask_value(value: str) -> str:
    """`ghp_…abcd` for a token of a known shape, `…abcd` for another long secret, `…` for a short one."""
    if "…" in value:
        return value  # masked already
    if value.startswith("sk-"):
        return mask(value)
    for prefix in _PREFIXES:
        if value.startswith(prefix) and len(value) >= len(prefix) + 16:
            return f"{prefix}…{value[-4:]}"
    if len(value) < 16:
        return "…"
    return f"…{value[-4:]}"


def _entropy(s: str) -> float:
    counts: dict[str, int] = {}
    for ch in s:
        counts[ch] = counts.get(ch, 0) + 1
    return -sum(n / len(s) * math.log2(n / len(s)) for n in counts.values())


def looks_random(run: str) -> bool:
    """A long string of mixed character classes that reads like a secret, not a path, slug or word."""
    if len(run) < 32:
        return False
    parts = [p for p in re.split(r"[-_/.]", run) if p]
    if len(parts) >= 2 and all(_WORD_RE.fullmatch(p) for p in parts):
        return False  # words joined by - _ / .: a path or a model id (.config/SomeApp2024, claude-sonnet-4-5)
    has_digit = any(c.isdigit() for c in run)
    if _HEX_RE.fullmatch(run):
        return has_digit and any(c.isalpha() for c in run)  # a hex secret (or digest)
    if not (any(c.islower() for c in run) and any(c.isupper() for c in run)):
        return False
    return _entropy(run) >= (3.5 if has_digit else 4.3)


def mask_tokens(text: str) -> str:
    """Every token-shaped value anywhere in `text`, masked (a line of any format, or prose)."""
    for rx in _TOKEN_RES:
        text = rx.sub(lambda m: mask_value(m.group(0)), text)
    text = _URL_PASSWORD_RE.sub(lambda m: m.group(1) + "…" + m.group(3), text)
    text = _BEARER_RE.sub(lambda m: m.group(1) + mask_value(m.group(2)) if re.search(r"\d", m.group(2))
                          else m.group(0), text)
    return _RUN_RE.sub(lambda m: mask_value(m.group(0)) if looks_random(m.group(0)) else m.group(0), text)


# ---------------------------------------------------------------- values under a secret-looking key

_SECRET_WORDS = ("KEY", "TOKEN", "SECRET", "PASSWORD", "PASSWD", "PASSPHRASE", "AUTH", "CREDENTIAL", "COOKIE")
# Names that hold no secret even though a word above is in them: where a key goes, what a key is called,
# which variable holds it, how to get it, and counters (max_tokens).
_NOT_SECRET_KEY_RE = re.compile(
    r"(URL|URI|ENDPOINT|API_BASE|HOST|DOMAIN|PORT|"  # where
    r"_ENV|ENV_KEY|_ENV_VAR|_VAR|_NAME|_ID|_TYPE|_METHOD|_MODE|_PROVIDER|"  # which, what kind
    r"_FILE|_PATH|_DIR|_HELPER|_COMMAND|_CMD|_EXPIRY|_EXPIRES_AT|_TTL|_TIMEOUT|_LIMIT|_COUNT|_ENABLED)$"
    r"|TOKENS|TOKENIZER|KEYBIND|KEYMAP|KEYBOARD|HOTKEY|(?:^|_)AUTHORS?(?:$|_)|^MODEL$|_MODEL$")
_MODEL_OR_URL_KEY_RE = re.compile(r"(BASE_URL|API_BASE|_URL|_ENDPOINT|^MODEL|_MODEL|MODEL_NAME)$")
_ENV_REF_RE = re.compile(r"^(?:\$\{?[A-Za-z_][A-Za-z0-9_]*(?::-[^}]*)?\}?|\{env:[A-Za-z_][A-Za-z0-9_]*\}"
                         r"|env:[A-Za-z_][A-Za-z0-9_]*|os\.environ/[A-Za-z_][A-Za-z0-9_]*)$")
_NUMBER_RE = re.compile(r"^[+-]?(?:\d[\d_]*)?(?:\.\d+)?(?:[eE][+-]?\d+)?$")
_BOOLEANS = {"true", "false", "null", "none", "nil", "yes", "no", "on", "off", "~"}


def _normal_key(key: str) -> str:
    """apiKey, api-key, "api_key", env.API_KEY -> API_KEY (the last dotted part, upper snake case)."""
    k = key.strip().strip("\"'")
    k = k.rsplit(".", 1)[-1] if "." in k and not k.endswith(".") else k
    k = re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", k)
    return re.sub(r"[^A-Za-z0-9]+", "_", k).upper()


def secret_key(key: str) -> bool:
    """Whether a key's name says its value is a secret (`GITHUB_TOKEN`, `apiKey`, `password`)."""
    k = _normal_key(key)
    return any(w in k for w in _SECRET_WORDS) and not _NOT_SECRET_KEY_RE.search(k)


def _harmless(value: str, *, numbers: bool) -> bool:
    v = value.strip()
    if not v or "…" in v or v.lower() in _BOOLEANS or _ENV_REF_RE.match(v):
        return True
    return numbers and bool(_NUMBER_RE.match(v)) and any(c.isdigit() for c in v)


def _dotenv_plain(key: str, value: str) -> bool:
    """A .env value shown as it is: a base URL or model name that does not look like a token."""
    if not _MODEL_OR_URL_KEY_RE.search(_normal_key(key)):
        return False
    return mask_tokens(value) == value and not _URL_PASSWORD_RE.search(value)


# A key where one can start: the line's start (after indentation, a YAML "- ", `export`, or a comment
# marker: commented-out secrets count too), or just after "{" or "," in an inline table or object.
_PAIR_RE = re.compile(
    r"(?:^[ \t]*(?:(?:#+|//)[ \t]*)?(?:-[ \t]+)?(?:export[ \t]+)?|(?<=[{,])[ \t]*)"
    r"(?P<key>\"(?:[^\"\\]|\\.)*\"|'[^'\n]*'|[A-Za-z0-9_.\-]+)"
    r"(?P<sep>[ \t]*(?:=|:(?=[ \t]|$|[\"'{\[]))[ \t]*)")


def _value_span(line: str, start: int, flow: bool) -> tuple[int, int, int]:
    """(value start, value end, where scanning goes on) for the value at `start`, quotes excluded."""
    if start >= len(line):
        return start, start, start
    q = line[start]
    if q in "\"'":
        i = start + 1
        while i < len(line):
            if q == '"' and line[i] == "\\":
                i += 2
                continue
            if line[i] == q:
                return start + 1, i, i + 1
            i += 1
        return start + 1, len(line.rstrip("\n")), len(line)  # unterminated: the rest of the line
    if q in "{[":
        return start, start, start + 1  # a table or list: its own pairs are found in turn
    end = len(line)
    if flow:
        m = re.search(r"[,}\]]", line[start:])
        if m:
            end = start + m.start()
    m = re.search(r"[ \t]+#.*$", line[start:end])  # an inline comment
    if m:
        end = start + m.start()
    text = line[start:end].rstrip(" \t\r\n")
    if not flow and text.endswith(","):
        text = text[:-1]
    return start, start + len(text), start + len(text)


def mask_pairs(line: str, *, dotenv: bool = False) -> str:
    """Every `key: value` / `key = value` / `"key": "value"` / `KEY=value` on the line whose key looks like
    a secret (in a .env file: every value) with its value masked."""
    out: list[str] = []
    pos = 0
    while True:
        m = _PAIR_RE.search(line, pos)
        if m is None:
            break
        key, sep = m.group("key"), m.group("sep")
        flow = m.start() > 0 and line[m.start() - 1] in "{,"
        vstart, vend, resume = _value_span(line, m.end(), flow)
        value = line[vstart:vend]
        if dotenv and "=" in sep:
            hide = not (_harmless(value, numbers=False) or _dotenv_plain(key, value))
        else:
            hide = secret_key(key) and not _harmless(value, numbers=True)
        if hide:
            out.append(line[pos:vstart] + mask_value(value))
            pos = vend
        else:
            out.append(line[pos:resume])
            pos = resume
    out.append(line[pos:])
    return "".join(out)


# A command-line flag naming a secret, then its value: "--api-key=V", "--token V", "--token", "V" (MCP args).
_FLAG_RE = re.compile(r"(?i)(?<![A-Za-z0-9])(--?[a-z0-9-]*?(?:key|token|secret|password|passwd|auth)"
                      r"[a-z0-9-]*)(=|[\"']?[ \t]*,[ \t]*[\"']|[ \t]+)([^\s\"',\]]+)")


def mask_flags(line: str) -> str:
    def one(m: re.Match[str]) -> str:
        flag, sep, value = m.groups()
        if value.startswith("-") or _harmless(value, numbers=False) or not secret_key(flag):
            return m.group(0)
        return flag + sep + mask_value(value)

    return _FLAG_RE.sub(one, line)


def mask_line(line: str, secrets: Iterable[str] = (), *, dotenv: bool = False) -> str:
    """One line of a file (or a fragment of one) with every secret masked."""
    for s in sorted({s for s in secrets if s and len(s) >= 8}, key=len, reverse=True):
        line = line.replace(s, mask(s))
    line = mask_pairs(line, dotenv=dotenv)  # a whole value under a secret key first
    return mask_tokens(mask_flags(line))  # then values after a secret flag, then token shapes anywhere


def is_dotenv(path: str | PurePath) -> bool:
    """A dotenv file by its name: `.env`, `oauth-keys.env`, `.env.local`."""
    name = PurePath(str(path)).name
    return name == ".env" or name.endswith(".env") or name.startswith(".env.")


# ---------------------------------------------------------------- a unified diff

_HUNK_RE = re.compile(r"^@@ -\d+(?:,(\d+))? \+\d+(?:,(\d+))? @@")
_NAME_SUFFIX_RE = re.compile(r"\s+\((?:now|after)\)\s*$")


def mask_diff(diff: str, secrets: Iterable[str] = (), *, dotenv: bool | None = None) -> str:
    """A unified diff (one file or several) with every secret in its lines masked.

    The `---`/`+++` lines and hunk headers are kept as they are; the lines of each hunk are masked by the
    rules of their file's format (`dotenv` forces the .env rules; None decides by the file's name).
    """
    known = [s for s in secrets if s]
    out: list[str] = []
    old_left = new_left = 0
    env_file = bool(dotenv)
    for line in diff.splitlines(keepends=True):
        tag = line[:1]
        if (old_left > 0 or new_left > 0) and tag in (" ", "-", "+"):
            out.append(tag + mask_line(line[1:], known, dotenv=env_file))
            if tag != "+":
                old_left -= 1
            if tag != "-":
                new_left -= 1
            continue
        if tag == "\\":
            out.append(line)  # "\ No newline at end of file"
            continue
        hunk = _HUNK_RE.match(line)
        if hunk:
            old_left = int(hunk.group(1)) if hunk.group(1) is not None else 1
            new_left = int(hunk.group(2)) if hunk.group(2) is not None else 1
            out.append(line)
            continue
        old_left = new_left = 0
        if line.startswith(("--- ", "+++ ")):
            name = _NAME_SUFFIX_RE.sub("", line[4:].rstrip("\n"))
            if dotenv is None and name != "/dev/null":
                env_file = is_dotenv(name)
            out.append(line)
            continue
        out.append(mask_tokens(line))  # a note between files: tokens only
    return "".join(out)
