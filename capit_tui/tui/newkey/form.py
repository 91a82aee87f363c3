"""The new-key form (`n`): platform, name, cap, reset, the agents to install into, an optional model.

Every field is checked as it changes. Enter, ctrl+s or the Review button plan the file edits with
`install.preview` (the same core the CLI uses; nothing is issued and nothing is written) and post
`NewKeyScreen.Ready` with the `install.IssueRequest`, on which the app opens the review; a file that
cannot be edited safely is shown here, in the form, and nothing happens.
Esc leaves without issuing anything.
"""

from __future__ import annotations

import asyncio
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.screen import Screen
from textual.suggester import SuggestFromList
from textual.widgets import Button, Checkbox, Footer, Header, Input, Label, Select, SelectionList, Static
from textual.widgets.selection_list import Selection

from capit_tui.agents import all_agents
from capit_tui.agents.base import Agent
from capit_tui.core.agent_status import agent_home
from capit_tui.core.durations import parse_expiry
from capit_tui.core.install import IssueRequest, key_name
from capit_tui.core.keys import (
    Configured,
    NameTaken,
    ServiceError,
    check_name_free,
    clean_name,
    default_name,
    reset_periods,
    taken_names,
    unique_name,
)
from capit_tui.core.model_choice import lists_models, platform_models
from capit_tui.core.money import MoneyError, parse_cap
from capit_tui.core.platform_setup import short_error
from capit_tui.core.redact import redact
from capit_tui.core.text import tilde_text
from capit_tui.tui.typed_app import capit_app
from capit_tui.tui.widgets.checks import Check, CheckList

RESETS = [("daily", "daily"), ("weekly", "weekly"), ("monthly", "monthly"), ("never (lifetime total)", "never")]
NO_RESET = [("never (this platform's caps never reset)", "never")]
NO_CAP_LABEL = "no cap (a runaway agent can spend your whole balance)"
MANUAL_LABEL = "(manual: key shown once with steps)"
UNCAPPED_WORDS = ("none", "no", "no cap", "no-cap", "unlimited", "uncapped", "0", "0.00", "$0")


def detection_text(agent: Agent) -> str:
    try:
        d = agent.detect()
    except OSError:
        return "not found"
    if d.installed:
        return "installed"
    if d.config_exists:
        return "config found"
    return "not found"


def agent_prompt(agent: Agent, state: str) -> Text:
    text = Text(f"{agent.title:<21}", no_wrap=True, overflow="ellipsis")
    text.append(f"{state:<13}", style="dim" if state == "not found" else "green")
    if agent.support != "file":
        text.append(MANUAL_LABEL, style="italic")
    return text


