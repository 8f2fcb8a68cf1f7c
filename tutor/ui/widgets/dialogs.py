"""Modal screens: a yes/no question, the reference solution, and a text read whole."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.content import Content
from textual.screen import ModalScreen
from textual.widgets import Button, Label, Static


class Confirm(ModalScreen[bool]):
    """Asks a question; y or Enter on Yes answers True, n or Escape False."""

    BINDINGS = [
        Binding("y", "answer(True)", "Yes"),
        Binding("n,escape", "answer(False)", "No"),
    ]

    def __init__(self, question: str) -> None:
        super().__init__()
        self.question = question

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog"):
            yield Label(Content(self.question), id="question")  # a title inside: never markup
            with Horizontal(id="buttons"):
                yield Button("Yes (y)", id="yes", variant="warning")
                yield Button("No (n)", id="no", variant="primary")

    def on_mount(self) -> None:
        self.query_one("#no", Button).focus()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        self.dismiss(event.button.id == "yes")

    def action_answer(self, answer: bool) -> None:
        self.dismiss(answer)


class SolutionView(ModalScreen[None]):
    """The reference solution, read-only; Escape or q closes it."""

    BINDINGS = [Binding("escape,q,s", "dismiss", "Close")]

    def __init__(self, title: str, code: str) -> None:
        super().__init__()
        self.title_text = title
        self.code = code

    def compose(self) -> ComposeResult:
        from rich.syntax import Syntax  # pygments is slow to import; only this view needs it

        with Vertical(id="solution"):
            yield Label(Content(f"Reference solution: {self.title_text}  (Escape to close)"))
            with VerticalScroll():
                yield Static(Syntax(self.code, "python", line_numbers=True, theme="ansi_dark"))

    async def action_dismiss(self, result: None = None) -> None:
        self.dismiss(result)


class TextView(ModalScreen[None]):
    """A text read whole, scrolled from its top: a hint, every test of a run, or the worked
    example; the key that opened it closes it."""

    BINDINGS = [
        Binding("escape,q,enter", "dismiss", "Close"),
        Binding("h,e", "dismiss", "Close", show=False),
    ]
    DEFAULT_CSS = """
    TextView {
        align: center middle;
    }
    TextView > #text-frame {
        width: 100%;
        max-width: 100;
        height: auto;
        max-height: 100%;
        border: round $primary;
        border-title-color: $text;
        border-subtitle-color: $text;
        background: $surface;
        padding: 0 1;
    }
    """

    def __init__(self, title: str, body: Content, closing: str = "Esc closes") -> None:
        super().__init__()
        self.title_text = title
        self.body = body
        self.closing = closing

    def compose(self) -> ComposeResult:
        frame = VerticalScroll(Static(self.body), id="text-frame")
        frame.border_title = Content(self.title_text)  # pack text: never markup
        frame.border_subtitle = Content(self.closing)
        yield frame

    def on_mount(self) -> None:
        self.query_one("#text-frame").focus()  # PageUp/PageDown scroll at once

    async def action_dismiss(self, result: None = None) -> None:
        self.dismiss(result)
