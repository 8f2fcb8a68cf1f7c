"""The exercise list: each exercise's star (solved once), its state now, number and title."""

from __future__ import annotations

from textual.content import Content
from textual.widgets import OptionList
from textual.widgets.option_list import Option

from tutor.core.catalog import Exercise
from tutor.core.progress import ExerciseProgress, Status

STATE_MARKS = {
    Status.NOT_STARTED: ("·", "$text-muted"),
    Status.FAILING: ("✗", "$text-error"),
    Status.PASSING: ("✓", "$text-success"),
}
STAR = ("★", "bold $text-warning")
LEGEND = "★ solved once   ✓ ✗ · the latest run: passes, fails, none yet"


def row(exercise: Exercise, entry: ExerciseProgress, current: bool) -> Content:
    """``▶ ★✗ 02 Title``: current, star, state, number and title (pack text: never markup)."""
    mark, style = STATE_MARKS[entry.status]
    return Content.assemble(
        ("▶ " if current else "  ", "bold"),
        STAR if entry.solved else " ",
        (mark, style),
        f" {exercise.number:02d} {exercise.title}",
    )


class ExerciseList(OptionList):
    """Lists the exercises; selecting one switches the tutor to it."""

    def show(
        self, exercises: list[Exercise], progress: dict[str, ExerciseProgress], current: str
    ) -> None:
        highlighted = self.highlighted
        self.clear_options()
        for exercise in exercises:
            entry = progress.get(exercise.key) or ExerciseProgress()
            self.add_option(Option(row(exercise, entry, exercise.key == current), id=exercise.key))
        if highlighted is not None and highlighted < len(exercises):
            self.highlighted = highlighted