class NewKeyScreen(Screen):
    CSS_PATH = "form.tcss"
    AUTO_FOCUS = "#cap"
    HORIZONTAL_BREAKPOINTS = [(0, "-narrow"), (120, "-wide")]
    VERTICAL_BREAKPOINTS = [(0, "-short"), (36, "-tall")]
    BINDINGS = [
        Binding("ctrl+s", "review", "Review", id="new_key.review"),
        Binding("escape", "cancel", "Cancel", id="new_key.cancel"),
        # `n` is the app's "new key": inside the form it must not open a second form.
        Binding("n", "ignore", show=False, id="new_key.no_new"),
        # `q` (in the agent list, the selects, the buttons: not in a text box) asks before dropping the form
        Binding("q", "ask_quit", show=False, id="new_key.quit"),
    ]

    app = capit_app()

    class Ready(Message):
        """The form is filled in and its file edits are planned: the review comes next."""

        def __init__(self, form: NewKeyScreen, request: IssueRequest) -> None:
            super().__init__()
            self.form = form
            self.request = request

    def __init__(self, preselect: list[str] | None = None):
        super().__init__()
        self.preselect = [p.lower() for p in (preselect or [])]
        self.sub_title = "New capped key"
        self._agents: dict[str, Agent] = {}
        self._auto_name = ""
        self._busy = False
        self._models_for: str | None = None  # the platform whose models the Model field offers

    # ------------------------------------------------------------ layout

    @property
    def today(self) -> date:
        return self.app.today or date.today()

    def agent_rows(self) -> list[tuple[Agent, str, bool]]:
        """(agent, detection, checked) in the order shown: found file agents, other file agents, manual."""
        env = self.app.agent_env
        agents = all_agents(env)
        self._agents = {a.name: a for a in agents}
        rows = []
        for a in agents:
            state = detection_text(a)
            if self.preselect:
                checked = a.name in self.preselect
            else:
                checked = a.support == "file" and state != "not found"
            rows.append((a, state, checked))

        def group(row: tuple[Agent, str, bool]) -> int:
            a, state, checked = row
            if a.support != "file":
                return 2
            return 0 if checked or state != "not found" else 1

        return sorted(rows, key=group)  # stable: the registry's order within each group

    def compose(self) -> ComposeResult:
        app = self.app
        names = [c.name for c in app.platforms]
        rows = self.agent_rows()
        yield Header(icon="$")
        with Vertical(id="form"):
            with Horizontal(id="columns"):
                with Vertical(id="fields"):
                    with Horizontal(classes="row"):
                        yield Label("Platform", classes="label")
                        yield Select([(n, n) for n in names], value=names[0], allow_blank=False, id="platform",
                                     compact=True)
                    with Horizontal(classes="row"):
                        yield Label("Name", classes="label")
                        yield Input(id="name", compact=True)  # length is checked inline, not cut
                    yield Static("", id="name-hint", classes="hint", markup=False)
                    yield Static("", id="name-error", classes="error", markup=False)
                    with Horizontal(classes="row"):
                        yield Label("Cap $", classes="label")
                        yield Input(id="cap", placeholder="dollars, e.g. 5.00", compact=True)
                    yield Static("", id="cap-error", classes="error", markup=False)
                    with Horizontal(classes="row"):
                        yield Label("", classes="label")
                        yield Check(NO_CAP_LABEL, id="no-cap", compact=True)
                    with Horizontal(classes="row"):
                        yield Label("Resets", classes="label")
                        yield Select(RESETS, value="monthly", allow_blank=False, id="reset", compact=True)
                    yield Static("", id="reset-note", classes="hint", markup=False)
                    with Horizontal(classes="row"):
                        yield Label("Expires", classes="label")
                        yield Input(id="expires", compact=True,
                                    placeholder="optional: 30d, 12h, 2w or 2027-01-31 (UTC)")
                    yield Static("", id="expires-error", classes="error", markup=False)
                    with Horizontal(classes="row"):
                        yield Label("Model", classes="label")
                        yield Input(id="model", compact=True,
                                    placeholder="optional, e.g. anthropic/claude-sonnet-4.5 (empty: agent's default)")
                    yield Static("", id="model-error", classes="error", markup=False)
                    yield Static("", id="model-hint", classes="hint", markup=False)
                with Vertical(id="agents-pane"):
                    yield Label("Install into (space checks; none: the key is shown once)", id="agents-label")
                    yield CheckList[str](*(Selection(agent_prompt(a, s), a.name, c) for a, s, c in rows),
                                             id="agents", compact=True)
                    yield Static("", id="agent-note", classes="hint", markup=False)
            yield Static("", id="plan-error", markup=False)
            with Horizontal(id="buttons"):
                yield Static("", id="busy", markup=False)
                yield Button("Review  ctrl+s", id="review", variant="primary", compact=True)
                yield Button("Cancel  esc", id="cancel", compact=True)
        yield Footer(compact=True)

    def on_mount(self) -> None:
        self.say("model-hint", "")
        self.platform_changed()
        self.refresh_name(force=True)
        agents = self.query_one("#agents", SelectionList)
        agents.highlighted = 0
        self.show_agent_note()

    # ------------------------------------------------------------ the fields

    def field(self, wid: str) -> Any:
        return self.query_one(f"#{wid}")

    def say(self, wid: str, message: str) -> None:
        w = self.query_one(f"#{wid}", Static)
        w.update(message)
        w.display = bool(message)

    def selected_agents(self) -> list[Agent]:
        chosen = set(self.field("agents").selected)
        return [a for a in self._agents.values() if a.name in chosen]

    def configured(self) -> Configured:
        app = self.app
        name = self.field("platform").value
        return next(c for c in app.platforms if c.name == name)

    def supports_reset(self) -> bool:
        """Asked of the platform, in the core (its adapter class says which periods it enforces)."""
        return bool(reset_periods(self.configured()))

    @on(Select.Changed, "#platform")
    def platform_changed(self) -> None:
        app = self.app
        reset = self.field("reset")
        if self.supports_reset():
            default = app.settings.default_reset or "never"
            reset.set_options(RESETS)
            reset.value = default
            reset.disabled = False
            self.say("reset-note", "")
        else:
            reset.set_options(NO_RESET)
            reset.value = "never"
            reset.disabled = True
            self.say("reset-note", f"{self.configured().name} is a one-api gateway: its caps never reset.")
        self.check_name()  # a name free on one platform may be taken on another
        c = self.configured()
        if c.name == self._models_for:
            return  # asked already (the Select also says "changed" when it is first shown)
        self._models_for = c.name
        self.field("model").suggester = None
        self.say("model-hint", "")
        if lists_models(c.config.kind):
            self.say("model-hint", f"Asking {c.name} which models it routes…")
            self.load_models(c)

    @work(thread=True, exclusive=True, group="models", exit_on_error=False)
    def load_models(self, c: Configured) -> None:
        """The model names the platform routes (a LiteLLM proxy's GET /v1/models), off the UI thread."""
        try:
            names = asyncio.run(platform_models(c))
        except Exception as exc:  # shown in the hint: typing a model by hand still works
            self.app.call_from_thread(self.models_loaded, c.name, [], short_error(exc))
            return
        self.app.call_from_thread(self.models_loaded, c.name, names, "")

    def models_loaded(self, platform: str, names: list[str], failed: str) -> None:
        if not self.is_current or self.field("platform").value != platform:
            return  # the form was left, or another platform chosen, meanwhile
        if failed:
            self.say("model-hint", f"Could not list {platform}'s models ({failed}); type one it routes.")
            return
        self.field("model").suggester = SuggestFromList(names, case_sensitive=False)
        shown = ", ".join(names[:6]) + (f" and {len(names) - 6} more" if len(names) > 6 else "")
        self.say("model-hint", f"{platform} routes: {shown or 'no models'}. Type to complete one.")

    def auto_name(self) -> str:
        agents = self.selected_agents()
        if not agents:
            return default_name(None, self.today)
        if len(agents) == 1:
            return default_name(agents[0].name, self.today)
        return ""

    def name_base(self) -> str | None:
        """The name the user typed (the base of every key name), None when they kept the default."""
        value = self.field("name").value
        if value == self._auto_name or (not value.strip() and self.selected_agents()):
            return None
        return clean_name(value)

    def refresh_name(self, force: bool = False) -> None:
        box = self.field("name")
        auto = self.auto_name()
        if force or box.value == self._auto_name:
            self._auto_name = auto
            with box.prevent(Input.Changed):
                box.value = auto
            box.placeholder = f"capit-<agent>-{self.today:%Y%m%d}, one per agent" if not auto else ""
        else:
            self._auto_name = auto
        self.check_name()

    def check_name(self) -> bool:
        try:
            base = self.name_base()
        except ServiceError as exc:
            self.say("name-hint", "")
            self.say("name-error", str(exc))
            return False
        agents = self.selected_agents()
        try:  # a name typed for one key must not be a key's name already (core.keys.check_name_free)
            if base is not None and not agents:
                check_name_free(self.app.spend.keys.values(), self.configured().name, base)
        except NameTaken as exc:
            self.say("name-hint", "")
            self.say("name-error", f"{exc} Choose another name.")
            return False
        self.say("name-error", "")
        if agents:
            names = ", ".join(key_name(a.name, base, self.today) for a in agents)
            self.say("name-hint", f"key{'s' if len(agents) > 1 else ''}: {names}")
        else:
            self.say("name-hint", "no agent chosen: one key with this name, shown once")
        return True

    @on(Input.Changed, "#name")
    def name_changed(self) -> None:
        self.check_name()

    def limit(self) -> tuple[bool, Decimal | None]:
        """(valid, limit). The no-cap checkbox is the only way to None."""
        if self.field("no-cap").value:
            self.say("cap-error", "")
            return True, None
        text = self.field("cap").value
        try:
            value = parse_cap(text)
        except MoneyError as exc:
            message = str(exc)
            if text.strip().lower() in UNCAPPED_WORDS:
                message = "A cap must be a positive amount. For a key without a cap, tick 'no cap' below."
            self.say("cap-error", message)
            return False, None
        self.say("cap-error", "")
        return True, value

    @on(Input.Changed, "#cap")
    def cap_changed(self) -> None:
        self.limit()

    @on(Checkbox.Changed, "#no-cap")
    def no_cap_changed(self, event: Checkbox.Changed) -> None:
        cap = self.field("cap")
        cap.disabled = event.value
        self.field("no-cap").set_class(event.value, "-danger")
        if event.value:
            self.say("cap-error", "")
        elif cap.value:
            self.limit()

    def model(self) -> tuple[bool, str | None]:
        text = self.field("model").value.strip()
        if not text:
            self.say("model-error", "")
            return True, None
        if any(ch.isspace() or not ch.isprintable() for ch in text):
            self.say("model-error", "A model is one slug without spaces, e.g. anthropic/claude-sonnet-4.5.")
            return False, None
        self.say("model-error", "")
        return True, text

    @on(Input.Changed, "#model")
    def model_changed(self) -> None:
        self.model()

    def expires(self) -> tuple[bool, datetime | None]:
        """(valid, when the key stops working); empty: never."""
        text = self.field("expires").value.strip()
        if not text:
            self.say("expires-error", "")
            return True, None
        try:
            when = parse_expiry(text, self.app.now())
        except ValueError as exc:
            self.say("expires-error", str(exc))
            return False, None
        self.say("expires-error", "")
        return True, when

    @on(Input.Changed, "#expires")
    def expires_changed(self) -> None:
        self.expires()

    @on(SelectionList.SelectedChanged, "#agents")
    def agents_changed(self) -> None:
        self.say("plan-error", "")
        self.refresh_name()

    @on(SelectionList.SelectionHighlighted, "#agents")
    def show_agent_note(self) -> None:
        agents = self.field("agents")
        index = agents.highlighted
        note = ""
        if index is not None:
            a = self._agents.get(agents.get_option_at_index(index).value)
            if a is not None:
                note = a.notes or (f"{a.title}: its key goes into its own config file; the diff is shown first."
                                   if a.support == "file" else "")
        self.say("agent-note", note)

    # ------------------------------------------------------------ review

    @on(Input.Submitted)
    @on(Button.Pressed, "#review")
    def action_review(self) -> None:
        if self._busy:
            return
        self.say("plan-error", "")
        ok_name = self.check_name()
        ok_cap, limit = self.limit()
        ok_model, model = self.model()
        ok_expires, expires_at = self.expires()
        if not (ok_name and ok_cap and ok_model and ok_expires):
            first = "#name" if not ok_name else "#cap" if not ok_cap else "#model" if not ok_model else "#expires"
            self.query_one(first).focus()
            return
        reset_value = self.field("reset").value
        reset = None if reset_value in ("never", Select.NULL) or not self.supports_reset() else str(reset_value)
        base = self.name_base()
        agents = self.selected_agents()
        c = self.configured()
        taken = taken_names(self.app.spend.keys.values(), c.name)  # generated names get a -2 suffix, not a clash
        request = IssueRequest(c, limit, reset, base, base or unique_name(default_name(None, self.today), taken),
                               model, agents, None, agent_home(self.app.agent_env), taken, expires_at)
        if not agents:
            self.open_review(request)
            return
        self._busy = True
        self.say("busy", "Preparing the diff…")
        self.build_preview(request)

    @work(thread=True, exclusive=True, group="preview", exit_on_error=False)
    def build_preview(self, request: IssueRequest) -> None:
        """Plan the edits off the UI thread (it reads every agent file). Nothing is issued or written."""
        from capit_tui.core.changes import PlanError
        from capit_tui.core.install import preview

        app = self.app
        try:
            pv = preview(request.platform, request.agents, name=request.name, model=request.model,
                         today=app.today, taken=request.taken)
        except PlanError as exc:
            app.call_from_thread(self.preview_failed, str(exc))
            return
        except Exception as exc:  # an unexpected failure must not leave the form stuck
            app.call_from_thread(self.preview_failed, f"Could not prepare the diff: {exc}")
            return
        request.preview = pv
        app.call_from_thread(self.preview_ready, request)

    def preview_failed(self, message: str) -> None:
        if not self.is_current:
            return  # the form was left while the diff was being prepared
        self._busy = False
        self.say("busy", "")
        home = agent_home(self.app.agent_env)
        self.say("plan-error", tilde_text(redact(message), home))

    def preview_ready(self, request: IssueRequest) -> None:
        if not self.is_current:
            return  # the form was left while the diff was being prepared: no review, nothing issued
        self._busy = False
        self.say("busy", "")
        pv = request.preview
        if pv is not None and pv.unsupported:
            titles = {a.name: a.title for a in request.agents}
            lines = [f"{titles.get(n, n)}: {why}" for n, why in pv.unsupported.items()]
            self.say("plan-error", "\n".join(lines) + "\nUncheck it to go on. Nothing was issued.")
            return
        self.open_review(request)

    def open_review(self, request: IssueRequest) -> None:
        self.post_message(self.Ready(self, request))  # the app opens the review

    @on(Button.Pressed, "#cancel")
    def action_cancel(self) -> None:
        self.workers.cancel_group(self, "preview")
        self.dismiss(None)

    def action_ignore(self) -> None:
        pass

    def action_ask_quit(self) -> None:
        """Quit only once asked: a `q` meant for the form must not drop it (and the app) unseen."""
        from capit_tui.tui.modals.confirm import ConfirmScreen

        def answered(yes: bool | None) -> None:
            if yes:
                self.workers.cancel_group(self, "preview")
                self.app.exit()

        self.app.push_screen(ConfirmScreen("Quit capit-tui?", ["This new key is not issued yet: quitting drops the "
                                                               "form, and nothing is issued or written."],
                                           yes="Quit", no="Stay"), answered)


__all__ = ["NewKeyScreen"]
