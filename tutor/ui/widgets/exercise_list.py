"""The exercise list: number, title and status of each exercise, the current one marked."""

from __future__ import annotations

from rich.text import Text
from textual.widgets import OptionList
from textual.widgets.option_list import Option

from tutor.core.catalog import Exercise

MARKS = {
    "not started": ("·", "dim"),
    "failing": ("✗", "red"),
    "passing": ("✓", "green"),
    "solved": ("★", "bold green"),
}


class ExerciseList(OptionList):
    """Lists the exercises; selecting one switches the tutor to it."""

    def show(self, exercises: list[Exercise], statuses: dict[str, str], current: str) -> None:
        highlighted = self.highlighted
        self.clear_options()
        for exercise in exercises:
            mark, style = MARKS.get(statuses.get(exercise.key, "not started"), MARKS["not started"])
            label = Text.assemble(
                ("▶ " if exercise.key == current else "  ", "bold"),
                (mark, style),
                f" {exercise.number:02d} {exercise.title}",
            )
            self.add_option(Option(label, id=exercise.key))
        if highlighted is not None and highlighted < len(exercises):
            self.highlighted = highlighted
