"""Hints: the ones revealed so far, and the line that says whether one fits the failure."""

from __future__ import annotations

from textual.containers import VerticalScroll
from textual.content import Content
from textual.widgets import Static

from tutor.core.catalog import Exercise, Hint
from tutor.core.hints import Fit, NextHint, tier_name


def call_to_action(exercise: Exercise, upcoming: NextHint | None) -> Content:
    """One line after a failing run: whether pressing h brings a hint that fits it."""
    if upcoming is not None and upcoming.fit is not Fit.GENERAL:
        return Content.styled(f"A hint fits {upcoming.fit.value}: press h.", "bold $text-warning")
    if upcoming is not None:
        return Content.styled("Press h for a hint.", "$text-muted")
    if exercise.hints:
        return Content.styled("You have seen every hint of this exercise.", "$text-muted")
    return Content.styled("This exercise has no hints.", "$text-muted")


def hint_text(hint: Hint) -> Content:
    """A hint with its tier (pack text: never markup)."""
    return Content.assemble((f"[{tier_name(hint)}] ", "bold $text-accent"), hint.text)


def render_hints(exercise: Exercise, seen: list[str]) -> Content:
    by_id = {hint.id: hint for hint in exercise.hints}
    shown = [by_id[hint_id] for hint_id in seen if hint_id in by_id]
    if not shown:
        what = "h reveals one" if exercise.hints else "this exercise has none"
        return Content.styled(f"No hint seen yet ({what}).", "$text-muted")
    return Content("\n\n").join(
        Content.assemble((f"{number}. ", "bold"), hint_text(hint))
        for number, hint in enumerate(shown, start=1)
    )


class HintsPane(VerticalScroll):
    """The hints seen so far for the current exercise, the first at the top."""

    BORDER_TITLE = "Hints"

    def compose(self):  # type: ignore[no-untyped-def]
        yield Static("", id="hints-body")

    def show(self, exercise: Exercise, seen: list[str]) -> None:
        self.query_one("#hints-body", Static).update(render_hints(exercise, seen))
