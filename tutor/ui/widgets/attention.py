"""The attention picture: the learner's weights beside the reference, after each run."""

from __future__ import annotations

from rich.text import Text
from textual.containers import VerticalScroll
from textual.widgets import Static

from tutor.core.heatmap import Style
from tutor.core.picture import heads, picture
from tutor.core.protocol import ProbeResult


class AttentionPane(VerticalScroll):
    """Redraws the picture at the pane's width.

    m toggles numbers, ] cycles the heads, a switches between one head in full and every
    head small (the overview highlights the head ] has reached).
    """

    BORDER_TITLE = "Attention"

    def __init__(self, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.probe: ProbeResult | None = None
        self.head = 0
        self.numbers = False
        self.overview = False

    def compose(self):  # type: ignore[no-untyped-def]
        yield Static("", id="attention-body")

    def show(self, probe: ProbeResult | None) -> None:
        self.probe = probe
        self.redraw()

    @property
    def many_heads(self) -> bool:
        return self.probe is not None and heads(self.probe) > 1

    def next_head(self) -> bool:
        """Show the next head; False (and nothing changes) when there is only one."""
        if not self.many_heads or self.probe is None:
            return False
        self.head = (self.head + 1) % heads(self.probe)
        self.redraw()
        return True

    def toggle_numbers(self) -> None:
        self.numbers = not self.numbers
        self.redraw()

    def toggle_overview(self) -> bool:
        """Every head or one head; False (and nothing changes) when there is only one."""
        if not self.many_heads:
            return False
        self.overview = not self.overview
        self.redraw()
        return True

    def on_resize(self) -> None:
        self.redraw()

    def redraw(self) -> None:
        body = self.query_one("#attention-body", Static)
        if self.probe is None:
            body.update(Text("The picture appears after the next run.", style=""))
            return
        style = Style(color=not self.app.no_color, numbers=self.numbers)
        width = max(20, self.scrollable_content_region.width)
        overview = self.overview and self.many_heads
        text = picture(self.probe, width=width, head=self.head, style=style, all_heads=overview)
        if overview:
            text.append("\na one head   ] next head", style="")
        elif self.many_heads:
            text.append("\na all heads   ] next head   m numbers", style="")
        else:
            text.append("\nm numbers", style="")
        body.update(text)
