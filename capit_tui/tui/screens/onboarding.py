"""First run: what capit-tui does, pick a platform, paste its management key (checked live), choose where it
is kept, see the agents on this machine, then issue the first capped key.

Nothing is stored until the key passed the check AND the storage step was confirmed; Esc leaves at any step,
and leaving before that stores nothing. The steps run the same core as `capit-tui platforms add`
(`capit_tui.core.platform_setup`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.screen import Screen
from textual.widgets import Button, ContentSwitcher, Footer, Header, Input, OptionList, Static
from textual.widgets.option_list import Option

from capit_tui.core import platform_setup as setup
from capit_tui.core.platform_setup import Added, SetupError, error_sentence
from capit_tui.core.redact import mask
from capit_tui.core.settings import PlatformConfig
from capit_tui.tui.typed_app import capit_app
from capit_tui.tui.widgets.platform_form import CUSTOM, LITELLM, CheckLine, GatewayFields, StorageChoice
from capit_tui.tui.widgets.secret_input import SecretInput

if TYPE_CHECKING:
    from capit_tui.agents.base import Agent, Detection

INTRO = ("capit-tui gives every coding agent its own API key with a spending cap that the platform itself "
         "enforces.\nIt writes the key into the agent's config after showing you the diff, and shows live "
         "spend against each cap.")
STEPS = (("step-platform", "Platform"), ("step-key", "Key"), ("step-store", "Storage"), ("step-agents", "Agents"))
EMPTY_HINT = setup.NO_PLATFORM_HINT


class OnboardingScreen(Screen[None]):
    CSS_PATH = "onboarding.tcss"
    BINDINGS = [
        Binding("escape", "leave", "Leave setup", id="onboarding.leave"),
        # "new key" and "refresh" mean nothing before a platform exists: keep them out of the footer
        Binding("n", "nothing", show=False, id="onboarding.no_new"),
        Binding("r", "nothing", show=False, id="onboarding.no_refresh"),
    ]

    app = capit_app()

    def __init__(self) -> None:
        super().__init__()
        self.choice: str = ""
        self.checked: tuple[PlatformConfig, str] | None = None  # passed the check, not stored yet
        self.added: Added | None = None

    # ------------------------------------------------------------ layout

    def compose(self) -> ComposeResult:
        yield Header(icon="$")
        yield Static("", id="progress")
        with ContentSwitcher(initial="step-platform", id="steps"):
            with VerticalScroll(id="step-platform", classes="step"):
                yield Static(INTRO, id="intro", markup=False)
                yield Static("Pick the platform that will issue your keys:", classes="question")
                yield OptionList(*self.platform_options(), id="platform-choice")
                yield Static("↑ ↓ to choose, enter to continue · esc leaves the setup; nothing is stored",
                             classes="hint", markup=False)
            with VerticalScroll(id="step-key", classes="step"):
                yield Static("", id="key-title", classes="question")
                yield Static("", id="key-help", markup=False)
                yield GatewayFields(id="gateway")
                yield SecretInput(placeholder="paste the management key, then enter", id="key")
                yield CheckLine(id="check")
                with Horizontal(classes="buttons"):
                    yield Button("Back", id="key-back")
                    yield Button("Check the key", id="check-key", variant="primary")
            with VerticalScroll(id="step-store", classes="step"):
                yield Static("", id="checked", markup=False)
                yield Static("Where the key will be kept", classes="question")
                yield StorageChoice(id="storage")
                yield CheckLine(id="store-result")
                yield Static("Nothing is stored until you press Store. Esc leaves without storing.",
                             classes="hint", markup=False)
                with Horizontal(classes="buttons"):
                    yield Button("Back", id="store-back")
                    yield Button("Store the key", id="store", variant="primary")
            with VerticalScroll(id="step-agents", classes="step"):
                yield Static("", id="ready", markup=False)
                yield Static("Coding agents on this machine", classes="question")
                yield Static("", id="agents", markup=False)
                yield Static("Next: choose a cap in dollars and the agents that get a key. You see every file "
                             "change before anything is written.", classes="hint", markup=False)
                with Horizontal(classes="buttons"):
                    yield Button("Later", id="later")
                    yield Button("Issue your first capped key", id="issue", variant="primary")
        yield Footer(compact=True)

    def platform_options(self) -> list[Option]:
        known = self.app.settings.known_platforms()
        names = sorted(known, key=lambda n: (n != "openrouter", n != "aihubmix", n))
        options = []
        for name in names:
            blurb = setup.BLURBS.get(name) or setup.KIND_TITLES.get(known[name].kind, "")
            options.append(Option(Text.assemble((f"{setup.title(name):<16}", "bold"), blurb), id=name))
        options.append(Option(Text.assemble((f"{'Another gateway':<16}", "bold"),
                                            "any one-api/new-api or OpenRouter-compatible URL"), id=CUSTOM))
        options.append(Option(Text.assemble((f"{'LiteLLM proxy':<16}", "bold"),
                                            "(self-hosted) hard caps for Anthropic, OpenAI and more"), id=LITELLM))
        return options

    def on_mount(self) -> None:
        self.sub_title = "first-run setup"
        self.go("step-platform")

    # ------------------------------------------------------------ moving between steps

    @property
    def step(self) -> str:
        return self.query_one(ContentSwitcher).current or "step-platform"

    def go(self, step: str) -> None:
        self.query_one(ContentSwitcher).current = step
        self.show_progress(step)
        focus = {"step-platform": "#platform-choice", "step-key": "#key", "step-store": "#store",
                 "step-agents": "#issue"}[step]
        if step == "step-key" and self.choice in (CUSTOM, LITELLM):
            self.query_one(GatewayFields).focus_first()
        elif step == "step-store" and self.query_one(StorageChoice).needs_consent:
            self.query_one(StorageChoice).focus_consent()
        else:
            self.query_one(focus).focus()

    def show_progress(self, step: str) -> None:
        index = [s for s, _ in STEPS].index(step)
        text = Text(" Setup  ")
        for i, (_, title) in enumerate(STEPS):
            if i:
                text.append(" ─ ", style="dim")
            label = f" {i + 1} {title} "
            if i == index:
                text.append(label, style="bold reverse")
            elif i < index:
                text.append(f" ✓ {title} ")
            else:
                text.append(label, style="dim")
        self.query_one("#progress", Static).update(text)

    def action_nothing(self) -> None:
        pass

    def action_leave(self) -> None:
        """Esc: leave the setup. Nothing is stored unless the storage step was confirmed."""
        app = self.app
        self.workers.cancel_group(self, "onboarding-check")
        self.dismiss(None)
        if not app.platforms:
            app.notify(EMPTY_HINT, title="Setup skipped", severity="warning", timeout=30, markup=False)

    # ------------------------------------------------------------ step 1: the platform

    @on(OptionList.OptionSelected, "#platform-choice")
    def platform_chosen(self, event: OptionList.OptionSelected) -> None:
        self.choose(str(event.option.id))

    def choose(self, name: str) -> None:
        app = self.app
        self.choice = name
        self.checked = None
        custom = name in (CUSTOM, LITELLM)
        self.query_one(GatewayFields).display = custom
        self.query_one("#key", Input).value = ""
        self.query_one("#check", CheckLine).show("")
        if name == LITELLM:
            self.query_one(GatewayFields).set_kind("litellm", "litellm", "https://litellm.example.com")
            self.query_one("#key-title", Static).update("Your LiteLLM proxy (self-hosted) and its master key")
            self.query_one("#key-help", Static).update(
                "The proxy's master key (general_settings.master_key or LITELLM_MASTER_KEY) or a proxy admin's "
                "virtual key manages its virtual keys; a plain virtual key cannot. Give the proxy's address and "
                "paste the key below; capit-tui checks it with the proxy.")
        elif custom:
            self.query_one(GatewayFields).set_kind("oneapi")
            self.query_one("#key-title", Static).update("Your gateway and its management key")
            self.query_one("#key-help", Static).update(
                "On a one-api / new-api gateway the management key is the system access token: Settings, then "
                "\"Generate System Access Token\". Paste it below; capit-tui checks it with the gateway.")
        else:
            cfg = app.settings.known_platforms()[name]
            self.query_one("#key-title", Static).update(f"A management key for {setup.title(name)}")
            self.query_one("#key-help", Static).update(
                "A management key creates keys and sets their caps; it cannot call models.\n"
                f"Create one at {setup.manage_hint(cfg)}\nthen paste it below. capit-tui checks it with "
                f"{setup.title(name)} before keeping it.")
        self.go("step-key")

    # ------------------------------------------------------------ step 2: the key, checked live

    def config(self) -> PlatformConfig:
        app = self.app
        if self.choice in (CUSTOM, LITELLM):
            return self.query_one(GatewayFields).config(app.settings)
        return app.settings.known_platforms()[self.choice]

    @on(Input.Changed)
    def forget_check(self, event: Input.Changed) -> None:
        line = self.query_one("#check", CheckLine)
        if not line.busy:
            line.show("")
        self.checked = None

    @on(Input.Submitted)
    def submitted(self, event: Input.Submitted) -> None:
        if event.input.id != "key" and not self.query_one("#key", Input).value.strip():
            self.focus_next()
            return
        self.check()

    @on(Button.Pressed, "#check-key")
    def check(self) -> None:
        line = self.query_one("#check", CheckLine)
        if line.busy:
            return
        try:
            cfg = self.config()
            key = setup.clean_key(self.query_one("#key", Input).value)
        except SetupError as exc:
            line.show("error", str(exc))
            return
        self.check_key(cfg, key)

    @work(exclusive=True, group="onboarding-check", exit_on_error=False,
          description="checking the management key")
    async def check_key(self, cfg: PlatformConfig, key: str) -> None:
        line = self.query_one("#check", CheckLine)
        button = self.query_one("#check-key", Button)
        line.show("busy", f"Checking the key with {setup.title(cfg.name)} …")
        button.disabled = True
        try:
            await setup.check_key(cfg, key)
        except Exception as exc:  # the platform's sentence: rejected (401), or an inference key, ...
            line.show("error", error_sentence(exc))
            self.query_one("#key", Input).focus()
            return
        finally:
            button.disabled = False
        line.show("ok", "The key works.")
        self.checked = (cfg, key)
        self.query_one("#checked", Static).update(
            f"✓ The key works: {mask(key)} is a management key for {setup.title(cfg.name)}.")
        self.query_one("#store-result", CheckLine).show("")
        choice = self.query_one(StorageChoice)
        choice.describe(cfg.name)
        self.update_store_button()
        self.go("step-store")

    @on(Button.Pressed, "#key-back")
    def key_back(self) -> None:
        self.workers.cancel_group(self, "onboarding-check")
        self.query_one("#check", CheckLine).show("")
        self.go("step-platform")

    # ------------------------------------------------------------ step 3: where it is kept

    def update_store_button(self) -> None:
        choice = self.query_one(StorageChoice)
        self.query_one("#store", Button).disabled = choice.needs_consent and not choice.consented

    @on(StorageChoice.Changed)
    def consent_changed(self) -> None:
        self.update_store_button()
        self.query_one("#store-result", CheckLine).show("")

    @on(Button.Pressed, "#store")
    def store(self) -> None:
        app = self.app
        if self.checked is None:  # cannot happen through the UI: the key step comes first
            self.go("step-key")
            return
        cfg, key = self.checked
        choice = self.query_one(StorageChoice)
        try:
            added = setup.store_with_consent(app.settings, cfg, key, needs_consent=choice.needs_consent,
                                             consented=choice.consented)
        except Exception as exc:
            if isinstance(exc, setup.KeyringRefused):
                choice.keyring_refused(cfg.name)  # the file is offered from now on
            self.query_one("#store-result", CheckLine).show("error", error_sentence(exc))
            self.update_store_button()
            return
        self.added = added
        self.checked = None
        app.set_platforms(setup.with_platform(app.platforms, added.platform))
        self.query_one("#ready", Static).update("✓ " + added.sentence())
        self.query_one("#agents", Static).update(self.agents_text())
        self.go("step-agents")

    @on(Button.Pressed, "#store-back")
    def store_back(self) -> None:
        self.checked = None
        self.go("step-key")

    # ------------------------------------------------------------ step 4: agents, then the first key

    def agents_text(self) -> Text:
        from capit_tui.agents import all_agents

        app = self.app
        found: list[tuple[Agent, Detection]] = []
        missing: list[Agent] = []
        for agent in all_agents(app.agent_env):
            try:
                d = agent.detect()
            except Exception:  # an unreadable folder is "not found", never a crash
                d = None
            if d is not None and d.found:
                found.append((agent, d))
            else:
                missing.append(agent)
        text = Text()
        if not found:
            text.append("No coding agent was found here. You can still issue a key: it is shown once to copy.\n")
        for agent, d in found:
            how = "installed" if d.installed else "config found"
            if agent.support == "manual":
                how += "; its key is set by hand (shown once, with steps)"
            text.append("  ✓ ", style="bold green")
            text.append(f"{agent.title:<14}", style="bold")
            text.append(f" {how}\n")
        if missing:
            text.append("Not found: ", style="dim")
            text.append(", ".join(a.title for a in missing), style="dim")
        return text

    @on(Button.Pressed, "#issue")
    def action_issue(self) -> None:
        app = self.app
        self.dismiss(None)
        app.action_new_key()

    @on(Button.Pressed, "#later")
    def later(self) -> None:
        self.dismiss(None)
