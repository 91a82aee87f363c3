"""Which model an install writes into an agent's files.

The rule (one place, every agent that keeps a model in its files follows it):
- a model chosen for the install (`--model`, the form's Model field) wins;
- else the agent keeps the model its files name now. On OpenRouter, whose model ids are `vendor/model`,
  a name in another naming is translated only where that is certain (OPENROUTER_IDS: `o3` ->
  `openai/o3`); any other name is kept unchanged, and the install warns that OpenRouter may not know
  it. On other platforms (one-api gateways) model names are the upstream ones: kept as they are;
- the agent's default model is written only when its files name no model at all.

A LiteLLM proxy routes the model names its config gives (`model_list[].model_name`): `platform_models` reads
them from GET /v1/models for the new-key form to offer.

Some agents route a model to OpenRouter by a prefix of their own (Aider, OpenClaw: `openrouter/<id>`);
`prefix` carries it, so `o3` there becomes `openrouter/openai/o3`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from capit_tui.core.text import clean_text

if TYPE_CHECKING:
    from capit_tui.core.keys import Configured

# Bare model names (as OpenAI's and Anthropic's own APIs name them, which Codex, Aider, Crush, ... use)
# whose OpenRouter id is certain: OpenRouter names OpenAI's models `openai/<OpenAI's name>` and
# Anthropic's `anthropic/<name, version with a dot>`. The ids below appear in the sandbox's model list or
# the OpenRouter OpenAPI subset (shared/reference), except `o3` and `gpt-5`, named by issue 10. Add a
# name only when its id is checked the same way; any other name is kept, with a warning.
OPENROUTER_IDS: dict[str, str] = {
    "o3": "openai/o3",
    "gpt-5": "openai/gpt-5",
    "gpt-4o": "openai/gpt-4o",
    "gpt-4o-mini": "openai/gpt-4o-mini",
    "gpt-4.1": "openai/gpt-4.1",
    "gpt-5.1": "openai/gpt-5.1",
    "gpt-5.1-codex": "openai/gpt-5.1-codex",
    "gpt-5.2": "openai/gpt-5.2",
    "claude-sonnet-4-5": "anthropic/claude-sonnet-4.5",
    "claude-opus-4-5": "anthropic/claude-opus-4.5",
    "claude-haiku-4-5": "anthropic/claude-haiku-4.5",
}

GIVEN, KEPT, TRANSLATED, DEFAULT, UNKNOWN, UNSET = "given", "kept", "translated", "default", "unknown", "unset"


@dataclass(frozen=True)
class ModelChoice:
    """The model an agent's files name before the install and the one they will name after it."""

    before: str | None  # as the agent's files say now (None: no model set)
    after: str | None  # what they will say (None: no model is written)
    how: str  # GIVEN | KEPT | TRANSLATED | DEFAULT | UNKNOWN | UNSET

    @property
    def changes(self) -> bool:
        """True when the install writes a model other than the one set now."""
        return self.after is not None and self.after != self.before

    @property
    def line(self) -> str:
        """One summary line: `model: o3 → openai/o3 (...)`, `model: kept openai/o3`. File text is cleaned."""
        before, after = _shown(self.before), _shown(self.after)
        if self.how == UNKNOWN:
            kept = f"{before} → {after}" if self.changes else f"kept {before}"
            return f"model: {kept} (OpenRouter may not know this name)"
        if not self.changes:
            return f"model: kept {before}" if self.before else "model: none set, none written"
        why = {GIVEN: "as chosen", TRANSLATED: "OpenRouter's name for it",
               DEFAULT: "the agent's default"}.get(self.how)
        return f"model: {before if self.before else 'none set'} → {after}" + (f" ({why})" if why else "")

    @property
    def warning(self) -> str | None:
        """What to warn about: a kept model the platform may not know."""
        if self.how != UNKNOWN:
            return None
        return (f"its model {_shown(self.before)} is not an OpenRouter model id capit-tui can translate, so it is "
                "kept and OpenRouter may refuse it; choose a model to replace it.")


def _shown(name: str | None) -> str:
    return clean_text(name or "", 120)


def choose_model(current: str | None, given: str | None, *, kind: str, default: str | None,
                 prefix: str = "") -> ModelChoice:
    """The model to write, in the agent's naming (`prefix` + the platform's id). See the module's rule."""
    current = current.strip() if isinstance(current, str) and current.strip() else None
    if given:
        return ModelChoice(current, prefix + given, GIVEN)
    if current is None:
        return ModelChoice(None, prefix + default if default else None, DEFAULT if default else UNSET)
    name = current[len(prefix):] if prefix and current.startswith(prefix) else current
    routed = name != current or not prefix  # the agent already sends this model to the platform
    if kind != "openrouter":
        return ModelChoice(current, prefix + name, KEPT)  # upstream names, kept as they are
    vendor, _, bare = name.rpartition("/")
    known = OPENROUTER_IDS.get(bare)
    if known is not None and (not vendor or known.startswith(vendor + "/")):
        how = KEPT if known == name and routed else TRANSLATED
        return ModelChoice(current, prefix + known, how)
    if vendor and routed:
        return ModelChoice(current, current, KEPT)  # already an OpenRouter id: the user's choice
    return ModelChoice(current, prefix + name, UNKNOWN)  # the user's name, sent to OpenRouter as it is


# ---------------------------------------------------------------- the models a platform routes


def lists_models(kind: str) -> bool:
    """Whether a platform of this kind says which model names it routes (a LiteLLM proxy: GET /v1/models).
    Elsewhere a model is typed as the platform names it (OpenRouter ids, a gateway's upstream names)."""
    from capit_tui.platforms import adapter_class

    return hasattr(adapter_class(kind), "list_models")


async def platform_models(c: Configured) -> list[str]:
    """The model names the platform routes, sorted and cleaned, for the new-key form to offer; [] when the
    platform does not list them. Raises the platform's typed error when it cannot be asked."""
    if not lists_models(c.config.kind):
        return []
    async with c.open() as p:
        names: list[str] = await p.list_models()
    return names
